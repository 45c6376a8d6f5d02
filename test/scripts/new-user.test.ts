// The README's new-user flow, for real: wrangler's dev server as `npm start` runs it
// (TRIBUTARY_DEV=true, local queues and R2, state in a temporary folder, a free 127.0.0.1 port;
// test/support/local-worker.ts), then the user scripts as child processes through tsx:
// `npm run replay -- test/fixtures/falco`, `archive:ls`, `archive:cat`, and the dead-letter commands
// `dlq -- list|show|replay` against a webhook sink (a Node HTTP server here) that first answers a
// permanent 400, then 200. Every wait is bounded; the server is always stopped.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import { readFileSync, readdirSync } from "node:fs";
import { extname, join } from "node:path";
import { freePort } from "../../bench/wrangler";
import { startLocalWorker, type LocalWorker } from "../support/local-worker";
import { frame } from "../../src/routes/decode";
import { runPipeline } from "../../src/pipeline";
import { runScript, type ScriptResult } from "../support/scripts";

const FALCO_DIR = "test/fixtures/falco";
const CLOUDTRAIL_FILE = "test/fixtures/cloudtrail/records__iam-create-user__aws-docs.json";
const HOOK_SECRET = `whsec_${Buffer.from("tributary-new-user-flow-test-key").toString("base64")}`;

/** What the server should accept from one file, computed by the same pure pipeline in this process. */
function expected(file: string): { accepted: number; rejected: number; findingUids: string[] } {
  const text = readFileSync(file, "utf8");
  const ct = extname(file) === ".ndjson" ? "application/x-ndjson" : "application/json";
  const f = frame(text, ct);
  const res = runPipeline(f.values, f.paths, f.textLines, { ctx: { ocsfVersion: "1.3.0", receivedAt: Date.now(), rawData: false } });
  const findingUids = res.events.map((e) => (e.event as { finding_info?: { uid?: string } }).finding_info?.uid).filter((u): u is string => typeof u === "string");
  return { accepted: res.events.length, rejected: f.errors.length + res.errors.length, findingUids };
}

/** Runs a user script against the dev server. */
const script = (file: string, args: string[], url: string): Promise<ScriptResult> => runScript(file, args, { env: { TRIBUTARY_URL: url }, timeoutMs: 60_000 });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Calls `probe` until it returns a value (at most `tries` times, `gapMs` apart); the last error or a timeout otherwise. */
async function until<T>(what: string, tries: number, gapMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await sleep(gapMs);
  }
  throw new Error(`${what}: not seen after ${tries} tries`);
}

/** The webhook sink's other end: answers `status` and keeps every request body. */
class Hook {
  status = 400;
  bodies: { status: number; events: { metadata: { uid: string } }[] }[] = [];
  server: Server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8").on("data", (d: string) => (body += d));
    req.on("end", () => {
      const events = (JSON.parse(body) as { data: { events: { metadata: { uid: string } }[] } }).data.events;
      this.bodies.push({ status: this.status, events });
      res.writeHead(this.status, { "content-type": "application/json" }).end(this.status === 400 ? '{"error":"schema mismatch: field x"}' : "{}");
    });
  });
  url = "";
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}/hook`;
  }
}

let dev: LocalWorker | undefined;
const hook = new Hook();

beforeAll(async () => {
  await hook.start();
  // default config but for one webhook sink that gets the CloudTrail events (the Falco flow is the plain default)
  const config = {
    sinks: { hook: { type: "webhook", url: hook.url, secret: HOOK_SECRET, retry: { maxAttempts: 2 } } },
    routes: [{ match: { source: "cloudtrail" }, sinks: ["hook"] }],
  };
  dev = await startLocalWorker({ TRIBUTARY_CONFIG: JSON.stringify(config) });
}, 180_000);

afterAll(async () => {
  await dev?.stop();
  await new Promise((r) => hook.server.close(r));
}, 30_000);

describe("new user: npm start, npm run replay -- test/fixtures/falco, archive:ls, archive:cat", () => {
  const files = readdirSync(FALCO_DIR)
    .sort()
    .map((n) => join(FALCO_DIR, n));
  const want = files.map(expected);
  const total = { accepted: want.reduce((a, w) => a + w.accepted, 0), rejected: want.reduce((a, w) => a + w.rejected, 0) };
  const uids = new Set(want.flatMap((w) => w.findingUids));

  it("replay prints accepted and rejected per file and in total, as the pipeline decides", async () => {
    expect(total.accepted).toBeGreaterThan(5);
    const r = await script("scripts/replay.ts", [FALCO_DIR], dev!.url);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    files.forEach((f, i) => {
      const status = want[i]!.accepted > 0 ? 202 : 400;
      expect(r.stdout).toContain(`${status} ${f}: accepted ${want[i]!.accepted}, rejected ${want[i]!.rejected}`);
    });
    expect(r.stdout).toContain(`${files.length} files: ${total.accepted} accepted, ${total.rejected} rejected, 0 requests failed`);
  }, 120_000);

  it("archive:ls lists the Detection Findings object(s) and archive:cat prints every replayed alert as OCSF", async () => {
    const prefix = "ocsf/class_uid=2004/";
    // the queue consumer writes within seconds (max_batch_timeout 2 s); at most 40 looks
    const seen = await until("all replayed alerts in the archive", 40, 1_000, async () => {
      const ls = await script("scripts/archive.ts", ["ls", prefix], dev!.url);
      expect(ls.status, ls.stderr).toBe(0);
      const keys = ls.stdout.split("\n").filter((l) => l.startsWith(prefix)).map((l) => l.split("\t")[0]!);
      if (keys.length === 0) return undefined;
      const cat = await script("scripts/archive.ts", ["cat", prefix], dev!.url);
      expect(cat.status, cat.stderr).toBe(0);
      const events = cat.stdout.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as Record<string, unknown>);
      const found = new Set(events.map((e) => (e.finding_info as { uid: string }).uid));
      return [...uids].every((u) => found.has(u)) ? { ls, keys, events } : undefined;
    });
    for (const k of seen.keys) expect(k).toMatch(/^ocsf\/class_uid=2004\/event_day=\d{8}\/[^/]+\.ndjson\.gz$/);
    expect(seen.ls.stdout).toMatch(/\t\d+ B\t\d+ events\n/);
    expect(seen.ls.stdout).toContain(`${seen.keys.length} objects`);
    expect(seen.events.length).toBe(total.accepted); // each replayed alert once
    for (const e of seen.events) {
      expect(e).toMatchObject({ class_uid: 2004, type_uid: 200401, category_uid: 2, metadata: { version: "1.3.0", product: { name: "Falco" }, tenant_uid: "dev" } });
      expect(typeof e.time).toBe("number");
    }
  }, 120_000);
});

describe("the scripts' errors: a clear message and a non-zero exit", () => {
  it("replay: a path that does not exist (nothing is sent), and no server at the URL", async () => {
    const missing = await script("scripts/replay.ts", [FALCO_DIR, "test/fixtures/no-such-folder"], dev!.url);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain("replay: cannot read test/fixtures/no-such-folder: ENOENT");
    expect(missing.stdout).toBe("");
    const down = `http://127.0.0.1:${await freePort()}`;
    const r = await script("scripts/replay.ts", [CLOUDTRAIL_FILE], down);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`replay: cannot reach ${down}/v1/events: fetch failed: connect ECONNREFUSED`);
    expect(r.stderr).toContain("is `npm start` running");
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);

  it("archive:ls, archive:cat and dlq list with no server; archive:cat of a missing key; usage", async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    for (const [file, args, name] of [
      ["scripts/archive.ts", ["ls"], "archive"],
      ["scripts/archive.ts", ["cat", "ocsf/"], "archive"],
      ["scripts/dlq.ts", ["list"], "dlq"],
    ] as const) {
      const r = await script(file, [...args], down);
      expect(r.status, `${file} ${args.join(" ")}`).toBe(1);
      expect(r.stderr).toContain(`${name}: fetch failed: connect ECONNREFUSED`);
      expect(r.stderr).toContain(`running at ${down}?`);
    }
    const gone = await script("scripts/archive.ts", ["cat", "ocsf/class_uid=2004/event_day=20000101/none.ndjson.gz"], dev!.url);
    expect(gone.status).toBe(1);
    expect(gone.stderr).toContain("archive: ocsf/class_uid=2004/event_day=20000101/none.ndjson.gz: not printed: 404");
    expect(gone.stderr).toContain("no object ocsf/class_uid=2004/event_day=20000101/none.ndjson.gz");
    // an answer (here a 404) is not a connection failure: no "is it running?" hint
    expect(gone.stderr).not.toContain("running");
    // a quarantined record shows as such in archive:ls (not "? events"); the spool is listed (empty here)
    const bad = await fetch(`${dev!.url}/v1/events`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"not": "a record"}' });
    expect(bad.status).toBe(400);
    const q = await script("scripts/archive.ts", ["ls", "quarantine/"], dev!.url);
    expect(q.status, q.stderr).toBe(0);
    expect(q.stdout).toMatch(/^quarantine\/\d{8}\/\S+\.json\t\d+ B\t1 rejected record$/m);
    expect(q.stdout).not.toContain("?");
    const spool = await script("scripts/dlq.ts", ["spool"], dev!.url);
    expect(spool.status, spool.stderr).toBe(0);
    expect(spool.stdout).toContain("0 spool objects, 0 events waiting for the queue");
    const noDead = await script("scripts/dlq.ts", ["show", "dlq/none/20000101/none.json"], dev!.url);
    expect(noDead.status).toBe(1);
    expect(noDead.stderr).toContain("dlq: 404");
    expect(noDead.stderr).toContain("no dead letter dlq/none/20000101/none.json");
    expect(noDead.stderr).not.toContain("running");
    const usage = await script("scripts/archive.ts", [], dev!.url);
    expect(usage.status).toBe(2);
    expect((await script("scripts/dlq.ts", ["show"], dev!.url)).status).toBe(2);
  }, 60_000);
});

describe("dead letters: npm run dlq -- list | show | replay", () => {
  it("a sink's permanent 400 is listed and shown; replay sends the events back through the queue to the sink", async () => {
    const want = expected(CLOUDTRAIL_FILE);
    const sent = await script("scripts/replay.ts", [CLOUDTRAIL_FILE], dev!.url);
    expect(sent.status, sent.stdout + sent.stderr).toBe(0);
    expect(sent.stdout).toContain(`accepted ${want.accepted}, rejected 0`);

    const listed = await until("a dead letter for sink hook", 40, 1_000, async () => {
      const r = await script("scripts/dlq.ts", ["list", "--sink", "hook"], dev!.url);
      expect(r.status, r.stderr).toBe(0);
      return r.stdout.includes("1 dead letters") ? r : undefined;
    });
    expect(hook.bodies.map((b) => b.status)).toEqual([400]); // a permanent failure: not retried
    const line = listed.stdout.split("\n").find((l) => l.startsWith("dlq/hook/"))!;
    const [key, sink, count, attempts, status, reason] = line.split("\t");
    expect([sink, count, attempts, status]).toEqual(["hook", `${want.accepted} events`, "1 attempts", "400"]);
    expect(reason).toContain("400");

    const shown = await script("scripts/dlq.ts", ["show", key!], dev!.url);
    expect(shown.status, shown.stderr).toBe(0);
    const rec = JSON.parse(shown.stdout) as { sink: string; type: string; count: number; response: { status: number; body: string }; events: { metadata: { uid: string } }[] };
    expect(rec).toMatchObject({ sink: "hook", type: "webhook", count: want.accepted, response: { status: 400 } });
    expect(rec.response.body).toContain("schema mismatch");
    const deadUids = rec.events.map((e) => e.metadata.uid).sort();
    expect(deadUids).toEqual(hook.bodies[0]!.events.map((e) => e.metadata.uid).sort());

    hook.status = 200; // the sink is fixed
    const replayed = await script("scripts/dlq.ts", ["replay", "--sink", "hook"], dev!.url);
    expect(replayed.status, replayed.stderr).toBe(0);
    expect(replayed.stdout).toContain(`replayed ${key}\thook\t${want.accepted} events`);
    expect(replayed.stdout).toContain(`1 dead letters (${want.accepted} events) sent back to their sinks, 0 failed`);

    // the DELIVERIES consumer (max_batch_timeout 5 s) sends them again; at most 60 looks
    const delivered = await until("the replayed events at the sink", 60, 1_000, async () => hook.bodies.find((b) => b.status === 200));
    expect(delivered.events.map((e) => e.metadata.uid).sort()).toEqual(deadUids);
    const after = await script("scripts/dlq.ts", ["list"], dev!.url);
    expect(after.stdout).toContain("0 dead letters, 0 events");
  }, 180_000);
});
