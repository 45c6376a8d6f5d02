// `npm run dlq -- list` as the npm script runs it (tsx), against an admin API stand-in on 127.0.0.1:
// one row per dead letter, tab-separated, even when a field holds line breaks or tabs (a reason
// written before reasons were made one line).
import { afterEach, describe, expect, it } from "vitest";
import type { DeadLetterInfo } from "../../src/deliver/dlq";
import type { StagedSummary, UnreadableInfo } from "../../src/deliver/inventory";
import { listen, type FakeServer } from "../support/siem-servers";
import { runScript } from "../support/scripts";

let server: FakeServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** An admin API stand-in answering each "path?query" of `answers` with its JSON, anything else 404. */
async function serving(answers: Record<string, unknown>): Promise<string> {
  server = await listen((r) => {
    const q = r.query.toString();
    const found = answers[q ? `${r.path}?${q}` : r.path];
    return found !== undefined
      ? { status: 200, headers: { "content-type": "application/json" }, body: JSON.stringify(found) }
      : { status: 404, headers: { "content-type": "application/json" }, body: "{}" };
  });
  return server.url;
}

const admin = (dead: DeadLetterInfo[]) => serving({ "/v1/dlq": { dead, records: dead.length, events: dead.reduce((n, d) => n + d.count, 0) } });

/** Runs the script (asynchronously: the stand-in server answers from this process). */
const dlq = (url: string, ...args: string[]) => runScript("scripts/dlq.ts", args, { env: { TRIBUTARY_URL: url, TRIBUTARY_ADMIN_TOKEN: "" }, timeoutMs: 60_000 });

/** The script's output lines, once it has exited 0 with nothing on stderr. */
async function printed(url: string, ...args: string[]): Promise<string[]> {
  const r = await dlq(url, ...args);
  expect([r.stderr, r.status]).toEqual(["", 0]);
  return r.stdout.split("\n");
}

describe("npm run dlq -- list", () => {
  it("prints one tab-separated row per dead letter, line breaks and tabs in a field folded to a space, a bulk item's status beside the answer's, an unfinished replay's copy marked", async () => {
    const base = { count: 12, attempts: 1, size: 100, uploaded: "2027-01-15T00:00:00.000Z" };
    const url = await admin([
      { ...base, key: "dlq/loki/20270115/aa.json", sink: "loki", status: 400, reason: "Loki HTTP 400: entry has timestamp too old\n; Loki stored the push's other entries" },
      { ...base, key: "dlq/hook/20270115/bb.json", sink: "hook", status: 400, reason: "webhook HTTP 400: bad\r\n\tpayload" },
      { ...base, key: "dlq/es/20270115/cc.json", sink: "es", status: 200, itemStatus: 400, reason: "item 400: mapper_parsing_exception: failed to parse" },
      { ...base, key: "dlq/es/20270115/dd.replaying.json", sink: "es", status: 400, reason: "Elasticsearch 400: bad", replaying: "2027-01-15T01:00:00.000Z" },
    ]);
    const r = await dlq(url, "list");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout.split("\n")).toEqual([
      "dlq/loki/20270115/aa.json\tloki\t12 events\t1 attempts\t400\tLoki HTTP 400: entry has timestamp too old ; Loki stored the push's other entries",
      "dlq/hook/20270115/bb.json\thook\t12 events\t1 attempts\t400\twebhook HTTP 400: bad payload",
      "dlq/es/20270115/cc.json\tes\t12 events\t1 attempts\t200 (item 400)\titem 400: mapper_parsing_exception: failed to parse",
      "dlq/es/20270115/dd.replaying.json\tes\t12 events\t1 attempts\t400\t(replay of 2027-01-15T01:00:00.000Z unfinished: its events may be on the queue already) Elasticsearch 400: bad",
      "4 dead letters, 48 events",
      "",
    ]);
  });
});

describe("npm run dlq -- list --tenant", () => {
  it("prints the server's note about a tenant no credential has on stderr", async () => {
    const note = 'no ingest credential of the config has tenant "team_a" (tenants: team-a); a removed tenant\'s events are still found';
    const url = await serving({ "/v1/dlq?tenant=team_a": { tenant: "team_a", dead: [], records: 0, events: 0, more: false, note } });
    const r = await dlq(url, "list", "--tenant", "team_a");
    expect([r.status, r.stdout, r.stderr]).toEqual([0, "0 dead letters, 0 events of tenant team_a\n", `note: ${note}\n`]);
  });

  it("asks for the tenant's dead letters and prints its events of each ('2 of 3 events'), then its sums", async () => {
    const base = { attempts: 1, size: 100, uploaded: "2027-01-15T00:00:00.000Z", status: 400, reason: "webhook HTTP 400: bad" };
    const dead: DeadLetterInfo[] = [
      { ...base, key: "dlq/hook/20270115/aa.json", sink: "hook", count: 3, tenants: { "team a": 2, other: 1 } },
      { ...base, key: "dlq/hook/20270115/bb.json", sink: "hook", count: 1, tenants: { "team a": 1 } },
    ];
    const url = await serving({
      "/v1/dlq?sink=hook&tenant=team+a": { tenant: "team a", dead, records: 2, events: 3, more: false },
      "/v1/dlq?tenant=team+a": { tenant: "team a", dead: dead.slice(1), records: 1, events: 1, more: true, unchecked: 4 },
    });
    expect(await printed(url, "list", "--sink", "hook", "--tenant=team a")).toEqual([
      "dlq/hook/20270115/aa.json\thook\t2 of 3 events\t1 attempts\t400\twebhook HTTP 400: bad",
      "dlq/hook/20270115/bb.json\thook\t1 of 1 events\t1 attempts\t400\twebhook HTTP 400: bad",
      "2 dead letters, 3 events of tenant team a",
      "",
    ]);
    expect(await printed(url, "list", "--tenant", "team a")).toEqual([
      "dlq/hook/20270115/bb.json\thook\t1 of 1 events\t1 attempts\t400\twebhook HTTP 400: bad",
      "1+ dead letters, 1+ events of tenant team a",
      "4 older dead letters were not read (no tenants stored with them): list again with --sink to look at fewer",
      "",
    ]);
  });
});

describe("npm run dlq -- staged | unreadable", () => {
  const summary = (sink: string, objects: number, events: number, compacted: boolean): StagedSummary & { compacted: boolean } => ({
    sink,
    objects,
    events,
    bytes: 1000 * objects,
    oldest: "2027-01-15T00:00:00.000Z",
    oldestAgeSeconds: 420,
    compacted,
  });

  it("staged: a row per sink (objects, events, bytes, oldest and its age, a sink the cron does not compact), then the sums; --sink asks for one", async () => {
    const url = await serving({
      "/v1/dlq/staged": { staged: [summary("gone", 1, 2, false), summary("lake", 3, 40, true)], more: true, objects: 4, events: 42 },
      "/v1/dlq/staged?sink=lake": { staged: [summary("lake", 3, 40, true)], more: false, objects: 3, events: 40 },
    });
    expect(await printed(url, "staged")).toEqual([
      "gone\t1 objects\t2 events\t1000 bytes\toldest 2027-01-15T00:00:00.000Z (420 s ago)\tnot compacted: the sink is not configured (as a storage sink)",
      "lake\t3 objects\t40 events\t3000 bytes\toldest 2027-01-15T00:00:00.000Z (420 s ago)",
      "4+ staged objects, 42+ events, 2 sinks",
      "",
    ]);
    expect((await printed(url, "staged", "--sink", "lake")).slice(-2)).toEqual(["3 staged objects, 40 events, 1 sinks", ""]);
  });

  it("unreadable: a row per object set aside (key, store, size, when, why; a reason's line break folded), then the count", async () => {
    const unreadable: UnreadableInfo[] = [
      { key: "spool-unreadable/spool/20270115/r1-x-0.json", from: "spool", size: 12, uploaded: "2027-01-15T01:00:00.000Z", reason: "not UTF-8 JSON" },
      { key: "stage-unreadable/stage/lake/4001/20270115/ab.ndjson", from: "stage", size: 34, uploaded: "2027-01-15T02:00:00.000Z", reason: "not NDJSON: Unexpected token\n'o'" },
    ];
    const url = await serving({ "/v1/dlq/unreadable": { unreadable, objects: 2, more: false } });
    expect(await printed(url, "unreadable")).toEqual([
      "spool-unreadable/spool/20270115/r1-x-0.json\tspool\t12 bytes\t2027-01-15T01:00:00.000Z\tnot UTF-8 JSON",
      "stage-unreadable/stage/lake/4001/20270115/ab.ndjson\tstage\t34 bytes\t2027-01-15T02:00:00.000Z\tnot NDJSON: Unexpected token 'o'",
      "2 unreadable objects set aside",
      "",
    ]);
  });
});

describe("npm run dlq -- replay --to", () => {
  /** A stand-in for POST /v1/dlq/replay answering `status` and `answer`, keeping the bodies it was sent. */
  async function replaying(status: number, answer: unknown): Promise<{ url: string; bodies: unknown[] }> {
    const bodies: unknown[] = [];
    server = await listen((r) => {
      if (r.method !== "POST" || r.path !== "/v1/dlq/replay") return { status: 404, body: "{}" };
      bodies.push(JSON.parse(r.text));
      return { status, headers: { "content-type": "application/json" }, body: JSON.stringify(answer) };
    });
    return { url: server.url, bodies };
  }

  it("asks to send the old sink's dead letters to another sink and prints where each went", async () => {
    const answer = { replayed: [{ key: "dlq/splunk/20270115/aa.json", sink: "siem", from: "splunk", count: 3 }], failed: [{ key: "queue-dlq/x.json", error: "a queue dead letter goes back to its queue unchanged: replay it without \"to\"" }], events: 3 };
    const { url, bodies } = await replaying(200, answer);
    const r = await dlq(url, "replay", "--sink", "splunk", "--to=siem");
    expect(bodies).toEqual([{ sink: "splunk", to: "siem" }]);
    expect([r.status, r.stdout.split("\n"), r.stderr]).toEqual([
      1,
      ["replayed dlq/splunk/20270115/aa.json\tsplunk -> siem\t3 events", "1 dead letters (3 events) sent to sink siem, 1 failed", ""],
      'failed   queue-dlq/x.json\ta queue dead letter goes back to its queue unchanged: replay it without "to"\n',
    ]);
  });

  it("--tenant is refused, not ignored (it replayed every tenant's dead letters), as is an option another command takes; nothing is asked", async () => {
    const { url, bodies } = await replaying(200, { replayed: [], failed: [], events: 0 });
    const r = await dlq(url, "replay", "--tenant", "team-c");
    expect([r.status, r.stdout]).toEqual([2, ""]);
    expect(r.stderr).toMatch(/^dlq: replay takes no --tenant \(it would replay every tenant's dead letters\): list the tenant's with `npm run dlq -- list --tenant <name>`, then replay those keys/);
    const l = await dlq(url, "list", "--sink", "loki", "--to=loki2");
    expect([l.status, l.stdout, l.stderr]).toEqual([2, "", "dlq: list takes no --to\n"]);
    expect(bodies).toEqual([]);
  });

  it("keys go 100 a call; an answer with more left says to run it again", async () => {
    const keys = Array.from({ length: 150 }, (_, k) => `dlq/loki/20270115/${String(k).padStart(3, "0")}.json`);
    const bodies: { keys?: string[] }[] = [];
    server = await listen((r) => {
      const b = JSON.parse(r.text) as { keys?: string[] };
      bodies.push(b);
      const replayed = (b.keys ?? keys.slice(0, 100)).map((key) => ({ key, sink: "loki", count: 1 }));
      return { status: 200, headers: { "content-type": "application/json" }, body: JSON.stringify({ replayed, failed: [], events: replayed.length, ...(b.keys ? {} : { more: true }) }) };
    });
    const r = await dlq(server.url, "replay", ...keys);
    expect([r.status, r.stderr]).toEqual([0, ""]);
    expect(bodies.map((b) => b.keys)).toEqual([keys.slice(0, 100), keys.slice(100)]);
    expect(r.stdout.split("\n").slice(-2)).toEqual(["150 dead letters (150 events) sent back to their sinks, 0 failed", ""]);
    bodies.length = 0;
    const all = await dlq(server.url, "replay", "--sink", "loki");
    expect(bodies).toEqual([{ sink: "loki" }]);
    expect(all.stdout.split("\n").slice(-3)).toEqual(["100 dead letters (100 events) sent back to their sinks, 0 failed", "more dead letters are left (at most 100 a call): run the same replay again", ""]);
  });

  it("a 400 listing the dead letters the sink cannot take prints them; a 400 without a list is an error", async () => {
    const refused = { replayed: [], failed: [{ key: "dlq/old/20270115/bb.json", error: 'sink "lake" (security_lake) cannot write event u1 (class_uid 2004): no Security Lake custom source for class_uid 2004' }], events: 0 };
    const first = await replaying(400, refused);
    const r = await dlq(first.url, "replay", "--to", "lake", "dlq/old/20270115/bb.json");
    expect(first.bodies).toEqual([{ keys: ["dlq/old/20270115/bb.json"], to: "lake" }]);
    expect([r.status, r.stdout, r.stderr]).toEqual([1, "0 dead letters (0 events) sent to sink lake, 1 failed\n", `failed   dlq/old/20270115/bb.json\t${refused.failed[0]!.error}\n`]);
    await server?.close();
    const second = await replaying(400, { error: 'to: sink "nowhere" is not configured (configured: siem)' });
    const e = await dlq(second.url, "replay", "--sink", "old", "--to", "nowhere");
    expect(e.status).toBe(1);
    expect(e.stderr).toMatch(/^dlq: .*to: sink \\?"nowhere\\?" is not configured/);
  });
});
