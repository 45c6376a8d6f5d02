// Re-ingesting the quarantine through the real routes inside workerd: records rejected for a cause a config change
// fixes (a record over limits.maxRecordBytes, a source the tenant's token could not send) go through ingest again
// once it is fixed, under their tenant; what is accepted now reaches the queue and leaves the quarantine, what is
// still rejected stays with its new reason; a dry run changes nothing; the admin token guards it as it does /v1/dlq.
import { env } from "cloudflare:test";
import { describe, it, expect } from "vitest";
import { CaptureQueue, call, post, linesOf, quarantined, spoolFailing } from "./helpers";

const falco = linesOf("falco");
const tetragon = linesOf("tetragon");

const TOKEN = "ingest-token-q";
const ADMIN = "admin-secret-q";
const vars = { TOK_Q: TOKEN, ADMIN_Q: ADMIN };

/** The config before the fix (a 4,000-byte record limit, a Falco-only token) and after (7,000 bytes, Falco and Tetragon). */
function config(tenant: string, fixed: boolean) {
  return {
    auth: { tokens: [{ tenant, token: { env: "TOK_Q" }, sources: fixed ? ["falco", "tetragon"] : ["falco"] }] },
    delivery: { adminToken: { env: "ADMIN_Q" } },
    limits: { maxRecordBytes: fixed ? 7000 : 4000 },
  };
}

/** A Falco alert of about `bytes` bytes (its output padded), distinct by `tag`. */
function bigFalco(bytes: number, tag: string): string {
  const rec = JSON.parse(falco[0]!) as { output: string };
  rec.output = `${tag} ${"x".repeat(bytes)}`;
  return JSON.stringify(rec);
}

const admin = { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" };

async function ingestAs(tenant: string, requestId: string, lines: string[], queue = new CaptureQueue()) {
  const req = post("/v1/events", lines.join("\n"), { "content-type": "application/x-ndjson", authorization: `Bearer ${TOKEN}`, "x-request-id": requestId });
  return call(req, { config: config(tenant, false), dev: false, queue, vars });
}

function adminGet(path: string, fixed: boolean, tenant: string, headers: Record<string, string> = admin) {
  return call(new Request(`http://tributary${path}`, { headers }), { config: config(tenant, fixed), dev: false, vars });
}

function reingest(body: Record<string, unknown>, tenant: string, queue: CaptureQueue, headers: Record<string, string> = admin) {
  return call(post("/v1/quarantine/reingest", JSON.stringify(body), headers), { config: config(tenant, true), dev: false, queue, vars });
}

type Entry = { key: string; index: number; route: string; tenant: string; reason: string; request_id: string; received_at: string; size: number };
type Reingest = { reingested: number; events: number; still_rejected: { key: string; index: number; reason: string }[]; more: boolean; dryRun?: boolean };

async function stored(key: string): Promise<Record<string, unknown> | undefined> {
  const o = await env.ARCHIVE.get(key);
  return o ? (JSON.parse(await o.text()) as Record<string, unknown>) : undefined;
}

describe("POST /v1/quarantine/reingest", () => {
  it("re-ingests what the fixed config accepts under the entry's tenant (queue, quarantine entry gone), keeps the rest with its new reason; a dry run changes nothing", async () => {
    const tenant = `team-q${Date.now().toString(36)}`;
    const requestId = `qtest-${tenant}`;
    const lines = [falco[1]!, bigFalco(5000, "five"), bigFalco(9000, "nine"), tetragon[0]!, '{"foo":1}'];
    const sent = await ingestAs(tenant, requestId, lines);
    expect(sent.status).toBe(202);
    expect([sent.body.accepted, sent.body.rejected]).toEqual([1, 4]);
    const parts = await quarantined(env.ARCHIVE, requestId);
    expect(parts.map((p) => p.part)).toEqual(["1", "2", "3", "4"]);
    const key = (i: number) => parts.find((p) => p.part === String(i))!.key;
    const day = key(1).split("/")[1]!;

    // the listing: every entry of the day for that tenant, and the reasons counted
    const ls = await adminGet(`/v1/quarantine?day=${day}&tenant=${tenant}`, false, tenant);
    expect(ls.status).toBe(200);
    const entries = ls.body.entries as unknown as Entry[];
    expect(entries.map((e) => [e.key, e.index, e.route, e.tenant, e.request_id])).toEqual([1, 2, 3, 4].map((i) => [key(i), i, "/v1/events", tenant, requestId]));
    expect(entries.every((e) => e.size > 0 && e.received_at.startsWith(new Date(Date.parse(e.received_at)).toISOString()))).toBe(true);
    const reasons = ls.body.reasons as unknown as { reason: string; count: number }[];
    expect(reasons).toContainEqual({ reason: `credentials of tenant "${tenant}" may not send tetragon records`.slice(0, 50), count: 1 });
    // the two records over the limit have other sizes in their reasons, and are one reason all the same
    expect(reasons).toContainEqual({ reason: "record is N bytes, more than limits.maxRecordBytes", count: 2 });
    expect(reasons.every((r) => r.reason.length <= 50)).toBe(true);
    expect(reasons.reduce((n, r) => n + r.count, 0)).toBe(4);
    expect(reasons).toHaveLength(3);
    const byReason = await adminGet(`/v1/quarantine?day=${day}&tenant=${tenant}&reason=maxRecordBytes`, false, tenant);
    expect((byReason.body.entries as unknown as Entry[]).map((e) => e.index)).toEqual([1, 2]);

    // a dry run under the fixed config: what would happen, nothing queued, nothing changed
    const dryQueue = new CaptureQueue();
    const dry = await reingest({ day, tenant, dryRun: true }, tenant, dryQueue);
    expect(dry.status).toBe(200);
    const d = dry.body as unknown as Reingest;
    expect([d.reingested, d.events, d.dryRun]).toEqual([2, 2, true]);
    expect(d.still_rejected.map((s) => [s.key, s.index])).toEqual([[key(2), 2], [key(4), 4]]);
    expect(dryQueue.count()).toBe(0);
    for (const i of [1, 2, 3, 4]) expect(await env.ARCHIVE.head(key(i))).not.toBeNull();
    expect((await stored(key(2)))!.reason).toMatch(/\(4000\)$/);

    // the re-ingest: the 5,000-byte alert and the Tetragon event reach the queue as the tenant's
    const queue = new CaptureQueue();
    const r = await reingest({ day, tenant }, tenant, queue);
    expect(r.status).toBe(200);
    const body = r.body as unknown as Reingest;
    expect([body.reingested, body.events, body.more]).toEqual([2, 2, false]);
    expect(body.still_rejected).toEqual([
      { key: key(2), index: 2, reason: expect.stringMatching(/^record is \d+ bytes, more than limits.maxRecordBytes \(7000\)$/) as unknown as string },
      { key: key(4), index: 4, reason: expect.stringMatching(/^unrecognised record/) as unknown as string },
    ]);
    const events = queue.events();
    expect(events).toHaveLength(2);
    expect(events.map((e) => (e.metadata as { tenant_uid: string }).tenant_uid)).toEqual([tenant, tenant]);
    expect(events.map((e) => (e.metadata as { product: { name: string } }).product.name).sort()).toEqual(["Falco", "Tetragon"]);
    expect(JSON.stringify(events[0])).toContain("five x");
    // accepted now: gone from the quarantine; still rejected: kept, with the reason found now and the first one
    expect(await env.ARCHIVE.head(key(1))).toBeNull();
    expect(await env.ARCHIVE.head(key(3))).toBeNull();
    const nine = await stored(key(2));
    expect(nine).toMatchObject({ reason: expect.stringMatching(/\(7000\)$/) as unknown as string, first_reason: expect.stringMatching(/\(4000\)$/) as unknown as string, tenant, raw: lines[2] });
    expect((await env.ARCHIVE.head(key(2)))!.customMetadata!.reason).toMatch(/\(7000\)$/);
    expect((await stored(key(4)))!.first_reason).toBeUndefined(); // same reason: the object is left as it was

    // the same records re-ingested again give the same uids (sinks deduplicate): sent straight under the fixed config
    const direct = new CaptureQueue();
    const again = await call(post("/v1/events", lines[1]!, { "content-type": "application/x-ndjson", authorization: `Bearer ${TOKEN}` }), { config: config(tenant, true), dev: false, queue: direct, vars });
    expect(again.status).toBe(202);
    const uid = (e: Record<string, unknown>) => (e.metadata as { uid: string }).uid;
    expect(events.map(uid)).toContain(uid(direct.events()[0]!));
  });

  it("a request's -rest.ndjson object is rewritten with only the records still rejected", async () => {
    const tenant = `team-r${Date.now().toString(36)}`;
    const requestId = `qrest-${tenant}`;
    const unknown = Array.from({ length: 25 }, (_, i) => JSON.stringify({ foo: i }));
    const sent = await ingestAs(tenant, requestId, [...unknown, bigFalco(5000, "five"), bigFalco(9000, "nine")]);
    expect([sent.status, sent.body.rejected]).toEqual([400, 27]);
    const rest = (await quarantined(env.ARCHIVE, requestId)).find((p) => p.part === "rest")!.key;
    const queue = new CaptureQueue();
    const r = await reingest({ keys: [rest] }, tenant, queue);
    expect(r.status).toBe(200);
    const body = r.body as unknown as Reingest;
    expect([body.reingested, body.still_rejected.map((s) => [s.key, s.index])]).toEqual([1, [[rest, 26]]]);
    expect(queue.count()).toBe(1);
    const obj = await env.ARCHIVE.get(rest);
    const left = (await obj!.text()).trim().split("\n").map((l) => JSON.parse(l) as { index: number; reason: string });
    expect(left.map((e) => e.index)).toEqual([26]);
    expect(left[0]!.reason).toMatch(/\(7000\)$/);
    expect(obj!.customMetadata).toMatchObject({ records: "1", requestId });
    // a key that is gone is reported, not an error
    const gone = await reingest({ keys: [`${rest.slice(0, -"rest.ndjson".length)}99.json`] }, tenant, new CaptureQueue());
    expect((gone.body as unknown as Reingest).still_rejected[0]!.reason).toMatch(/no such quarantine object/);
  });

  it("pages: `limit` entries a call, `cursor` goes on after the last object read, for the listing and the re-ingest", async () => {
    const tenant = `team-p${Date.now().toString(36)}`;
    const requestId = `qpage-${tenant}`;
    const sent = await ingestAs(tenant, requestId, ['{"foo":1}', '{"foo":2}', '{"foo":3}']);
    expect(sent.body.rejected).toBe(3);
    const mine = (await quarantined(env.ARCHIVE, requestId)).map((p) => p.key);
    const day = mine[0]!.split("/")[1]!;
    // the day may hold other tests' objects: walk every page (bounded), keeping this tenant's entries
    const walk = async (next: (cursor: string | undefined) => Promise<{ keys: string[]; more: boolean; cursor?: string }>) => {
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      for (; pages < 200; pages++) {
        const p = await next(cursor);
        seen.push(...p.keys);
        if (!p.more) break;
        expect(p.cursor).toBeDefined();
        cursor = p.cursor;
      }
      expect(pages).toBeLessThan(200);
      return seen;
    };
    const listed = await walk(async (cursor) => {
      const r = await adminGet(`/v1/quarantine?day=${day}&tenant=${tenant}&limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, false, tenant);
      const entries = r.body.entries as unknown as Entry[];
      expect(entries.length).toBeLessThanOrEqual(1);
      return { keys: entries.map((e) => e.key), more: r.body.more as unknown as boolean, cursor: r.body.cursor as unknown as string | undefined };
    });
    expect(listed).toEqual(mine);
    const rejectedAgain = await walk(async (cursor) => {
      const r = await reingest({ day, tenant, limit: 1, dryRun: true, ...(cursor ? { cursor } : {}) }, tenant, new CaptureQueue());
      const b = r.body as unknown as Reingest & { cursor?: string };
      return { keys: b.still_rejected.map((x) => x.key), more: b.more, cursor: b.cursor };
    });
    expect(rejectedAgain).toEqual(mine);
  });

  it("when the queue refuses, the events go to the spool as ingest's do; when the spool fails too: 503 and the quarantine is unchanged", async () => {
    const tenant = `team-s${Date.now().toString(36)}`;
    const requestId = `qspool-${tenant}`;
    const sent = await ingestAs(tenant, requestId, [bigFalco(5000, "five")]);
    expect(sent.body.rejected).toBe(1);
    const [k] = (await quarantined(env.ARCHIVE, requestId)).map((p) => p.key);
    const refusing = () => new CaptureQueue({ failOnCall: 1, error: "Queue sendBatch failed: Internal Server Error" });
    // queue and spool down: nothing changes
    const down = await call(post("/v1/quarantine/reingest", JSON.stringify({ keys: [k] }), admin), { config: config(tenant, true), dev: false, queue: refusing(), archive: spoolFailing(), vars });
    expect(down.status).toBe(503);
    expect(await env.ARCHIVE.head(k!)).not.toBeNull();
    // the queue down, the spool up: accepted (spooled), and the entry leaves the quarantine
    const r = await reingest({ keys: [k] }, tenant, refusing());
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ reingested: 1, events: 1, spooled: 1 });
    expect(await env.ARCHIVE.head(k!)).toBeNull();
  });

  it("refuses a request without a day or keys, and a day that is not yyyymmdd", async () => {
    const tenant = "team-v";
    expect((await reingest({}, tenant, new CaptureQueue())).status).toBe(400);
    expect((await reingest({ day: "2026-11-22" }, tenant, new CaptureQueue())).status).toBe(400);
    expect((await reingest({ keys: ["dlq/x.json"] }, tenant, new CaptureQueue())).status).toBe(400);
    expect((await adminGet("/v1/quarantine?day=yesterday", true, tenant)).status).toBe(400);
  });

  it("needs the admin token, as /v1/dlq does: 401 without one, 403 with another, never the ingest token", async () => {
    const tenant = "team-w";
    const json = { "content-type": "application/json" };
    expect((await adminGet("/v1/quarantine?day=20261122", true, tenant, json)).status).toBe(401);
    expect((await adminGet("/v1/quarantine?day=20261122", true, tenant, { authorization: `Bearer ${TOKEN}` })).status).toBe(403);
    const queue = new CaptureQueue();
    expect((await reingest({ day: "20261122" }, tenant, queue, json)).status).toBe(401);
    expect((await reingest({ day: "20261122" }, tenant, queue, { ...json, authorization: "Bearer wrong" })).status).toBe(403);
    expect(queue.count()).toBe(0);
  });
});

describe("the config's redact rules and the quarantine (docs/ingest.md#quarantine)", () => {
  /** config() with the credentials preset (or without redact at all). */
  const redacting = (tenant: string, fixed: boolean, redact = true) => ({ ...config(tenant, fixed), ...(redact ? { redact: { presets: ["credentials"] } } : {}) });
  const secretAlert = (tag: string) => {
    const rec = JSON.parse(falco[0]!) as { output: string; output_fields?: Record<string, unknown> };
    rec.output = `${tag} mysql-dump --password=hunter2 ${"x".repeat(5000)}`;
    return JSON.stringify(rec);
  };
  const send = (tenant: string, requestId: string, line: string, redact: boolean) =>
    call(post("/v1/events", line, { "content-type": "application/x-ndjson", authorization: `Bearer ${TOKEN}`, "x-request-id": requestId }), { config: redacting(tenant, false, redact), dev: false, queue: new CaptureQueue(), vars });

  it("a Falco alert rejected for its size keeps no password in R2; re-ingested once the limit is raised, its event has none either", async () => {
    const tenant = `team-x${Date.now().toString(36)}`;
    const line = secretAlert("redact-me");
    const sent = await send(tenant, `qred-${tenant}`, line, true);
    expect([sent.status, sent.body.rejected]).toEqual([413, 1]);
    const [part] = await quarantined(env.ARCHIVE, `qred-${tenant}`);
    const text = await (await env.ARCHIVE.get(part!.key))!.text();
    expect(text).not.toContain("hunter2");
    const entry = JSON.parse(text) as { raw: string; redacted: string[]; reason: string };
    expect(entry.redacted).toEqual(["raw"]);
    expect(entry.raw).toBe(line.replace("hunter2", "*****"));
    expect(entry.reason).toMatch(/maxRecordBytes \(4000\)$/);

    const queue = new CaptureQueue();
    const r = await call(post("/v1/quarantine/reingest", JSON.stringify({ keys: [part!.key] }), admin), { config: redacting(tenant, true), dev: false, queue, vars });
    expect(r.status).toBe(200);
    expect((r.body as unknown as Reingest).reingested).toBe(1);
    const events = queue.events();
    expect(events).toHaveLength(1);
    expect(JSON.stringify(events[0])).toContain("redact-me mysql-dump --password=***** x");
    expect(JSON.stringify(events[0])).not.toContain("hunter2");
    expect(await env.ARCHIVE.head(part!.key)).toBeNull();
  });

  it("a record still rejected at re-ingest keeps its new reason masked by the config's rules, as ingest keeps the first", async () => {
    const tenant = `team-z${Date.now().toString(36)}`;
    const line = bigFalco(9000, "still-too-big");
    expect((await send(tenant, `qreason-${tenant}`, line, false)).status).toBe(413);
    const [part] = await quarantined(env.ARCHIVE, `qreason-${tenant}`);
    // a rule that matches the reason's text (a reason may quote what the record held)
    const cfg = { ...config(tenant, true), redact: { rules: [{ pattern: "record is (\\d+) bytes" }] } };
    const r = await call(post("/v1/quarantine/reingest", JSON.stringify({ keys: [part!.key] }), admin), { config: cfg, dev: false, queue: new CaptureQueue(), vars });
    expect(r.status).toBe(200);
    const masked = "record is ***** bytes, more than limits.maxRecordBytes (7000)";
    expect((r.body as unknown as Reingest).still_rejected.map((s) => s.reason)).toEqual([masked]);
    const entry = JSON.parse(await (await env.ARCHIVE.get(part!.key))!.text()) as { reason: string; first_reason: string };
    expect(entry.reason).toBe(masked);
    expect(entry.first_reason).toMatch(/^record is \d+ bytes, more than limits.maxRecordBytes \(4000\)$/);
  });

  it("without redact the record is kept as received, byte for byte", async () => {
    const tenant = `team-y${Date.now().toString(36)}`;
    const line = secretAlert("kept-as-is");
    expect((await send(tenant, `qplain-${tenant}`, line, false)).status).toBe(413);
    const [part] = await quarantined(env.ARCHIVE, `qplain-${tenant}`);
    const entry = JSON.parse(await (await env.ARCHIVE.get(part!.key))!.text()) as Record<string, unknown>;
    expect(entry.raw).toBe(line);
    expect("redacted" in entry).toBe(false);
  });
});
