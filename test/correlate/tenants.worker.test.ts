// Tenants are isolation boundaries for correlation, inside workerd. Two tenants (bearer tokens of team-a and
// team-b, no cluster configured: both fall back to cluster "default") send the same story — a kubectl exec into
// a pod of the same namespace and name, from the same source IP and user, Falco's shell alert and Tetragon's
// exec of the shell; team-b's 2 s after team-a's — and the routes send each tenant's events to its own webhook
// sink (127.0.0.1, behind the recording gate). Ingest writes the keys, the real consumer feeds the Correlator
// objects in one batch holding both tenants' events, each object's incident is fed to the consumer in turn.
// With the default (tenants kept apart): two objects, two incidents, each with only its tenant's events and
// routed to its tenant's sink only. With correlate.acrossTenants: one object and one incident holding both.
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Correlator } from "../../src/correlate/durable";
import { parseConfig } from "../../src/config/load";
import type { EventsMessage, Producer } from "../../src/deliver/enqueue";
import { queued } from "../support/queue-capture";
import { consume, hookRequests, ingest, webhookSink } from "../noise/helpers";
import { k8sExecRecord, falcoShellRecord, tetragonShellExecRecord, AUDIT_AT, ALERT_AT, SHELL_AT, STORY_NS, relatedOf } from "./story";

type Ev = Record<string, unknown> & { metadata: { uid: string; tenant_uid?: string; correlation_uid?: string }; time: number; class_uid: number };

const TENANTS = { "team-a": "tok-team-a-7f3e", "team-b": "tok-team-b-1c9d" } as const;
type Tenant = keyof typeof TENANTS;

/** The events of EVENTS messages, by time. */
const eventsOf = (msgs: EventsMessage[]) => msgs.flatMap((m) => m.ndjson.split("\n").map((l) => JSON.parse(l) as Ev)).sort((x, y) => x.time - y.time);

/** The incidents one Correlator object enqueues, as EVENTS messages. */
class Incidents implements Producer {
  msgs: EventsMessage[] = [];
  async sendBatch(batch: Iterable<{ body: unknown }>): Promise<void> {
    for (const m of batch) this.msgs.push(queued(m.body));
  }
  events(): Ev[] {
    return eventsOf(this.msgs);
  }
}

function config(key: string, acrossTenants: boolean) {
  return {
    auth: { tokens: Object.entries(TENANTS).map(([tenant, token]) => ({ tenant, token })) },
    sinks: { a: webhookSink(`${key}-a`), b: webhookSink(`${key}-b`) },
    routes: [
      { name: "team-a", match: { tenant: "team-a" }, sinks: ["a"] },
      { name: "team-b", match: { tenant: "team-b" }, sinks: ["b"] },
    ],
    correlate: { acrossTenants },
  };
}

/** Points a Correlator object at this test's config and captures what it enqueues. */
async function capture(name: string, cfg: unknown): Promise<Incidents> {
  const c = new Incidents();
  await runInDurableObject(env.CORRELATOR.getByName(name), (o: Correlator) => {
    o.configOverride = parseConfig(cfg);
    o.producer = c;
  });
  return c;
}

/** One tenant's story in `pod`, `shift` ms after the common times, POSTed with the tenant's token. */
async function send(cfg: unknown, tenant: Tenant, pod: string, shift: number): Promise<EventsMessage[]> {
  const records = [
    k8sExecRecord({ pod, at: AUDIT_AT + shift }),
    falcoShellRecord({ pod, at: ALERT_AT + shift }),
    tetragonShellExecRecord({ ns: STORY_NS, pod, at: SHELL_AT + shift }),
  ];
  const out: EventsMessage[] = [];
  for (const r of records) out.push(...(await ingest(cfg, JSON.stringify(r), "/v1/events", "application/json", { authorization: `Bearer ${TENANTS[tenant]}` })));
  return out;
}

describe("correlation keeps tenants apart", () => {
  it("two tenants' stories in one pod name and IP: two objects, two incidents, each of its tenant's events, each to its tenant's sink", async () => {
    const key = "tenant-correlate";
    const cfg = config(key, false);
    const pod = "web-0-tenants-4e7a";
    const scope = (t: Tenant) => `tenant:${t}/pod:default/${STORY_NS}/${pod}`;
    const incA = await capture(scope("team-a"), cfg);
    const incB = await capture(scope("team-b"), cfg);

    const msgsA = await send(cfg, "team-a", pod, 0);
    const msgsB = await send(cfg, "team-b", pod, 2_000);
    const storyA = eventsOf(msgsA);
    const storyB = eventsOf(msgsB);
    expect(storyA.map((e) => e.metadata.tenant_uid)).toEqual(["team-a", "team-a", "team-a"]);
    expect(storyB.map((e) => e.metadata.tenant_uid)).toEqual(["team-b", "team-b", "team-b"]);
    // same pod, same IP, different correlation_uid per tenant
    expect(new Set(storyA.map((e) => e.metadata.correlation_uid)).size).toBe(1);
    expect(storyB[0]!.metadata.correlation_uid).not.toBe(storyA[0]!.metadata.correlation_uid);

    // one consumer batch with both tenants' events
    expect((await consume(cfg, [...msgsA, ...msgsB], key)).retried).toEqual([]);
    for (const [t, story] of [
      ["team-a", storyA],
      ["team-b", storyB],
    ] as const) {
      expect(await env.CORRELATOR.getByName(scope(t)).stats()).toMatchObject({ events: 3, incidents: 1, outbox: 0 });
      expect((await env.CORRELATOR.getByName(scope(t)).window()).map((x) => x.uid).sort()).toEqual(story.map((e) => e.metadata.uid).sort());
    }
    // the unscoped pod key names no object that received anything
    expect(await env.CORRELATOR.getByName(`pod:default/${STORY_NS}/${pod}`).stats()).toMatchObject({ events: 0, incidents: 0 });

    const [a] = incA.events();
    const [b] = incB.events();
    expect(incA.events()).toHaveLength(1);
    expect(incB.events()).toHaveLength(1);
    expect(relatedOf(a!)).toEqual(storyA.map((e) => e.metadata.uid));
    expect(relatedOf(b!)).toEqual(storyB.map((e) => e.metadata.uid));
    expect(a!.metadata).toMatchObject({ tenant_uid: "team-a", correlation_uid: storyA[0]!.metadata.correlation_uid });
    expect(b!.metadata).toMatchObject({ tenant_uid: "team-b", correlation_uid: storyB[0]!.metadata.correlation_uid });
    expect(incA.msgs[0]!.sinks).toContain("a");
    expect(incA.msgs[0]!.sinks).not.toContain("b");
    expect(incB.msgs[0]!.sinks).toContain("b");
    expect(incB.msgs[0]!.sinks).not.toContain("a");

    // delivered: each tenant's sink holds its three events and its incident, nothing of the other tenant
    expect((await consume(cfg, [...incA.msgs, ...incB.msgs], `${key}-inc`)).retried).toEqual([]);
    for (const [sink, story, incident] of [
      ["a", storyA, a!],
      ["b", storyB, b!],
    ] as const) {
      const got = (await hookRequests(`${key}-${sink}`)).flatMap((r) => r.events as Ev[]);
      expect(got.map((e) => e.metadata.uid).sort(), sink).toEqual([...story.map((e) => e.metadata.uid), incident.metadata.uid].sort());
    }
  });

  it("correlate.acrossTenants: the same two stories share the pod's object and one incident holds both tenants' events", async () => {
    const key = "tenant-correlate-across";
    const cfg = config(key, true);
    const pod = "web-0-across-b2c8";
    const inc = await capture(`pod:default/${STORY_NS}/${pod}`, cfg);
    const msgsA = await send(cfg, "team-a", pod, 0);
    const msgsB = await send(cfg, "team-b", pod, 2_000);
    const storyA = eventsOf(msgsA);
    const storyB = eventsOf(msgsB);
    expect(storyB[0]!.metadata.correlation_uid).toBe(storyA[0]!.metadata.correlation_uid);
    expect((await consume(cfg, [...msgsA, ...msgsB], key)).retried).toEqual([]);
    const incidents = inc.events();
    expect(incidents).toHaveLength(1);
    const related = relatedOf(incidents[0]!);
    expect(related).toContain(storyA[0]!.metadata.uid);
    expect(related).toContain(storyB[0]!.metadata.uid);
    expect(incidents[0]!.metadata.tenant_uid).toBe("team-a");
  });
});
