// End to end inside workerd: the kubectl exec (k8s audit), Falco's shell alert, Tetragon's exec of the shell and
// of a process the shell started are POSTed to /v1/events one by one, as their senders would; the real local queue
// runs the consumer, which archives them and feeds the correlation Durable Object of their pod; the incident it
// emits goes through the same queue and lands in the archive. A shell alert of another pod, sent at the same time,
// joins nothing; nor do two processes of the same pod at the same time that do not descend from the shell (an
// unrelated curl, an app process started by containerd-shim).
// The other two chains take the same path: a CloudTrail credential handed out and then used from a new IP, and
// a Tetragon Sigkill with Falco's alert for the same process; each with a negative case first (another
// principal's call, another process's alert: no incident), then the event that completes the story.
import { SELF, env, runInDurableObject } from "cloudflare:test";
import { describe, it, expect } from "vitest";
import { readArchive, waitFor } from "../support/archive";
import type { Correlator } from "../../src/correlate/durable";
import {
  k8sExecRecord,
  falcoShellRecord,
  falcoReadSensitiveRecord,
  federationRecords,
  records,
  tetragonCatExecRecord,
  tetragonCatSigkillRecord,
  tetragonShellExecRecord,
  tetragonCurlExecRecord,
  tetragonAppExecRecord,
  STORY_AT,
  STORY_NS,
  AUDIT_AT,
  ALERT_AT,
  SHELL_AT,
  relatedOf,
} from "./story";

const POD = "e2e-shell-4c1d";
const OTHER = "e2e-other-77aa";
const SCOPE = `pod:default/${STORY_NS}/${POD}`;
const OTHER_SCOPE = `pod:default/${STORY_NS}/${OTHER}`;

type Ev = Record<string, unknown> & { metadata: { uid: string; product: { name: string } }; time: number };
const keyOf = (e: Ev) => (e.unmapped as { tributary?: { correlation?: { key?: string } } } | undefined)?.tributary?.correlation?.key;

const all = async () => (await readArchive(env.ARCHIVE)).flatMap((o) => o.events as Ev[]);
const byUid = async (uid: string) => (await all()).find((e) => e.metadata.uid === uid);
/** Time order, ties by uid: how an incident lists its related events. */
const byTime = (a: Ev, b: Ev) => a.time - b.time || (a.metadata.uid < b.metadata.uid ? -1 : 1);

/** Waits until a Correlator holds `events` summaries (the consumer fed it), and returns its stats. */
async function settled(stub: DurableObjectStub<Correlator>, events: number) {
  return waitFor(async () => {
    const s = await stub.stats();
    return s.events >= events ? s : undefined;
  }, 300);
}

async function post(record: unknown): Promise<void> {
  const res = await SELF.fetch("http://tributary/v1/events", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(record) });
  expect(res.status, await res.clone().text()).toBe(202);
  expect(await res.json()).toEqual({ accepted: 1, rejected: 0, errors: [] });
}

describe("k8s exec story through the Worker", () => {
  it("POST -> queue -> archive + correlation -> incident in the archive, related uids in time order; processes not from the shell join nothing", async () => {
    await post(k8sExecRecord({ pod: POD, at: AUDIT_AT }));
    await post(falcoShellRecord({ pod: OTHER, at: ALERT_AT + 100 })); // unrelated: another pod
    await post(falcoShellRecord({ pod: POD, at: ALERT_AT }));
    await post(tetragonShellExecRecord({ ns: STORY_NS, pod: POD, at: SHELL_AT })); // bash, the exec's shell
    await post(tetragonCurlExecRecord({ ns: STORY_NS, pod: POD, at: STORY_AT - 5 })); // unrelated: not from the shell
    await post(tetragonAppExecRecord({ ns: STORY_NS, pod: POD, at: STORY_AT + 1 })); // unrelated: an app process
    await post(tetragonCatExecRecord({ ns: STORY_NS, pod: POD })); // the shell's grandchild

    const incident = await waitFor(
      async () => (await all()).find((e) => e.class_uid === 2005 && keyOf(e) === SCOPE && relatedOf(e).length === 4),
      300,
      100,
    );
    // the pod's events, as archived (they carry the pod key the ingest's key step wrote)
    const events = (await all()).filter((e) => e.metadata.product.name !== "Tributary" && keyOf(e) === SCOPE).sort(byTime);
    expect(events).toHaveLength(6);
    const binary = (e: Ev) => (e.process as { file?: { path?: string } } | undefined)?.file?.path;
    const unrelated = events.filter((e) => binary(e) === "/usr/bin/curl" || binary(e) === "/starwars-docker");
    expect(unrelated).toHaveLength(2);
    const story = events.filter((e) => !unrelated.includes(e));
    expect(story.map((e) => e.metadata.product.name)).toEqual(["Kubernetes", "Falco", "Tetragon", "Tetragon"]);
    expect(story.slice(2).map(binary)).toEqual(["/bin/bash", "/usr/bin/cat"]);
    expect(relatedOf(incident)).toEqual(story.map((e) => e.metadata.uid));
    expect(incident).toMatchObject({ class_uid: 2005, type_uid: incident.activity_id === 1 ? 200501 : 200502, status_id: 1, time: STORY_AT });
    expect((incident.metadata as { correlation_uid?: string }).correlation_uid).toBe((events[0]!.metadata as { correlation_uid?: string }).correlation_uid);
    // the incident's archive object is partitioned by its class and event day, like any event
    const objects = await readArchive(env.ARCHIVE, "ocsf/class_uid=2005/");
    expect(objects.some((o) => o.key.startsWith("ocsf/class_uid=2005/event_day=20220201/") && (o.events as Ev[]).some((e) => e.metadata.uid === incident.metadata.uid))).toBe(true);

    // the pod's object holds all six summaries; the story it remembers (every emission's members) has none of
    // the two unrelated processes
    const stub = env.CORRELATOR.getByName(SCOPE);
    expect(await settled(stub, 6)).toMatchObject({ events: 6, incidents: 1 });
    const remembered = await runInDurableObject(stub, (_o: Correlator, state) =>
      state.storage.sql
        .exec<{ members: string }>("SELECT members FROM incidents")
        .toArray()
        .map((r) => (JSON.parse(r.members) as { uid: string }[]).map((m) => m.uid)),
    );
    expect(remembered).toEqual([story.map((e) => e.metadata.uid)]);
    for (const e of (await all()).filter((x) => x.class_uid === 2005)) for (const u of unrelated) expect(relatedOf(e)).not.toContain(u.metadata.uid);

    // the other pod's alert reached its own object, which found no story
    const other = env.CORRELATOR.getByName(OTHER_SCOPE);
    expect(await settled(other, 1)).toMatchObject({ events: 1, incidents: 0 });
    const otherUid = (await all()).find((e) => keyOf(e) === OTHER_SCOPE)!.metadata.uid;
    for (const e of (await all()).filter((x) => x.class_uid === 2005)) expect(relatedOf(e)).not.toContain(otherUid);
  });
});

describe("credential then use from a new IP (CloudTrail) through the Worker", () => {
  // cloudtrail/stratus__persistence.sts-federation-token.json: GetFederationToken hands out ASIASTJKC5GCM7ZE6LUP,
  // GetCallerIdentity uses it. Changed: the use's sourceIPAddress (the capture used one IP; see ./story.ts).
  // cloudtrail/stratus__credential-access.ec2-get-password-data.subset.json [0]: GetPasswordData by another
  // principal (another account's session key). Changed: eventTime, moved to 5 s after the GetFederationToken so
  // that only the principal differs.
  const KEY = "aws.key:ASIASTJKC5GCM7ZE6LUP";

  it("another principal's call from a new IP joins nothing; the credential's own use from a new IP is an incident", async () => {
    const [create, use] = federationRecords("200.249.253.51");
    const other = records("cloudtrail/stratus__credential-access.ec2-get-password-data.subset.json")[0]!;
    other.eventTime = "2024-11-30T08:43:22Z";
    const otherKey = `aws.key:${String((other.userIdentity as { accessKeyId: string }).accessKeyId)}`;
    expect(otherKey).not.toBe(KEY);

    await post(create);
    await post(other);
    const keyStub = env.CORRELATOR.getByName(KEY);
    const otherStub = env.CORRELATOR.getByName(otherKey);
    expect(await settled(keyStub, 1)).toMatchObject({ events: 1, incidents: 0 });
    expect(await settled(otherStub, 1)).toMatchObject({ events: 1, incidents: 0 });

    await post(use);
    const incident = await waitFor(async () => (await all()).find((e) => e.class_uid === 2005 && keyOf(e) === KEY), 300, 100);
    const createEv = await byUid(relatedOf(incident)[0]!);
    const useEv = await byUid(relatedOf(incident)[1]!);
    expect(relatedOf(incident)).toHaveLength(2);
    expect([createEv?.api, useEv?.api].map((a) => (a as { operation: string }).operation)).toEqual(["GetFederationToken", "GetCallerIdentity"]);
    expect(incident).toMatchObject({ class_uid: 2005, activity_id: 1, time: useEv!.time });
    expect((incident.finding_info_list as { types: string[] }[])[0]!.types).toContain("aws_credential_new_ip");
    // the other principal's call is in the archive, in no incident, and its object found nothing
    const otherEv = (await all()).find((e) => (e.api as { operation?: string } | undefined)?.operation === "GetPasswordData" && e.time === Date.parse(other.eventTime as string))!;
    expect(otherEv).toBeDefined();
    for (const e of (await all()).filter((x) => x.class_uid === 2005)) expect(relatedOf(e)).not.toContain(otherEv.metadata.uid);
    expect(await otherStub.stats()).toMatchObject({ events: 1, incidents: 0 });
    expect(await keyStub.stats()).toMatchObject({ events: 2, incidents: 1 });
  });
});

describe("enforcement (Tetragon Sigkill) and Falco's alert for the same process through the Worker", () => {
  // Every record is renamed into the pod POD_K (test isolation). tetragon/process_kprobe.ndjson [9] (cat's read
  // hook): action set to KPROBE_ACTION_SIGKILL (no fixture holds an enforcement). tetragon/process_exec.ndjson [6]:
  // cat's exec, as it is. falco/terminal-shell-in-container__falco-docs.json (sh, another process): pod, time 10 ms
  // after the kill. falco/read-sensitive-file-untrusted__plugins-collector-readme.json (cat /etc/shadow, the killed
  // process): pod, time 40 ms after the kill.
  const POD_K = "e2e-enforce-2b7c";
  const SCOPE_K = `pod:default/${STORY_NS}/${POD_K}`;

  it("an alert for another process joins nothing; the alert for the killed process is an incident with the kill and its exec", async () => {
    const stub = env.CORRELATOR.getByName(SCOPE_K);
    await post(tetragonCatSigkillRecord({ ns: STORY_NS, pod: POD_K }));
    await post(tetragonCatExecRecord({ ns: STORY_NS, pod: POD_K }));
    await post(falcoShellRecord({ pod: POD_K, at: STORY_AT + 10 }));
    expect(await settled(stub, 3)).toMatchObject({ events: 3, incidents: 0 });

    await post(falcoReadSensitiveRecord({ pod: POD_K, at: STORY_AT + 40 }));
    const incident = await waitFor(async () => (await all()).find((e) => e.class_uid === 2005 && keyOf(e) === SCOPE_K), 300, 100);
    const pod = (await all()).filter((e) => e.metadata.product.name !== "Tributary" && keyOf(e) === SCOPE_K);
    expect(pod).toHaveLength(4);
    const shell = pod.find((e) => (e.finding_info as { title?: string } | undefined)?.title === "Terminal shell in container")!;
    const joined = pod.filter((e) => e !== shell).sort(byTime);
    expect(relatedOf(incident)).toEqual(joined.map((e) => e.metadata.uid));
    expect(relatedOf(incident)).not.toContain(shell.metadata.uid);
    expect(incident).toMatchObject({ class_uid: 2005, activity_id: 1, time: STORY_AT + 40 });
    expect((incident.finding_info_list as { types: string[] }[])[0]!.types).toContain("enforcement_alert");
    expect(await stub.stats()).toMatchObject({ events: 4, incidents: 1 });
  });
});
