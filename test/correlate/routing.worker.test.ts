// Incidents route like any other event, by the routing rules (issue 7). Inside workerd: a config whose
// first route sends class_uid 2005 (Incident Finding) to the webhook sink "incidents" and whose second
// sends everything else to the webhook sink "siem" (both Standard Webhooks receivers on 127.0.0.1 behind the
// recording gate, signatures verified). The exec story's four records (kubectl exec, Falco's alert, the shell's exec
// and nc's connect from the shell's tree; renamed into their own pod,
// see ./story.ts) are POSTed to /v1/events, the EVENTS messages ingest sent are fed to the real consumer,
// which archives them, delivers them to "siem" and feeds the pod's Correlator Durable Object; the incident
// that object enqueues (routed there with this config) is fed to the consumer in turn.
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Correlator } from "../../src/correlate/durable";
import { parseConfig } from "../../src/config/load";
import type { EventsMessage, Producer } from "../../src/deliver/enqueue";
import { queued } from "../support/queue-capture";
import { consume, hookRequests, ingest, webhookSink } from "../noise/helpers";
import { k8sExecRecord, falcoShellRecord, tetragonShellExecRecord, tetragonNcConnectRecord, AUDIT_AT, ALERT_AT, SHELL_AT, STORY_NS, relatedOf } from "./story";

const POD = "route-incident-5e2a";
const SCOPE = `pod:default/${STORY_NS}/${POD}`;

type Ev = Record<string, unknown> & { metadata: { uid: string }; time: number; class_uid: number };

/** Captures what the Correlator enqueues (the EVENTS messages, as the queue would carry them). */
class Capture implements Producer {
  msgs: EventsMessage[] = [];
  async sendBatch(batch: Iterable<{ body: unknown }>): Promise<void> {
    for (const { body } of batch) this.msgs.push(queued(body));
  }
}

describe("incident routing", () => {
  it("a route on class_uid 2005 sends the incident, and only it, to its sink; the story's events go elsewhere", async () => {
    const key = "incident-route";
    const cfg = {
      sinks: { incidents: webhookSink(`${key}-incidents`), siem: webhookSink(`${key}-siem`) },
      routes: [
        { name: "incidents", match: { class_uid: 2005 }, sinks: ["incidents"] },
        { name: "rest", match: {}, sinks: ["siem"] },
      ],
    };
    const capture = new Capture();
    await runInDurableObject(env.CORRELATOR.getByName(SCOPE), (o: Correlator) => {
      o.configOverride = parseConfig(cfg);
      o.producer = capture;
    });

    const records = [
      k8sExecRecord({ pod: POD, at: AUDIT_AT }),
      falcoShellRecord({ pod: POD, at: ALERT_AT }),
      tetragonShellExecRecord({ ns: STORY_NS, pod: POD, at: SHELL_AT }),
      tetragonNcConnectRecord({ ns: STORY_NS, pod: POD }),
    ];
    const msgs: EventsMessage[] = [];
    for (const r of records) msgs.push(...(await ingest(cfg, JSON.stringify(r), "/v1/events", "application/json")));
    const story = msgs.flatMap((m) => m.ndjson.split("\n").map((l) => JSON.parse(l) as Ev)).sort((a, b) => a.time - b.time);
    expect(story).toHaveLength(4);
    for (const m of msgs) expect([...m.sinks].sort()).toEqual(["archive", "siem"]);

    // one consumer batch: archive, deliveries to "siem", and the pod's Correlator
    expect((await consume(cfg, msgs, key)).retried).toEqual([]);
    expect(capture.msgs).toHaveLength(1);
    expect(capture.msgs[0]!.sinks).toContain("incidents");
    expect(capture.msgs[0]!.sinks).not.toContain("siem");
    expect((await consume(cfg, capture.msgs, `${key}-inc`)).retried).toEqual([]);

    // the incidents sink received the incident and nothing else, its related uids the story's in time order
    const incReqs = await hookRequests(`${key}-incidents`);
    expect(incReqs.every((r) => r.status === 204)).toBe(true);
    const received = incReqs.flatMap((r) => r.events as Ev[]);
    expect(received).toHaveLength(1);
    const incident = received[0]!;
    expect(incident).toMatchObject({ class_uid: 2005, type_uid: 200501, activity_name: "Create" });
    expect(relatedOf(incident)).toEqual(story.map((e) => e.metadata.uid));

    // the other sink got the four story events and no incident
    const siem = (await hookRequests(`${key}-siem`)).flatMap((r) => r.events as Ev[]);
    expect(siem.map((e) => e.class_uid)).not.toContain(2005);
    expect(siem.map((e) => e.metadata.uid).sort()).toEqual(story.map((e) => e.metadata.uid).sort());
  });
});
