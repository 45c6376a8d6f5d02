// CloudTrail -> OCSF 1.3.0: every fixture record valid and lossless (directly and through frame + runPipeline),
// class/activity choice per eventName, field-level checks on the documented fixtures, golden events, and a
// property test over mutated records. Mapping tables: docs/mapping-cloudtrail.md.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { fixturesIn } from "../support/fixtures";
import { validateOcsf } from "../support/ocsf-validator";
import { lossOf, envelopeLossOf } from "../support/field-maps";
import { type Json, type JsonObject, isObject, parseJson, str } from "../../src/normalize/json";
import { unwrap, detectKind, type Unwrapped } from "../../src/normalize/detect";
import {
  normalizeCloudTrail,
  classify,
  apiActivityId,
  canonicalIp,
  arnAccount,
  API_ACTIVITY,
  AUTHENTICATION,
  ACCOUNT_CHANGE,
  GROUP_MANAGEMENT,
  cloudTrailUid,
} from "../../src/normalize/cloudtrail";
import { NormalizeError } from "../../src/normalize/errors";
import { normalize } from "../../src/normalize/index";
import type { NormalizeContext, OcsfEvent } from "../../src/normalize/ocsf";
import { frame } from "../../src/routes/decode";
import { stableUid } from "../../src/normalize/uid";
import { runPipeline } from "../../src/pipeline";

const CTX: NormalizeContext = { ocsfVersion: "1.3.0", receivedAt: 1700000000000, tenant: "test" };
const FILES = fixturesIn("cloudtrail");

/** The CloudTrail records of a fixture file, unwrapped the way the pipeline does it. */
function recordsOf(text: string): Unwrapped[] {
  return unwrap(parseJson(text), "", []);
}

function recordIn(file: string, eventName?: string, index = 0): JsonObject {
  const f = FILES.find((x) => x.name === `cloudtrail/${file}`);
  if (!f) throw new Error(`no fixture cloudtrail/${file}`);
  const recs = recordsOf(f.text)
    .map((u) => u.record)
    .filter((r): r is JsonObject => isObject(r) && (eventName === undefined || r.eventName === eventName));
  const r = recs[index];
  if (!r) throw new Error(`no record ${eventName ?? ""}#${index} in ${file}`);
  return r;
}

function ct(file: string, eventName?: string, index = 0, ctx: NormalizeContext = CTX): OcsfEvent {
  return normalizeCloudTrail(recordIn(file, eventName, index), ctx);
}

type O = Record<string, unknown>;
const at = (o: unknown, path: string): unknown =>
  path.split(".").reduce<unknown>((cur, k) => (cur !== null && typeof cur === "object" ? (cur as O)[k] : undefined), o);

describe("CloudTrail fixtures: every record is a valid, lossless OCSF 1.3.0 event", () => {
  it("has the 27 fixture files and 40 records of test/fixtures/SOURCES.md", () => {
    expect(FILES.length).toBe(27);
    expect(FILES.reduce((n, f) => n + recordsOf(f.text).length, 0)).toBe(40);
  });

  for (const f of FILES) {
    it(`${f.name}: detected, normalized, valid and lossless`, () => {
      const recs = recordsOf(f.text);
      expect(recs.length).toBeGreaterThan(0);
      for (const { record, path } of recs) {
        expect(detectKind(record), path).toBe("cloudtrail");
        const input = structuredClone(record);
        const ev = normalizeCloudTrail(record as JsonObject, CTX);
        expect(record, `${path}: input not mutated`).toEqual(input);
        expect(validateOcsf(ev), `${f.name} ${path}`).toEqual([]);
        expect(lossOf("cloudtrail", record, ev), `${f.name} ${path}`).toEqual([]);
        expect([API_ACTIVITY, AUTHENTICATION, ACCOUNT_CHANGE, GROUP_MANAGEMENT]).toContain(ev.class_uid);
        expect(ev.metadata.product).toMatchObject({ name: "CloudTrail", vendor_name: "AWS" });
        expect(ev.metadata).toMatchObject({ log_name: "cloudtrail", tenant_uid: "test", logged_time: CTX.receivedAt, profiles: ["cloud"] });
        expect(ev.cloud).toMatchObject({ provider: "AWS" });
        // metadata.uid: a hash of eventID, account, time and name (the eventID itself stays in unmapped), or of
        // the record when it has no eventID; the same record always gets the same uid
        const r = record as JsonObject;
        if (typeof r.eventID === "string") {
          expect(ev.metadata.uid).toBe(cloudTrailUid(r.eventID, str(r.recipientAccountId), str(r.eventTime), str(r.eventName)));
          expect(ev.unmapped?.eventID).toBe(r.eventID);
        }
        expect(normalizeCloudTrail(structuredClone(record) as JsonObject, CTX).metadata.uid).toBe(ev.metadata.uid);
      }
    });
  }

  it("through frame() + runPipeline with detection: Records files, bare arrays and EventBridge envelopes, zero errors", () => {
    let total = 0;
    for (const f of FILES) {
      const framed = frame(f.text, "application/json");
      expect(framed.errors, f.name).toEqual([]);
      const res = runPipeline(framed.values, framed.paths, framed.textLines, { ctx: CTX });
      expect(res.errors, f.name).toEqual([]);
      const recs = recordsOf(f.text);
      expect(res.events.length, f.name).toBe(recs.length);
      res.events.forEach(({ event }, i) => {
        const { record, envelope } = recs[i]!;
        expect(validateOcsf(event), `${f.name} #${i}`).toEqual([]);
        expect(lossOf("cloudtrail", record, event), `${f.name} #${i}`).toEqual([]);
        if (envelope) {
          expect(envelopeLossOf(envelope, event)).toEqual([]);
          expect(event.unmapped?.eventbridge).toMatchObject({ "detail-type": "AWS API Call via CloudTrail" });
        }
      });
      total += res.events.length;
    }
    expect(total).toBe(40);
  });

  it("metadata.uid: distinct for every fixture record (placeholder eventIDs shared), the same for the same record twice", () => {
    const uids: string[] = [];
    const eventIds = new Map<string, number>();
    for (const f of FILES) {
      for (const { record } of recordsOf(f.text)) {
        const r = record as JsonObject;
        const a = normalizeCloudTrail(structuredClone(r), CTX).metadata.uid!;
        // the same record again (another delivery, another receive time and tenant): the same uid
        expect(normalizeCloudTrail(structuredClone(r), { ...CTX, receivedAt: CTX.receivedAt + 60_000, tenant: "other" }).metadata.uid).toBe(a);
        uids.push(a);
        if (typeof r.eventID === "string") eventIds.set(r.eventID, (eventIds.get(r.eventID) ?? 0) + 1);
      }
    }
    expect(uids).toHaveLength(40);
    expect(new Set(uids).size).toBe(uids.length);
    // the fixtures do share eventIDs (AWS documentation placeholders), so the eventID alone would collide
    expect([...eventIds.values()].some((n) => n > 1)).toBe(true);
  });

  it("metadata.uid: a trail's copy and the EventBridge copy of one record agree; a shared eventID alone never collides", () => {
    const eb = JSON.parse(FILES.find((x) => x.name === "cloudtrail/eventbridge__s3-createbucket__aws-cwe-docs.json")!.text) as JsonObject;
    const detail = eb.detail as JsonObject;
    const viaEventBridge = runPipeline([eb], [""], [], { ctx: CTX }).events[0]!.event;
    const viaTrail = runPipeline([{ Records: [structuredClone(detail)] }], [""], [], { ctx: CTX }).events[0]!.event;
    expect(viaEventBridge.metadata.uid).toBe(viaTrail.metadata.uid);
    const base = normalizeCloudTrail(structuredClone(detail), CTX).metadata.uid;
    for (const [k, v] of [["recipientAccountId", "999999999999"], ["eventTime", "2030-01-01T00:00:00Z"], ["eventName", "DeleteBucket"]] as const) {
      expect(normalizeCloudTrail({ ...structuredClone(detail), [k]: v }, CTX).metadata.uid, k).not.toBe(base);
    }
    // the uid is UUID-shaped (1.3.0 metadata.uid is a string; SIEMs key on it) and the eventID is kept
    expect(base).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(normalizeCloudTrail(structuredClone(detail), CTX).unmapped?.eventID).toBe(detail.eventID);
  });

  it("an EventBridge envelope's account fills cloud.account only when the record has no recipientAccountId", () => {
    const file = (n: string) => JSON.parse(FILES.find((x) => x.name === `cloudtrail/${n}`)!.text) as JsonObject;
    const viaPipeline = (v: Json) => runPipeline([v], [""], [], { ctx: CTX }).events[0]!.event;
    const account = { uid: "123456789012", type_id: 10, type: "AWS Account" };
    // the CloudWatch Events documentation's CreateBucket: an old record (eventVersion 1.03) without recipientAccountId
    const eb = file("eventbridge__s3-createbucket__aws-cwe-docs.json");
    expect((eb.detail as JsonObject).recipientAccountId).toBeUndefined();
    const ev = viaPipeline(eb);
    expect(ev.cloud).toEqual({ provider: "AWS", region: "us-east-1", account });
    expect(validateOcsf(ev)).toEqual([]);
    expect(envelopeLossOf(Object.fromEntries(Object.entries(eb).filter(([k]) => k !== "detail")), ev)).toEqual([]);
    // the trail's copy of the record has no account to give; metadata.uid is the same either way
    const trail = viaPipeline({ Records: [structuredClone(eb.detail!)] });
    expect(trail.cloud).toEqual({ provider: "AWS", region: "us-east-1" });
    expect(trail.metadata.uid).toBe(ev.metadata.uid);
    // the record's own recipientAccountId wins over the envelope's account
    const put = file("eventbridge__s3-putobject__aws-stepfunctions-docs.json");
    const recipient = (put.detail as JsonObject).recipientAccountId;
    expect(typeof recipient).toBe("string");
    expect((viaPipeline({ ...put, account: "999999999999" }).cloud as { account: unknown }).account).toEqual({ ...account, uid: recipient });
    // an envelope without an account (or an empty one) adds nothing
    expect(viaPipeline({ ...eb, account: "" }).cloud).toEqual({ provider: "AWS", region: "us-east-1" });
  });

  it("the normalizer given an EventBridge record's envelope (ctx.envelope) makes the pipeline's event: cloud.account and unmapped.eventbridge", () => {
    const ebFiles = FILES.filter((x) => x.name.includes("/eventbridge__"));
    expect(ebFiles.length).toBeGreaterThanOrEqual(2);
    for (const f of ebFiles) {
      const eb = JSON.parse(f.text) as JsonObject;
      const { detail, ...envelope } = eb;
      for (const variant of [eb, { ...eb, account: "999999999999" }, { ...eb, account: "" }, { ...eb, account: undefined }]) {
        const v = JSON.parse(JSON.stringify(variant)) as JsonObject;
        const { detail: d, ...env } = v;
        const piped = runPipeline([v], [""], [], { ctx: CTX }).events[0]!.event;
        const direct = normalize(structuredClone(d!), "cloudtrail", { ...CTX, envelope: env });
        expect(JSON.stringify(direct), f.name).toBe(JSON.stringify(piped));
      }
      // the CloudTrail normalizer alone fills cloud.account from the envelope, when the record names no account
      const own = normalizeCloudTrail(structuredClone(detail as JsonObject), { ...CTX, envelope }).cloud as { account?: { uid: string } };
      const recipient = (detail as JsonObject).recipientAccountId;
      expect(own.account?.uid, f.name).toBe(typeof recipient === "string" ? recipient : envelope.account);
      // without the envelope: the trail's copy of the record, no account unless it names one; the same uid
      const bare = normalizeCloudTrail(structuredClone(detail as JsonObject), CTX);
      expect((bare.cloud as { account?: { uid: string } }).account?.uid).toBe(typeof recipient === "string" ? recipient : undefined);
      expect(bare.metadata.uid).toBe(normalizeCloudTrail(structuredClone(detail as JsonObject), { ...CTX, envelope }).metadata.uid);
      expect(bare.unmapped?.eventbridge).toBeUndefined();
    }
  });

  it("a body mixing a Records file, a bare array and an EventBridge event in one JSON array unwraps all of them", () => {
    const pick = (n: string) => FILES.find((x) => x.name === `cloudtrail/${n}`)!.text;
    const body = `[${pick("records__iam-create-user__aws-docs.json")},${pick("stratus__persistence.iam-create-admin-user.json")},${pick("eventbridge__s3-createbucket__aws-cwe-docs.json")}]`;
    const framed = frame(body, "application/json");
    const res = runPipeline(framed.values, framed.paths, framed.textLines, { ctx: CTX });
    expect(res.errors).toEqual([]);
    expect(res.events.map((e) => (e.event.api as O).operation)).toEqual(["CreateUser", "AttachUserPolicy", "CreateAccessKey", "CreateUser", "CreateBucket"]);
  });

  it("the explicit source route (kind cloudtrail) gives the same events as detection", () => {
    for (const f of FILES) {
      const framed = frame(f.text, "application/json");
      const a = runPipeline(framed.values, framed.paths, [], { ctx: CTX });
      const b = runPipeline(framed.values, framed.paths, [], { ctx: CTX, kind: "cloudtrail" });
      expect(b.errors).toEqual([]);
      expect(b.events).toEqual(a.events);
    }
  });

  it("NDJSON of CloudTrail records (one per line) normalizes line by line", () => {
    const lines = FILES.flatMap((f) => recordsOf(f.text).map((u) => JSON.stringify(u.record)));
    const framed = frame(lines.join("\n"), "application/x-ndjson");
    const res = runPipeline(framed.values, framed.paths, [], { ctx: CTX });
    expect(res.errors).toEqual([]);
    expect(res.events.length).toBe(40);
  });

  it("a CloudTrail file over maxRecordBytes as one NDJSON line is unwrapped like a whole body; its records one per line (docs/cloudtrail.md's Vector transform) all pass", () => {
    const records = FILES.flatMap((f) => recordsOf(f.text).map((u) => u.record));
    const max = 20_000; // stands for limits.maxRecordBytes (1 MB) against a file of a few MB
    const file = JSON.stringify({ Records: records });
    expect(file.length).toBeGreaterThan(max);
    const whole = frame(`${file}\n${JSON.stringify(records[0])}\n`, "application/x-ndjson", { maxRecordBytes: max });
    expect(whole.errors).toEqual([]);
    expect(whole.paths).toEqual(["line 1", "line 2"]);
    const lines = runPipeline(whole.values, whole.paths, [], { ctx: CTX });
    expect(lines.errors).toEqual([]);
    expect(lines.events.length).toBe(41);
    const split = frame(records.map((r) => JSON.stringify(r)).join("\n"), "application/x-ndjson", { maxRecordBytes: max });
    expect(split.errors).toEqual([]);
    expect(runPipeline(split.values, split.paths, [], { ctx: CTX }).events.length).toBe(40);
    // the same file as the whole body is unwrapped before anything is measured
    const body = frame(file, "application/json", { maxRecordBytes: max });
    expect(body.errors).toEqual([]);
    expect(runPipeline(body.values, body.paths, [], { ctx: CTX }).events.length).toBe(40);
  });
});

describe("class and activity per eventName", () => {
  const table: [source: string, eventName: string, classUid: number, activityId: number][] = [
    // Authentication 3002
    ["signin.amazonaws.com", "ConsoleLogin", AUTHENTICATION, 1],
    ["signin.amazonaws.com", "ExternalIdPDirectoryLogin", AUTHENTICATION, 1],
    ["signin.amazonaws.com", "UserAuthentication", AUTHENTICATION, 1],
    ["signin.amazonaws.com", "CheckMfa", AUTHENTICATION, 99],
    ["signin.amazonaws.com", "CredentialChallenge", AUTHENTICATION, 99],
    ["signin.amazonaws.com", "CredentialVerification", AUTHENTICATION, 99],
    ["sts.amazonaws.com", "AssumeRole", AUTHENTICATION, 1],
    ["sts.amazonaws.com", "AssumeRoleWithSAML", AUTHENTICATION, 1],
    ["sts.amazonaws.com", "AssumeRoleWithWebIdentity", AUTHENTICATION, 1],
    ["sts.amazonaws.com", "AssumeRoot", AUTHENTICATION, 1],
    ["sts.amazonaws.com", "GetFederationToken", AUTHENTICATION, 1],
    ["sts.amazonaws.com", "GetSessionToken", AUTHENTICATION, 1],
    // Account Change 3001
    ["iam.amazonaws.com", "CreateUser", ACCOUNT_CHANGE, 1],
    ["iam.amazonaws.com", "CreateRole", ACCOUNT_CHANGE, 1],
    ["iam.amazonaws.com", "CreateAccessKey", ACCOUNT_CHANGE, 1],
    ["iam.amazonaws.com", "ChangePassword", ACCOUNT_CHANGE, 3],
    ["signin.amazonaws.com", "PasswordUpdated", ACCOUNT_CHANGE, 3],
    ["iam.amazonaws.com", "CreateLoginProfile", ACCOUNT_CHANGE, 2],
    ["iam.amazonaws.com", "UpdateLoginProfile", ACCOUNT_CHANGE, 4],
    ["iam.amazonaws.com", "DeleteLoginProfile", ACCOUNT_CHANGE, 5],
    ["iam.amazonaws.com", "DeleteUser", ACCOUNT_CHANGE, 6],
    ["iam.amazonaws.com", "DeleteAccessKey", ACCOUNT_CHANGE, 6],
    ["iam.amazonaws.com", "AttachUserPolicy", ACCOUNT_CHANGE, 7],
    ["iam.amazonaws.com", "PutUserPolicy", ACCOUNT_CHANGE, 7],
    // without requestParameters a group call cannot be a valid Group Management (group, user or privileges):
    // it stays what it was (see "Group Management 3006" below)
    ["iam.amazonaws.com", "AddUserToGroup", ACCOUNT_CHANGE, 99],
    ["iam.amazonaws.com", "AttachGroupPolicy", ACCOUNT_CHANGE, 7],
    ["iam.amazonaws.com", "DeleteGroupPolicy", ACCOUNT_CHANGE, 8],
    ["iam.amazonaws.com", "CreateGroup", ACCOUNT_CHANGE, 1],
    ["iam.amazonaws.com", "DeleteGroup", ACCOUNT_CHANGE, 6],
    ["iam.amazonaws.com", "DetachUserPolicy", ACCOUNT_CHANGE, 8],
    ["iam.amazonaws.com", "DeleteRolePolicy", ACCOUNT_CHANGE, 8],
    ["iam.amazonaws.com", "RemoveUserFromGroup", ACCOUNT_CHANGE, 99],
    ["iam.amazonaws.com", "EnableMFADevice", ACCOUNT_CHANGE, 10],
    ["iam.amazonaws.com", "DeactivateMFADevice", ACCOUNT_CHANGE, 11],
    ["iam.amazonaws.com", "DeleteVirtualMFADevice", ACCOUNT_CHANGE, 11],
    ["iam.amazonaws.com", "UpdateAssumeRolePolicy", ACCOUNT_CHANGE, 99],
    ["iam.amazonaws.com", "TagUser", ACCOUNT_CHANGE, 99],
    ["identitystore.amazonaws.com", "CreateUser", ACCOUNT_CHANGE, 1],
    // API Activity 6003, by verb prefix (not substring)
    ["ec2.amazonaws.com", "DeleteTags", API_ACTIVITY, 4],
    ["ec2.amazonaws.com", "CreateTags", API_ACTIVITY, 1],
    ["ec2.amazonaws.com", "RunInstances", API_ACTIVITY, 1],
    ["kms.amazonaws.com", "GenerateDataKey", API_ACTIVITY, 1],
    ["acm.amazonaws.com", "IssueCertificate", API_ACTIVITY, 1],
    ["ec2.amazonaws.com", "ImportKeyPair", API_ACTIVITY, 1],
    ["sts.amazonaws.com", "GetCallerIdentity", API_ACTIVITY, 2],
    ["s3.amazonaws.com", "ListBuckets", API_ACTIVITY, 2],
    ["ec2.amazonaws.com", "DescribeInstances", API_ACTIVITY, 2],
    ["cloudtrail.amazonaws.com", "LookupEvents", API_ACTIVITY, 2],
    ["resource-explorer-2.amazonaws.com", "Search", API_ACTIVITY, 2],
    ["s3.amazonaws.com", "HeadObject", API_ACTIVITY, 2],
    ["secretsmanager.amazonaws.com", "BatchGetSecretValue", API_ACTIVITY, 2],
    ["dynamodb.amazonaws.com", "BatchWriteItem", API_ACTIVITY, 99],
    ["s3.amazonaws.com", "PutObject", API_ACTIVITY, 3],
    ["cloudtrail.amazonaws.com", "StopLogging", API_ACTIVITY, 3],
    ["ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", API_ACTIVITY, 3],
    ["ec2.amazonaws.com", "ModifySnapshotAttribute", API_ACTIVITY, 3],
    ["kms.amazonaws.com", "RotateKey", API_ACTIVITY, 3],
    ["ram.amazonaws.com", "ShareResource", API_ACTIVITY, 3],
    ["tagging.amazonaws.com", "UntagResources", API_ACTIVITY, 3],
    ["ec2.amazonaws.com", "DisassociateAddress", API_ACTIVITY, 3],
    ["ec2.amazonaws.com", "TerminateInstances", API_ACTIVITY, 4],
    ["ssm.amazonaws.com", "TerminateSession", API_ACTIVITY, 4],
    ["kms.amazonaws.com", "Decrypt", API_ACTIVITY, 99],
    ["autoscaling.amazonaws.com", "CompleteLifecycleAction", API_ACTIVITY, 99],
    ["s3.amazonaws.com", "Getaway", API_ACTIVITY, 99],
    // the same names outside IAM are not account changes
    ["resource-groups.amazonaws.com", "DeleteGroup", API_ACTIVITY, 4],
    ["elasticache.amazonaws.com", "CreateUser", API_ACTIVITY, 1],
    ["iam.amazonaws.com", "CreatePolicy", API_ACTIVITY, 1],
  ];
  for (const [source, name, classUid, activityId] of table) {
    it(`${source} ${name} -> ${classUid} / ${activityId}`, () => {
      expect(classify(source, name)).toEqual({ classUid, activityId });
      // and the full normalizer agrees, with a valid event
      const ev = normalizeCloudTrail(
        { eventVersion: "1.09", eventSource: source, eventName: name, eventTime: "2024-08-01T13:33:28Z", eventID: "e", awsRegion: "us-east-1", sourceIPAddress: "203.0.113.9", userIdentity: { type: "IAMUser", arn: "arn:aws:iam::111122223333:user/a", accountId: "111122223333", userName: "a" } },
        CTX,
      );
      expect([ev.class_uid, ev.activity_id]).toEqual([classUid, activityId]);
      expect(ev.type_uid).toBe(classUid * 100 + activityId);
      expect(validateOcsf(ev)).toEqual([]);
    });
  }

  it("UpdateAccessKey is Enable or Disable by requestParameters.status", () => {
    expect(classify("iam.amazonaws.com", "UpdateAccessKey", { status: "Inactive" })).toEqual({ classUid: ACCOUNT_CHANGE, activityId: 5 });
    expect(classify("iam.amazonaws.com", "UpdateAccessKey", { status: "Active" })).toEqual({ classUid: ACCOUNT_CHANGE, activityId: 2 });
    expect(classify("iam.amazonaws.com", "UpdateAccessKey", null)).toEqual({ classUid: ACCOUNT_CHANGE, activityId: 99 });
  });

  it("apiActivityId reads the leading camel-case word only", () => {
    expect(apiActivityId("DeleteTags")).toBe(4);
    expect(apiActivityId("Get")).toBe(2);
    expect(apiActivityId("Batch")).toBe(99);
    expect(apiActivityId("BatchDeleteImage")).toBe(4);
    expect(apiActivityId("UpdateFunctionCode20150331v2")).toBe(3);
    expect(apiActivityId("")).toBe(99);
    expect(apiActivityId("getObject")).toBe(99);
  });
});

describe("Group Management 3006 (IAM group membership and group policies)", () => {
  /** The documented AddUserToGroup record as another IAM group call, with a requestID and a TLS host header. */
  function groupCall(eventName: string, requestParameters: Json, extra: JsonObject = {}): JsonObject {
    const rec = structuredClone(recordIn("records__iam-add-user-to-group__aws-docs.json"));
    return { ...rec, eventName, requestParameters, requestID: "req-1", tlsDetails: { clientProvidedHostHeader: "iam.amazonaws.com" }, ...extra };
  }
  const POLICY = "arn:aws:iam::aws:policy/AdministratorAccess";
  const cases: [eventName: string, request: JsonObject, activityId: number, caption: string, parts: O][] = [
    ["AddUserToGroup", { userName: "Bob", groupName: "admin" }, 3, "Add User", { user: { name: "Bob", type_id: 1, type: "User" } }],
    ["RemoveUserFromGroup", { userName: "Bob", groupName: "admin" }, 4, "Remove User", { user: { name: "Bob", type_id: 1, type: "User" } }],
    ["AttachGroupPolicy", { groupName: "admin", policyArn: POLICY }, 1, "Assign Privileges", { privileges: [POLICY] }],
    ["PutGroupPolicy", { groupName: "admin", policyName: "inline-admin", policyDocument: '{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}' }, 1, "Assign Privileges", { privileges: ["inline-admin"] }],
    ["DetachGroupPolicy", { groupName: "admin", policyArn: POLICY }, 2, "Revoke Privileges", { privileges: [POLICY] }],
    ["DeleteGroupPolicy", { groupName: "admin", policyName: "inline-admin" }, 2, "Revoke Privileges", { privileges: ["inline-admin"] }],
  ];
  for (const [name, request, activityId, caption, parts] of cases) {
    it(`${name} -> 3006 / ${activityId} ${caption}: group, ${Object.keys(parts).join(", ")}; valid, lossless, Medium`, () => {
      expect(classify("iam.amazonaws.com", name, request)).toEqual({ classUid: GROUP_MANAGEMENT, activityId });
      const rec = groupCall(name, request);
      const ev = normalizeCloudTrail(rec, CTX);
      expect(ev).toMatchObject({ class_uid: 3006, category_uid: 3, activity_id: activityId, activity_name: caption, type_uid: 300600 + activityId, severity_id: 3, status_id: 1 });
      expect(ev.type_name).toBe(`Group Management: ${caption}`);
      expect(ev.group).toEqual({ name: "admin" });
      expect({ user: ev.user, privileges: ev.privileges }).toEqual({ user: undefined, privileges: undefined, ...parts });
      // the class has no policy (privileges carry it), no dst_endpoint (the host header stays), no resources
      expect(ev.policy).toBeUndefined();
      expect(ev.dst_endpoint).toBeUndefined();
      expect(at(ev, "unmapped.tlsDetails.clientProvidedHostHeader")).toBe("iam.amazonaws.com");
      // the whole request is still there, e.g. PutGroupPolicy's policy document
      expect(at(ev, "api.request")).toEqual({ uid: "req-1", data: request });
      expect(ev.message).toBe(`${name} (iam.amazonaws.com) by Alice`);
      expect(validateOcsf(ev)).toEqual([]);
      expect(lossOf("cloudtrail", rec, ev)).toEqual([]);
    });
  }

  it("the group ARN is group.uid when the response has it; a Root caller is High, a denied call Medium and a Failure", () => {
    const arn = "arn:aws:iam::123456789012:group/division_abc/subdivision_xyz/admin";
    const ev = normalizeCloudTrail(groupCall("AddUserToGroup", { userName: "Bob", groupName: "admin" }, { responseElements: { group: { arn, groupName: "admin" } } }), CTX);
    expect(ev.group).toEqual({ name: "admin", uid: arn });
    expect(validateOcsf(ev)).toEqual([]);
    const root = groupCall("AttachGroupPolicy", { groupName: "admin", policyArn: POLICY }, { userIdentity: { type: "Root", arn: "arn:aws:iam::123456789012:root", accountId: "123456789012" } });
    expect(normalizeCloudTrail(root, CTX)).toMatchObject({ class_uid: 3006, severity_id: 4 });
    const denied = normalizeCloudTrail(groupCall("RemoveUserFromGroup", { userName: "Bob", groupName: "admin" }, { errorCode: "AccessDenied", errorMessage: "no" }), CTX);
    expect(denied).toMatchObject({ class_uid: 3006, activity_id: 4, severity_id: 3, status_id: 2, status_code: "AccessDenied" });
    expect(validateOcsf(denied)).toEqual([]);
  });

  it("a group call that does not name the group and the user / policy stays Account Change (3006 would be invalid)", () => {
    const fallbacks: [string, Json, number][] = [
      ["AddUserToGroup", { groupName: "admin" }, 99],
      ["AddUserToGroup", { userName: "Bob" }, 99],
      ["RemoveUserFromGroup", { userName: "Bob", groupName: "" }, 99],
      ["AttachGroupPolicy", { groupName: "admin" }, 7],
      ["PutGroupPolicy", { groupName: "admin", policyName: 42 }, 7],
      ["DetachGroupPolicy", null, 8],
      ["DeleteGroupPolicy", "admin", 8],
    ];
    for (const [name, request, activityId] of fallbacks) {
      expect(classify("iam.amazonaws.com", name, request), name).toEqual({ classUid: ACCOUNT_CHANGE, activityId });
      const rec = groupCall(name, request);
      const ev = normalizeCloudTrail(rec, CTX);
      expect([ev.class_uid, ev.activity_id], name).toEqual([ACCOUNT_CHANGE, activityId]);
      expect(ev.group).toBeUndefined();
      expect(validateOcsf(ev), name).toEqual([]);
      expect(lossOf("cloudtrail", rec, ev), name).toEqual([]);
    }
  });

  it("only IAM's group calls: the same names from another service are not Group Management; CreateGroup / DeleteGroup stay Account Change", () => {
    const req = { userName: "Bob", groupName: "admin" };
    expect(classify("identitystore.amazonaws.com", "AddUserToGroup", req)).toEqual({ classUid: ACCOUNT_CHANGE, activityId: 99 });
    expect(classify("resource-groups.amazonaws.com", "AttachGroupPolicy", { groupName: "g", policyArn: POLICY })).toEqual({ classUid: API_ACTIVITY, activityId: 3 });
    expect(classify(undefined, "AddUserToGroup", req)).toEqual({ classUid: API_ACTIVITY, activityId: 3 });
    // a 3006 Create / Delete would have neither user nor privileges (at_least_one): the group is in user.groups
    for (const [name, activityId, groupActivity, caption] of [["CreateGroup", 1, 6, "Create"], ["DeleteGroup", 6, 5, "Delete"]] as const) {
      const ev = normalizeCloudTrail(groupCall(name, { groupName: "admin" }), CTX);
      expect(ev).toMatchObject({ class_uid: ACCOUNT_CHANGE, activity_id: activityId, user: { groups: [{ name: "admin" }] } });
      expect(validateOcsf(ev)).toEqual([]);
      const as3006: O = { ...ev, class_uid: 3006, class_name: "Group Management", activity_id: groupActivity, activity_name: caption, type_uid: 300600 + groupActivity, type_name: `Group Management: ${caption}`, group: { name: "admin" } };
      delete as3006.user;
      expect(validateOcsf(as3006)).toEqual(["(event): at least one of [privileges, user] is required"]);
    }
  });
});

describe("field mapping on the documented fixtures", () => {
  it("ConsoleLogin success with MFA (IAMUser): Logon, is_mfa, Informational", () => {
    const ev = ct("record__console-login-iamuser-mfa__aws-docs.json");
    expect(ev).toMatchObject({ class_uid: 3002, activity_id: 1, status_id: 1, status: "Success", severity_id: 1, is_mfa: true });
    expect(ev.user).toMatchObject({ name: "anaya", uid: "arn:aws:iam::111122223333:user/anaya", type_id: 1, type: "User" });
    expect(ev.service).toEqual({ name: "signin.amazonaws.com" });
    expect(ev.src_endpoint).toEqual({ ip: "192.0.2.0" });
    expect(at(ev, "unmapped.userIdentity.type")).toBe("IAMUser");
  });

  it("ConsoleLogin failure by Root: Failure from responseElements, status_detail from errorMessage, High", () => {
    const ev = ct("record__console-login-root-failure__aws-docs.json");
    expect(ev).toMatchObject({ class_uid: 3002, status_id: 2, status: "Failure", status_detail: "Failed authentication", is_mfa: false, severity_id: 4 });
    expect(ev.status_code).toBeUndefined();
    expect(ev.user).toMatchObject({ uid: "arn:aws:iam::111122223333:root", type_id: 2, type: "Admin" });
    // the empty accessKeyId is not a credential: it stays in unmapped as it came
    expect(at(ev, "actor.user.credential_uid")).toBeUndefined();
    expect(at(ev, "unmapped.userIdentity.accessKeyId")).toBe("");
  });

  it("HIDDEN_DUE_TO_SECURITY_REASONS (CloudTrail's mask for a user name it will not log) is no name, in any class", () => {
    // the CloudTrail User Guide's failed console sign-in with a user name that is no IAM user
    const base = recordIn("record__console-login-root-failure__aws-docs.json");
    const hidden = "HIDDEN_DUE_TO_SECURITY_REASONS";
    const signIn: JsonObject = { ...base, userIdentity: { type: "IAMUser", accountId: "111122223333", accessKeyId: "", userName: hidden }, errorMessage: "No username found in supplied account" };
    const ev = normalizeCloudTrail(signIn, CTX);
    expect(ev).toMatchObject({ class_uid: 3002, status_id: 2, severity_id: 3 });
    expect(ev.actor).toEqual({ user: { account: { uid: "111122223333", type_id: 10, type: "AWS Account" }, type_id: 1, type: "User" } });
    expect(ev.user).toEqual(at(ev, "actor.user"));
    expect(ev.message).toBe("ConsoleLogin (signin.amazonaws.com) by unknown: Failure");
    expect(JSON.stringify(ev.observables)).not.toContain(hidden);
    expect(at(ev, "unmapped.userIdentity.userName")).toBe(hidden);
    expect(validateOcsf(ev)).toEqual([]);
    expect(lossOf("cloudtrail", signIn, ev)).toEqual([]);
    // a target user whose name is masked is still not the caller; a group call naming no user stays Account Change
    const caller = { type: "IAMUser", userName: "admin", arn: "arn:aws:iam::111122223333:user/admin", accountId: "111122223333" };
    const common = { eventVersion: "1.08", eventTime: "2024-07-31T10:00:00Z", awsRegion: "us-east-1", recipientAccountId: "111122223333", userIdentity: caller, requestID: "r" };
    const create: JsonObject = { ...common, eventSource: "identitystore.amazonaws.com", eventName: "CreateUser", eventID: "e1", requestParameters: { identityStoreId: "d-1", userName: hidden } };
    const created = normalizeCloudTrail(create, CTX);
    expect(created).toMatchObject({ class_uid: 3001, activity_id: 1 });
    expect(created.user).toEqual({ account: { uid: "111122223333", type_id: 10, type: "AWS Account" }, type_id: 1, type: "User" });
    const add: JsonObject = { ...common, eventSource: "iam.amazonaws.com", eventName: "AddUserToGroup", eventID: "e2", requestParameters: { groupName: "admins", userName: hidden } };
    const added = normalizeCloudTrail(add, CTX);
    expect(added).toMatchObject({ class_uid: 3001, activity_id: 99, user: { groups: [{ name: "admins" }], type_id: 1 } });
    expect(at(added, "user.name")).toBeUndefined();
    for (const [rec, e] of [[create, created], [add, added]] as const) {
      expect(JSON.stringify(e.observables)).not.toContain(hidden);
      expect(validateOcsf(e)).toEqual([]);
      expect(lossOf("cloudtrail", rec, e)).toEqual([]);
    }
  });

  it("an IAM Identity Center user (IdentityCenterUser) is actor.user.uid = onBehalfOf.userId, named in the message; the identity store ARN stays in unmapped", () => {
    // the IAM Identity Center User Guide's ListApplications in the AWS access portal (CloudTrail events for IAM Identity Center)
    const rec: JsonObject = {
      eventVersion: "1.05",
      userIdentity: {
        type: "IdentityCenterUser",
        accountId: "111122223333",
        onBehalfOf: { userId: "94d00cd8-e9e6-4810-b177-b08e84775435", identityStoreArn: "arn:aws:identitystore::111122223333:identitystore/d-1234567890" },
        credentialId: "cdee2490-82ed-43b3-96ee-b75fbf0b97a5",
      },
      eventTime: "2017-11-29T18:48:28Z",
      eventSource: "sso.amazonaws.com",
      eventName: "ListApplications",
      awsRegion: "us-east-1",
      sourceIPAddress: "203.0.113.0",
      userAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_6) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/62.0.3202.94 Safari/537.36",
      requestParameters: null,
      responseElements: null,
      requestID: "de6c0435-ce4b-49c7-9bcc-bc5ed631ce04",
      eventID: "e6e1f3df-9528-4c6d-a877-6b2b895d1f91",
      eventType: "AwsApiCall",
      recipientAccountId: "111122223333",
    };
    const ev = normalizeCloudTrail(structuredClone(rec), CTX);
    expect(ev.actor).toEqual({
      user: { uid: "94d00cd8-e9e6-4810-b177-b08e84775435", account: { uid: "111122223333", type_id: 10, type: "AWS Account" }, type_id: 1, type: "User" },
    });
    expect(ev.message).toBe("ListApplications (sso.amazonaws.com) by 94d00cd8-e9e6-4810-b177-b08e84775435");
    expect(ev.observables).toContainEqual({ name: "actor.user", type_id: 21, type: "User" });
    expect(at(ev, "unmapped.userIdentity")).toEqual({
      type: "IdentityCenterUser",
      onBehalfOf: { identityStoreArn: "arn:aws:identitystore::111122223333:identitystore/d-1234567890" },
      credentialId: "cdee2490-82ed-43b3-96ee-b75fbf0b97a5",
    });
    expect(validateOcsf(ev)).toEqual([]);
    expect(lossOf("cloudtrail", rec, ev)).toEqual([]);
    // without an account (some sign-in events) the user id alone still makes the user
    const { accountId: _, ...noAccount } = rec.userIdentity as JsonObject;
    const bare = normalizeCloudTrail({ ...structuredClone(rec), userIdentity: noAccount }, CTX);
    expect(at(bare, "actor.user")).toEqual({ uid: "94d00cd8-e9e6-4810-b177-b08e84775435", type_id: 1, type: "User" });
    // onBehalfOf on another caller type (an AssumedRole session with trusted identity propagation) is not the caller: unmapped
    const role = { type: "AssumedRole", arn: "arn:aws:sts::111122223333:assumed-role/DataAnalystRole/u1", accountId: "111122223333", onBehalfOf: { userId: "u-1", identityStoreArn: "arn:aws:identitystore::111122223333:identitystore/d-1234567890" } };
    const assumed = normalizeCloudTrail({ ...structuredClone(rec), userIdentity: role }, CTX);
    expect(at(assumed, "actor.user.uid")).toBe(role.arn);
    expect(at(assumed, "unmapped.userIdentity.onBehalfOf")).toEqual(role.onBehalfOf);
  });

  it("ConsoleLogin without MFA (Stratus): zero-padded source IP read as decimal, original kept in unmapped", () => {
    const ev = ct("stratus__initial-access.console-login-without-mfa.json");
    expect(ev).toMatchObject({ is_mfa: false, severity_id: 1, dst_endpoint: { hostname: "signin.aws.amazon.com" } });
    expect(ev.src_endpoint).toEqual({ ip: "225.1.0.16" });
    expect(at(ev, "unmapped.sourceIPAddress")).toBe("225.01.00.16");
    expect(ev.observables).toContainEqual({ name: "src_endpoint.ip", type_id: 2, type: "IP Address", value: "225.1.0.16" });
  });

  it("AssumeRole success: user is the role session obtained, actor the caller", () => {
    const ev = ct("stratus__credential-access.ec2-get-password-data.subset.json", "AssumeRole", 0);
    expect(ev).toMatchObject({ class_uid: 3002, activity_id: 1, status_id: 1, severity_id: 1 });
    expect(ev.user).toEqual({
      name: "aws-go-sdk-1722375070115152000",
      uid: "arn:aws:sts::457448411975:assumed-role/stratus-red-team-ec2-get-password-data-role/aws-go-sdk-1722375070115152000",
      uid_alt: "AROAMLQ9F6KHQ07JKA0WY:aws-go-sdk-1722375070115152000",
      credential_uid: "ASIA7RQR64ZW9JXKWPUO",
      type_id: 99,
      type: "AssumedRole",
      account: { uid: "457448411975", type_id: 10, type: "AWS Account" },
    });
    expect(at(ev, "actor.user.name")).toBe("christophe");
    expect(ev.observables).toContainEqual({ name: "user.credential_uid", type_id: 19, type: "User Credential ID", value: "ASIA7RQR64ZW9JXKWPUO" });
    // user.uid (an ARN) is a plain string in 1.3.0: the users are pointed at as User objects, without a value
    expect(ev.observables).toContainEqual({ name: "actor.user", type_id: 21, type: "User" });
    expect(ev.observables).toContainEqual({ name: "user", type_id: 21, type: "User" });
    expect(ev.observables?.some((o) => o.name.endsWith(".uid") && o.name.includes("user"))).toBe(false);
    // Authentication has no resources attribute: the role ARN entry stays in unmapped
    expect(ev.resources).toBeUndefined();
    expect(at(ev, "unmapped.resources")).toEqual(recordIn("stratus__credential-access.ec2-get-password-data.subset.json", "AssumeRole", 0).resources);
  });

  it("AssumeRole AccessDenied: Failure, status_code, Medium; subject falls back to the caller", () => {
    const ev = ct("stratus__credential-access.ec2-get-password-data.subset.json", "AssumeRole", 1);
    expect(ev).toMatchObject({ class_uid: 3002, status_id: 2, status_code: "AccessDenied", severity_id: 3 });
    expect((ev.status_detail as string).startsWith("User: arn:aws:iam::457448411975:user/christophe is not authorized")).toBe(true);
    expect(at(ev, "api.response.error")).toBe("AccessDenied");
    expect(at(ev, "user.name")).toBe("christophe");
  });

  it("GetPasswordData as an assumed role, Client.UnauthorizedOperation: API Read, Failure, Medium, session", () => {
    const ev = ct("stratus__credential-access.ec2-get-password-data.subset.json", "GetPasswordData");
    expect(ev).toMatchObject({ class_uid: 6003, activity_id: 2, status_id: 2, status_code: "Client.UnauthorizedOperation", severity_id: 3 });
    expect(ev.actor).toMatchObject({
      user: { uid_alt: "AROAMLQ9F6KHQ07JKA0WY:aws-go-sdk-1722375070115152000", credential_uid: "ASIANQQHHS551LWULIWD", type_id: 99, type: "AssumedRole" },
      session: { created_time: Date.parse("2024-07-30T21:31:15Z"), is_mfa: false, issuer: "arn:aws:iam::457448411975:role/stratus-red-team-ec2-get-password-data-role" },
    });
    expect(at(ev, "api.request")).toEqual({ uid: "b20c2df5-71d5-441e-84c8-b424f1c78ffb", data: { instanceId: "i-i2jnm5swa59p4fxg" } });
    expect(at(ev, "unmapped.userIdentity.sessionContext.sessionIssuer")).toMatchObject({ type: "Role", userName: "stratus-red-team-ec2-get-password-data-role" });
  });

  it("an EC2 instance profile session (session name i-..., sessionContext.ec2RoleDelivery) sets src_endpoint.instance_uid", () => {
    // the Stratus record above, as the same call would read when made with the instance's own role credentials
    const rec = structuredClone(recordIn("stratus__credential-access.ec2-get-password-data.subset.json", "GetPasswordData"));
    const ui = rec.userIdentity as JsonObject;
    ui.arn = "arn:aws:sts::457448411975:assumed-role/stratus-red-team-ec2-get-password-data-role/i-0abc123def4567890";
    ui.principalId = "AROAMLQ9F6KHQ07JKA0WY:i-0abc123def4567890";
    (ui.sessionContext as JsonObject).ec2RoleDelivery = "2.0";
    const ev = normalizeCloudTrail(rec, CTX);
    expect(ev.src_endpoint).toEqual({ ip: "200.249.253.51", instance_uid: "i-0abc123def4567890" });
    expect(validateOcsf(ev)).toEqual([]);
    expect(lossOf("cloudtrail", rec, ev)).toEqual([]);
    expect(at(ev, "unmapped.userIdentity.sessionContext.ec2RoleDelivery")).toBe("2.0");
    // not an instance: a session merely named like one (no ec2RoleDelivery), the real SDK session name, an 8-digit id is fine
    delete (ui.sessionContext as JsonObject).ec2RoleDelivery;
    expect(at(normalizeCloudTrail(rec, CTX), "src_endpoint.instance_uid")).toBeUndefined();
    expect(at(ct("stratus__credential-access.ec2-get-password-data.subset.json", "GetPasswordData"), "src_endpoint.instance_uid")).toBeUndefined();
    (ui.sessionContext as JsonObject).ec2RoleDelivery = "1.0";
    ui.arn = "arn:aws:sts::457448411975:assumed-role/r/i-ebeaf9e2";
    expect(at(normalizeCloudTrail(rec, CTX), "src_endpoint.instance_uid")).toBe("i-ebeaf9e2");
    ui.arn = "arn:aws:sts::457448411975:assumed-role/r/i-ebeaf9e2x";
    expect(at(normalizeCloudTrail(rec, CTX), "src_endpoint.instance_uid")).toBeUndefined();
  });

  it("GetFederationToken is an Authentication whose user is the federated user", () => {
    const ev = ct("stratus__persistence.sts-federation-token.json", "GetFederationToken");
    expect(ev).toMatchObject({ class_uid: 3002, activity_id: 1 });
    expect(ev.user).toMatchObject({ name: "stratus_red_team", uid: "arn:aws:sts::742491224508:federated-user/stratus_red_team", type: "FederatedUser", credential_uid: "ASIASTJKC5GCM7ZE6LUP" });
    const next = ct("stratus__persistence.sts-federation-token.json", "GetCallerIdentity");
    expect(next).toMatchObject({ class_uid: 6003, activity_id: 2, actor: { user: { type: "FederatedUser", credential_uid: "ASIASTJKC5GCM7ZE6LUP" } } });
  });

  it("IAM CreateUser / AttachUserPolicy / CreateAccessKey: Account Change with the target user and policy", () => {
    const create = ct("stratus__persistence.iam-create-admin-user.json", "CreateUser");
    expect(create).toMatchObject({ class_uid: 3001, activity_id: 1, severity_id: 3 });
    expect(create.user).toEqual({
      name: "malicious-iam-user",
      uid: "arn:aws:iam::229654561268:user/malicious-iam-user",
      uid_alt: "AIDAL1XMLVWIUOK8KAF0",
      type_id: 1,
      type: "User",
      account: { uid: "229654561268", type_id: 10, type: "AWS Account" },
    });
    const attach = ct("stratus__persistence.iam-create-admin-user.json", "AttachUserPolicy");
    expect(attach).toMatchObject({ activity_id: 7, activity_name: "Attach Policy", user: { name: "malicious-iam-user" } });
    expect(attach.policy).toEqual({ uid: "arn:aws:iam::aws:policy/AdministratorAccess", name: "AdministratorAccess" });
    const key = ct("stratus__persistence.iam-create-admin-user.json", "CreateAccessKey");
    expect(key.user).toMatchObject({ name: "malicious-iam-user", credential_uid: "AKIAXAFZN8JEPF6L682H" });
    expect(key.observables).toContainEqual({ name: "user.credential_uid", type_id: 19, type: "User Credential ID", value: "AKIAXAFZN8JEPF6L682H" });
  });

  it("AddUserToGroup: Group Management Add User with the user and the group; old records without eventID/requestID keep requestParameters in unmapped", () => {
    const ev = ct("records__iam-add-user-to-group__aws-docs.json");
    expect(ev).toMatchObject({ class_uid: 3006, category_uid: 3, activity_id: 3, activity_name: "Add User", type_uid: 300603, severity_id: 3 });
    expect(ev.type_name).toBe("Group Management: Add User");
    expect(ev.class_name).toBe("Group Management");
    expect(ev.category_name).toBe("Identity & Access Management");
    expect(ev.user).toEqual({ name: "Bob", type_id: 1, type: "User" });
    expect(ev.group).toEqual({ name: "admin" });
    expect(ev.privileges).toBeUndefined();
    expect(ev.policy).toBeUndefined();
    expect(ev.observables).toContainEqual({ name: "user.name", type_id: 4, type: "User Name", value: "Bob" });
    expect(at(ev, "api.request")).toBeUndefined();
    expect(at(ev, "unmapped.requestParameters")).toEqual({ userName: "Bob", groupName: "admin" });
    expect(ev.metadata.uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it("EnableMFADevice and PasswordUpdated by Root: Account Change, High", () => {
    const mfa = ct("record__enable-mfa-device-root__aws-docs.json");
    expect(mfa).toMatchObject({ class_uid: 3001, activity_id: 10, activity_name: "MFA Factor Enable", severity_id: 4, user: { name: "AWS ROOT USER" } });
    expect(at(mfa, "unmapped.userIdentity.sessionContext")).toMatchObject({ sessionIssuer: {}, webIdFederationData: {} });
    const pw = ct("record__password-updated__aws-docs.json");
    expect(pw).toMatchObject({ class_uid: 3001, activity_id: 3, status_id: 1, severity_id: 4, user: { uid: "arn:aws:iam::111122223333:root" } });
  });

  it("UpdateAssumeRolePolicy: Account Change Other on the role; no dst_endpoint in 3001 (host header stays unmapped)", () => {
    const ev = ct("stratus__persistence.iam-backdoor-role.json");
    expect(ev).toMatchObject({ class_uid: 3001, activity_id: 99, activity_name: "UpdateAssumeRolePolicy", user: { name: "stratus-red-team-backdoor-r-role", type_id: 99, type: "Role" } });
    expect(ev.dst_endpoint).toBeUndefined();
    expect(at(ev, "unmapped.tlsDetails.clientProvidedHostHeader")).toBe("iam.amazonaws.com");
  });

  it("StopLogging and DeleteResolverQueryLogConfig are sensitive (Medium); plain writes Low; reads Informational", () => {
    expect(ct("stratus__defense-evasion.cloudtrail-stop.json")).toMatchObject({ activity_id: 3, severity_id: 3 });
    expect(ct("stratus__defense-evasion.dns-delete-logs.json")).toMatchObject({ activity_id: 4, severity_id: 3 });
    expect(ct("stratus__exfiltration.ec2-share-ebs-snapshot.json")).toMatchObject({ severity_id: 3 });
    expect(ct("stratus__execution.ssm-start-session.subset.json", "StartSession")).toMatchObject({ activity_id: 3, severity_id: 2 });
    expect(ct("stratus__execution.ssm-start-session.subset.json", "DescribeInstanceInformation")).toMatchObject({ activity_id: 2, severity_id: 1 });
  });

  it("a failed non-denied call (TrailNotFoundException) is a Failure; UpdateTrail is sensitive", () => {
    const ev = ct("records__update-trail__aws-docs.json");
    expect(ev).toMatchObject({ status_id: 2, status_code: "TrailNotFoundException", status_detail: "Unknown trail: myTrail2 for the user: 123456789012", severity_id: 3 });
    expect(ev.message).toBe("UpdateTrail (cloudtrail.amazonaws.com) by Alice: TrailNotFoundException");
  });

  it("resources[]: ARN -> uid, type, owner account; observables", () => {
    const ev = ct("eventbridge__s3-putobject__aws-stepfunctions-docs.json");
    expect(ev.resources).toEqual([
      { uid: "arn:aws:s3:::username-sfn-tutorial-2/test.png", type: "AWS::S3::Object" },
      { uid: "arn:aws:s3:::username-sfn-tutorial", type: "AWS::S3::Bucket", owner: { account: { uid: "123456789012", type_id: 10, type: "AWS Account" } } },
    ]);
    expect(ev.observables).toContainEqual({ name: "resources[1].uid", type_id: 10, type: "Resource UID", value: "arn:aws:s3:::username-sfn-tutorial" });
    // userIdentity.invokedBy -> actor.app_name (actor.invoked_by is deprecated since 1.2.0)
    expect(ev.actor).toMatchObject({ app_name: "signin.amazonaws.com", session: { is_mfa: true } });
    expect(ev.actor).not.toHaveProperty("invoked_by");
    expect(ev.unmapped?.resources).toBeUndefined();
  });

  it("Root API call through EventBridge (CreateBucket): High", () => {
    expect(ct("eventbridge__s3-createbucket__aws-cwe-docs.json")).toMatchObject({ class_uid: 6003, activity_id: 1, severity_id: 4 });
  });

  it("AwsServiceEvent (no userIdentity.arn, no requestID): actor is the account, AWS Internal its app_name, Informational", () => {
    const ev = ct("record__kms-rotate-key-service-event__aws-docs.json");
    expect(ev).toMatchObject({ class_uid: 6003, activity_id: 3, severity_id: 1, status_id: 1 });
    expect(ev.actor).toEqual({ user: { account: { uid: "123456789012", type_id: 10, type: "AWS Account" } }, app_name: "AWS Internal" });
    expect(ev.src_endpoint).toEqual({ svc_name: "AWS Internal" });
    expect(ev.api).toEqual({ operation: "RotateKey", service: { name: "kms.amazonaws.com" } });
    expect(ev.unmapped).toMatchObject({ serviceEventDetails: { keyId: "7944f0ec-EXAMPLE" }, requestParameters: null, responseElements: null, readOnly: false });
  });

  it("AwsCloudTrailInsight (no eventSource/eventName/userIdentity): a valid API Activity Other, Medium, no status", () => {
    const ev = ct("record__insight-event__aws-docs.json");
    expect(ev).toMatchObject({ class_uid: 6003, activity_id: 99, severity_id: 3 });
    expect(ev.status_id).toBeUndefined();
    expect(ev.actor).toEqual({ app_name: "CloudTrail Insights" });
    expect(ev.src_endpoint).toEqual({ svc_name: "cloudtrail.amazonaws.com" });
    expect(ev.api).toEqual({ operation: "CompleteLifecycleAction", service: { name: "autoscaling.amazonaws.com" } });
    expect(ev.metadata).toMatchObject({ correlation_uid: "7bb000gg-22b3-4c03-94af-c74tj0c8m7c0", event_code: "AwsCloudTrailInsight", product: { feature: { name: "Insight" } } });
    expect(ev.message).toBe("CloudTrail Insight ApiCallRateInsight Start: CompleteLifecycleAction (autoscaling.amazonaws.com)");
    expect(at(ev, "unmapped.insightDetails.insightType")).toBe("ApiCallRateInsight");
  });

  it("AWS service principal as source: svc_name and domain", () => {
    const rec = { ...recordIn("record__start-logging__aws-docs.json"), sourceIPAddress: "cloudtrail.amazonaws.com" };
    const ev = normalizeCloudTrail(rec, CTX);
    expect(ev.src_endpoint).toEqual({ svc_name: "cloudtrail.amazonaws.com", domain: "cloudtrail.amazonaws.com" });
    expect(validateOcsf(ev)).toEqual([]);
  });

  it("raw_data only when ctx.rawData, preferring the original text", () => {
    expect(ct("record__start-logging__aws-docs.json").raw_data).toBeUndefined();
    const rec = recordIn("record__start-logging__aws-docs.json");
    expect(normalizeCloudTrail(rec, { ...CTX, rawData: true }).raw_data).toBe(JSON.stringify(rec));
    expect(normalizeCloudTrail(rec, { ...CTX, rawData: true, rawText: "{ original }" }).raw_data).toBe("{ original }");
  });

  it("without an eventID, metadata.uid hashes the same text raw_data keeps (the original, else the record stringified)", () => {
    const { eventID: _id, ...rec } = recordIn("record__start-logging__aws-docs.json");
    const plain = normalizeCloudTrail(rec, CTX);
    expect(plain.metadata.uid).toBe(stableUid(JSON.stringify(rec)));
    const kept = normalizeCloudTrail(rec, { ...CTX, rawData: true });
    expect(kept.raw_data).toBe(JSON.stringify(rec));
    expect(kept.metadata.uid).toBe(plain.metadata.uid);
    const original = normalizeCloudTrail(rec, { ...CTX, rawData: true, rawText: "{ original }" });
    expect(original.raw_data).toBe("{ original }");
    expect(original.metadata.uid).toBe(stableUid("{ original }"));
  });

  it("rejects a JSON object that is no CloudTrail record with a clear reason", () => {
    expect(() => normalizeCloudTrail({ hello: "world" }, CTX)).toThrow(NormalizeError);
    expect(() => normalizeCloudTrail({ hello: "world" }, CTX)).toThrow(/no eventName, eventSource or eventType/);
    const framed = frame('[{"hello":"world"}]', "application/json");
    const res = runPipeline(framed.values, framed.paths, [], { ctx: CTX, kind: "cloudtrail" });
    expect(res.errors).toMatchObject([{ index: 0, path: "[0]", source: "cloudtrail" }]);
  });
});

describe("helpers", () => {
  it("canonicalIp accepts IPv4/IPv6, reads zero-padded octets as decimal, rejects the rest", () => {
    expect(canonicalIp("192.0.2.1")).toBe("192.0.2.1");
    expect(canonicalIp("075.050.255.67")).toBe("75.50.255.67");
    expect(canonicalIp("256.1.1.1")).toBeUndefined();
    expect(canonicalIp("2001:db8::1")).toBe("2001:db8::1");
    expect(canonicalIp("::")).toBe("::");
    expect(canonicalIp("::ffff:192.0.2.1")).toBe("::ffff:192.0.2.1");
    expect(canonicalIp("1:2:3:4:5:6:7:8")).toBe("1:2:3:4:5:6:7:8");
    expect(canonicalIp("1:2:3:4:5:6:7")).toBeUndefined();
    expect(canonicalIp("1::2::3")).toBeUndefined();
    expect(canonicalIp("AWS Internal")).toBeUndefined();
    expect(canonicalIp("cloudtrail.amazonaws.com")).toBeUndefined();
  });

  it("arnAccount reads the account field of an ARN", () => {
    expect(arnAccount("arn:aws:iam::123456789012:user/Bob")).toBe("123456789012");
    expect(arnAccount("arn:aws:s3:::bucket")).toBeUndefined();
    expect(arnAccount("arn:aws:iam::aws:policy/AdministratorAccess")).toBe("aws");
    expect(arnAccount("not-an-arn")).toBeUndefined();
  });
});

describe("golden events (hand-reviewed)", () => {
  const golden: [name: string, file: string, eventName?: string][] = [
    ["console-login-root-failure", "record__console-login-root-failure__aws-docs.json"],
    ["iam-create-user", "stratus__persistence.iam-create-admin-user.json", "CreateUser"],
    ["kms-rotate-key-service-event", "record__kms-rotate-key-service-event__aws-docs.json"],
    ["insight-event", "record__insight-event__aws-docs.json"],
    ["iam-add-user-to-group", "records__iam-add-user-to-group__aws-docs.json"],
  ];
  for (const [name, file, eventName] of golden) {
    it(name, async () => {
      const ev = ct(file, eventName);
      expect(validateOcsf(ev)).toEqual([]);
      await expect(JSON.stringify(ev, null, 2)).toMatchFileSnapshot(`../golden/cloudtrail/${name}.ocsf.json`);
    });
  }
});

describe("property: mutated records never break the mapping", () => {
  const all = FILES.flatMap((f) => recordsOf(f.text).map((u) => u.record)).filter(isObject);
  const json: fc.Arbitrary<Json> = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.constantFrom("", "x", "AccessDenied", "Yes", "true", "Failure", "1.2.3.4", "AWS Internal", "arn:aws:iam::1:user/u", "2024-01-01T00:00:00Z", "not a time"),
    fc.constant<Json>({}),
    fc.constant<Json>([]),
    fc.dictionary(fc.constantFrom("arn", "userName", "type", "accountId", "ARN", "status"), fc.string(), { maxKeys: 3 }),
    fc.jsonValue({ maxDepth: 3 }) as unknown as fc.Arbitrary<Json>,
  );
  const paths = [
    "eventName", "eventSource", "eventType", "eventTime", "eventID", "errorCode", "errorMessage", "sourceIPAddress",
    "userAgent", "requestID", "requestParameters", "responseElements", "resources", "userIdentity", "userIdentity.type",
    "userIdentity.arn", "userIdentity.accountId", "userIdentity.userName", "userIdentity.sessionContext",
    "userIdentity.sessionContext.attributes", "userIdentity.sessionContext.attributes.creationDate",
    "additionalEventData", "additionalEventData.MFAUsed", "tlsDetails", "insightDetails", "recipientAccountId", "awsRegion",
  ];

  function setPath(o: JsonObject, path: string, v: Json | undefined): void {
    const keys = path.split(".");
    let cur: JsonObject = o;
    for (const k of keys.slice(0, -1)) {
      const next = cur[k];
      if (!isObject(next)) return;
      cur[k] = { ...next };
      cur = cur[k] as JsonObject;
    }
    const last = keys[keys.length - 1]!;
    if (v === undefined) delete cur[last];
    else cur[last] = v;
  }

  it("valid and lossless, or a NormalizeError", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...all),
        fc.array(fc.tuple(fc.constantFrom(...paths), fc.option(json, { nil: undefined })), { minLength: 1, maxLength: 4 }),
        (base, edits) => {
          const rec = structuredClone(base);
          for (const [p, v] of edits) setPath(rec, p, v);
          let ev: OcsfEvent;
          try {
            ev = normalizeCloudTrail(rec, CTX);
          } catch (e) {
            expect(e).toBeInstanceOf(NormalizeError);
            return;
          }
          expect(validateOcsf(ev)).toEqual([]);
          expect(lossOf("cloudtrail", rec, ev)).toEqual([]);
        },
      ),
      { numRuns: 1000, seed: 4242 },
    );
  });
});
