// Shared helpers for the ingest worker tests: call the Worker with a custom config/env, capture what
// it puts on the queue, and build request bodies from the real fixtures.
import worker from "../../src/index";
import { env, createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import type { EventsMessage, Producer } from "../../src/deliver/enqueue";
import { queued } from "../support/queue-capture";
import type { IngestResponse } from "../../src/routes/ingest";
import { fixturesIn } from "../support/fixtures";

export type Body = IngestResponse & Record<string, unknown>;

/** A queue producer that records what it is given, optionally forwards to a real queue, and can fail on a given call. */
export class CaptureQueue implements Producer {
  messages: EventsMessage[] = [];
  calls = 0;
  constructor(
    private opts: { forward?: Queue; failOnCall?: number; error?: string } = {},
  ) {}
  async sendBatch(batch: Iterable<{ body: string | EventsMessage; contentType?: "json" | "v8" | "text" | "bytes" }>): Promise<void> {
    this.calls++;
    if (this.opts.failOnCall !== undefined && this.calls >= this.opts.failOnCall) throw new Error(this.opts.error ?? "Queue sendBatch failed: Too Many Requests");
    const list = [...batch];
    for (const m of list) {
      // what the real queue takes with contentType "text": the UTF-8 bytes of a string, within 128 KB
      if (m.contentType !== "text" || typeof m.body !== "string") throw new Error(`not a text message: ${m.contentType}`);
      const bytes = new TextEncoder().encode(m.body).byteLength;
      if (bytes > 128_000) throw new Error(`message too large: ${bytes} bytes`);
      this.messages.push(queued(m.body));
    }
    if (this.opts.forward) await this.opts.forward.sendBatch(list);
  }
  /** Every inline event (spilled ones are only referenced). */
  events(): Record<string, unknown>[] {
    return this.messages.flatMap((m) => (m.ndjson ? m.ndjson.split("\n").map((l) => JSON.parse(l) as Record<string, unknown>) : []));
  }
  count(): number {
    return this.messages.reduce((a, m) => a + m.count, 0);
  }
}

export interface CallOptions {
  config?: Record<string, unknown>;
  /** TRIBUTARY_DEV (default "true", as in `npm start`). */
  dev?: boolean;
  queue?: Producer;
  archive?: R2Bucket;
  vars?: Record<string, string>;
}

export interface Answer {
  status: number;
  headers: Headers;
  body: Body;
}

/** Sends a request straight to the Worker's fetch handler with its own env. */
export async function call(req: Request, o: CallOptions = {}): Promise<Answer> {
  const e = {
    ...env,
    TRIBUTARY_CONFIG: o.config ? JSON.stringify(o.config) : "",
    TRIBUTARY_DEV: o.dev === false ? "false" : "true",
    ...(o.queue ? { EVENTS: o.queue } : {}),
    ...(o.archive ? { ARCHIVE: o.archive } : {}),
    ...(o.vars ?? {}),
  } as unknown as Env;
  const ctx = createExecutionContext();
  const res = await worker.fetch(req, e, ctx);
  await waitOnExecutionContext(ctx);
  const text = await res.text();
  let body: Body;
  try {
    body = JSON.parse(text) as Body;
  } catch {
    body = { accepted: -1, rejected: -1, errors: [], text } as unknown as Body;
  }
  return { status: res.status, headers: res.headers, body };
}

export function post(path: string, body: BodyInit | null, headers: Record<string, string> = { "content-type": "application/json" }): Request {
  return new Request(`http://tributary${path}`, { method: "POST", body, headers });
}

/** Compact JSON lines of every record in a fixture folder (NDJSON files line by line, JSON files as one line). */
export function linesOf(dir: string, filter: (name: string) => boolean = () => true): string[] {
  const out: string[] = [];
  for (const f of fixturesIn(dir)) {
    if (!filter(f.name)) continue;
    if (f.name.endsWith(".ndjson")) out.push(...f.text.split("\n").filter((l) => l.trim() !== ""));
    else out.push(JSON.stringify(JSON.parse(f.text)));
  }
  return out;
}

export const productOf = (e: Record<string, unknown>): string => ((e.metadata as { product: { name: string } }).product.name);

export async function gzip(data: string | Uint8Array, format: "gzip" | "deflate" | "deflate-raw" = "gzip"): Promise<Uint8Array> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const s = new Blob([bytes]).stream().pipeThrough(new CompressionStream(format));
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/** Lists keys under a prefix in an R2 bucket (bounded). */
export async function keys(bucket: R2Bucket, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 50; page++) {
    const l = await bucket.list({ prefix, cursor });
    out.push(...l.objects.map((o) => o.key));
    if (!l.truncated) break;
    cursor = l.cursor;
  }
  return out;
}

/**
 * The quarantine objects of the requests with id `requestId` received today:
 * `quarantine/<day>/<requestId>-<uniq>-<index|rest>.(nd)json`, as [uniq, index or "rest", key], sorted by key.
 */
export async function quarantined(bucket: R2Bucket, requestId: string): Promise<{ uniq: string; part: string; key: string }[]> {
  const day = new Date().toISOString().slice(0, 10).replace(/-/g, "");
  const prefix = `quarantine/${day}/${requestId}-`;
  const out: { uniq: string; part: string; key: string }[] = [];
  for (const key of (await keys(bucket, prefix)).sort()) {
    const m = /^([0-9a-f]{12})-(\d+|rest)\.(?:nd)?json$/.exec(key.slice(prefix.length));
    if (m) out.push({ uniq: m[1]!, part: m[2]!, key });
  }
  return out;
}

/** The real ARCHIVE bucket, but every put under `prefix` (default the spool) fails as an R2 outage would. */
export function spoolFailing(prefix = "spool/", bucket: R2Bucket = env.ARCHIVE): R2Bucket {
  return new Proxy(bucket, {
    get(target, prop) {
      if (prop === "put") {
        return (key: string, ...rest: unknown[]) =>
          key.startsWith(prefix) ? Promise.reject(new Error("R2 put failed: 503 Service Unavailable")) : (target.put as (...a: unknown[]) => Promise<unknown>).call(target, key, ...rest);
      }
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
