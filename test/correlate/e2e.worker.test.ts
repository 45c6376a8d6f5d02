// End to end inside workerd: the kubectl exec (k8s audit), Falco's shell alert and Tetragon's exec are POSTed
// to /v1/events one by one, as their senders would; the real local queue runs the consumer, which archives
// them and feeds the correlation Durable Object of their pod; the incident it emits goes through the same
// queue and lands in the archive. A shell alert of another pod, sent at the same time, joins nothing.
import { SELF, env } from "cloudflare:test";
import { describe, it, expect } from "vitest";
import { readArchive, waitFor } from "../support/archive";
import { k8sExecRecord, falcoShellRecord, tetragonCatExecRecord, STORY_AT, STORY_NS } from "./story";

const POD = "e2e-shell-4c1d";
const OTHER = "e2e-other-77aa";
const SCOPE = `pod:default/${STORY_NS}/${POD}`;
const OTHER_SCOPE = `pod:default/${STORY_NS}/${OTHER}`;

type Ev = Record<string, unknown> & { metadata: { uid: string; product: { name: string } }; time: number };
const keyOf = (e: Ev) => (e.unmapped as { tributary?: { correlation?: { key?: string } } } | undefined)?.tributary?.correlation?.key;
const relatedOf = (e: Ev) => (e.finding_info_list as { related_events: { uid: string }[] }[])[0]!.related_events.map((r) => r.uid);

async function post(record: unknown): Promise<void> {
  const res = await SELF.fetch("http://tributary/v1/events", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(record) });
  expect(res.status, await res.clone().text()).toBe(202);
  expect(await res.json()).toEqual({ accepted: 1, rejected: 0, errors: [] });
}

describe("k8s exec story through the Worker", () => {
  it("POST -> queue -> archive + correlation -> incident in the archive, related uids in time order", async () => {
    await post(k8sExecRecord({ pod: POD, at: STORY_AT - 1410 }));
    await post(falcoShellRecord({ pod: OTHER, at: STORY_AT - 300 })); // unrelated: another pod
    await post(falcoShellRecord({ pod: POD, at: STORY_AT - 410 }));
    await post(tetragonCatExecRecord({ ns: STORY_NS, pod: POD }));

    const all = async () => (await readArchive(env.ARCHIVE)).flatMap((o) => o.events as Ev[]);
    const incident = await waitFor(
      async () => (await all()).find((e) => e.class_uid === 2005 && keyOf(e) === SCOPE && relatedOf(e).length === 3),
      300,
      100,
    );
    // the three events of the pod, as archived (they carry the pod key the ingest's key step wrote)
    const events = (await all()).filter((e) => e.metadata.product.name !== "Tributary" && keyOf(e) === SCOPE).sort((a, b) => a.time - b.time);
    expect(events.map((e) => e.metadata.product.name)).toEqual(["Kubernetes", "Falco", "Tetragon"]);
    expect(relatedOf(incident)).toEqual(events.map((e) => e.metadata.uid));
    expect(incident).toMatchObject({ class_uid: 2005, type_uid: incident.activity_id === 1 ? 200501 : 200502, status_id: 1, time: STORY_AT });
    expect((incident.metadata as { correlation_uid?: string }).correlation_uid).toBe((events[0]!.metadata as { correlation_uid?: string }).correlation_uid);
    // the incident's archive object is partitioned by its class and event day, like any event
    const objects = await readArchive(env.ARCHIVE, "ocsf/class_uid=2005/");
    expect(objects.some((o) => o.key.startsWith("ocsf/class_uid=2005/event_day=20220201/") && (o.events as Ev[]).some((e) => e.metadata.uid === incident.metadata.uid))).toBe(true);

    // the other pod's alert reached its own object, which found no story
    const other = env.CORRELATOR.getByName(OTHER_SCOPE);
    const st = await waitFor(async () => {
      const s = await other.stats();
      return s.events >= 1 ? s : undefined;
    });
    expect(st).toMatchObject({ events: 1, incidents: 0 });
    const otherUid = (await all()).find((e) => keyOf(e) === OTHER_SCOPE)!.metadata.uid;
    for (const e of (await all()).filter((x) => x.class_uid === 2005)) expect(relatedOf(e)).not.toContain(otherUid);
  });
});
