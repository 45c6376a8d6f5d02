// Fake SIEM endpoints on 127.0.0.1 (node:http, port 0) that speak each protocol the way the real
// service does: they parse the body as it would, check credentials, enforce size limits, answer
// with its status codes and bodies, and store what they accepted. Each can be told to fail:
// `script` replies answer the next requests first (status, Retry-After, body), and per-protocol
// hooks fail single events/items. Also: the fixture events, and a bounded resend loop that drives
// a sink like the delivery layer does (encode -> send -> classify -> resend what must be retried).
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createHmac, timingSafeEqual } from "node:crypto";
import { gunzipSync, strFromU8 } from "fflate";
import { frame } from "../../src/routes/decode";
import { runPipeline } from "../../src/pipeline";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { unsentOutcomes, type Outcome, type SinkContext, type SinkDriver, type SinkRequest, type SinkResponse } from "../../src/sinks/types";
import { fixtures } from "./fixtures";
import { IndexMapping, parseIndexTemplate, templateFor, type IndexTemplate } from "./es-mapping";

// ---------------------------------------------------------------------------------------------
// generic server

export interface Received {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Body bytes as sent. */
  raw: Uint8Array;
  /** Body text after Content-Encoding: gzip was undone ("" when it could not be). */
  text: string;
  /** Content-Encoding: gzip could not be decoded. */
  badGzip: boolean;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  /** Text, or bytes (a binary protobuf answer). */
  body?: string | Uint8Array;
}

export interface FakeServer {
  url: string;
  /** Every request received, in order. */
  requests: Received[];
  /** Replies for the next requests, used (and removed) before the protocol handler runs. */
  script: Reply[];
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024 * 1024;

export async function listen(handle: (r: Received) => Reply): Promise<FakeServer> {
  const requests: Received[] = [];
  const script: Reply[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on("end", () => {
      const raw = new Uint8Array(Buffer.concat(chunks));
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      let text = "";
      let badGzip = false;
      if ((req.headers["content-encoding"] ?? "").toLowerCase() === "gzip") {
        try {
          text = strFromU8(gunzipSync(raw));
        } catch {
          badGzip = true;
        }
      } else text = strFromU8(raw);
      const r: Received = { method: req.method ?? "GET", path: url.pathname, query: url.searchParams, headers: req.headers, raw, text, badGzip };
      requests.push(r);
      let reply: Reply;
      try {
        reply = script.shift() ?? handle(r);
      } catch (e) {
        reply = { status: 500, body: `fake server error: ${(e as Error).message}` };
      }
      res.writeHead(reply.status, reply.headers ?? {});
      res.end(reply.body ?? "");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    script,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Reply => ({
  status,
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(body),
});
const text = (status: number, body: string): Reply => ({ status, headers: { "content-type": "text/plain" }, body });

export function header(r: Received, name: string): string | undefined {
  const v = r.headers[name];
  return Array.isArray(v) ? v.join(", ") : v;
}

function basicOk(r: Received, username: string, password: string): boolean {
  return header(r, "authorization") === `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}

// ---------------------------------------------------------------------------------------------
// Splunk HEC

export interface SplunkEnvelope {
  time?: number;
  host?: string;
  source?: string;
  sourcetype?: string;
  index?: string;
  fields?: Record<string, string>;
  event: Record<string, unknown>;
}

export interface SplunkServer extends FakeServer {
  /** Indexed events, with the request channel they came on. */
  indexed: { envelope: SplunkEnvelope; channel: string | undefined }[];
}

export interface SplunkOptions {
  token: string;
  /** limits.conf [http_input] max_content_length (bytes of the decoded body). */
  maxContentLength?: number;
  /** Treat this event as bad data (code 6, invalid-event-number). */
  invalid?: (envelope: SplunkEnvelope) => boolean;
}

/** Splits concatenated JSON objects ("{..}{..} {..}"); an object that does not parse ends the list. */
export function splitConcatenated(body: string): { values: unknown[]; badAt?: number } {
  const values: unknown[] = [];
  let i = 0;
  const n = body.length;
  for (;;) {
    while (i < n && /\s/.test(body[i]!)) i++;
    if (i >= n) return { values };
    if (body[i] !== "{") return { values, badAt: values.length };
    let depth = 0;
    let inString = false;
    let j = i;
    for (; j < n; j++) {
      const c = body[j]!;
      if (inString) {
        if (c === "\\") j++;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === "{" || c === "[") depth++;
      else if (c === "}" || c === "]") {
        depth--;
        if (depth === 0) break;
      }
    }
    if (j >= n) return { values, badAt: values.length };
    try {
      values.push(JSON.parse(body.slice(i, j + 1)));
    } catch {
      return { values, badAt: values.length };
    }
    i = j + 1;
  }
}

export async function startSplunkHec(opts: SplunkOptions): Promise<SplunkServer> {
  const indexed: SplunkServer["indexed"] = [];
  const s = await listen((r) => {
    if (r.method !== "POST") return json(405, { text: "Method not allowed", code: 404 });
    if (r.path !== "/services/collector/event" && r.path !== "/services/collector") return json(404, { text: "The requested URL was not found on this server.", code: 404 });
    const auth = header(r, "authorization");
    if (!auth) return json(401, { text: "Token is required", code: 2 });
    const m = /^Splunk (\S+)$/.exec(auth);
    if (!m) return json(401, { text: "Invalid authorization", code: 3 });
    if (m[1] !== opts.token) return json(403, { text: "Invalid token", code: 4 });
    if (r.badGzip) return json(400, { text: "Invalid data format", code: 6, "invalid-event-number": 0 });
    if (opts.maxContentLength !== undefined && Buffer.byteLength(r.text) > opts.maxContentLength) return json(413, { text: "Content too large", code: 413 });
    if (r.text.trim() === "") return json(400, { text: "No data", code: 5 });
    const { values, badAt } = splitConcatenated(r.text);
    const channel = header(r, "x-splunk-request-channel");
    // Splunk indexes events in order and stops at the first bad one.
    for (let k = 0; k < values.length; k++) {
      const v = values[k] as { event?: unknown };
      if (typeof v !== "object" || v === null || !("event" in v)) return json(400, { text: "Event field is required", code: 12, "invalid-event-number": k });
      if (v.event === "" || v.event === null) return json(400, { text: "Event field cannot be blank", code: 13, "invalid-event-number": k });
      if (opts.invalid?.(v as SplunkEnvelope)) return json(400, { text: "Invalid data format", code: 6, "invalid-event-number": k });
      indexed.push({ envelope: v as SplunkEnvelope, channel });
    }
    if (badAt !== undefined) return json(400, { text: "Invalid data format", code: 6, "invalid-event-number": badAt });
    return json(200, { text: "Success", code: 0 });
  });
  return Object.assign(s, { indexed });
}

// ---------------------------------------------------------------------------------------------
// Elasticsearch / OpenSearch _bulk

export interface ItemFailure {
  status: number;
  type: string;
  reason: string;
}

export interface EsServer extends FakeServer {
  /** Stored documents: index -> _id -> source. */
  indices: Map<string, Map<string, Record<string, unknown>>>;
  /** Index templates installed with PUT /_index_template/<name>. */
  templates: Map<string, IndexTemplate>;
  /** Each index's mapping (with `mapping: true`), made from its template when it was created. */
  mappings: Map<string, IndexMapping>;
  docs(): { index: string; id: string; source: Record<string, unknown> }[];
}

export interface EsOptions {
  apiKey?: string;
  basic?: { username: string; password: string };
  /** http.max_content_length (bytes of the decoded body). */
  maxContentLength?: number;
  /** Apply Elasticsearch's dynamic mapping per index (es-mapping.ts): conflicting documents fail. */
  mapping?: boolean;
  /** Fails one item (called for every create/index item before it is stored). */
  itemFailure?: (source: Record<string, unknown>, index: string, id: string) => ItemFailure | undefined;
}

const esError = (status: number, type: string, reason: string): Reply => json(status, { error: { root_cause: [{ type, reason }], type, reason }, status });

export async function startElasticsearch(opts: EsOptions = {}): Promise<EsServer> {
  const indices = new Map<string, Map<string, Record<string, unknown>>>();
  const templates = new Map<string, IndexTemplate>();
  const mappings = new Map<string, IndexMapping>();
  let autoId = 0;
  const s = await listen((r) => {
    const t = /^\/_index_template\/([^/]+)$/.exec(r.path);
    const m = /^(?:\/([^/_][^/]*))?\/_bulk$/.exec(r.path);
    if (!m && !t) return esError(404, "resource_not_found_exception", `no handler for ${r.path}`);
    if (r.method !== "POST" && r.method !== "PUT") return esError(405, "method_not_allowed", `Incorrect HTTP method for uri [${r.path}]`);
    if (opts.apiKey !== undefined || opts.basic) {
      const auth = header(r, "authorization");
      const ok = (opts.apiKey !== undefined && auth === `ApiKey ${opts.apiKey}`) || (opts.basic !== undefined && basicOk(r, opts.basic.username, opts.basic.password));
      if (!ok) return { ...esError(401, "security_exception", "unable to authenticate user for REST request [/_bulk]"), headers: { "www-authenticate": 'ApiKey, Basic realm="security"' } };
    }
    const ct = (header(r, "content-type") ?? "").split(";")[0]!.trim();
    if (ct !== "application/x-ndjson" && ct !== "application/json") return json(406, { error: `Content-Type header [${ct}] is not supported`, status: 406 });
    if (t || !m) {
      try {
        templates.set(t![1]!, parseIndexTemplate(t![1]!, JSON.parse(r.text)));
      } catch (e) {
        return esError(400, "x_content_parse_exception", (e as Error).message);
      }
      return json(200, { acknowledged: true });
    }
    if (r.badGzip) return esError(400, "parse_exception", "request body is not valid gzip");
    if (opts.maxContentLength !== undefined && Buffer.byteLength(r.text) > opts.maxContentLength) return { status: 413, body: "" };
    if (r.text === "") return esError(400, "action_request_validation_exception", "Validation Failed: 1: no requests added;");
    if (!r.text.endsWith("\n")) return esError(400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]");
    const lines = r.text.slice(0, -1).split("\n");
    const items: Record<string, unknown>[] = [];
    let errors = false;
    for (let k = 0; k < lines.length; k += 2) {
      let action: Record<string, { _index?: string; _id?: string }>;
      try {
        action = JSON.parse(lines[k]!) as typeof action;
      } catch {
        return esError(400, "x_content_parse_exception", `[1:1] Malformed action/metadata line [${k + 1}], expected START_OBJECT`);
      }
      const op = Object.keys(action)[0];
      if (op !== "create" && op !== "index") return esError(400, "illegal_argument_exception", `Malformed action/metadata line [${k + 1}], expected one of [create, delete, index, update] but found [${op}]`);
      const meta = action[op]!;
      const index = meta._index ?? m[1];
      if (!index) return esError(400, "action_request_validation_exception", "Validation Failed: 1: index is missing;");
      const id = meta._id ?? `auto-${++autoId}`;
      const line = lines[k + 1];
      if (line === undefined) return esError(400, "illegal_argument_exception", `The bulk request must be terminated by a newline [\\n]`);
      let source: Record<string, unknown>;
      try {
        source = JSON.parse(line) as Record<string, unknown>;
      } catch {
        errors = true;
        items.push({ [op]: { _index: index, _id: id, status: 400, error: { type: "document_parsing_exception", reason: "failed to parse" } } });
        continue;
      }
      let mapping = mappings.get(index);
      if (opts.mapping && !mapping) mappings.set(index, (mapping = new IndexMapping(templateFor(templates.values(), index))));
      const fail = opts.itemFailure?.(source, index, id) ?? (indices.get(index)?.has(id) ? undefined : mapping?.index(source, op));
      let docs = indices.get(index);
      if (fail) {
        errors = true;
        items.push({ [op]: { _index: index, _id: id, status: fail.status, error: { type: fail.type, reason: fail.reason, index } } });
      } else if (op === "create" && docs?.has(id)) {
        errors = true;
        items.push({
          create: { _index: index, _id: id, status: 409, error: { type: "version_conflict_engine_exception", reason: `[${id}]: version conflict, document already exists (current version [1])`, index } },
        });
      } else {
        if (!docs) indices.set(index, (docs = new Map()));
        docs.set(id, source);
        items.push({ [op]: { _index: index, _id: id, _version: 1, result: "created", status: 201 } });
      }
    }
    return json(200, { took: 1, errors, items });
  });
  const docs = (): ReturnType<EsServer["docs"]> => [...indices].flatMap(([index, m]) => [...m].map(([id, source]) => ({ index, id, source })));
  return Object.assign(s, { indices, docs, templates, mappings });
}

// ---------------------------------------------------------------------------------------------
// Datadog Logs intake v2

export interface DatadogServer extends FakeServer {
  logs: { entry: Record<string, unknown>; truncated: boolean }[];
  /** Entries answered 202 but not kept: a timestamp more than 18 h before the intake's clock. */
  dropped: Record<string, unknown>[];
}

/** `now`: the intake's clock (ms); with it, entries whose timestamp is over 18 h old are dropped. */
export async function startDatadog(opts: { apiKey: string; now?: () => number }): Promise<DatadogServer> {
  const logs: DatadogServer["logs"] = [];
  const dropped: DatadogServer["dropped"] = [];
  const err = (status: number, title: string, detail = title): Reply => json(status, { errors: [{ status: String(status), title, detail }] });
  const s = await listen((r) => {
    if (r.path !== "/api/v2/logs" || r.method !== "POST") return err(404, "Not Found");
    const key = header(r, "dd-api-key");
    if (!key) return err(401, "Unauthorized", "API key is missing");
    if (key !== opts.apiKey) return err(403, "Forbidden", "Forbidden");
    if (r.badGzip) return err(400, "Bad Request", "invalid gzip payload");
    if (Buffer.byteLength(r.text) > 5_000_000) return err(413, "Payload Too Large", "payload exceeds 5MB");
    let body: unknown;
    try {
      body = JSON.parse(r.text);
    } catch {
      return err(400, "Bad Request", "invalid JSON");
    }
    const entries = Array.isArray(body) ? body : [body];
    if (entries.length > 1000) return err(413, "Payload Too Large", "more than 1000 entries");
    for (const e of entries) {
      if (typeof e !== "object" || e === null) return err(400, "Bad Request", "log entries must be objects");
      const ts = (e as { timestamp?: unknown }).timestamp;
      if (opts.now && typeof ts === "number" && opts.now() - ts > 18 * 3_600_000) {
        dropped.push(e as Record<string, unknown>);
        continue;
      }
      const size = Buffer.byteLength(JSON.stringify(e));
      // Datadog keeps logs over 1 MB but truncates them
      logs.push({ entry: e as Record<string, unknown>, truncated: size > 1_000_000 });
    }
    return json(202, {});
  });
  return Object.assign(s, { logs, dropped });
}

// ---------------------------------------------------------------------------------------------
// Grafana Loki push (JSON)

export interface LokiEntry {
  tenant: string | undefined;
  labels: Record<string, string>;
  ts: string;
  line: string;
}

export interface LokiServer extends FakeServer {
  entries: LokiEntry[];
}

export interface LokiOptions {
  /** auth_enabled: X-Scope-OrgID required. */
  requireTenant?: boolean;
  basic?: { username: string; password: string };
  /** limits_config max_line_size (bytes). */
  maxLineSize?: number;
  /** Reject entries older than the newest one of their stream (unordered_writes: false). */
  orderedWrites?: boolean;
  /** An org (X-Scope-OrgID) that is unavailable: its pushes get this answer (a 503) and store nothing. */
  down?: (tenant: string | undefined) => Reply | undefined;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export async function startLoki(opts: LokiOptions = {}): Promise<LokiServer> {
  const entries: LokiEntry[] = [];
  const newest = new Map<string, bigint>();
  const maxLine = opts.maxLineSize ?? 256_000;
  const s = await listen((r) => {
    if (r.path !== "/loki/api/v1/push" || r.method !== "POST") return text(404, "404 page not found\n");
    const tenant = header(r, "x-scope-orgid");
    if (opts.requireTenant && !tenant) return text(401, "no org id\n");
    const unavailable = opts.down?.(tenant);
    if (unavailable) return unavailable;
    if (opts.basic && !basicOk(r, opts.basic.username, opts.basic.password)) return text(401, "unauthorized\n");
    const ct = (header(r, "content-type") ?? "").split(";")[0]!.trim();
    if (ct !== "application/json") return text(400, "snappy: corrupt input\n"); // anything else is read as protobuf
    if (r.badGzip) return text(400, "gzip: invalid header\n");
    let body: { streams?: { stream?: Record<string, unknown>; values?: unknown[] }[] };
    try {
      body = JSON.parse(r.text) as typeof body;
    } catch (e) {
      return text(400, `loghttp.PushRequest.Streams: ${(e as Error).message}\n`);
    }
    if (!Array.isArray(body.streams)) return text(400, "streams: expected an array\n");
    const errors: string[] = [];
    for (const st of body.streams) {
      const labels = st.stream ?? {};
      const names = Object.keys(labels);
      if (names.length === 0) return text(400, "error at least one label pair is required per stream\n");
      for (const n of names) if (!LABEL_NAME.test(n) || typeof labels[n] !== "string") return text(400, `error parsing labels: invalid label ${n}\n`);
      const key = `${tenant ?? ""}|${JSON.stringify(Object.fromEntries(names.sort().map((n) => [n, labels[n]])))}`;
      const shown = `{${names.map((n) => `${n}="${String(labels[n])}"`).join(", ")}}`;
      for (const v of st.values ?? []) {
        if (!Array.isArray(v) || typeof v[0] !== "string" || !/^\d+$/.test(v[0]) || typeof v[1] !== "string") return text(400, "values: expected [\"<unix ns>\", \"<line>\"]\n");
        const [ts, line] = v as [string, string];
        const len = Buffer.byteLength(line);
        if (len > maxLine) {
          errors.push(`Max entry size '${maxLine}' bytes exceeded for stream '${shown}' while adding an entry with length '${len}' bytes`);
          continue;
        }
        const t = BigInt(ts);
        const last = newest.get(key);
        if (opts.orderedWrites && last !== undefined && t < last) {
          errors.push(`entry with timestamp ${ts} ignored, reason: 'entry out of order' for stream: ${shown}`);
          continue;
        }
        if (last === undefined || t > last) newest.set(key, t);
        entries.push({ tenant, labels: labels as Record<string, string>, ts, line });
      }
    }
    // Loki keeps the valid entries and answers 400 for the request when any entry failed
    if (errors.length) return text(400, `${errors.join("\n")}\n`);
    return { status: 204 };
  });
  return Object.assign(s, { entries });
}

// ---------------------------------------------------------------------------------------------
// Standard Webhooks receiver

export interface WebhookServer extends FakeServer {
  deliveries: { id: string; timestamp: number; payload: { type: string; timestamp: string; data: { events: Record<string, unknown>[] } } }[];
  /** Deliveries whose webhook-id was already processed (acknowledged, not stored again). */
  duplicates: number;
}

export interface WebhookOptions {
  /** "whsec_" + base64. */
  secret: string;
  /** The receiver's clock in unix seconds (tests pass the ctx.now they sign with). */
  now: () => number;
  toleranceSeconds?: number;
}

/** Verifies a Standard Webhooks signature with node:crypto (independent of the driver's WebCrypto code). */
export function verifyStandardWebhook(secret: string, id: string, timestamp: string, body: string, signatureHeader: string): boolean {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest();
  for (const sig of signatureHeader.split(" ")) {
    const [version, value] = sig.split(",");
    if (version !== "v1" || !value) continue;
    const got = Buffer.from(value, "base64");
    if (got.length === expected.length && timingSafeEqual(got, expected)) return true;
  }
  return false;
}

export async function startWebhook(opts: WebhookOptions): Promise<WebhookServer> {
  const deliveries: WebhookServer["deliveries"] = [];
  const seen = new Set<string>();
  const state = { duplicates: 0 };
  const s = await listen((r) => {
    if (r.method !== "POST") return text(405, "method not allowed");
    const id = header(r, "webhook-id");
    const ts = header(r, "webhook-timestamp");
    const sig = header(r, "webhook-signature");
    if (!id || !ts || !sig) return text(400, "missing webhook-id, webhook-timestamp or webhook-signature");
    if (!/^\d+$/.test(ts) || Math.abs(opts.now() - Number(ts)) > (opts.toleranceSeconds ?? 300)) return text(401, "timestamp outside the tolerance window");
    if (!verifyStandardWebhook(opts.secret, id, ts, r.text, sig)) return text(401, "invalid signature");
    if (!(header(r, "content-type") ?? "").startsWith("application/json")) return text(415, "expected application/json");
    if (seen.has(id)) {
      state.duplicates++;
      return text(200, "duplicate");
    }
    let payload: WebhookServer["deliveries"][number]["payload"];
    try {
      payload = JSON.parse(r.text) as typeof payload;
    } catch {
      return text(400, "invalid JSON");
    }
    seen.add(id);
    deliveries.push({ id, timestamp: Number(ts), payload });
    return { status: 204 };
  });
  Object.defineProperty(s, "duplicates", { get: () => state.duplicates });
  return Object.assign(s as FakeServer & { duplicates: number }, { deliveries });
}

// ---------------------------------------------------------------------------------------------
// Slack incoming webhook

export interface SlackServer extends FakeServer {
  /** The webhook URL (with its secret path). */
  hookUrl: string;
  messages: { text?: string; blocks?: Record<string, unknown>[] }[];
}

export async function startSlack(hookPath = "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"): Promise<SlackServer> {
  const messages: SlackServer["messages"] = [];
  const s = await listen((r) => {
    if (r.method !== "POST") return text(405, "invalid_method");
    if (!r.path.startsWith("/services/")) return text(404, "no_service");
    if (r.path !== hookPath) return text(403, "invalid_token");
    let msg: SlackServer["messages"][number];
    try {
      msg = JSON.parse(r.text) as typeof msg;
    } catch {
      return text(400, "invalid_payload");
    }
    if (typeof msg !== "object" || msg === null) return text(400, "invalid_payload");
    if (!msg.text && !msg.blocks?.length) return text(400, "no_text");
    if (msg.blocks && !validBlocks(msg.blocks)) return text(400, "invalid_blocks");
    messages.push(msg);
    return text(200, "ok");
  });
  return Object.assign(s, { hookUrl: s.url + hookPath, messages });
}

/** The Block Kit limits Slack enforces for the block types the sink uses. */
function validBlocks(blocks: Record<string, unknown>[]): boolean {
  if (blocks.length > 50) return false;
  const textOk = (t: unknown, max: number, type?: string): boolean => {
    if (typeof t !== "object" || t === null) return false;
    const o = t as { type?: unknown; text?: unknown };
    return (o.type === "plain_text" || o.type === "mrkdwn") && (!type || o.type === type) && typeof o.text === "string" && o.text.length > 0 && o.text.length <= max;
  };
  for (const b of blocks) {
    if (b.type === "header") {
      if (!textOk(b.text, 150, "plain_text")) return false;
    } else if (b.type === "section") {
      const fields = b.fields as unknown[] | undefined;
      if (b.text === undefined && !fields) return false;
      if (b.text !== undefined && !textOk(b.text, 3000)) return false;
      if (fields && (fields.length > 10 || !fields.every((f) => textOk(f, 2000)))) return false;
    } else if (b.type === "context") {
      const els = b.elements as unknown[] | undefined;
      if (!els || els.length === 0 || els.length > 10 || !els.every((e) => textOk(e, 3000))) return false;
    } else return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// events and a bounded delivery loop

/** Fixed clock for encoders and receivers. */
export const NOW = Date.UTC(2027, 0, 15, 12, 0, 0);

/**
 * Every fixture event that normalizes, as OCSF events (same fixed ctx every time), one per uid:
 * the tests count deliveries by uid (fixture records that repeat one, if any, are delivered once).
 */
export function fixtureEvents(): OcsfEvent[] {
  const out: OcsfEvent[] = [];
  const seen = new Set<string>();
  for (const f of fixtures) {
    const framed = frame(f.text, f.name.endsWith(".ndjson") ? "application/x-ndjson" : "application/json");
    const res = runPipeline(framed.values, framed.paths, framed.textLines, { ctx: { ocsfVersion: "1.3.0", receivedAt: NOW } });
    for (const r of res.events) {
      const uid = r.event.metadata.uid;
      if (uid === undefined || seen.has(uid)) continue;
      seen.add(uid);
      out.push(r.event);
    }
  }
  return out;
}

export interface DeliveryLog {
  delivered: Set<number>;
  rejected: Map<number, string>;
  /** Every retry outcome seen, in order. */
  retries: Outcome[];
  /** Events still to be retried when the loop stopped. */
  pending: number[];
  rounds: number;
  requests: number;
}

/** The default send, as the delivery layer does it: fetch without following redirects. */
export async function fetchSend(req: SinkRequest): Promise<SinkResponse> {
  const res = await fetch(req.url, { method: req.method, headers: req.headers, body: req.body, redirect: "manual" });
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    headers[k] = v;
  });
  return { status: res.status, headers, body: await res.text() };
}

/** Sends with the driver's send, or fetch (the default). */
export function send<C>(driver: SinkDriver<C>, req: SinkRequest, cfg: C, ctx: SinkContext): Promise<SinkResponse> {
  return driver.send ? driver.send(req, cfg, ctx) : fetchSend(req);
}

/**
 * Drives a sink like the delivery layer: encode the pending events, settle the ones encode left
 * out, send every request, classify, and resend what must be retried — at most maxRounds rounds
 * (afterMs is recorded, not waited for).
 */
export async function deliverAll<C>(driver: SinkDriver<C>, events: OcsfEvent[], cfg: C, ctx: SinkContext, maxRounds = 10): Promise<DeliveryLog> {
  const log: DeliveryLog = { delivered: new Set(), rejected: new Map(), retries: [], pending: events.map((_, i) => i), rounds: 0, requests: 0 };
  while (log.pending.length > 0 && log.rounds < maxRounds) {
    log.rounds++;
    const pending = log.pending;
    const subset = pending.map((i) => events[i]!);
    const next: number[] = [];
    const settle = (k: number, o: Outcome): void => {
      const i = pending[k]!;
      if (o.kind === "delivered") log.delivered.add(i);
      else if (o.kind === "reject") log.rejected.set(i, o.reason);
      else {
        log.retries.push(o);
        next.push(i);
      }
    };
    const reqs = await driver.encode(subset, cfg, { ...ctx, now: ctx.now + log.rounds * 1000 });
    for (const [k, o] of unsentOutcomes(driver, subset, reqs, cfg, ctx)) settle(k, o);
    for (const req of reqs) {
      const res = await send(driver, req, cfg, ctx);
      log.requests++;
      const c = driver.classify(res, req, cfg);
      for (const k of req.events) settle(k, c.perEvent?.get(k) ?? c.outcome);
    }
    log.pending = next.sort((a, b) => a - b);
  }
  return log;
}

/** The metadata.uid of each event (stored records are read back as plain JSON). */
export function uids(events: unknown[]): string[] {
  return events.map((e) => {
    const m = (e as { metadata?: { uid?: unknown } }).metadata;
    return String(m?.uid);
  });
}

/** n distinct events: the fixture events repeated, each copy with its own uid (and finding uid). */
export function manyEvents(n: number): OcsfEvent[] {
  const base = fixtureEvents();
  const out: OcsfEvent[] = [];
  for (let k = 0; out.length < n; k++) {
    for (const e of base) {
      if (out.length >= n) break;
      out.push({ ...e, metadata: { ...e.metadata, uid: `${e.metadata.uid ?? "x"}-${k}` } });
    }
  }
  return out;
}

/** The event as it looks after a JSON round trip (what a receiver stores). */
export function plain(e: OcsfEvent): Record<string, unknown> {
  return JSON.parse(JSON.stringify(e)) as Record<string, unknown>;
}
