// A config deployed while events are in flight (docs/delivery.md, "Changing the config while events are
// in flight"): the EVENTS and DELIVERIES messages one config left behind, consumed inside workerd under
// the next one. Sinks are a fake Splunk HEC on 127.0.0.1 behind the fault-injecting gate; the gate key
// (the URL's first path segment) stands for the sink's endpoint.
import { env } from "cloudflare:test";
import { describe, it, expect, inject, beforeAll } from "vitest";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import type { DeadLetter } from "../../src/deliver/dlq";
import { gateControl } from "../support/gate-client";
import { uniqueFixtureEvents, eventsMessages, stubDeliveries, runBatch, drainDeliveries, callWorker, EVENTS_QUEUE, DELIVERIES_QUEUE } from "../support/delivery";

const hecGate = inject("hecGate");
const HEC_TOKEN = "00000000-0000-4000-8000-00000000cafe";
const busy = { status: 503, headers: { "content-type": "application/json" }, body: '{"text":"Server is busy","code":9}' };

let findings: OcsfEvent[];
beforeAll(() => {
  findings = uniqueFixtureEvents().filter((x) => x.class_uid === 2004);
});

let n = 0;
const label = (s: string) => `${s}${++n}${Date.now().toString(36)}`;

const hec = (key: string) => ({ type: "splunk_hec", url: `${hecGate}/${key}`, token: { env: "HEC_TOKEN" } });

/** A fresh env (so a fresh config: configFor keeps one per env object) with a recording DELIVERIES stub. */
function deploy(cfg: unknown, deliveries = stubDeliveries()) {
  const e = { ...env, TRIBUTARY_CONFIG: typeof cfg === "string" ? cfg : JSON.stringify(cfg), DELIVERIES: deliveries, HEC_TOKEN } as unknown as Env;
  return { env: e, deliveries };
}

async function deadLetters(sink: string): Promise<DeadLetter[]> {
  const list = await env.ARCHIVE.list({ prefix: `dlq/${sink}/` });
  return Promise.all(list.objects.map(async (o) => (await (await env.ARCHIVE.get(o.key))!.json()) as DeadLetter));
}

/** The uids a gate key's fake HEC accepted (200), from the envelopes it was sent. */
async function accepted(key: string): Promise<string[]> {
  const log = (await gateControl.state(hecGate, key)).log.filter((l) => l.action === "forwarded" && l.status === 200);
  return log.flatMap((l) => l.body!.split(/(?<=\})(?=\{"time":)/).map((t) => (JSON.parse(t) as { event: OcsfEvent }).event.metadata.uid!)).sort();
}

/** Config A's sink `sink` answers 503 once: the batch's findings wait on DELIVERIES (attempt 2). */
async function leaveRetries(sink: string, key: string) {
  const cfgA = { sinks: { [sink]: hec(key) }, routes: [{ match: { class_uid: 2004 }, sinks: [sink] }] };
  await gateControl.script(hecGate, key, [busy]);
  const a = deploy(cfgA);
  await runBatch(EVENTS_QUEUE, eventsMessages(cfgA, findings), a.env);
  expect(a.deliveries.sent.map((c) => [c.body.sink, c.body.attempt, c.body.count])).toEqual([[sink, 2, findings.length]]);
  return { cfgA, retries: a.deliveries };
}

const uidsOf = (events: OcsfEvent[]) => events.map((x) => x.metadata.uid!).sort();

describe("a config deployed while events are in flight", () => {
  it("a sink's endpoint changed: its retries go to the new endpoint, none to the old", async () => {
    const sink = label("siem");
    const [oldKey, newKey] = [label("old"), label("new")];
    const { retries } = await leaveRetries(sink, oldKey);
    const b = deploy({ sinks: { [sink]: hec(newKey) }, routes: [{ match: { class_uid: 2004 }, sinks: [sink] }] }, retries);
    await drainDeliveries(retries, b.env);
    expect(await accepted(newKey)).toEqual(uidsOf(findings));
    expect((await gateControl.state(hecGate, oldKey)).log.map((l) => [l.action, l.status])).toEqual([["scripted", 503]]);
    expect(await deadLetters(sink)).toEqual([]);
  });

  it("a sink renamed: the old name's retries and queued events are dead-lettered as not configured (with their attempts), nothing goes to the new name by itself, and replay waits for the old name", async () => {
    const [oldName, newName] = [label("splunk"), label("siem")];
    const key = label("hec");
    const { cfgA, retries } = await leaveRetries(oldName, key);
    const cfgB = { sinks: { [newName]: hec(key) }, routes: [{ match: { class_uid: 2004 }, sinks: [newName] }] };
    const b = deploy(cfgB, retries);
    // the retry (attempt 2) and an EVENTS message routed under config A, both consumed under config B
    const r = await runBatch(DELIVERIES_QUEUE, retries.sent.splice(0).map((c) => c.body), b.env);
    const q = await runBatch(EVENTS_QUEUE, eventsMessages(cfgA, findings.slice(0, 1)), b.env);
    expect([r.retried, q.retried, retries.sent]).toEqual([[], [], []]);
    const dead = await deadLetters(oldName);
    expect(dead.map((d) => [d.type, d.reason, d.attempts, d.count]).sort()).toEqual([
      ["unknown", `sink "${oldName}" is not configured`, 1, 1],
      ["unknown", `sink "${oldName}" is not configured`, 2, findings.length],
    ]);
    expect(await accepted(key)).toEqual([]);
    const refused = (await env.ARCHIVE.list({ prefix: `dlq/${oldName}/` })).objects.map((o) => o.key);
    const replay = (e: Env) => runReplay(e, oldName, refused);
    expect(await replay(b.env)).toMatchObject({ replayed: [], failed: refused.map(() => ({ error: `sink "${oldName}" is not configured: add it back before replaying, or replay it to another sink with "to"` })) });
    // the documented way out: the old name back beside the new one, replay, drain
    const c = deploy({ sinks: { [newName]: hec(key), [oldName]: hec(key) }, routes: cfgB.routes }, retries);
    expect(await replay(c.env)).toMatchObject({ events: findings.length + 1, failed: [] });
    await drainDeliveries(retries, c.env);
    expect(await accepted(key)).toEqual(uidsOf([...findings, findings[0]!]));
    expect(await deadLetters(oldName)).toEqual([]);
  });

  it("a sink renamed: replay with `to` sends the old name's dead letters to the new name with a fresh retry budget, and says so; a sink that cannot take them is refused", async () => {
    const [oldName, newName, lake] = [label("splunk"), label("siem"), label("lake")];
    const key = label("hec");
    const { retries } = await leaveRetries(oldName, key);
    // config B: the sink renamed, beside a Security Lake sink that has a source for another class only
    const lakeSink = { type: "security_lake", bucket: "lake", region: "us-east-2", endpoint: "http://127.0.0.1:9", forcePathStyle: true, accessKeyId: "x", secretAccessKey: "y", accountId: "external", sources: { "1007": "procs" } };
    const b = deploy({ sinks: { [newName]: hec(key), [lake]: lakeSink }, routes: [{ match: { class_uid: 2004 }, sinks: [newName] }] }, retries);
    await runBatch(DELIVERIES_QUEUE, retries.sent.splice(0).map((c) => c.body), b.env);
    const [deadKey] = (await env.ARCHIVE.list({ prefix: `dlq/${oldName}/` })).objects.map((o) => o.key);
    expect((await deadLetters(oldName)).map((d) => d.attempts)).toEqual([2]);
    // refused: a sink that is not configured, `to` without saying which dead letters, a sink that cannot write the class
    const post = (body: unknown) => callWorker(b.env, "/v1/dlq/replay", { method: "POST", body: JSON.stringify(body) });
    const nowhere = await post({ sink: oldName, to: "nowhere" });
    expect([nowhere.status, ((await nowhere.json()) as { error: string }).error]).toEqual([400, `to: sink "nowhere" is not configured (configured: ${newName}, ${lake})`]);
    expect((await post({ to: newName })).status).toBe(400);
    const toLake = await post({ sink: oldName, to: lake });
    const lakeAnswer = (await toLake.json()) as { replayed: unknown[]; failed: { key: string; error: string }[] };
    expect([toLake.status, lakeAnswer.replayed, lakeAnswer.failed.map((f) => f.key)]).toEqual([400, [], [deadKey]]);
    expect(lakeAnswer.failed[0]!.error).toMatch(new RegExp(`^sink "${lake}" \\(security_lake\\) cannot write event \\S+ \\(class_uid 2004\\): no Security Lake custom source for class_uid 2004`));
    expect(retries.sent).toEqual([]);
    // to the new name: attempt 1 again, the answer names both sinks, the dead letter is gone
    const ok = await post({ keys: [deadKey], to: newName });
    expect([ok.status, await ok.json()]).toEqual([200, { replayed: [{ key: deadKey, sink: newName, from: oldName, count: findings.length }], failed: [], events: findings.length }]);
    expect(retries.sent.map((c) => [c.body.sink, c.body.attempt, c.body.count])).toEqual([[newName, 1, findings.length]]);
    await drainDeliveries(retries, b.env);
    expect(await accepted(key)).toEqual(uidsOf(findings));
    expect(await deadLetters(oldName)).toEqual([]);
  });

  it("an invalid config: both queues' messages go back to their queues, nothing is sent or dead-lettered; the fixed config then delivers them", async () => {
    const sink = label("siem");
    const key = label("hec");
    const { cfgA, retries } = await leaveRetries(sink, key);
    const bad = deploy('{"sinks":{"x":{"type":"splunk_hec","url":"127.0.0.1/hec"}}}', retries);
    const due = retries.sent.splice(0).map((c) => c.body);
    const queued = eventsMessages(cfgA, findings.slice(0, 1));
    const r = await runBatch(DELIVERIES_QUEUE, due, bad.env, ["d-1"]);
    const q = await runBatch(EVENTS_QUEUE, queued, bad.env, ["e-1"]);
    expect([r.acked, r.retried, q.acked, q.retried]).toEqual([[], ["d-1"], [], ["e-1"]]);
    expect([retries.sent, await deadLetters(sink), await accepted(key)]).toEqual([[], [], []]);
    // the queue hands them back under the fixed config
    const fixed = deploy(cfgA, retries);
    expect((await runBatch(DELIVERIES_QUEUE, due, fixed.env, ["d-1"], 2)).acked).toEqual(["d-1"]);
    expect((await runBatch(EVENTS_QUEUE, queued, fixed.env, ["e-1"], 2)).acked).toEqual(["e-1"]);
    expect(await accepted(key)).toEqual(uidsOf([...findings, findings[0]!]));
  });
});

/** POST /v1/dlq/replay for some keys (a dev server without an admin token serves it openly). */
async function runReplay(e: Env, sink: string, keys: string[]): Promise<{ replayed: unknown[]; failed: { key: string; error: string }[]; events: number }> {
  const res = await callWorker(e, "/v1/dlq/replay", { method: "POST", body: JSON.stringify({ sink, keys }) });
  return (await res.json()) as { replayed: unknown[]; failed: { key: string; error: string }[]; events: number };
}
