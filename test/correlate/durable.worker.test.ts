// The correlation Durable Object inside workerd: incidents emitted once and grown by Update, window expiry
// by alarm, per-key caps, state surviving an isolate restart, and the outbox retried when the queue refuses.
// Every test uses its own pod name, so its object (and its events' uids) are its own.
import { env, runInDurableObject, runDurableObjectAlarm, abortAllDurableObjects } from "cloudflare:test";
import { describe, it, expect } from "vitest";
import type { Correlator } from "../../src/correlate/durable";
import { summarize, type Summary } from "../../src/correlate/chains";
import { parseConfig } from "../../src/config/load";
import type { Producer } from "../../src/deliver/enqueue";
import { queued } from "../support/queue-capture";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { CFG, execStory, relatedOf, type ExecStory } from "./story";

type FindingInfo = { uid: string; related_events: { uid: string }[] };

function summaries(...events: OcsfEvent[]): Summary[] {
  return events.flatMap((e) => summarize(e, CFG.correlate));
}

function story(pod: string): { s: ExecStory; stub: DurableObjectStub<Correlator> } {
  const s = execStory(pod);
  return { s, stub: env.CORRELATOR.getByName(s.scope) };
}

const incidents = (r: { incidents: string[] }) => r.incidents.map((t) => JSON.parse(t) as OcsfEvent);
const findingOf = (e: OcsfEvent) => (e.finding_info_list as FindingInfo[])[0]!.uid;

class Capture implements Producer {
  events: OcsfEvent[] = [];
  constructor(private fail = false) {}
  async sendBatch(batch: Iterable<{ body: unknown }>): Promise<void> {
    if (this.fail) throw new Error("Queue sendBatch failed: Too Many Requests");
    for (const { body } of batch) for (const l of queued(body).ndjson.split("\n")) if (l) this.events.push(JSON.parse(l) as OcsfEvent);
  }
}

describe("Correlator Durable Object", () => {
  it("emits an incident once when the chain matches, an Update when it grows, nothing for a duplicate add", async () => {
    const { s, stub } = story("do-once-7d9f");
    const capture = new Capture();
    await runInDurableObject(stub, (o: Correlator) => {
      o.producer = capture;
    });
    const r1 = await stub.add(summaries(s.audit));
    expect(r1).toMatchObject({ stored: 1, duplicates: 0, incidents: [] });

    const r2 = await stub.add(summaries(s.shell));
    expect(r2.incidents).toHaveLength(1);
    const created = incidents(r2)[0]!;
    expect(created).toMatchObject({ class_uid: 2005, activity_id: 1, activity_name: "Create" });
    expect(relatedOf(created)).toEqual([s.audit.metadata.uid, s.shell.metadata.uid]);

    // the same events again (a re-delivered batch): stored once, nothing emitted
    const r3 = await stub.add(summaries(s.audit, s.shell));
    expect(r3).toMatchObject({ stored: 0, duplicates: 2, incidents: [] });

    // Tetragon's exec and connect arrive: the incident grows (Update, same finding uid, new metadata.uid)
    const r4 = await stub.add(summaries(s.exec, s.connect));
    expect(r4.incidents).toHaveLength(1);
    const updated = incidents(r4)[0]!;
    expect(updated).toMatchObject({ activity_id: 2, activity_name: "Update" });
    expect(findingOf(updated)).toBe(findingOf(created));
    expect(updated.metadata.uid).not.toBe(created.metadata.uid);
    expect(relatedOf(updated)).toEqual([s.audit, s.shell, s.exec, s.connect].map((e) => e.metadata.uid));

    expect((await stub.add(summaries(s.exec, s.connect, s.shell))).incidents).toEqual([]);
    // what went to the queue: exactly the two emissions, in order, routed like any other event
    expect(capture.events.map((e) => e.metadata.uid)).toEqual([created.metadata.uid, updated.metadata.uid]);
    expect(await stub.stats()).toMatchObject({ events: 4, incidents: 1, outbox: 0 });
  });

  it("expires the window with its alarm: an anchor gone by the time the alert arrives makes no incident", async () => {
    const { s, stub } = story("do-expiry-51c2");
    await runInDurableObject(stub, (o: Correlator) => {
      o.producer = new Capture();
    });
    await stub.add(summaries(s.audit));
    const before = await stub.stats();
    expect(before.events).toBe(1);
    expect(before.alarm).not.toBeNull();
    // 10 minutes + skew later
    await runInDurableObject(stub, (o: Correlator) => {
      o.clock = () => Date.now() + 11 * 60_000;
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.stats()).toMatchObject({ events: 0, incidents: 0, alarm: null });
    const r = await stub.add(summaries(s.shell, s.exec));
    expect(r).toMatchObject({ stored: 2, incidents: [] });
    expect(await runDurableObjectAlarm(stub)).toBe(true); // the new summaries have their own expiry
  });

  it("keeps at most maxEventsPerKey summaries and at most maxBytesPerKey bytes; the oldest go first", async () => {
    const { s, stub } = story("do-cap-0b3a");
    const [exec] = summaries(s.exec);
    const many = Array.from({ length: 15 }, (_, i) => ({ ...exec!, uid: `${exec!.uid}-${String(i).padStart(2, "0")}`, time: exec!.time + i }));
    await runInDurableObject(stub, (o: Correlator) => {
      o.producer = new Capture();
      o.settings = parseConfig({ correlate: { maxEventsPerKey: 10 } }).correlate;
    });
    const r = await stub.add(many);
    expect(r).toMatchObject({ stored: 15, evicted: 5 });
    const win = await stub.window();
    expect(win.map((x) => x.uid)).toEqual(many.slice(5).map((x) => x.uid));

    const bytes = JSON.stringify(many[0]).length;
    await runInDurableObject(stub, (o: Correlator) => {
      o.settings = parseConfig({ correlate: { maxBytesPerKey: 10_000 } }).correlate;
    });
    const more = Array.from({ length: 40 }, (_, i) => ({ ...exec!, uid: `${exec!.uid}-b${String(i).padStart(2, "0")}`, time: exec!.time + 100 + i }));
    await stub.add(more);
    const st = await stub.stats();
    expect(st.bytes).toBeLessThanOrEqual(10_000);
    expect(st.events).toBe(Math.floor(10_000 / bytes));
    expect((await stub.window()).at(-1)!.uid).toBe(more.at(-1)!.uid);
  });

  it("the default cap (500 per key) holds over many adds: size bounded after each, the oldest by event time dropped", async () => {
    const { s, stub } = story("do-cap-default-61e0");
    const [exec] = summaries(s.exec);
    await runInDurableObject(stub, (o: Correlator) => {
      o.producer = new Capture();
    });
    const cap = CFG.correlate.maxEventsPerKey;
    expect(cap).toBe(500);
    const all: Summary[] = [];
    let evicted = 0;
    // 6 adds of 200, event times increasing (the third add arrives with times older than the second's)
    for (let round = 0; round < 6; round++) {
      const base = round === 2 ? -10_000 : round * 1_000;
      const batch = Array.from({ length: 200 }, (_, i) => ({ ...exec!, uid: `${exec!.uid}-r${round}-${String(i).padStart(3, "0")}`, time: exec!.time + base + i }));
      all.push(...batch);
      const r = await stub.add(batch);
      expect(r.stored).toBe(200);
      evicted += r.evicted;
      const st = await stub.stats();
      expect(st.events).toBe(Math.min(cap, all.length));
      expect(st.bytes).toBeLessThanOrEqual(CFG.correlate.maxBytesPerKey);
    }
    expect(evicted).toBe(all.length - cap);
    // what is left: the 500 latest by event time (the late-arriving old ones went first)
    const latest = [...all].sort((a, b) => a.time - b.time || (a.uid < b.uid ? -1 : 1)).slice(-cap);
    expect((await stub.window()).map((x) => x.uid)).toEqual(latest.map((x) => x.uid));
    expect(latest.some((x) => x.uid.includes("-r2-"))).toBe(false);
  });

  it("a full window: a sensor whose clock is far ahead (year 9999) cannot push correctly-timed events of the key out first", async () => {
    const { s, stub } = story("do-clock-ahead-c4e1");
    const [alert] = summaries(s.shell);
    const at = s.audit.time as number; // the story's own clock: the object's clock is set next to it
    const year9999 = Date.parse("9999-12-31T23:59:59.999Z");
    // a Falco on a node whose clock says 9999 (and a few at 0 and negative) fills the window two minutes before
    // the kubectl exec; its alerts have no pid, so they join nothing
    const flood = Array.from({ length: 10 }, (_, i) => ({ ...alert!, uid: `${alert!.uid}-ahead-${i}`, pid: undefined, container: "0123456789ab", time: i < 8 ? year9999 - i : -i }));
    await runInDurableObject(stub, (o: Correlator) => {
      o.producer = new Capture();
      o.settings = parseConfig({ correlate: { maxEventsPerKey: 10 } }).correlate;
      o.clock = () => at - 120_000;
    });
    expect(await stub.add(flood)).toMatchObject({ stored: 10, evicted: 0, incidents: [] });
    // the story arrives with correct times, one event per add (each add overflows the full window)
    await runInDurableObject(stub, (o: Correlator) => {
      o.clock = () => at + 1_000;
    });
    const r1 = await stub.add(summaries(s.audit));
    expect(r1).toMatchObject({ stored: 1, evicted: 1 });
    const r2 = await stub.add(summaries(s.shell));
    expect(r2).toMatchObject({ stored: 1, evicted: 1 });
    const r3 = await stub.add(summaries(s.exec));
    expect(r3).toMatchObject({ stored: 1, evicted: 1 });
    // the story joined: Create on the alert, Update with the shell's exec
    expect(incidents(r2).map(relatedOf)).toEqual([[s.audit.metadata.uid, s.shell.metadata.uid]]);
    expect(incidents(r3).map(relatedOf)).toEqual([[s.audit, s.shell, s.exec].map((e) => e.metadata.uid)]);
    // what went: the flood's absurd times (the negative ones rank first by their own time, then the 9999 ones)
    const left = (await stub.window()).map((x) => x.uid);
    expect(left).toHaveLength(10);
    expect(left).toEqual(expect.arrayContaining([s.audit, s.shell, s.exec].map((e) => e.metadata.uid)));
    expect(left.filter((u) => u.includes("-ahead-")).sort()).toEqual(flood.slice(0, 7).map((x) => x.uid).sort());
    // leave no rows and no alarm behind: the story's clock put the expiry alarm in the past, and its real firing
    // (enqueueing to the real queue, refused and retried from the alarm) kept workerd busy and stalled the files
    // that ran after this one in the full suite
    await runInDurableObject(stub, async (_o: Correlator, state: DurableObjectState) => {
      await state.storage.deleteAlarm();
      await state.storage.deleteAll();
    });
    await runInDurableObject(stub, async (_o: Correlator, state: DurableObjectState) => {
      expect(await state.storage.getAlarm()).toBeNull();
    });
  });

  describe("eviction after a window setting change: each row ranks by its own arrival, not one derived with the current window", () => {
    /** A summary that joins nothing (no pid), with its own uid and time. */
    const lone = (alert: Summary, tag: string, time: number): Summary => ({ ...alert, uid: `${alert.uid}-${tag}`, pid: undefined, container: "0123456789ab", time });
    const T = Date.now();
    const MIN = 60_000;
    const CAP = 10; // the least maxEventsPerKey
    /** Adds each batch at its arrival under its window setting (maxEventsPerKey 10); the window's uids after the last. */
    async function run(stub: DurableObjectStub<Correlator>, adds: [Summary[], number, number][]): Promise<string[]> {
      for (const [batch, at, windowSeconds] of adds) {
        await runInDurableObject(stub, (o: Correlator) => {
          o.producer = new Capture();
          o.settings = parseConfig({ correlate: { maxEventsPerKey: CAP, windowSeconds } }).correlate;
          o.clock = () => at;
        });
        expect(await stub.add(batch)).toMatchObject({ stored: batch.length });
      }
      const left = (await stub.window()).map((x) => x.uid);
      await runInDurableObject(stub, async (_o: Correlator, state: DurableObjectState) => {
        await state.storage.deleteAlarm();
        await state.storage.deleteAll();
      });
      return left;
    }
    /** `n` summaries arriving at `at` with correct times (ranked after everything earlier). */
    const fillers = (alert: Summary, at: number, n: number) => Array.from({ length: n }, (_, i) => lone(alert, `f${i}`, at + i));

    it("a clock-ahead event stored under a 1 h window, then 10 min: it goes first (by arrival + skew), not a correctly-timed one", async () => {
      const { s, stub } = story("do-evict-longer-7a1c");
      const [alert] = summaries(s.shell);
      const ahead = lone(alert!, "ahead", Date.parse("9999-12-31T00:00:00Z"));
      const y = lone(alert!, "y", T + 5 * MIN);
      // derived with the 10 min window, the first row would look 50 min later than it arrived (T + 50.5 min): y would go
      const left = await run(stub, [
        [[ahead], T, 3600],
        [[y], T + 5 * MIN, 600],
        [fillers(alert!, T + 6 * MIN, CAP - 1), T + 6 * MIN, 600],
      ]);
      expect(left).toHaveLength(CAP);
      expect(left).toContain(y.uid);
      expect(left).not.toContain(ahead.uid);
    });

    it("an event stored under a 10 min window, then 1 h: it is not evicted before an older late arrival", async () => {
      const { s, stub } = story("do-evict-shorter-5e2b");
      const [alert] = summaries(s.shell);
      const x = lone(alert!, "x", T);
      const late = lone(alert!, "late", T - 10 * MIN); // a backlog: its own time, older than x's
      // derived with the 1 h window, x would look 50 min older than it arrived (T - 49.5 min): x would go
      const left = await run(stub, [
        [[x], T, 600],
        [[late], T + MIN, 3600],
        [fillers(alert!, T + 2 * MIN, CAP - 1), T + 2 * MIN, 3600],
      ]);
      expect(left).toHaveLength(CAP);
      expect(left).toContain(x.uid);
      expect(left).not.toContain(late.uid);
    });

    it("a window stored before arrivals were kept (no arrived_at column) gets the column, and its old rows rank as before", async () => {
      const { s, stub: before } = story("do-evict-legacy-93d0");
      const [alert] = summaries(s.shell);
      const old = lone(alert!, "old", T + 10 * MIN); // arrived at T + 10 min under a 10 min window (+ 30 s skew)
      await runInDurableObject(before, (_o: Correlator, state: DurableObjectState) => {
        const sql = state.storage.sql;
        sql.exec("DROP TABLE events");
        sql.exec("CREATE TABLE events (uid TEXT PRIMARY KEY, time INTEGER NOT NULL, expires_at INTEGER NOT NULL, bytes INTEGER NOT NULL, body TEXT NOT NULL)");
        const body = JSON.stringify(old);
        sql.exec("INSERT INTO events (uid, time, expires_at, bytes, body) VALUES (?, ?, ?, ?, ?)", old.uid, old.time, T + 10 * MIN + 630_000, body.length, body);
      });
      await abortAllDurableObjects(); // the object starts again on the old table: its constructor adds the column
      const stub = env.CORRELATOR.getByName(s.scope);
      const columns = await runInDurableObject(stub, (_o: Correlator, state: DurableObjectState) => state.storage.sql.exec<{ name: string }>("PRAGMA table_info(events)").toArray().map((c) => c.name));
      expect(columns).toContain("arrived_at");
      // the old row ranks by its time (T + 10 min), after the new ones: the earliest new one goes
      const a = lone(alert!, "a", T + MIN);
      const left = await run(stub, [
        [[a], T + MIN, 600],
        [fillers(alert!, T + 2 * MIN, CAP - 1), T + 2 * MIN, 600],
      ]);
      expect(left).toContain(old.uid);
      expect(left).not.toContain(a.uid);
    });
  });

  it("its alarm expires the whole state: window and remembered incidents; the object is left with no rows and no alarm", async () => {
    const { s, stub } = story("do-expire-all-2d84");
    const capture = new Capture();
    await runInDurableObject(stub, (o: Correlator) => {
      o.producer = capture;
    });
    expect((await stub.add(summaries(s.audit, s.shell, s.exec))).incidents).toHaveLength(1);
    expect(await stub.stats()).toMatchObject({ events: 3, incidents: 1, outbox: 0 });
    // not yet expired: an alarm run early deletes nothing
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.stats()).toMatchObject({ events: 3, incidents: 1 });
    // past window + skew (600 + 30 s)
    await runInDurableObject(stub, (o: Correlator) => {
      o.clock = () => Date.now() + 631_000;
    });
    const at = (await stub.stats()).alarm;
    expect(at).not.toBeNull();
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.stats()).toMatchObject({ events: 0, bytes: 0, incidents: 0, outbox: 0, alarm: null });
    expect(await stub.window()).toEqual([]);
    // the story seen again is a new incident (a Create): nothing of the old one was kept
    const again = await stub.add(summaries(s.audit, s.shell));
    expect(incidents(again).map((e) => e.activity_id)).toEqual([1]);
  });

  it("keeps its window and its incidents across an isolate restart", async () => {
    const { s } = story("do-restart-9e41");
    let stub = env.CORRELATOR.getByName(s.scope);
    await stub.add(summaries(s.audit));
    await abortAllDurableObjects();
    stub = env.CORRELATOR.getByName(s.scope);
    expect(await stub.stats()).toMatchObject({ events: 1, incidents: 0 });
    // the alert after the restart still finds the exec stored before it
    const r = await stub.add(summaries(s.shell));
    expect(incidents(r).map(relatedOf)).toEqual([[s.audit.metadata.uid, s.shell.metadata.uid]]);
    await abortAllDurableObjects();
    stub = env.CORRELATOR.getByName(s.scope);
    // and it remembers it emitted that incident
    expect((await stub.add(summaries(s.shell, s.audit))).incidents).toEqual([]);
    expect(await stub.stats()).toMatchObject({ events: 2, incidents: 1 });
  });

  it("keeps an incident the queue refused in its outbox and sends it from the alarm", async () => {
    const { s, stub } = story("do-outbox-3f70");
    await runInDurableObject(stub, (o: Correlator) => {
      o.producer = new Capture(true);
    });
    const r = await stub.add(summaries(s.audit, s.shell));
    expect(r.incidents).toHaveLength(1);
    expect(r.pending).toBe(1);
    const st = await stub.stats();
    expect(st.outbox).toBe(1);
    expect(st.alarm).not.toBeNull();
    expect(st.alarm!).toBeLessThanOrEqual(Date.now() + 30_000);
    const capture = new Capture();
    await runInDurableObject(stub, (o: Correlator) => {
      o.producer = capture;
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(capture.events.map((e) => e.metadata.uid)).toEqual([incidents(r)[0]!.metadata.uid]);
    expect(await stub.stats()).toMatchObject({ outbox: 0, events: 2, incidents: 1 });
  });

  it("refuses malformed summaries without storing them", async () => {
    const { stub } = story("do-invalid-aa01");
    const r = await stub.add([{ uid: 1, time: "x" }, null, { uid: "u", time: 1, scope: "k", roles: [], class_uid: 1, type_uid: 1 }] as unknown as Summary[]);
    expect(r).toMatchObject({ stored: 1, invalid: 2 });
  });
});
