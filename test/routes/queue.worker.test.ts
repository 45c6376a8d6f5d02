// The queue side of ingest: refusal -> 429/503 with Retry-After, partial sends, message limits,
// and events too large for a queue message (spilled to R2).
import { env } from "cloudflare:test";
import { describe, it, expect } from "vitest";
import { fixture } from "../support/fixtures";
import { messageLines, MAX_BATCH_MESSAGES } from "../../src/deliver/enqueue";
import { CaptureQueue, call, post, linesOf, spoolFailing } from "./helpers";

const falco = linesOf("falco");
const k8s = linesOf("k8s-audit", (n) => !n.includes("negative__"));

/** NDJSON of n distinct Falco alerts built from a real one (distinct times -> distinct uids). */
function falcoBatch(n: number): string {
  const base = JSON.parse(fixture("falco/terminal-shell-in-container__falco-docs.json")) as Record<string, unknown>;
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(JSON.stringify({ ...base, time: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, i)).toISOString() }));
  return out.join("\n");
}

// The queue refusing alone is answered 202 (the events go to the R2 spool: test/deliver/spool.worker.test.ts);
// these are the answers when the spool cannot keep them either.
describe("queue refusal with the spool failing too", () => {
  it("429 with Retry-After when the queue says Too Many Requests; nothing accepted, and the body says so", async () => {
    const queue = new CaptureQueue({ failOnCall: 1, error: "Queue sendBatch failed: Too Many Requests" });
    const r = await call(post("/v1/events", falco.join("\n"), { "content-type": "application/x-ndjson" }), { queue, archive: spoolFailing() });
    expect(r.status).toBe(429);
    expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(r.body).toMatchObject({ accepted: 0, rejected: 0 });
    expect(r.body.errors[0]!.reason).toMatch(/Too Many Requests.*the spool could not keep them \(R2 put failed.*nothing was accepted, send the request again/);
    expect(r.body.queued_before_failure).toBeUndefined();
  });

  it("503 with Retry-After for any other queue error", async () => {
    const queue = new CaptureQueue({ failOnCall: 1, error: "Queue sendBatch failed: Internal Server Error" });
    const r = await call(post("/v1/events", falco[0]!), { queue, archive: spoolFailing() });
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(r.body.accepted).toBe(0);
  });

  it("when the queue fails midway: 429, and the body says how many events were already queued (re-sending is safe: same uids)", async () => {
    const queue = new CaptureQueue({ failOnCall: 3 });
    const body = falcoBatch(2000);
    const r = await call(post("/v1/events", body, { "content-type": "application/x-ndjson" }), { queue, archive: spoolFailing() });
    expect(r.status).toBe(429);
    expect(r.body.accepted).toBe(0);
    const queued = r.body.queued_before_failure as number;
    expect(queued).toBe(queue.count());
    expect(queued).toBeGreaterThan(0);
    expect(queued).toBeLessThan(2000);
    expect(r.body.errors[0]!.reason).toMatch(new RegExp(`${queued} of its events were queued before the failure`));
    // the retry carries the same events with the same metadata.uid
    const again = new CaptureQueue();
    const ok = await call(post("/v1/events", body, { "content-type": "application/x-ndjson" }), { queue: again });
    expect(ok.body).toEqual({ accepted: 2000, rejected: 0, errors: [] });
    const uids = new Set(again.events().map((e) => (e.metadata as { uid: string }).uid));
    expect(uids.size).toBe(2000);
    for (const e of queue.events()) expect(uids.has((e.metadata as { uid: string }).uid)).toBe(true);
  });
});

describe("message limits", () => {
  it("packs a large batch into messages under 128 KB and sendBatch calls of at most 100 messages, losing nothing", async () => {
    const queue = new CaptureQueue();
    const r = await call(post("/v1/events", falcoBatch(3000), { "content-type": "application/x-ndjson" }), { queue });
    expect(r.body).toEqual({ accepted: 3000, rejected: 0, errors: [] });
    expect(queue.count()).toBe(3000);
    expect(queue.events()).toHaveLength(3000);
    expect(queue.messages.length).toBeGreaterThan(1);
    expect(queue.messages.length).toBeLessThan(3000 / 10); // many events per message
    expect(queue.calls).toBeGreaterThan(1);
    for (const m of queue.messages) expect(m).toMatchObject({ v: 1, sinks: ["archive"] });
    expect(MAX_BATCH_MESSAGES).toBe(100);
  });

  it("an event too large for a queue message is stored in R2 (spill/<uid>.json) and referenced from the message", async () => {
    // a Kubernetes RequestResponse-sized audit event: a 300 KB ConfigMap in requestObject
    const ev = JSON.parse(k8s[0]!) as Record<string, unknown>;
    ev.requestObject = { kind: "ConfigMap", apiVersion: "v1", data: { blob: "z".repeat(300_000) } };
    const queue = new CaptureQueue();
    const r = await call(post("/v1/events", [JSON.stringify(ev), k8s[1]].join("\n"), { "content-type": "application/x-ndjson" }), { queue });
    expect(r.body).toEqual({ accepted: 2, rejected: 0, errors: [] });
    expect(queue.count()).toBe(2);
    const m = queue.messages.find((x) => x.spill?.length);
    expect(m).toBeDefined();
    expect(m!.spill![0]).toMatch(/^spill\/[\w-]+\.json$/);
    const lines = await messageLines(m!, env.ARCHIVE);
    expect(lines).toHaveLength(m!.count);
    const big = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => JSON.stringify(e).includes("z".repeat(1000)));
    expect(big).toBeDefined();
    expect((big!.metadata as { uid: string }).uid).toBe(m!.spill![0]!.slice("spill/".length, -".json".length));
  });
});
