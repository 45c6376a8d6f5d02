// Noise policies end to end inside workerd: Falco alerts POSTed to the Worker, the EVENTS messages it
// enqueues fed to the real consumer, NoiseWindow Durable Objects holding the windows, their alarms run
// with runDurableObjectAlarm, and a Standard Webhooks receiver on 127.0.0.1 (signatures verified)
// recording what the webhook sink sent. Windows are an hour long so only the test closes them.
import { abortAllDurableObjects, env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { fingerprint, ruleOf } from "../../src/noise/fingerprint";
import { dedupObjectName, throttleObjectName } from "../../src/noise/gate";
import { MAX_CLASSES, MAX_WINDOWS } from "../../src/noise/durable";
import { noiseCounters } from "../../src/noise/stats";
import { readArchive, waitFor } from "../support/archive";
import { fixture } from "../support/fixtures";
import { EVENTS_QUEUE, runBatch } from "../support/delivery";
import { FALCO_MS, consume, envWith, falcoCopies, firstEvent, hookRequests, ingest, noiseConfig, webhookSink } from "./helpers";

const RULE = "Terminal shell in container";

function dedupStub(policy: string, e: OcsfEvent) {
  return env.NOISE.getByName(dedupObjectName(policy, fingerprint(e)));
}

async function storedKeys(stub: DurableObjectStub): Promise<string[]> {
  return runInDurableObject(stub, async (_o: unknown, state) => [...(await state.storage.list()).keys()]);
}

const meta = (e: Record<string, unknown>) => e.metadata as { uid: string };

/** The uids among `wanted` stored under an R2 prefix (the archive: "ocsf/class_uid=2004/"), one per stored copy. */
async function storedUids(prefix: string, wanted: ReadonlySet<string>): Promise<string[]> {
  return (await readArchive(env.ARCHIVE, prefix)).flatMap((o) => o.events).map((e) => meta(e).uid).filter((u) => wanted.has(u));
}

/** noiseConfig plus an `r2` sink "copy" (object store, exempt from noise) that the Falco route also feeds. */
function withCopy(key: string, noise: unknown): Record<string, unknown> {
  const cfg = noiseConfig(key, noise);
  return { ...cfg, sinks: { ...(cfg.sinks as object), copy: { type: "r2", binding: "ARCHIVE", prefix: `copy-${key}` } }, routes: [{ match: { source: "falco" }, sinks: ["hook", "copy"] }] };
}
const host = (e: Record<string, unknown>) => (e.device as { hostname: string }).hostname;
const noiseInfo = (e: Record<string, unknown>) => (e.unmapped as { tributary_noise: Record<string, unknown> }).tributary_noise;

describe("dedup, fold mode (the default for a webhook sink)", () => {
  it("a burst of 10,000 copies reaches the webhook as one event with count 10000 after the window closes; the archive keeps all 10,000", async () => {
    const key = "burst-10k";
    const cfg = noiseConfig(key, { dedup: [{ name: "shell-burst", match: { rule: RULE }, window_seconds: 3600, sinks: ["hook"] }] });
    const { ndjson, uids } = falcoCopies(10_000, "node-burst", key);
    const msgs = await ingest(cfg, ndjson);
    expect(msgs.reduce((a, m) => a + m.count, 0)).toBe(10_000);
    const before = noiseCounters();
    const res = await consume(cfg, msgs, key);
    expect(res.retried).toEqual([]);
    expect(res.acked).toHaveLength(msgs.length);

    // one object call per batch (not per event), every event folded
    const after = noiseCounters();
    expect(after.object_calls - before.object_calls).toBe(Math.ceil(msgs.length / 100));
    expect(after.folded - before.folded).toBe(10_000);

    // the archive has every original event
    const wanted = new Set(uids);
    const archived = await storedUids("ocsf/class_uid=2004/", wanted);
    expect(archived).toHaveLength(10_000);
    expect(new Set(archived).size).toBe(10_000);

    // the window is open: the webhook has received nothing yet
    expect(await hookRequests(key)).toEqual([]);

    const stub = dedupStub("shell-burst", firstEvent(msgs));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const reqs = await hookRequests(key);
    expect(reqs).toHaveLength(1);
    expect(reqs[0]!.status).toBe(204); // the receiver verified the Standard Webhooks signature
    expect(reqs[0]!.events).toHaveLength(1);
    const ev = reqs[0]!.events[0]!;
    expect(ev.count).toBe(10_000);
    expect(ev.start_time).toBe(FALCO_MS);
    expect(ev.end_time).toBe(FALCO_MS + 9_999);
    expect(ev.class_uid).toBe(2004);
    expect(ev.activity_id).toBe(1);
    expect((ev.finding_info as { title: string }).title).toBe(RULE);
    expect(host(ev)).toBe("node-burst");
    expect(wanted.has(meta(ev).uid)).toBe(false); // the burst has a uid of its own
    expect(noiseInfo(ev)).toMatchObject({ kind: "dedup", mode: "fold", policy: "shell-burst", count: 10_000, first_uid: uids[0] });

    // closed and forgotten: no alarm left, nothing stored, nothing more sent
    expect(await runDurableObjectAlarm(stub)).toBe(false);
    expect(await storedKeys(stub)).toEqual([]);
    expect(await hookRequests(key)).toHaveLength(1);
  });

  it("holds a lone alert until its window closes, then sends it unchanged (no count); the archive has it at once", async () => {
    const key = "lone-fold";
    const cfg = noiseConfig(key, { dedup: [{ name: "shell-lone", match: { rule: RULE }, window_seconds: 3600 }] });
    const { ndjson, uids } = falcoCopies(1, "node-lone", key);
    const msgs = await ingest(cfg, ndjson);
    expect(msgs.reduce((a, m) => a + m.count, 0)).toBe(1);
    const original = firstEvent(msgs);
    expect((await consume(cfg, msgs, key)).retried).toEqual([]);

    // archived when consumed; the webhook gets nothing while the window is open
    expect(await storedUids("ocsf/class_uid=2004/", new Set(uids))).toEqual(uids);
    expect(await hookRequests(key)).toEqual([]);

    const stub = dedupStub("shell-lone", original);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const reqs = await hookRequests(key);
    expect(reqs).toHaveLength(1);
    expect(reqs[0]!.status).toBe(204);
    expect(reqs[0]!.events).toEqual([original]); // the event itself: same uid, no count/start_time/end_time, no tributary_noise
    expect(reqs[0]!.events[0]!.count).toBeUndefined();

    expect(await runDurableObjectAlarm(stub)).toBe(false);
    expect(await storedKeys(stub)).toEqual([]);
    expect(await hookRequests(key)).toHaveLength(1);
  });

  it("never folds two different hosts together", async () => {
    const key = "two-hosts";
    const cfg = noiseConfig(key, { dedup: [{ name: "shell", match: { rule: RULE }, window_seconds: 3600 }] });
    const a = falcoCopies(40, "node-a", key);
    const b = falcoCopies(60, "node-b", key);
    // interleaved in one request
    const lines = [...a.ndjson.split("\n"), ...b.ndjson.split("\n")].sort((x, y) => x.localeCompare(y));
    const msgs = await ingest(cfg, lines.join("\n"));
    expect((await consume(cfg, msgs, key)).retried).toEqual([]);
    expect(await hookRequests(key)).toEqual([]);

    const events = msgs.flatMap((m) => m.ndjson.split("\n").map((l) => JSON.parse(l) as OcsfEvent));
    const ofA = events.find((e) => e.device && (e.device as { hostname: string }).hostname === "node-a")!;
    const ofB = events.find((e) => e.device && (e.device as { hostname: string }).hostname === "node-b")!;
    expect(fingerprint(ofA)).not.toBe(fingerprint(ofB));
    expect(await runDurableObjectAlarm(dedupStub("shell", ofA))).toBe(true);
    expect(await runDurableObjectAlarm(dedupStub("shell", ofB))).toBe(true);
    const sent = (await hookRequests(key)).flatMap((r) => r.events);
    expect(sent.map((e) => [host(e), e.count]).sort()).toEqual([
      ["node-a", 40],
      ["node-b", 60],
    ]);
  });

  it("keeps its window through an isolate restart (abortAllDurableObjects) and counts a redelivered message once", async () => {
    const key = "restart";
    const cfg = noiseConfig(key, { dedup: [{ name: "shell", match: { rule: RULE }, window_seconds: 3600 }] });
    const first = await ingest(cfg, falcoCopies(30, "node-restart", `${key}-1`).ndjson);
    expect((await consume(cfg, first, `${key}-1`)).retried).toEqual([]);
    await abortAllDurableObjects();
    // the same messages again (a queue redelivery), then 20 new copies
    expect((await consume(cfg, first, `${key}-1`)).retried).toEqual([]);
    const second = await ingest(cfg, falcoCopies(20, "node-restart", `${key}-2`, FALCO_MS + 1000).ndjson);
    expect((await consume(cfg, second, `${key}-2`)).retried).toEqual([]);
    expect(await hookRequests(key)).toEqual([]);

    expect(await runDurableObjectAlarm(dedupStub("shell", firstEvent(first)))).toBe(true);
    const sent = (await hookRequests(key)).flatMap((r) => r.events);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.count).toBe(50);
    expect(sent[0]!.start_time).toBe(FALCO_MS);
    expect(sent[0]!.end_time).toBe(FALCO_MS + 1000 + 19);
  });
});

describe("dedup windows over time", () => {
  it("opens a new window for copies that arrive after one closed", async () => {
    const key = "reopen";
    const cfg = noiseConfig(key, { dedup: [{ name: "shell", match: { rule: RULE }, window_seconds: 3600 }] });
    const first = await ingest(cfg, falcoCopies(5, "node-reopen", `${key}-1`).ndjson);
    await consume(cfg, first, `${key}-1`);
    const stub = dedupStub("shell", firstEvent(first));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const second = await ingest(cfg, falcoCopies(3, "node-reopen", `${key}-2`, FALCO_MS + 60_000).ndjson);
    await consume(cfg, second, `${key}-2`);
    expect((await hookRequests(key)).flatMap((r) => r.events).map((e) => e.count)).toEqual([5]);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const sent = (await hookRequests(key)).flatMap((r) => r.events);
    expect(sent.map((e) => [e.count, e.start_time])).toEqual([
      [5, FALCO_MS],
      [3, FALCO_MS + 60_000],
    ]);
    expect(meta(sent[0]!).uid).not.toBe(meta(sent[1]!).uid);
  });

  it("delivers unfiltered (fail open, counted) when the NOISE binding is missing", async () => {
    const key = "no-binding";
    const cfg = noiseConfig(key, { dedup: [{ name: "shell", match: { rule: RULE }, window_seconds: 3600 }] });
    const msgs = await ingest(cfg, falcoCopies(4, "node-nobinding", key).ndjson);
    const before = noiseCounters();
    const { NOISE: _gone, ...rest } = envWith(cfg);
    expect((await runBatch(EVENTS_QUEUE, msgs, rest as Env, msgs.map((_, i) => `${key}-${i}`))).retried).toEqual([]);
    expect((await hookRequests(key)).flatMap((r) => r.events)).toHaveLength(4);
    expect(noiseCounters().failed_open - before.failed_open).toBe(4);
  });
});

describe("dedup, first_then_summary mode", () => {
  it("sends the first event at once and a summary (a finding Update, count N) only when the window closes", async () => {
    const key = "first-then-summary";
    const cfg = noiseConfig(key, { dedup: [{ name: "shell", match: { rule: RULE }, window_seconds: 3600, mode: "first_then_summary" }] });
    const { ndjson, uids } = falcoCopies(25, "node-fts", key);
    const msgs = await ingest(cfg, ndjson);
    expect((await consume(cfg, msgs, key)).retried).toEqual([]);

    const before = (await hookRequests(key)).flatMap((r) => r.events);
    expect(before).toHaveLength(1);
    expect(meta(before[0]!).uid).toBe(uids[0]); // the original first event, unchanged
    expect(before[0]!.count).toBeUndefined();

    expect(await runDurableObjectAlarm(dedupStub("shell", firstEvent(msgs)))).toBe(true);
    const reqs = await hookRequests(key);
    expect(reqs).toHaveLength(2);
    const summary = reqs[1]!.events[0]!;
    expect(summary).toMatchObject({ count: 25, start_time: FALCO_MS, end_time: FALCO_MS + 24, activity_id: 2, activity_name: "Update", type_uid: 200402 });
    // the same finding, updated
    expect((summary.finding_info as { uid: string }).uid).toBe((before[0]!.finding_info as { uid: string }).uid);
    expect(meta(summary).uid).not.toBe(uids[0]);
  });
});

describe("throttle", () => {
  it("lets `max` events per rule through, and summarizes the rest when the window closes", async () => {
    const key = "throttle";
    const cfg = noiseConfig(key, { throttle: [{ name: "chat", sink: "hook", per: "rule", max: 3, per_seconds: 3600 }] });
    // three hosts: not duplicates, but the same rule
    const lines = ["node-t1", "node-t2", "node-t3"].flatMap((h) => falcoCopies(4, h, key).ndjson.split("\n"));
    const msgs = await ingest(cfg, lines.join("\n"));
    expect((await consume(cfg, msgs, key)).retried).toEqual([]);
    const now = (await hookRequests(key)).flatMap((r) => r.events);
    expect(now).toHaveLength(3);

    const stub = env.NOISE.getByName(throttleObjectName("chat", "hook", ruleOf(firstEvent(msgs))));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const all = (await hookRequests(key)).flatMap((r) => r.events);
    expect(all).toHaveLength(4);
    expect(all[3]).toMatchObject({ count: 9, class_uid: 2004 });
    expect(noiseInfo(all[3]!)).toMatchObject({ kind: "throttle", policy: "chat", key: RULE, count: 9 });
    // held back: 1 of node-t1, 4 of node-t2, 4 of node-t3; the summary names all three and none as its host
    expect(noiseInfo(all[3]!).hosts).toEqual(["node-t1", "node-t2", "node-t3"]);
    expect(all[3]!.device).toBeUndefined();
  });

  it("reports the hosts held back over several batches, and a single host as the summary's device", async () => {
    const key = "throttle-hosts";
    const cfg = noiseConfig(key, { throttle: [{ name: "chat-hosts", sink: "hook", per: "rule", max: 3, per_seconds: 3600 }] });
    // batch 1: node-h1 x4 (3 go out, 1 held back: the summary's template); batch 2: node-h2 x5 (all held back)
    const first = await ingest(cfg, falcoCopies(4, "node-h1", `${key}-1`).ndjson);
    expect((await consume(cfg, first, `${key}-1`)).retried).toEqual([]);
    const second = await ingest(cfg, falcoCopies(5, "node-h2", `${key}-2`, FALCO_MS + 1000).ndjson);
    expect((await consume(cfg, second, `${key}-2`)).retried).toEqual([]);
    const stub = env.NOISE.getByName(throttleObjectName("chat-hosts", "hook", RULE));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const sent = (await hookRequests(key)).flatMap((r) => r.events);
    expect(sent.slice(0, 3).map(host)).toEqual(["node-h1", "node-h1", "node-h1"]);
    expect(sent).toHaveLength(4);
    expect(sent[3]).toMatchObject({ count: 6, start_time: FALCO_MS + 3, end_time: FALCO_MS + 1004 });
    expect(noiseInfo(sent[3]!).hosts).toEqual(["node-h1", "node-h2"]);
    expect(sent[3]!.device).toBeUndefined();

    // a window whose held-back events are all of one host names that host
    const key2 = "throttle-one-host";
    const cfg2 = noiseConfig(key2, { throttle: [{ name: "chat1", sink: "hook", per: "rule", max: 2, per_seconds: 3600 }] });
    const one = await ingest(cfg2, falcoCopies(5, "node-h3", key2).ndjson);
    expect((await consume(cfg2, one, key2)).retried).toEqual([]);
    expect(await runDurableObjectAlarm(env.NOISE.getByName(throttleObjectName("chat1", "hook", RULE)))).toBe(true);
    const sent2 = (await hookRequests(key2)).flatMap((r) => r.events);
    expect(sent2).toHaveLength(3);
    expect(sent2[2]).toMatchObject({ count: 3 });
    expect(host(sent2[2]!)).toBe("node-h3");
    expect(noiseInfo(sent2[2]!).hosts).toEqual(["node-h3"]);
  });
});

describe("throttle across OCSF classes", () => {
  it("a key that holds Falco findings and Tetragon process events sends one summary per class, each counting its own", async () => {
    const key = "throttle-classes";
    const base = noiseConfig(key, { throttle: [{ name: "per-sink", sink: "hook", per: "sink", max: 2, per_seconds: 3600 }] });
    const cfg = { ...base, routes: [{ match: { source: ["falco", "tetragon"] }, sinks: ["hook"] }] };
    const falco = await ingest(cfg, falcoCopies(5, "node-c1", key).ndjson);
    const exec = fixture("tetragon/process_exec.ndjson");
    const tetragon = await ingest(cfg, exec, "/v1/events/tetragon");
    const execs = tetragon.reduce((a, m) => a + m.count, 0);
    expect(execs).toBeGreaterThan(1);
    // one batch: the first two Falco alerts go out, 3 Falco alerts and every Tetragon event are held back
    expect((await consume(cfg, [...falco, ...tetragon], key)).retried).toEqual([]);
    // a later batch holds back more of a class already seen (its template is not replaced)
    const again = await ingest(cfg, falcoCopies(2, "node-c2", `${key}-2`, FALCO_MS + 1000).ndjson);
    expect((await consume(cfg, again, `${key}-2`)).retried).toEqual([]);
    expect((await hookRequests(key)).flatMap((r) => r.events)).toHaveLength(2);

    const stub = env.NOISE.getByName(throttleObjectName("per-sink", "hook", ""));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const summaries = (await hookRequests(key)).flatMap((r) => r.events).slice(2);
    expect(summaries.map((e) => [e.class_uid, e.count])).toEqual([
      [2004, 5],
      [1007, execs],
    ]);
    const [finding, process] = summaries as [Record<string, unknown>, Record<string, unknown>];
    expect((finding.finding_info as { title: string }).title).toBe(RULE);
    expect(finding).toMatchObject({ start_time: FALCO_MS + 2, end_time: FALCO_MS + 1001 });
    expect(noiseInfo(finding)).toMatchObject({ kind: "throttle", policy: "per-sink", count: 5, hosts: ["node-c1", "node-c2"] });
    expect(process).toMatchObject({ class_uid: 1007, category_uid: 1 });
    expect(noiseInfo(process)).toMatchObject({ kind: "throttle", count: execs });
    expect(noiseInfo(process).hosts).not.toContain("node-c1");
    // every summary names every class of the window, and each has its own uid
    for (const e of summaries) expect(noiseInfo(e).classes).toEqual([{ class_uid: 2004, count: 5 }, { class_uid: 1007, count: execs }]);
    expect(meta(finding).uid).not.toBe(meta(process).uid);
    expect(await storedKeys(stub)).toEqual([]);
  });

  it("keeps at most MAX_CLASSES classes apart per window; events of further classes are held back and reported", async () => {
    const key = "throttle-max-classes";
    const cfg = noiseConfig(key, { throttle: [{ name: "many", sink: "hook", per: "sink", max: 0, per_seconds: 3600 }] });
    const event = firstEvent(await ingest(cfg, falcoCopies(1, "node-m", key).ndjson));
    const n = MAX_CLASSES + 2;
    const classes = Array.from({ length: n }, (_, i) => 9000 + i);
    const stub = env.NOISE.getByName(throttleObjectName("many", "hook", ""));
    const pass = await stub.throttle({
      policy: "many",
      sink: "hook",
      key: "",
      max: 0,
      perSeconds: 3600,
      config: JSON.stringify(cfg),
      parts: [{ msg: "m1", times: classes.map((_, i) => FALCO_MS + i), classes, hosts: classes.map((c, i) => ["node-m", i, c] as [string, number, number]) }],
      line: "",
      templates: classes.map((c) => [c, JSON.stringify({ ...event, class_uid: c })] as [number, string]),
    });
    expect(pass).toEqual({ m1: 0 });
    // the classes beyond the bound keep no stored event
    expect((await storedKeys(stub)).filter((k) => k.startsWith("l:"))).toHaveLength(MAX_CLASSES);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const sent = (await hookRequests(key)).flatMap((r) => r.events);
    expect(sent.map((e) => e.class_uid)).toEqual(classes.slice(0, MAX_CLASSES));
    for (const e of sent) {
      expect(e.count).toBe(1);
      expect(noiseInfo(e)).toMatchObject({ other_classes_count: 2 });
      expect(noiseInfo(e).classes).toHaveLength(MAX_CLASSES);
    }
    expect(new Set(sent.map((e) => meta(e).uid)).size).toBe(MAX_CLASSES);
  });

  it("closes a throttle window stored before classes were kept apart as its one summary", async () => {
    const key = "throttle-legacy";
    const cfg = noiseConfig(key, { throttle: [{ name: "legacy", sink: "hook", per: "sink", max: 1, per_seconds: 3600 }] });
    const line = (await ingest(cfg, falcoCopies(1, "node-l", key).ndjson))[0]!.ndjson.split("\n")[0]!;
    const stub = env.NOISE.getByName(throttleObjectName("legacy", "hook", ""));
    const openedAt = Date.now();
    await runInDurableObject(stub, async (_o: unknown, state) => {
      await state.storage.put({
        config: JSON.stringify(cfg),
        "w:hook": { kind: "throttle", mode: "throttle", policy: "legacy", sink: "hook", key: "", openedAt, closesAt: openedAt + 3_600_000, count: 7, passed: 1, max: 1, start: FALCO_MS, end: FALCO_MS + 6, decided: [], template: true, hosts: ["node-l"] },
        "l:hook": line,
        alarm_at: openedAt + 3_600_000,
      });
      await state.storage.setAlarm(openedAt + 3_600_000);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const sent = (await hookRequests(key)).flatMap((r) => r.events);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ class_uid: 2004, count: 7, start_time: FALCO_MS, end_time: FALCO_MS + 6 });
    expect(noiseInfo(sent[0]!)).toMatchObject({ count: 7, hosts: ["node-l"] });
    expect(noiseInfo(sent[0]!).classes).toBeUndefined();
  });
});

describe("throttle calls without the separate last event", () => {
  it("a window stored before classes were kept apart takes its template from the call's templates: the last event, sent once", async () => {
    const key = "throttle-legacy-nolast";
    const cfg = noiseConfig(key, { throttle: [{ name: "legacy2", sink: "hook", per: "sink", max: 1, per_seconds: 3600 }] });
    const last = (await ingest(cfg, falcoCopies(2, "node-n", key).ndjson))[0]!.ndjson.split("\n")[1]!;
    const stub = env.NOISE.getByName(throttleObjectName("legacy2", "hook", ""));
    const openedAt = Date.now();
    await runInDurableObject(stub, async (_o: unknown, state) => {
      await state.storage.put({
        config: JSON.stringify(cfg),
        // one event let through, nothing held back yet, so no template stored
        "w:hook": { kind: "throttle", mode: "throttle", policy: "legacy2", sink: "hook", key: "", openedAt, closesAt: openedAt + 3_600_000, count: 0, passed: 1, max: 1, decided: [], template: false },
      });
    });
    const cls = (JSON.parse(last) as OcsfEvent).class_uid;
    const pass = await stub.throttle({
      policy: "legacy2",
      sink: "hook",
      key: "",
      max: 1,
      perSeconds: 3600,
      config: JSON.stringify(cfg),
      parts: [{ msg: "n1", times: [FALCO_MS, FALCO_MS + 1], classes: [cls, cls], hosts: [["node-n", 1, cls]] }],
      templates: [[cls, last]],
    });
    expect(pass).toEqual({ n1: 0 });
    expect(await runInDurableObject(stub, async (_o: unknown, state) => state.storage.get<string>("l:hook"))).toBe(last);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const sent = (await hookRequests(key)).flatMap((r) => r.events);
    expect(sent).toHaveLength(1);
    expect(noiseInfo(sent[0]!)).toMatchObject({ count: 2, hosts: ["node-n"] });
  });
});

describe("suppression and sampling in the consumer", () => {
  it("drops what an unexpired allow-list entry matches (counted per entry), ignores expired ones, and samples by uid", async () => {
    const key = "suppress-sample";
    const cfg = noiseConfig(key, {
      suppress: [
        { name: "ci-runner", match: { rule: RULE, fields: { "device.hostname": "ci-runner" } }, reason: "CI opens shells", expires: "2999-01-01T00:00:00Z" },
        { name: "old", match: { rule: RULE, fields: { "device.hostname": "node-old" } }, reason: "was noisy", expires: "2020-01-01" },
      ],
      sample: [{ name: "tenth", match: { fields: { "device.hostname": "node-sampled" } }, rate: 0.1 }],
    });
    const ci = falcoCopies(5, "ci-runner", key);
    const old = falcoCopies(2, "node-old", key);
    const sampled = falcoCopies(200, "node-sampled", key);
    const msgs = await ingest(cfg, [ci.ndjson, old.ndjson, sampled.ndjson].join("\n"));
    const before = noiseCounters();
    expect((await consume(cfg, msgs, key)).retried).toEqual([]);
    const after = noiseCounters();

    const sent = (await hookRequests(key)).flatMap((r) => r.events);
    const hosts = sent.map(host);
    expect(hosts.filter((h) => h === "ci-runner")).toHaveLength(0);
    expect(hosts.filter((h) => h === "node-old")).toHaveLength(2);
    const kept = sent.filter((e) => host(e) === "node-sampled").length;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(60);
    expect((after.suppressed_by_rule["ci-runner"] ?? 0) - (before.suppressed_by_rule["ci-runner"] ?? 0)).toBe(5);
    expect(after.suppressed_by_rule.old ?? 0).toBe(before.suppressed_by_rule.old ?? 0);
    expect(after.sampled_out - before.sampled_out).toBe(200 - kept);

    // a redelivery decides the same way
    expect((await consume(cfg, msgs, `${key}-again`)).retried).toEqual([]);
    const again = (await hookRequests(key)).flatMap((r) => r.events).slice(sent.length);
    expect(again.filter((e) => host(e) === "node-sampled").map((e) => meta(e).uid)).toEqual(sent.filter((e) => host(e) === "node-sampled").map((e) => meta(e).uid));
  });
});

describe("the archive and object-store sinks keep every original event under throttling and sampling", () => {
  it("throttle: the webhook gets `max` now and one summary; the archive and an r2 sink get every event, once each", async () => {
    const key = "archive-throttle";
    // no `sinks` on the policy would reach "copy" too if object stores were not exempt; a throttle names its sink
    const cfg = withCopy(key, { throttle: [{ name: "chat-archive", sink: "hook", per: "rule", max: 5, per_seconds: 3600 }] });
    const { ndjson, uids } = falcoCopies(60, "node-archive-t", key);
    const wanted = new Set(uids);
    expect((await consume(cfg, await ingest(cfg, ndjson), key)).retried).toEqual([]);
    expect(await runDurableObjectAlarm(env.NOISE.getByName(throttleObjectName("chat-archive", "hook", RULE)))).toBe(true);

    const hook = (await hookRequests(key)).flatMap((r) => r.events);
    expect(hook.filter((e) => wanted.has(meta(e).uid))).toHaveLength(5);
    expect(hook).toHaveLength(6);
    expect(hook[5]!.count).toBe(55);
    for (const prefix of ["ocsf/class_uid=2004/", `copy-${key}/`]) {
      const stored = await storedUids(prefix, wanted);
      expect(stored.sort(), prefix).toEqual([...uids].sort());
    }
  });

  it("sampling (a policy on every sink): the webhook gets a fraction; the archive and an r2 sink get every event, once each", async () => {
    const key = "archive-sample";
    const cfg = withCopy(key, { sample: [{ name: "tenth-all", match: { rule: RULE }, rate: 0.1 }] });
    const { ndjson, uids } = falcoCopies(300, "node-archive-s", key);
    const wanted = new Set(uids);
    expect((await consume(cfg, await ingest(cfg, ndjson), key)).retried).toEqual([]);

    const kept = (await hookRequests(key)).flatMap((r) => r.events).map((e) => meta(e).uid);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThan(100);
    expect(kept.every((u) => wanted.has(u))).toBe(true);
    for (const prefix of ["ocsf/class_uid=2004/", `copy-${key}/`]) {
      const stored = await storedUids(prefix, wanted);
      expect(stored.sort(), prefix).toEqual([...uids].sort());
    }
  });
});

describe("NoiseWindow memory bounds", () => {
  it(`holds at most ${MAX_WINDOWS} windows per object: opening one more closes the oldest early, its summary sent with every count`, async () => {
    const key = "window-cap";
    // one fingerprint routed to MAX_WINDOWS + 1 webhook sinks: one object, one window per sink
    const names = Array.from({ length: MAX_WINDOWS + 1 }, (_, i) => `s${String(i).padStart(2, "0")}`);
    const cfg = {
      sinks: Object.fromEntries(names.map((n) => [n, webhookSink(`${key}-${n}`)])),
      routes: [{ match: { source: "falco" }, sinks: names }],
      noise: { dedup: [{ name: "cap", match: { rule: RULE }, window_seconds: 3600, mode: "first_then_summary" }] },
    };
    const { ndjson, uids } = falcoCopies(3, "node-cap", key);
    const msgs = await ingest(cfg, ndjson);
    expect((await consume(cfg, msgs, key)).retried).toEqual([]);
    const stub = dedupStub("cap", firstEvent(msgs));

    // every other sink got the first copy at once and nothing more; the object keeps MAX_WINDOWS windows,
    // the oldest (s00) closed early
    for (const n of names.slice(1)) expect((await hookRequests(`${key}-${n}`)).flatMap((r) => r.events).map((e) => meta(e).uid), n).toEqual([uids[0]]);
    const windows = (await storedKeys(stub)).filter((k) => k.startsWith("w:"));
    expect(windows).toHaveLength(MAX_WINDOWS);
    expect(windows).not.toContain("w:s00");

    // the object set its alarm for now (workerd runs it; running it by hand would close every window, as at
    // their end): the closed window's first copy and then its summary, with all three events counted
    const s00 = await waitFor(async () => {
      const ev = (await hookRequests(`${key}-s00`)).flatMap((r) => r.events);
      return ev.length >= 2 ? ev : undefined;
    }, 50);
    // (the consumer's delivery of the first copy and the object's alarm run side by side: either may land first)
    expect(s00).toHaveLength(2);
    expect(s00.filter((e) => meta(e).uid === uids[0])).toHaveLength(1);
    const summary = s00.find((e) => e.count !== undefined)!;
    expect(summary).toMatchObject({ count: 3, start_time: FALCO_MS, end_time: FALCO_MS + 2 });
    expect(noiseInfo(summary)).toMatchObject({ kind: "dedup", policy: "cap", count: 3, first_uid: uids[0] });
    // the other windows stay open until their end: nothing more sent to them
    expect((await hookRequests(`${key}-s01`)).flatMap((r) => r.events)).toHaveLength(1);
    expect((await storedKeys(stub)).filter((k) => k.startsWith("w:"))).toHaveLength(MAX_WINDOWS);
  });
});
