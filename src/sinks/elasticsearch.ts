// Elasticsearch / OpenSearch `_bulk`: NDJSON `create` action + source line per event, `_id` =
// metadata.uid so a resent event is refused as a duplicate (409) instead of indexed twice.
// Retries: HTTP 408, 429 and 5xx (not 501) for the whole request; other 4xx rejected; a 200 with
// "errors": true is settled per item (409 = already indexed = delivered, 429/5xx = retry,
// anything else = reject with the item's error type and reason).
// A request-level 401 (credentials refused: a wrong, expired or invalidated API key or password) or 403 (the
// user or key may not run _bulk at all; since Elasticsearch 5.3 missing index privileges fail the bulk items,
// each 403, under a 200) means the sink is gone (Classification.gone, ../deliver/gone): the rest of the delivery
// joins that dead letter and later deliveries wait. Not a 403 cluster_block_exception (a read-only block, which
// the cluster lifts itself, e.g. once disk is freed below the flood-stage watermark): an ordinary reject.
import { z } from "zod";
import { secretRef } from "../config/secret";
import type { OcsfEvent } from "../normalize/ocsf";
import { classifyHttpStatus, goneReject, secretWhere, type Classification, type Outcome, type SinkDriver } from "./types";
import { baseUrlSchema, basicAuth, compressionSchema, eventUid, expand, headersSchema, jsonTextOf, pack, postRuns, secretValue, templateSchema, utf8Length } from "./batch";

const authSchema = z.union([
  /** `Authorization: ApiKey <encoded>` (the base64 "id:api_key" value Elasticsearch prints as `encoded`). */
  z.object({ apiKey: secretRef }).strict(),
  z.object({ username: z.string().min(1), password: secretRef }).strict(),
]);

export const elasticsearchConfig = z
  .object({
    /** Base URL of the cluster, e.g. "https://es.example.com:9200". */
    url: baseUrlSchema,
    /** Index or data stream name template (lower-cased after expansion). */
    index: templateSchema.default("ocsf-{class_uid}"),
    auth: authSchema.optional(),
    /** Ingest pipeline (query parameter `pipeline`). */
    pipeline: z.string().min(1).optional(),
    compression: compressionSchema.default("none"),
    headers: headersSchema,
    maxBytes: z.number().int().positive().default(5_000_000),
    maxEvents: z.number().int().positive().default(10_000),
    /**
     * Add `@timestamp` (ISO 8601 of the event's `time`) to each document: data streams require it,
     * and Kibana/OpenSearch Dashboards take it as the time field.
     */
    addTimestamp: z.boolean().default(true),
  })
  .strict();

export type ElasticsearchConfig = z.infer<typeof elasticsearchConfig>;

interface BulkItem {
  status?: number;
  error?: { type?: string; reason?: string };
}

/** The items of a bulk response, or undefined when the body is not one. */
function bulkItems(body: string): { errors: boolean; items: BulkItem[] } | undefined {
  try {
    const v: unknown = JSON.parse(body);
    if (typeof v !== "object" || v === null || !Array.isArray((v as { items?: unknown }).items)) return undefined;
    const o = v as { errors?: unknown; items: unknown[] };
    // each item is {"create": {...}} (or index/update/delete): take the one value
    const items = o.items.map((it): BulkItem => {
      if (typeof it !== "object" || it === null) return {};
      const inner = Object.values(it)[0];
      return typeof inner === "object" && inner !== null ? (inner as BulkItem) : {};
    });
    return { errors: o.errors === true, items };
  } catch {
    return undefined;
  }
}

function errorText(body: string): string {
  try {
    const v = JSON.parse(body) as { error?: { type?: string; reason?: string } | string };
    if (typeof v.error === "string") return v.error;
    if (v.error?.type) return `${v.error.type}: ${v.error.reason ?? ""}`;
  } catch {
    // not JSON: use the text
  }
  return body.slice(0, 300);
}

/** A bulk item's failure reason begins "item <status>: " (after "gave up after N attempts: ", ../deliver/deliver). */
const ITEM_REASON = /^(?:gave up after \d+ attempts?: )?item (\d{3}): /;

/**
 * The bulk item's status a dead letter's reason names, for `npm run dlq -- list` (the record's status is
 * the bulk request's, 200): undefined when the reason is not a bulk item's.
 */
export function bulkItemStatus(reason: string): number | undefined {
  const m = ITEM_REASON.exec(reason);
  return m ? Number(m[1]) : undefined;
}

/** What to change after a request-level 401/403 (see the top). */
function credentialsFix(cfg: ElasticsearchConfig, status: number): string {
  const auth = cfg.auth;
  if (auth === undefined) return "the cluster asks for credentials: set the sink's auth (apiKey, or username and password)";
  const where = "apiKey" in auth ? `the API key in ${secretWhere(auth.apiKey, "auth.apiKey")}` : `the password of ${auth.username} in ${secretWhere(auth.password, "auth.password")}`;
  return status === 401
    ? `the credentials were refused (wrong, expired or invalidated): set ${where}`
    : `the credentials may not write with _bulk: grant them the create_doc (or create) index privilege on the sink's indices, or set ${where}`;
}

function itemOutcome(item: BulkItem | undefined): Outcome {
  if (!item || typeof item.status !== "number") return { kind: "retry", reason: "bulk response has no item for this event" };
  const s = item.status;
  if ((s >= 200 && s < 300) || s === 409) return { kind: "delivered" }; // 409 on create: already indexed
  // begins as ITEM_REASON reads it
  const reason = `item ${s}: ${item.error?.type ?? "error"}: ${item.error?.reason ?? ""}`;
  if (s === 408 || s === 429 || (s >= 500 && s !== 501)) return { kind: "retry", reason, itemStatus: s };
  return { kind: "reject", reason, itemStatus: s };
}

/**
 * The document's text: the event's JSON text with `"@timestamp":"<ISO 8601 of time>"` spliced in as its
 * first member (the event is not serialized again). Unchanged when the event already has an
 * `@timestamp` member or its time is not a valid date.
 */
export function withTimestamp(e: OcsfEvent, json: string): string {
  if ("@timestamp" in e || !json.startsWith("{")) return json;
  const d = new Date(e.time);
  if (!Number.isFinite(d.getTime())) return json;
  return `{"@timestamp":"${d.toISOString()}"${json === "{}" ? "" : ","}${json.slice(1)}`;
}

function make(type: string): SinkDriver<ElasticsearchConfig> {
  const name = type === "opensearch" ? "OpenSearch" : "Elasticsearch";
  return {
    type,
    schema: elasticsearchConfig,

    encode(events, cfg, ctx, lines) {
      const json = jsonTextOf(events, lines);
      const headers: Record<string, string> = { "content-type": "application/x-ndjson" };
      if (cfg.auth && "apiKey" in cfg.auth) headers.authorization = `ApiKey ${secretValue(cfg.auth.apiKey, ctx.env, type, "auth.apiKey")}`;
      else if (cfg.auth) headers.authorization = basicAuth(cfg.auth.username, secretValue(cfg.auth.password, ctx.env, type, "auth.password"));
      const url = `${cfg.url}/_bulk${cfg.pipeline ? `?pipeline=${encodeURIComponent(cfg.pipeline)}` : ""}`;
      const items = events.map((e, i) => {
        const uid = eventUid(e);
        const _index = expand(cfg.index, e).toLowerCase();
        const action = { create: uid === undefined ? { _index } : { _index, _id: uid } };
        return { i, text: `${JSON.stringify(action)}\n${cfg.addTimestamp ? withTimestamp(e, json(i)) : json(i)}\n` };
      });
      return postRuns(pack(items, (x) => utf8Length(x.text), cfg), url, headers, cfg, (run) => run.map((x) => x.text).join(""));
    },

    classify(res, req, cfg): Classification {
      const base = classifyHttpStatus(res);
      if (base.kind !== "delivered") {
        const text = errorText(res.body);
        const reason = `${name} ${res.status}: ${text}`;
        if (res.status === 401 || (res.status === 403 && !text.startsWith("cluster_block_exception"))) return goneReject(reason, credentialsFix(cfg, res.status));
        return { outcome: base.kind === "retry" ? { kind: "retry", reason, afterMs: base.afterMs } : { kind: "reject", reason } };
      }
      const bulk = bulkItems(res.body);
      // Resending is safe (create + _id), so an unreadable answer is retried.
      if (!bulk) return { outcome: { kind: "retry", reason: `${name} ${res.status}: response is not a bulk result: ${res.body.slice(0, 200)}` } };
      if (!bulk.errors && bulk.items.length === req.events.length) return { outcome: { kind: "delivered" } };
      const perEvent = new Map<number, Outcome>();
      req.events.forEach((ev, k) => {
        const o = itemOutcome(bulk.items[k]);
        if (o.kind !== "delivered") perEvent.set(ev, o);
      });
      return { outcome: { kind: "delivered" }, perEvent };
    },
  };
}

export const elasticsearch = make("elasticsearch");
/** OpenSearch speaks the same `_bulk` API (Basic auth; SigV4 for AWS-managed domains is not supported). */
export const opensearch = make("opensearch");
