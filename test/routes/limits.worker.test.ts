// Error paths and limits: gzip bombs, body/record/depth/count limits, garbage, invalid UTF-8,
// bodies cut mid-record, and the quarantine every rejected record goes to.
import { env } from "cloudflare:test";
import { describe, it, expect, vi } from "vitest";
import { Gunzip } from "fflate";
import { fixture } from "../support/fixtures";
import { CaptureQueue, call, post, linesOf, gzip, quarantined } from "./helpers";
import { release, DEV_DRAIN } from "../../src/routes/body";

const falco = linesOf("falco");
const tetragon = linesOf("tetragon");

/** A request body stream that counts how many of its chunks were pulled, and whether it was cancelled. */
function countingStream(bytes: Uint8Array, chunk = 4096): { stream: ReadableStream<Uint8Array>; pulled: () => number; chunks: number; cancelled: () => boolean } {
  let at = 0;
  let pulls = 0;
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (at >= bytes.length) return c.close();
        pulls++;
        c.enqueue(bytes.slice(at, at + chunk));
        at += chunk;
      },
      cancel() {
        cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, pulled: () => pulls, chunks: Math.ceil(bytes.length / chunk), cancelled: () => cancelled };
}

/** Compresses `total` bytes of spaces without ever holding them: the source is generated chunk by chunk. */
async function bomb(total: number, format: "gzip" | "deflate"): Promise<Uint8Array> {
  const block = new Uint8Array(1 << 20).fill(0x20);
  let sent = 0;
  const src = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= total) return c.close();
      c.enqueue(block);
      sent += block.length;
    },
  });
  return new Uint8Array(await new Response(src.pipeThrough(new CompressionStream(format))).arrayBuffer());
}

async function ingest(body: BodyInit, headers: Record<string, string> = { "content-type": "application/json" }, config?: Record<string, unknown>, path = "/v1/events", dev = true) {
  const queue = new CaptureQueue();
  const r = await call(post(path, body, headers), { queue, config, dev });
  return { ...r, queue };
}

describe("gzip bombs and body size", () => {
  for (const format of ["gzip", "deflate"] as const) {
    it(`stops a ${format} bomb (200 MB of spaces in ~200 KB) at maxDecompressedBytes with 413, without reading the whole body`, async () => {
      const packed = await bomb(200 * (1 << 20), format);
      expect(packed.length).toBeLessThan(1_000_000);
      const body = countingStream(packed);
      // production (not dev): the rest is cancelled, not drained
      const r = await ingest(body.stream, { "content-type": "application/json", "content-encoding": format }, { auth: { required: false } }, "/v1/events", false);
      expect(r.status).toBe(413);
      expect(r.body.errors[0]!.reason).toMatch(/maxDecompressedBytes \(24000000 bytes\) once decompressed/);
      expect(body.pulled()).toBeLessThan(body.chunks / 2); // 24 MB of output needs a fraction of the input
      expect(body.cancelled()).toBe(true);
      expect(r.queue.count()).toBe(0);
    });
  }

  it("answers 413 from Content-Length alone, before reading the body", async () => {
    const text = falco.join("\n");
    const body = countingStream(new TextEncoder().encode(text));
    const req = new Request("http://tributary/v1/events", {
      method: "POST",
      body: body.stream,
      headers: { "content-type": "application/x-ndjson", "content-length": String(text.length) },
      duplex: "half",
    } as RequestInit);
    const r = await call(req, { config: { limits: { maxBodyBytes: 1000 } }, queue: new CaptureQueue() });
    expect(r.status).toBe(413);
    expect(r.body.errors[0]!.reason).toMatch(new RegExp(`body is ${text.length} bytes, more than limits.maxBodyBytes \\(1000\\)`));
    expect(body.pulled()).toBe(0);
  });

  it("answers 413 while streaming when a body without Content-Length passes maxBodyBytes (raw and compressed)", async () => {
    const text = falco.join("\n");
    const plain = await ingest(countingStream(new TextEncoder().encode(text), 512).stream, { "content-type": "application/x-ndjson" }, { limits: { maxBodyBytes: 2000 } });
    expect(plain.status).toBe(413);
    expect(plain.body.errors[0]!.reason).toMatch(/limits.maxBodyBytes \(2000 bytes\)/);
    const gz = await gzip(text.repeat(20));
    const comp = await ingest(countingStream(gz, 256).stream, { "content-type": "application/x-ndjson", "content-encoding": "gzip" }, { limits: { maxBodyBytes: 1024 } });
    expect(comp.status).toBe(413);
  });
});

describe("draining a refused body in local development (wrangler dev, workers-sdk issue #15709)", () => {
  it("reads a gzip bomb's rest to its end and discards it in dev, still answering 413", async () => {
    const packed = await bomb(200 * (1 << 20), "gzip");
    expect(packed.length).toBeLessThan(DEV_DRAIN.bytes);
    const body = countingStream(packed);
    const r = await ingest(body.stream, { "content-type": "application/json", "content-encoding": "gzip" });
    expect(r.status).toBe(413);
    expect(r.body.errors[0]!.reason).toMatch(/maxDecompressedBytes \(24000000 bytes\) once decompressed/);
    expect(body.pulled()).toBe(body.chunks);
    expect(body.cancelled()).toBe(false);
    expect(r.queue.count()).toBe(0);
  });

  it("drains a body past maxBodyBytes (with and without HMAC) and a corrupt gzip stream in dev", async () => {
    const text = new TextEncoder().encode(falco.join("\n").repeat(4));
    const plain = countingStream(text, 512);
    const r = await ingest(plain.stream, { "content-type": "application/x-ndjson" }, { limits: { maxBodyBytes: 2000 } });
    expect(r.status).toBe(413);
    expect([plain.pulled(), plain.cancelled()]).toEqual([plain.chunks, false]);
    const signed = countingStream(text, 512);
    const cfg = { auth: { hmac: { secret: { env: "HMAC_SECRET" } } }, limits: { maxBodyBytes: 2000 } };
    const headers = { "content-type": "application/x-ndjson", "x-tributary-signature": `sha256=${"0".repeat(64)}` };
    const h = await call(post("/v1/events", signed.stream, headers), { config: cfg, vars: { HMAC_SECRET: "s3cret" }, queue: new CaptureQueue() });
    expect(h.status).toBe(413);
    expect([signed.pulled(), signed.cancelled()]).toEqual([signed.chunks, false]);
    const corrupt = countingStream(text, 512);
    const c = await ingest(corrupt.stream, { "content-type": "application/x-ndjson", "content-encoding": "gzip" });
    expect(c.status).toBe(400);
    expect([corrupt.pulled(), corrupt.cancelled()]).toEqual([corrupt.chunks, false]);
  });

  it("cancels the body once the drain passes its byte bound", async () => {
    const body = countingStream(new Uint8Array(100 * 1024), 4096);
    const reader = body.stream.getReader();
    await release(reader, { bytes: 10_000, ms: 60_000 });
    expect(body.cancelled()).toBe(true);
    expect(body.pulled()).toBe(3); // 12 288 bytes read: past 10 000, then cancelled
  });

  it("cancels the body once the drain passes its time bound (a sender that stalls)", async () => {
    let cancelled = false;
    let pulls = 0;
    const stalled = new ReadableStream<Uint8Array>(
      {
        pull(c) {
          if (pulls++ === 0) c.enqueue(new Uint8Array(10));
          return new Promise<void>(() => undefined); // never sends more
        },
        cancel() {
          cancelled = true;
        },
      },
      { highWaterMark: 0 },
    );
    await release(stalled.getReader(), { bytes: DEV_DRAIN.bytes, ms: 50 });
    expect(cancelled).toBe(true);
  });

  it("cancels at once without a drain (production)", async () => {
    const body = countingStream(new Uint8Array(100 * 1024), 4096);
    await release(body.stream.getReader());
    expect([body.pulled(), body.cancelled()]).toEqual([0, true]);
  });
});

describe("records per request, record size, nesting depth", () => {
  it("answers 413 when a body has more records than maxRecords (NDJSON lines, array elements, container items)", async () => {
    const cfg = { limits: { maxRecords: 5 } };
    const lines = await ingest(tetragon.slice(0, 6).join("\n"), { "content-type": "application/x-ndjson" }, cfg);
    expect(lines.status).toBe(413);
    expect(lines.body.errors[0]!.reason).toMatch(/more than limits.maxRecords \(5\)/);
    expect(lines.queue.count()).toBe(0);
    const arr = await ingest(`[${falco.slice(0, 6).join(",")}]`, undefined, cfg);
    expect(arr.status).toBe(413);
    const record = (JSON.parse(fixture("cloudtrail/stratus__persistence.iam-backdoor-role.json")) as unknown[])[0];
    const trail = await ingest(JSON.stringify({ Records: Array.from({ length: 6 }, () => record) }), undefined, cfg);
    expect(trail.status).toBe(413);
    expect(trail.queue.count()).toBe(0);
    const exact = await ingest(tetragon.slice(0, 5).join("\n"), { "content-type": "application/x-ndjson" }, cfg);
    expect(exact.body).toEqual({ accepted: 5, rejected: 0, errors: [] });
  });

  it("counts records inside NDJSON container lines before queueing anything: a maxRecords 413 means nothing was queued", async () => {
    // 210 Falco lines (more than one queue window of 200 events) then an EventList line of 50 items: 260 records
    const audit = linesOf("k8s-audit").slice(0, 1).map((l) => JSON.parse(l) as Record<string, unknown>)[0]!;
    const list = JSON.stringify({ kind: "EventList", apiVersion: "audit.k8s.io/v1", items: Array.from({ length: 50 }, () => audit) });
    const lines = [...Array.from({ length: 210 }, (_, i) => falco[i % falco.length]!), list];
    const r = await ingest(lines.join("\n"), { "content-type": "application/x-ndjson" }, { limits: { maxRecords: 250 } });
    expect(r.status).toBe(413);
    expect(r.body).toEqual({ accepted: 0, rejected: 0, errors: [{ index: -1, path: "(body)", reason: "260 records, more than limits.maxRecords (250) in one request (nothing was queued): send smaller batches" }] });
    expect(r.queue.count()).toBe(0);
    expect(r.queue.calls).toBe(0);
    // at the limit exactly: all accepted
    const ok = await ingest(lines.join("\n"), { "content-type": "application/x-ndjson" }, { limits: { maxRecords: 260 } });
    expect(ok.status).toBe(202);
    expect(ok.body.accepted + ok.body.rejected).toBe(260);
    expect(ok.queue.count()).toBe(ok.body.accepted);
  });

  it("rejects a record larger than maxRecordBytes and keeps the others (NDJSON line, array element, Falco text line)", async () => {
    const big = JSON.parse(falco[0]!) as { output: string };
    big.output = "x".repeat(5000);
    const cfg = { limits: { maxRecordBytes: 4000 } };
    const nd = await ingest([falco[1], JSON.stringify(big), falco[2]].join("\n"), { "content-type": "application/x-ndjson" }, cfg);
    expect(nd.status).toBe(202);
    expect(nd.body.accepted).toBe(2);
    expect(nd.body.errors).toEqual([{ index: 1, path: "line 2", reason: expect.stringMatching(/^record is \d+ bytes, more than limits.maxRecordBytes \(4000\)$/) as unknown as string }]);
    const arr = await ingest(`[${falco[1]},${JSON.stringify(big)}]`, undefined, cfg);
    expect(arr.body.accepted).toBe(1);
    expect(arr.body.errors[0]).toMatchObject({ index: 1, path: "[1]", source: "falco" });
    expect(arr.body.errors[0]!.reason).toMatch(/maxRecordBytes/);
    const txt = await ingest(`12:00:00.0: Warning ok\n12:00:00.0: Warning ${"y".repeat(5000)}\n`, { "content-type": "text/plain" }, cfg);
    expect(txt.body.accepted).toBe(1);
    expect(txt.body.errors[0]).toMatchObject({ index: 1, path: "line 2" });
  });

  it("a container line over maxRecordBytes (a CloudTrail file per NDJSON line, as Vector reads them from S3) is unwrapped: each record is measured on its own", async () => {
    const records = JSON.parse(fixture("cloudtrail/stratus__persistence.iam-backdoor-role.json")) as Record<string, unknown>[];
    const file = (recs: unknown[]) => JSON.stringify({ Records: recs });
    const many = Array.from({ length: Math.ceil(1_450_000 / file(records).length) }, () => records).flat();
    const line = file(many);
    expect(line.length).toBeGreaterThan(1_400_000); // over the default limits.maxRecordBytes (1 MB)
    const ndjson = { "content-type": "application/x-ndjson" };
    const ok = await ingest(`${falco[0]}\n${line}\n`, ndjson);
    expect(ok.status).toBe(202);
    expect(ok.body).toEqual({ accepted: 1 + many.length, rejected: 0, errors: [] });
    expect(ok.queue.count()).toBe(1 + many.length);
    // one record of the file over the limit: only that one is refused, with its path
    const big = { ...records[0], requestParameters: { blob: "x".repeat(1_000_000) } };
    const one = await ingest(`${falco[0]}\n${file([records[0], records[0], records[0], big, ...many])}\n`, ndjson);
    expect(one.status).toBe(202);
    expect(one.body).toMatchObject({ accepted: 1 + 4 + many.length - 1, rejected: 1 });
    expect(one.body.errors).toEqual([{ index: 4, path: "line 2.Records[3]", source: "cloudtrail", reason: expect.stringMatching(/limits\.maxRecordBytes/) as unknown as string }]);
    // a line over the limit that is no container: refused whole, as before
    const plain = await ingest(`${falco[0]}\n${JSON.stringify(big)}\n`, ndjson);
    expect(plain.body.errors).toEqual([{ index: 1, path: "line 2", reason: expect.stringMatching(/^record is \d+ bytes, more than limits.maxRecordBytes \(1000000\)$/) as unknown as string }]);
    // maxRecords counts the records inside the line before anything is queued
    const count = await ingest(`${falco[0]}\n${line}\n`, ndjson, { limits: { maxRecords: many.length } });
    expect(count.status).toBe(413);
    expect(count.body.errors[0]!.reason).toBe(`${many.length + 1} records, more than limits.maxRecords (${many.length}) in one request (nothing was queued): send smaller batches`);
    expect(count.queue.count()).toBe(0);
  });

  it("a maxRecords 413 for a container line over maxRecordBytes: the line is parsed once, for the count, and nothing is queued", async () => {
    const rec = JSON.parse(fixture("cloudtrail/record__start-logging__aws-docs.json")) as Record<string, unknown>;
    const maxRecordBytes = 3 * JSON.stringify(rec).length;
    const line = JSON.stringify({ Records: Array.from({ length: 12 }, () => rec) });
    expect(line.length).toBeGreaterThan(maxRecordBytes);
    const body = `${falco[0]}\n${line}\n`;
    const parse = vi.spyOn(JSON, "parse");
    try {
      const r = await ingest(body, { "content-type": "application/x-ndjson" }, { limits: { maxRecordBytes, maxRecords: 12 } });
      expect(r.status).toBe(413);
      expect(r.body).toEqual({ accepted: 0, rejected: 0, errors: [{ index: -1, path: "(body)", reason: "13 records, more than limits.maxRecords (12) in one request (nothing was queued): send smaller batches" }] });
      expect(r.queue.calls).toBe(0);
      expect(parse.mock.calls.filter(([t]) => typeof t === "string" && t.length >= line.length)).toHaveLength(1);
      // within the limit: counted and unwrapped from that one parse
      parse.mockClear();
      const ok = await ingest(body, { "content-type": "application/x-ndjson" }, { limits: { maxRecordBytes, maxRecords: 13 } });
      expect(ok.body).toEqual({ accepted: 13, rejected: 0, errors: [] });
      expect(parse.mock.calls.filter(([t]) => typeof t === "string" && t.length >= line.length)).toHaveLength(1);
    } finally {
      parse.mockRestore();
    }
  });

  it("rejects a record nested deeper than maxDepth (no stack overflow even 100k levels deep) and keeps the others", async () => {
    const deep = JSON.parse(falco[0]!) as { output_fields: Record<string, unknown> };
    let v: unknown = "leaf";
    for (let i = 0; i < 70; i++) v = { n: v };
    deep.output_fields["x.deep"] = v as string;
    const r = await ingest([falco[1], JSON.stringify(deep)].join("\n"), { "content-type": "application/x-ndjson" });
    expect(r.status).toBe(202);
    expect(r.body.errors).toEqual([{ index: 1, path: "line 2", source: "falco", reason: "record is nested more than limits.maxDepth (64) levels deep" }]);
    const abyss = "[".repeat(100_000) + "]".repeat(100_000);
    const a = await ingest(abyss);
    expect(a.status).toBe(400);
    const obj = '{"a":'.repeat(100_000) + "1" + "}".repeat(100_000);
    const o = await ingest(obj, undefined, { limits: { maxRecordBytes: 10_000_000 } });
    expect(o.status).toBe(400);
    expect(o.body.errors[0]!.reason).toMatch(/unrecognised record|maxDepth/);
  });

  it("answers 413 when nothing was accepted and every record was refused for its size or depth; 400 when another reason is among them", async () => {
    const big = JSON.parse(falco[0]!) as { output: string };
    big.output = "x".repeat(5000);
    const cfg = { limits: { maxRecordBytes: 4000 } };
    const sizeReason = expect.stringMatching(/^record is \d+ bytes, more than limits.maxRecordBytes \(4000\)$/) as unknown as string;
    // a single record, as the whole body (Falco http_output) and as an NDJSON line
    const one = await ingest(JSON.stringify(big), undefined, cfg);
    expect(one.status).toBe(413);
    expect(one.body).toMatchObject({ accepted: 0, rejected: 1 });
    expect(one.body.errors[0]!.reason).toMatch(/maxRecordBytes/);
    const line = await ingest(JSON.stringify(big), { "content-type": "application/x-ndjson" }, cfg);
    expect(line.status).toBe(413);
    expect(line.body.errors).toEqual([{ index: 0, path: "line 1", reason: sizeReason }]);
    // too large and too deep together
    const deep = JSON.parse(falco[1]!) as { output_fields: Record<string, unknown> };
    let v: unknown = "leaf";
    for (let i = 0; i < 70; i++) v = { n: v };
    deep.output_fields["x.deep"] = v as string;
    const both = await ingest([JSON.stringify(big), JSON.stringify(deep)].join("\n"), { "content-type": "application/x-ndjson" }, cfg);
    expect(both.status).toBe(413);
    expect(both.body.errors.map((e) => e.reason)).toEqual([sizeReason, "record is nested more than limits.maxDepth (64) levels deep"]);
    expect(both.queue.count()).toBe(0);
    // one of them is bad for another reason: 400; one good record: 202
    const mixed = await ingest([JSON.stringify(big), "not json"].join("\n"), { "content-type": "application/x-ndjson" }, cfg);
    expect(mixed.status).toBe(400);
    const kept = await ingest([JSON.stringify(big), falco[2]].join("\n"), { "content-type": "application/x-ndjson" }, cfg);
    expect(kept.status).toBe(202);
    expect(kept.body).toMatchObject({ accepted: 1, rejected: 1 });
  });

  it("lists at most maxReportedErrors errors but counts (and quarantines) them all", async () => {
    const body = Array.from({ length: 30 }, (_, i) => `{"bad":${i}}`).join("\n") + "\n" + falco[0];
    const r = await ingest(body, { "content-type": "application/x-ndjson" }, { limits: { maxReportedErrors: 10 } });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ accepted: 1, rejected: 30, errors_omitted: 20 });
    expect(r.body.errors).toHaveLength(10);
  });

  it("the answer stays small when records carry huge key names: reasons quote at most ~200 chars of them, at most 1,000 chars each", async () => {
    const id = `longkeys-${crypto.randomUUID()}`;
    const key = (c: string) => c + "k".repeat(1000);
    const unknown = JSON.stringify(Object.fromEntries(["a", "b", "c", "d", "e"].map((c, i) => [key(c), i])));
    // two Tetragon event keys: this reason (detect.ts) quotes each at 40 characters
    const ambiguous = JSON.stringify({ process_exec: { process: { pid: 1 } }, [`process_${"x".repeat(3000)}`]: {}, [`process_${"y".repeat(3000)}`]: {} });
    const body = [ambiguous, ...Array.from({ length: 1200 }, () => unknown)].join("\n") + "\n";
    expect(body.length).toBeGreaterThan(6_000_000);
    const r = await call(post("/v1/events", body, { "content-type": "application/x-ndjson", "x-request-id": id }), { queue: new CaptureQueue() });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ accepted: 0, rejected: 1201, errors_omitted: 201 });
    expect(r.body.errors).toHaveLength(1000);
    expect(JSON.stringify(r.body).length).toBeLessThan(500_000); // before: ~5.2 MB
    expect(r.body.errors[1]!.reason).toMatch(/^unrecognised record: .*\(keys: ak{39}…\(\+961 chars\), bk{39}…\(\+961 chars\), ck{39}/);
    expect(r.body.errors[0]!.reason).toMatch(/^ambiguous Tetragon record: 3 event keys \(process_exec, process_x+…\(\+\d+ chars\), process_y+…\(\+\d+ chars\)\); a Tetragon export line carries exactly one process_\* event$/);
    expect(r.body.errors[0]!.reason.length).toBeLessThan(300);
    // the quarantine keeps every record whole (the reason is already short at its source)
    const found = await quarantined(env.ARCHIVE, id);
    expect(found.map((f) => f.part)).toContain("0");
    const q = JSON.parse(await (await env.ARCHIVE.get(found.find((f) => f.part === "0")!.key))!.text()) as { reason: string; raw: string };
    expect(q.reason).toBe(r.body.errors[0]!.reason);
    expect(q.raw).toBe(ambiguous);
  });
});

describe("malformed bodies", () => {
  it("answers 400 for an empty body", async () => {
    for (const body of ["", "  \n\r\n "]) {
      const r = await ingest(body);
      expect(r.status).toBe(400);
      expect(r.body.errors[0]!.reason).toMatch(/empty body/);
    }
    // a well-formed body that holds only empty arrays or containers (an empty CloudTrail log file, an empty
    // EventList): not an error, 200 with nothing queued and the empty containers listed
    const cases: [string, string[], Record<string, string>?][] = [
      ["[]", []],
      ['{"Records":[]}', ["Records"]],
      ['{"kind":"EventList","items":[]}', ["items"]],
      ["[]\n[]\n", ["line 1", "line 2"], { "content-type": "application/x-ndjson" }],
    ];
    for (const [body, empty, headers] of cases) {
      const r = await ingest(body, headers);
      expect(r.status, body).toBe(200);
      expect(r.body, body).toEqual({ accepted: 0, rejected: 0, errors: [], ...(empty.length ? { empty } : {}) });
      expect(r.queue.count()).toBe(0);
    }
  });

  it("answers 400 for invalid UTF-8, naming it", async () => {
    const bytes = new TextEncoder().encode(falco[0]!);
    const bad = new Uint8Array([...bytes.slice(0, 40), 0xff, 0xfe, ...bytes.slice(40)]);
    const r = await ingest(bad);
    expect(r.status).toBe(400);
    expect(r.body.errors[0]!.reason).toMatch(/not valid UTF-8/);
    const overlong = await ingest(new Uint8Array([0x7b, 0xc0, 0xaf, 0x7d]));
    expect(overlong.status).toBe(400);
  });

  it("answers 400 for garbage bytes, whatever the content type, and for a corrupt gzip stream", async () => {
    const garbage = new Uint8Array(4096);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) % 251;
    for (const ct of ["application/json", "application/x-ndjson", "text/plain", ""]) {
      const r = await ingest(garbage, ct ? { "content-type": ct } : {});
      expect(r.status, ct).toBe(400);
    }
    const ascii = await ingest("this is not json at all\n{nor this}\n");
    expect(ascii.status).toBe(400);
    expect(ascii.body.rejected).toBe(2);
    const gz = await gzip(falco.join("\n"));
    gz[20] = gz[20]! ^ 0xff;
    gz[21] = gz[21]! ^ 0xff;
    const corrupt = await ingest(gz, { "content-type": "application/x-ndjson", "content-encoding": "gzip" });
    expect(corrupt.status).toBe(400);
    expect(corrupt.body.errors[0]!.reason).toMatch(/gzip body could not be decompressed|not valid UTF-8|invalid JSON/);
    const notGzip = await ingest(falco[0]!, { "content-type": "application/json", "content-encoding": "gzip" });
    expect(notGzip.status).toBe(400);
    expect(notGzip.body.errors[0]!.reason).toMatch(/gzip body could not be decompressed/);
  });

  it("a body that ends mid-record: the complete lines are accepted, the cut one reported", async () => {
    const full = tetragon.slice(0, 4).join("\n");
    const cut = full.slice(0, full.length - 40);
    const r = await ingest(cut, { "content-type": "application/x-ndjson" });
    expect(r.status).toBe(202);
    expect(r.body.accepted).toBe(3);
    expect(r.body.errors).toEqual([{ index: 3, path: "line 4", reason: expect.stringMatching(/^invalid JSON/) as unknown as string }]);
    // cut inside a multi-byte character, and a gzip stream cut short
    const withUtf8 = `${falco[0]}\n{"rule":"r","output":"café`;
    const bytes = new TextEncoder().encode(withUtf8);
    const mid = await ingest(bytes.slice(0, bytes.length - 1), { "content-type": "application/x-ndjson" });
    expect(mid.status).toBe(202);
    expect(mid.body).toMatchObject({ accepted: 1, rejected: 1 });
  });

  it("a gzip NDJSON body cut mid-stream: the complete lines decompressed before the cut are accepted, the cut tail is one error naming the truncation", async () => {
    const lines = [...tetragon.slice(0, 30), ...falco];
    const gz = await gzip(lines.join("\n") + "\n");
    const truncated = /^body ends mid-record: the gzip stream is truncated \(the input ends inside (a gzip header|the deflate data)\) after \d+ decompressed bytes/;
    for (const frac of [0.25, 0.5, 0.8]) {
      const cut = gz.slice(0, Math.floor(gz.length * frac));
      // what an inflater hands out from these bytes: the complete lines in it are the ones to keep
      let out = "";
      const inflater = new Gunzip((d) => void (out += new TextDecoder().decode(d, { stream: true })));
      inflater.push(cut, false);
      const complete = out.split("\n").length - 1;
      const r = await ingest(cut, { "content-type": "application/x-ndjson", "content-encoding": "gzip" });
      expect(complete, String(frac)).toBeGreaterThan(0);
      expect(r.status, String(frac)).toBe(202);
      expect(r.body.accepted, String(frac)).toBe(complete);
      expect(r.body.errors).toEqual([{ index: complete, path: `line ${complete + 1}`, reason: expect.stringMatching(truncated) as unknown as string }]);
      expect(r.queue.count()).toBe(complete);
    }
    // cut inside the gzip header: nothing complete, 400 with the truncation as the only error
    const head = await ingest(gz.slice(0, 15), { "content-type": "application/x-ndjson", "content-encoding": "gzip" });
    expect(head.status).toBe(400);
    expect(head.body.errors).toEqual([{ index: 0, path: "line 1", reason: expect.stringMatching(truncated) as unknown as string }]);
    // one JSON document cut short stays a 400 for the body
    const doc = await gzip(`[${falco.join(",")}]`);
    const docCut = await ingest(doc.slice(0, Math.floor(doc.length / 2)), { "content-type": "application/json", "content-encoding": "gzip" });
    expect(docCut.status).toBe(400);
    expect(docCut.body.errors[0]!.reason).toMatch(/^gzip body could not be decompressed: the input ends inside the deflate data/);
  });

  it("a gzip or zlib NDJSON body whose trailer is cut off or wrong is not taken as whole: every line complete, the cut still reported", async () => {
    const lines = tetragon.slice(0, 10);
    const gz = await gzip(lines.join("\n") + "\n");
    const z = await gzip(lines.join("\n") + "\n", "deflate");
    for (const [name, packed, enc, trailer] of [["gzip", gz, "gzip", 8], ["zlib", z, "deflate", 4]] as const) {
      for (const drop of [1, trailer]) {
        // every record is in the bytes sent: only the checksum is missing (before: a clean 202)
        const r = await ingest(packed.slice(0, packed.length - drop), { "content-type": "application/x-ndjson", "content-encoding": enc });
        expect(r.status, `${name} -${drop}`).toBe(202);
        expect(r.body.accepted).toBe(10);
        expect(r.body.errors, `${name} -${drop}`).toEqual([{ index: 10, path: "line 11", reason: expect.stringMatching(new RegExp(`^body ends mid-record: the ${enc} stream is truncated \\(the input ends inside the ${name} trailer\\)`)) as unknown as string }]);
      }
      const wrong = packed.slice();
      wrong[wrong.length - trailer] = wrong[wrong.length - trailer]! ^ 0x01;
      const r = await ingest(wrong, { "content-type": "application/x-ndjson", "content-encoding": enc });
      expect(r.status, name).toBe(400);
      expect(r.body.accepted).toBe(0);
      expect(r.body.errors[0]!.reason).toMatch(name === "gzip" ? /^gzip body could not be decompressed: gzip CRC-32 mismatch/ : /^deflate body could not be decompressed: zlib Adler-32 mismatch/);
    }
  });

  it("NDJSON with an invalid UTF-8 byte in one line: that line is rejected and quarantined as base64, the others kept", async () => {
    const id = `utf8-${crypto.randomUUID()}`;
    const enc = new TextEncoder();
    const bad = enc.encode(falco[1]!);
    bad[30] = 0xff;
    const body = new Uint8Array([...enc.encode(falco[0]!), 10, ...bad, 10, ...enc.encode(falco[2]!), 10]);
    const r = await call(post("/v1/events", body, { "content-type": "application/x-ndjson", "x-request-id": id }), { queue: new CaptureQueue() });
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ accepted: 2, rejected: 1, errors: [{ index: 1, path: "line 2", reason: `line is not valid UTF-8 (${bad.length} bytes; kept in the quarantine as base64)` }] });
    const found = await quarantined(env.ARCHIVE, id);
    expect(found.map((f) => f.part)).toEqual(["1"]);
    const q = JSON.parse(await (await env.ARCHIVE.get(found[0]!.key))!.text()) as { raw_base64: string; raw?: string };
    expect(q.raw).toBeUndefined();
    expect(Uint8Array.from(atob(q.raw_base64), (ch) => ch.charCodeAt(0))).toEqual(bad);
    // Falco text lines too; a single JSON document stays a 400 for the body
    const txt = await ingest(new Uint8Array([...enc.encode("12:00:00.0: Warning ok"), 10, 0x31, 0xc0, 0xaf, 10]), { "content-type": "text/plain" });
    expect(txt.status).toBe(202);
    expect(txt.body).toMatchObject({ accepted: 1, rejected: 1, errors: [{ index: 1, path: "line 2" }] });
    const doc = await ingest(bad);
    expect(doc.status).toBe(400);
    expect(doc.body.errors[0]!.reason).toMatch(/not valid UTF-8/);
  });

  it("a pretty-printed record cut short is one error for the body", async () => {
    const text = fixture("cloudtrail/record__start-logging__aws-docs.json");
    const r = await ingest(text.slice(0, text.length / 2));
    expect(r.status).toBe(400);
    expect(r.body.errors).toEqual([{ index: 0, path: "(body)", reason: expect.stringMatching(/^invalid JSON/) as unknown as string }]);
  });
});

describe("quarantine", () => {
  it("writes each rejected record to R2 with its reason before answering; 400 when nothing was accepted", async () => {
    const id = `q-test-${crypto.randomUUID()}`;
    const lines = ['{"hello":"world"}', "not json", falco[0]!, '{"rule":"r","output":"o","priority":"Warning","time":"nope","output_fields":7}'];
    const req = post("/v1/events", lines.join("\n"), { "content-type": "application/x-ndjson", "cf-ray": id });
    const res = await call(req, { queue: new CaptureQueue() });
    expect(res.status).toBe(202);
    const found = await quarantined(env.ARCHIVE, id);
    const rejectedIdx = res.body.errors.map((e) => e.index);
    expect(found.map((f) => f.part).sort()).toEqual(rejectedIdx.map(String).sort());
    expect(new Set(found.map((f) => f.uniq)).size).toBe(1);
    const at = (part: string) => found.find((f) => f.part === part)!.key;
    const first = JSON.parse(await (await env.ARCHIVE.get(at("0")))!.text()) as Record<string, unknown>;
    expect(first).toMatchObject({ index: 0, path: "line 1", tenant: "dev", request_id: id, route: "/v1/events", raw: '{"hello":"world"}' });
    expect(first.reason).toMatch(/unrecognised record/);
    const second = JSON.parse(await (await env.ARCHIVE.get(at("1")))!.text()) as Record<string, unknown>;
    expect(second).toMatchObject({ raw: "not json" });
    expect(second.reason).toMatch(/invalid JSON/);

    const allBad = await call(post("/v1/events", '{"a":1}\n{"b":2}', { "content-type": "application/x-ndjson", "cf-ray": `${id}-all` }), { queue: new CaptureQueue() });
    expect(allBad.status).toBe(400);
    expect(allBad.body).toMatchObject({ accepted: 0, rejected: 2 });
    expect(await quarantined(env.ARCHIVE, `${id}-all`)).toHaveLength(2);
  });

  it("records inside containers are quarantined as parsed JSON; past 25 a request's rejects share one NDJSON object", async () => {
    const id = `q-many-${crypto.randomUUID()}`;
    const items = Array.from({ length: 40 }, (_, i) => ({ notAnAuditEvent: i }));
    const res = await call(post("/v1/events", JSON.stringify({ kind: "EventList", items }), { "content-type": "application/json", "cf-ray": id }), { queue: new CaptureQueue() });
    expect(res.status).toBe(400);
    expect(res.body.rejected).toBe(40);
    expect(res.body.errors[3]).toMatchObject({ index: 3, path: "items[3]" });
    const found = await quarantined(env.ARCHIVE, id);
    expect(found).toHaveLength(26);
    expect(found.at(-1)!.part).toBe("rest");
    const at = (part: string) => found.find((f) => f.part === part)!.key;
    const one = JSON.parse(await (await env.ARCHIVE.get(at("3")))!.text()) as Record<string, unknown>;
    expect(one.record).toEqual({ notAnAuditEvent: 3 });
    const rest = (await (await env.ARCHIVE.get(at("rest")))!.text()).trim().split("\n");
    expect(rest).toHaveLength(15);
    expect((JSON.parse(rest[0]!) as { index: number }).index).toBe(25);
  });

  it("two requests with the same x-request-id both keep their quarantined records (keys carry a server-made part)", async () => {
    const id = `same-${crypto.randomUUID()}`;
    const send = (line: string) => call(post("/v1/events", `${falco[0]}\n${line}`, { "content-type": "application/x-ndjson", "x-request-id": id }), { queue: new CaptureQueue() });
    const a = await send('{"first":1}');
    const b = await send('{"second":2}');
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(a.headers.get("x-request-id")).toBe(id);
    const found = await quarantined(env.ARCHIVE, id);
    expect(found).toHaveLength(2);
    expect(found.map((f) => f.part)).toEqual(["1", "1"]);
    expect(found[0]!.uniq).not.toBe(found[1]!.uniq);
    const raws = await Promise.all(found.map(async (f) => (JSON.parse(await (await env.ARCHIVE.get(f.key))!.text()) as { raw: string; request_id: string })));
    expect(raws.map((r) => r.raw).sort()).toEqual(['{"first":1}', '{"second":2}']);
    expect(raws.map((r) => r.request_id)).toEqual([id, id]);
  });

  it("a quarantine write failure does not turn a 202 into a 5xx", async () => {
    const broken = { put: () => Promise.reject(new Error("R2 is down")), get: () => Promise.resolve(null) } as unknown as R2Bucket;
    const r = await call(post("/v1/events", `${falco[0]}\n{"x":1}`, { "content-type": "application/x-ndjson" }), { queue: new CaptureQueue(), archive: broken });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ accepted: 1, rejected: 1, quarantine_error: expect.stringMatching(/could not be written/) as unknown as string });
  });

  it("every record rejected and the quarantine write fails: 503 with Retry-After (the sender retries), nothing queued", async () => {
    let puts = 0;
    // the real R2 binding, with put failing
    const failing = new Proxy(env.ARCHIVE, {
      get(target, prop) {
        if (prop === "put") return () => { puts++; return Promise.reject(new Error("R2 put failed: internal error")); };
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const queue = new CaptureQueue();
    const r = await call(post("/v1/events", '{"x":1}\nnot json', { "content-type": "application/x-ndjson" }), { queue, archive: failing });
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).toBe("30");
    expect(r.body).toMatchObject({ accepted: 0, rejected: 2, quarantine_error: expect.stringMatching(/nothing was kept, send the request again/) as unknown as string });
    expect(r.body.errors.map((e) => e.index)).toEqual([0, 1]);
    expect(puts).toBe(2);
    expect(queue.count()).toBe(0);
    // the same request once R2 works again: 400, both quarantined
    const ok = await call(post("/v1/events", '{"x":1}\nnot json', { "content-type": "application/x-ndjson" }), { queue });
    expect(ok.status).toBe(400);
    expect(ok.body.quarantine_error).toBeUndefined();
  });
});
