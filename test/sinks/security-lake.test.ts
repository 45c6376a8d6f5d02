// Security Lake sink: Parquet files written to s3rver on 127.0.0.1, read back with hyparquet and
// checked row by row and column by column; the column sets checked against the OCSF 1.3.0 schema.
import { describe, it, expect, inject, beforeAll } from "vitest";
import { parquetMetadata } from "hyparquet";
import { securityLakeDriver, securityLakeSchema, encodeParquet, EXTRA_KEY, type SecurityLakeConfig } from "../../src/sinks/security-lake";
import { OCSF_CLASSES } from "../../src/sinks/ocsf-columns";
import { classFields, classSchema, MAX_OBJECT_DEPTH, type Field, type Scalar } from "../../src/sinks/parquet-schema";
import { eventDay } from "../../src/sinks/objects";
import { unsentOutcomes, type SinkContext } from "../../src/sinks/types";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { fixtureEvents, plain, NOW } from "../support/siem-servers";
import { fixturesIn } from "../support/fixtures";
import { runPipeline } from "../../src/pipeline";
import { freshBucket, readBucket } from "../support/s3-read";
import { validateOcsf } from "../support/ocsf-validator";
import { arrayBufferOf, readParquet, restoreEvent, type Row } from "../support/lake-read";

const endpoint = inject("s3Endpoint");
const ctx: SinkContext = { env: { LAKE_SECRET: "S3RVER" }, now: NOW };
const ACCOUNT = "123456789012";

function config(bucket: string, sources: Record<string, string>): SecurityLakeConfig {
  return securityLakeSchema.parse({ bucket, region: "eu-west-1", endpoint, forcePathStyle: true, accessKeyId: "S3RVER", secretAccessKey: { env: "LAKE_SECRET" }, accountId: ACCOUNT, sources });
}

const schemaOf = (bytes: Uint8Array) => parquetMetadata(arrayBufferOf(bytes)).schema;

/** Compares every row of a file with the events it should hold (sorted by time). */
function checkRows(rows: Row[], events: OcsfEvent[], classUid: number): void {
  const sorted = [...events].map(plain).sort((a, b) => (a.time as number) - (b.time as number));
  expect(rows).toHaveLength(sorted.length);
  const top = classFields(classUid)!.map((f) => f.name);
  rows.forEach((row, r) => {
    const e = sorted[r]!;
    expect(Object.keys(row)).toEqual(top);
    // nested values equal the event's (JSON-text leaves parsed back)
    expect(restoreEvent(row, classUid), `row ${r} (${String((e.metadata as Row).uid)})`).toEqual(e);
    // fixture values all fit their typed columns: nothing went to unmapped.tributary_extra
    expect(row.unmapped === null || row.unmapped === undefined ? undefined : (JSON.parse(row.unmapped as string) as Row)[EXTRA_KEY]).toBeUndefined();
    // metadata.product.name is a nested column, not JSON text
    const product = (e.metadata as { product?: { name?: string } }).product;
    expect(((row.metadata as Row).product as Row | null)?.name ?? undefined).toBe(product?.name);
  });
  for (let r = 1; r < rows.length; r++) expect(Number(rows[r]!.time) >= Number(rows[r - 1]!.time)).toBe(true);
}

/** A value of every leaf (one element per list): what the validator should accept for each path. */
function sampleOf(fields: Field[]): Row {
  const sample: Record<Scalar, unknown> = { i: 1, l: 1, t: 1, f: 1.5, b: true, s: "x", j: {} };
  const one = (f: Field): unknown => (f.fields ? sampleOf(f.fields) : sample[f.scalar!]);
  return Object.fromEntries(fields.map((f) => [f.name, f.list ? [one(f)] : one(f)]));
}

/** Leaf paths of a Parquet schema (list wrappers left out), with their element. */
function leafPaths(schema: ReturnType<typeof schemaOf>): Map<string, (typeof schema)[number]> {
  const out = new Map<string, (typeof schema)[number]>();
  let i = 1;
  const walk = (prefix: string[]): void => {
    const el = schema[i++]!;
    const path = el.name === "list" || el.name === "element" ? prefix : [...prefix, el.name];
    if (el.num_children) for (let c = 0; c < el.num_children; c++) walk(path);
    else out.set(path.join("."), el);
  };
  while (i < schema.length) walk([]);
  return out;
}

let events: OcsfEvent[];
let classes: number[];
beforeAll(() => {
  events = fixtureEvents();
  classes = [...new Set(events.map((e) => e.class_uid))].sort();
});

describe("security lake: nested schemas", () => {
  it("every group and leaf is an attribute of its OCSF 1.3.0 class or object, with the matching type", () => {
    for (const cls of Object.keys(OCSF_CLASSES).map(Number)) {
      const problems = validateOcsf({ ...sampleOf(classFields(cls)!), class_uid: cls });
      expect(problems.filter((p) => /unknown attribute|expected|schema type/.test(p)), `class ${cls}`).toEqual([]);
    }
  });

  it("covers every class the normalizers produce from the fixtures", () => {
    for (const c of classes) expect(classSchema(c), `class ${c}`).toBeDefined();
  });

  it("writes objects as groups, arrays as LISTs, typed leaves, free-form objects and the depth bound as JSON text", () => {
    const e = events.find((x) => x.class_uid === 2004)!;
    const buf = encodeParquet([e], 2004);
    const meta = parquetMetadata(arrayBufferOf(buf));
    const leaves = leafPaths(meta.schema);
    const byName = new Map(meta.schema.map((s) => [s.name, s]));
    expect(byName.get("class_uid")).toMatchObject({ type: "INT32" });
    expect(byName.get("type_uid")).toMatchObject({ type: "INT64" });
    expect(byName.get("time")).toMatchObject({ type: "INT64" });
    expect(byName.get("time")?.converted_type).toBeUndefined(); // epoch ms as a plain bigint, like AWS's own tables
    expect(byName.get("message")).toMatchObject({ type: "BYTE_ARRAY", converted_type: "UTF8" });
    expect(byName.get("unmapped")).toMatchObject({ type: "BYTE_ARRAY", converted_type: "UTF8" });
    expect(byName.get("metadata")!.num_children).toBeGreaterThan(5);
    expect(byName.get("observables")).toMatchObject({ converted_type: "LIST", num_children: 1 });
    expect(leaves.get("metadata.product.name")).toMatchObject({ type: "BYTE_ARRAY", converted_type: "UTF8" });
    expect(leaves.get("metadata.logged_time")).toMatchObject({ type: "INT64" });
    expect(leaves.get("observables.type_id")).toMatchObject({ type: "INT32" });
    expect(leaves.get("finding_info.types")).toMatchObject({ type: "BYTE_ARRAY", converted_type: "UTF8" });
    expect(leaves.get("evidences.data")).toMatchObject({ converted_type: "UTF8" }); // json_t
    // MAX_OBJECT_DEPTH object levels: actor.process.parent_process is the third, its file is text
    expect(MAX_OBJECT_DEPTH).toBe(3);
    expect(leaves.get("actor.process.parent_process.pid")).toMatchObject({ type: "INT32" });
    expect(leaves.get("actor.process.parent_process.file")).toMatchObject({ converted_type: "UTF8" });
    expect(leaves.get("actor.process.file.name")).toMatchObject({ converted_type: "UTF8" });
    // one level of recursion: process.parent_process is a group, its parent_process is text
    const proc = leafPaths(schemaOf(encodeParquet(events.filter((x) => x.class_uid === 1007), 1007)));
    expect(proc.get("process.parent_process.file.name")).toMatchObject({ converted_type: "UTF8" });
    expect(proc.get("process.parent_process.created_time")).toMatchObject({ type: "INT64" });
    expect(proc.get("process.parent_process.parent_process")).toMatchObject({ converted_type: "UTF8" });
    expect(meta.row_groups[0]!.columns[0]!.meta_data!.codec).toBe("SNAPPY");
    expect(meta.num_rows).toBe(1n);
  });

  it("the schema of a class is the same in every file, whatever its events hold", () => {
    for (const cls of classes) {
      const of = events.filter((e) => e.class_uid === cls);
      const first = schemaOf(encodeParquet(of.slice(0, 1), cls));
      expect(schemaOf(encodeParquet(of, cls)), `class ${cls}`).toEqual(first);
      expect(schemaOf(encodeParquet([{ ...of[0]!, metadata: { version: "1.3.0" } } as OcsfEvent], cls))).toEqual(first);
      expect(first.map((s) => s.name)).toEqual(classSchema(cls)!.map((s) => s.name));
    }
  });

  it("keeps values past the depth bound as JSON text, and values that fit no column in unmapped.tributary_extra", async () => {
    const base = plain(events.find((x) => x.class_uid === 2004)!) as OcsfEvent;
    const deep = { pid: 3, file: { name: "bash", hashes: [{ algorithm_id: 1, value: "ab" }] }, parent_process: { pid: 2, parent_process: { pid: 1 } } };
    const odd = {
      ...base,
      not_ocsf: { a: 1 },
      severity_id: "high",
      metadata: { ...base.metadata, product: { ...base.metadata.product, name: 42 }, not_a_member: ["x"] },
      observables: [...(base.observables ?? []), { name: "x", type_id: "eleven", value: "v" }],
      finding_info: { ...(base.finding_info as Row), types: "not-a-list" },
      device: "not-an-object",
      evidences: [{ process: { pid: 4, parent_process: deep } }],
      actor: { process: { pid: 5, parent_process: deep } },
    } as unknown as OcsfEvent;
    const [row] = await readParquet(encodeParquet([odd], 2004));
    expect(row!.severity_id).toBeNull();
    expect(row!.device ?? null).toBeNull(); // an absent group reads back as undefined
    expect(((row!.metadata as Row).product as Row).name).toBeNull();
    const extra = (JSON.parse(row!.unmapped as string) as Row)[EXTRA_KEY];
    const obs = base.observables?.length ?? 0;
    expect(extra).toEqual({
      not_ocsf: { a: 1 },
      severity_id: "high",
      "metadata.product.name": 42,
      "metadata.not_a_member": ["x"],
      [`observables[${obs}].type_id`]: "eleven",
      "finding_info.types": "not-a-list",
      device: "not-an-object",
    });
    // past the depth bound: JSON text leaves
    const acProc = ((row!.actor as Row).process as Row).parent_process as Row;
    expect(acProc.pid).toBe(3);
    expect(JSON.parse(acProc.file as string)).toEqual(deep.file);
    expect(JSON.parse(acProc.parent_process as string)).toEqual(deep.parent_process);
    const evProc = ((row!.evidences as Row[])[0]!.process as Row).parent_process as Row;
    expect(JSON.parse(evProc.parent_process as string)).toEqual(deep.parent_process);
    // nothing lost
    expect(restoreEvent(row!, 2004)).toEqual(plain(odd));
  });

  it("keeps misfits when `unmapped` itself is not an object, and numbers that do not fit INT32 / INT64", async () => {
    const base = plain(events.find((x) => x.class_uid === 2004)!) as OcsfEvent;
    const odd = { ...base, unmapped: ["free", "text"], count: 1.5, risk_score: 2 ** 40, type_uid: 2 ** 60 } as unknown as OcsfEvent;
    const [row] = await readParquet(encodeParquet([odd, base], 2004));
    expect([row!.count, row!.risk_score, row!.type_uid]).toEqual([null, null, null]);
    expect(JSON.parse(row!.unmapped as string)).toEqual({ [EXTRA_KEY]: { count: 1.5, risk_score: 2 ** 40, type_uid: 2 ** 60, unmapped: ["free", "text"] } });
    const back = restoreEvent(row!, 2004);
    expect(back).toEqual(plain(odd));
  });

  it("names misfits by their path at any depth, in the order of the schema walk, the same in every row and call", async () => {
    const base = plain(events.find((x) => x.class_uid === 2004)!) as OcsfEvent;
    const odd = {
      ...base,
      zz_top: 1,
      evidences: [{ process: { pid: "one", file: { name: 7, extra: true } } }, null, { process: { cmd_line: ["a"] } }],
      metadata: { ...base.metadata, labels: "x", product: { ...base.metadata.product, feature: { name: 1 } } },
    } as unknown as OcsfEvent;
    const misfits = {
      "evidences[0].process.file.name": 7,
      "evidences[0].process.file.extra": true,
      "evidences[0].process.pid": "one",
      "evidences[2].process.cmd_line": ["a"],
      "metadata.labels": "x",
      "metadata.product.feature.name": 1,
      zz_top: 1,
    };
    const bytes = encodeParquet([odd, base, { ...odd, time: odd.time + 1 }], 2004);
    const rows = await readParquet(bytes);
    for (const row of [rows[0]!, rows[2]!]) {
      const extra = (JSON.parse(row.unmapped as string) as Row)[EXTRA_KEY] as Row;
      expect(extra).toEqual(misfits);
      expect(Object.keys(extra)).toEqual(Object.keys(misfits).sort((a, b) => schemaOrder(a) - schemaOrder(b)));
    }
    expect(rows[1]!.unmapped ?? null).toBe(base.unmapped === undefined ? null : JSON.stringify(base.unmapped));
    expect(encodeParquet([odd, base, { ...odd, time: odd.time + 1 }], 2004)).toEqual(bytes);
  });
});

describe("security lake: schema member names", () => {
  it("no member of any class's groups is named like an Object.prototype property (cells leave absent members out)", () => {
    const clash: string[] = [];
    const walk = (fields: Field[], path: string) => {
      for (const f of fields) {
        if (f.name in Object.prototype) clash.push(`${path}${f.name}`);
        if (f.fields) walk(f.fields, `${path}${f.name}.`);
      }
    };
    for (const cls of Object.keys(OCSF_CLASSES)) walk(classFields(Number(cls))!, `${cls}:`);
    expect(clash).toEqual([]);
  });
});

/** Position of a misfit's top-level attribute among the class 2004 columns (unknown attributes last). */
function schemaOrder(path: string): number {
  const names = classFields(2004)!.map((f) => f.name);
  const i = names.indexOf(path.split(/[.[]/)[0]!);
  return i < 0 ? names.length : i;
}

describe("security lake: objects in s3rver", () => {
  it("one Parquet file per class and event day, under ext/{source}/region/accountId/eventDay, every row checked", async () => {
    const bucket = await freshBucket(endpoint, "lake");
    const sources = Object.fromEntries(classes.map((c) => [String(c), `tributary-${c}`]));
    const cfg = config(bucket, sources);
    const reqs = await securityLakeDriver.encode(events, cfg, ctx);
    expect(unsentOutcomes(securityLakeDriver, events, reqs, cfg, ctx).size).toBe(0);
    for (const req of reqs) {
      const res = await securityLakeDriver.send!(req, cfg, ctx);
      expect(securityLakeDriver.classify(res, req, cfg).outcome, res.body).toEqual({ kind: "delivered" });
    }
    const objects = await readBucket(endpoint, bucket, "", reqs.length);
    expect(objects.map((o) => o.key)).toEqual(reqs.map((r) => r.url).sort());
    let rows = 0;
    for (const o of objects) {
      const m = /^ext\/tributary-(\d+)\/region=eu-west-1\/accountId=123456789012\/eventDay=(\d{8})\/[0-9a-f]{28}\.parquet$/.exec(o.key);
      expect(m, o.key).not.toBeNull();
      const cls = Number(m![1]);
      const day = m![2]!;
      const expected = events.filter((e) => e.class_uid === cls && eventDay(e.time) === day);
      expect(o.contentType).toBe("application/vnd.apache.parquet");
      const got = await readParquet(o.bytes);
      checkRows(got, expected, cls);
      rows += got.length;
    }
    expect(rows).toBe(events.length);
  });

  it("Group Management 3006 (CloudTrail group changes): user, group and privileges in typed columns, read back whole", async () => {
    const added = events.find((x) => x.class_uid === 3006)!;
    expect(added).toMatchObject({ activity_id: 3, user: { name: "Bob" }, group: { name: "admin" } });
    // the same record as an AttachGroupPolicy: privileges (a string list) instead of user
    const policy = "arn:aws:iam::aws:policy/AdministratorAccess";
    const file = fixturesIn("cloudtrail").find((f) => f.name === "cloudtrail/records__iam-add-user-to-group__aws-docs.json")!;
    const addUserToGroup = (JSON.parse(file.text) as { Records: Row[] }).Records[0]!;
    const attached = runPipeline(
      [{ Records: [{ ...addUserToGroup, eventName: "AttachGroupPolicy", requestParameters: { groupName: "admin", policyArn: policy } }] }],
      [""],
      [],
      { ctx: { ocsfVersion: "1.3.0", receivedAt: NOW } },
    ).events[0]!.event;
    expect(attached).toMatchObject({ class_uid: 3006, activity_id: 1, privileges: [policy], group: { name: "admin" } });
    expect(validateOcsf(attached)).toEqual([]);
    const bucket = await freshBucket(endpoint, "lake-groups");
    const cfg = config(bucket, { "3006": "group-management" });
    const reqs = await securityLakeDriver.encode([added, attached], cfg, ctx);
    expect(unsentOutcomes(securityLakeDriver, [added, attached], reqs, cfg, ctx).size).toBe(0);
    for (const req of reqs) expect(securityLakeDriver.classify(await securityLakeDriver.send!(req, cfg, ctx), req, cfg).outcome).toEqual({ kind: "delivered" });
    const objects = await readBucket(endpoint, bucket, "", reqs.length);
    const rows = (await Promise.all(objects.map((o) => readParquet(o.bytes)))).flat();
    expect(objects.every((o) => o.key.startsWith("ext/group-management/"))).toBe(true);
    const byActivity = [...rows].sort((a, b) => Number(a.activity_id) - Number(b.activity_id));
    expect(byActivity.map((r) => [r.activity_id, (r.group as Row).name, r.privileges ?? null, (r.user as Row | null)?.name ?? null])).toEqual([
      [1, "admin", [policy], null],
      [3, "admin", null, "Bob"],
    ]);
    expect(restoreEvent(byActivity[0]!, 3006)).toEqual(plain(attached));
    expect(restoreEvent(byActivity[1]!, 3006)).toEqual(plain(added));
  });

  it("uses the day of the events, not of the upload, and the same batch keeps its key", async () => {
    const e = events.find((x) => x.class_uid === 2004)!;
    const late = { ...e, time: Date.UTC(2023, 4, 25, 23, 59, 59), metadata: { ...e.metadata, uid: "late" } };
    const early = { ...e, time: Date.UTC(2023, 4, 26, 0, 0, 1), metadata: { ...e.metadata, uid: "early" } };
    const cfg = config("b-not-used", { "2004": "findings" });
    const reqs = await securityLakeDriver.encode([early, late], cfg, { ...ctx, now: Date.UTC(2031, 0, 1) });
    expect(reqs.map((r) => r.url.split("/").slice(0, 5).join("/")).sort()).toEqual([
      "ext/findings/region=eu-west-1/accountId=123456789012/eventDay=20230525",
      "ext/findings/region=eu-west-1/accountId=123456789012/eventDay=20230526",
    ]);
    const again = await securityLakeDriver.encode([late, early], cfg, ctx);
    expect(again.map((r) => r.url).sort()).toEqual(reqs.map((r) => r.url).sort());
  });

  it("rejects events of a class without a custom source (the reason names the class)", async () => {
    const cfg = config("b-not-used", { "2004": "findings" });
    const other = events.find((x) => x.class_uid !== 2004)!;
    const reqs = await securityLakeDriver.encode([other], cfg, ctx);
    expect(reqs).toEqual([]);
    const out = unsentOutcomes(securityLakeDriver, [other], reqs, cfg, ctx);
    expect(out.get(0)).toMatchObject({ kind: "reject", reason: expect.stringContaining(`class_uid ${other.class_uid}`) });
  });

  it("validates its config naming the field (one class per source, account id)", () => {
    const r = securityLakeSchema.safeParse({ bucket: "lake-bucket", accessKeyId: "a", secretAccessKey: "s", accountId: "12", sources: { "2004": "same", "1007": "same" } });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join("."));
    expect(paths).toContain("accountId");
    expect(paths.filter((p) => /^sources\.(1007|2004)$/.test(p))).toHaveLength(1);
  });

  it("takes every custom source name Security Lake takes (1-64 of [\\w-_:.]), and refuses others (a name of dots only would be a dot segment of the key)", () => {
    const parse = (name: string) => securityLakeSchema.safeParse({ bucket: "lake-bucket", accessKeyId: "a", secretAccessKey: "s", accountId: "123456789012", sources: { "2004": name } });
    for (const ok of ["falco", "tributary.falco_findings", "team:falco-2004", "x".repeat(64)]) expect(parse(ok).success, ok).toBe(true);
    for (const bad of ["", ".", "..", "a/b", "a b", "ext/../x", "x".repeat(65)]) expect(parse(bad).success, bad).toBe(false);
  });
});
