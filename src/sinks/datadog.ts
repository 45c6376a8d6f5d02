// Datadog Logs intake v2: POST {url}/api/v2/logs, header DD-API-KEY, a JSON array of log entries
// {ddsource, ddtags, hostname, service, status, timestamp, message}. By default `message` is the
// OCSF event as a JSON string (what falcosidekick sends; Datadog parses JSON messages into
// attributes); messageFormat "attributes" sends the event as the `ocsf` attribute instead.
// Limits: 1000 entries and 5 MB (uncompressed) per request; Datadog truncates a log over 1 MB, so
// such an event is not sent but rejected with a reason. Retries: 408, 429, 5xx (Retry-After).
// Datadog takes a `timestamp` at most 18 hours in the past (Send Logs API); an event older than
// lateAfterMs at delivery (a DLQ replay, a spool drain) is sent without one, so Datadog stamps it
// with its intake time instead of dropping it, and tagged tributary_late:true; the OCSF `time` stays
// in the event. Likewise an event more than aheadAfterMs ahead of delivery (Datadog takes 2 hours in the
// future, "Log Date Remapper" notes): a sensor clock set in the future (2038, 9999).
// 401 (no API key) and 403 (an invalid or revoked API key: Send Logs API responses; also an application key, or
// a key of another Datadog site than url's) mean the sink is gone (Classification.gone, ../deliver/gone): every
// request carries the same key, so the rest of the delivery joins that dead letter and later ones wait.
import { z } from "zod";
import { secretRef } from "../config/secret";
import type { OcsfEvent } from "../normalize/ocsf";
import { classifyHttpStatus, goneReject, secretWhere, type SinkDriver } from "./types";
import { baseUrlSchema, compressionSchema, expand, headersSchema, hostOf, jsonTextOf, nameSafe, pack, postRuns, secretValue, templateSchema, textAt, utf8Length, withLastMember } from "./batch";

export const MAX_ENTRIES = 1000;
export const MAX_PAYLOAD_BYTES = 5_000_000;
export const MAX_LOG_BYTES = 1_000_000;
/** Datadog accepts log timestamps up to 18 h in the past. */
export const MAX_TIMESTAMP_AGE_MS = 18 * 3_600_000;
/** ... and up to 2 h in the future. */
export const MAX_TIMESTAMP_AHEAD_MS = 2 * 3_600_000;

export const datadogConfig = z
  .object({
    /** Intake URL of your Datadog site (datadoghq.eu, us3.datadoghq.com, ...). */
    url: baseUrlSchema.default("https://http-intake.logs.datadoghq.com"),
    apiKey: secretRef,
    ddsource: templateSchema.default("tributary"),
    service: templateSchema.default("tributary"),
    /** Tags added to every log ("env:prod"); class_uid and severity tags are always added. */
    tags: z.array(z.string().min(1)).default([]),
    messageFormat: z.enum(["json", "attributes"]).default("json"),
    compression: compressionSchema.default("gzip"),
    headers: headersSchema,
    maxBytes: z.number().int().positive().max(MAX_PAYLOAD_BYTES).default(MAX_PAYLOAD_BYTES),
    maxEvents: z.number().int().positive().max(MAX_ENTRIES).default(MAX_ENTRIES),
    /** Largest single log entry; larger events are rejected, not sent truncated. */
    maxEventBytes: z.number().int().positive().max(MAX_LOG_BYTES).default(MAX_LOG_BYTES),
    /**
     * An event whose time is further than this before the delivery time is sent without `timestamp`
     * and tagged `tributary_late:true` (default 17 h: an hour of margin under Datadog's 18 h).
     */
    lateAfterMs: z.number().int().positive().max(MAX_TIMESTAMP_AGE_MS).default(17 * 3_600_000),
    /**
     * An event whose time is further than this after the delivery time (a sensor clock in the future) is sent
     * without `timestamp` and tagged `tributary_late:true` too (default 1 h: an hour of margin under Datadog's 2 h).
     */
    aheadAfterMs: z.number().int().positive().max(MAX_TIMESTAMP_AHEAD_MS).default(3_600_000),
  })
  .strict();

export type DatadogConfig = z.infer<typeof datadogConfig>;

/** OCSF severity_id -> Datadog log status. */
const STATUS: Record<number, string> = { 0: "info", 1: "info", 2: "notice", 3: "warning", 4: "error", 5: "critical", 6: "emergency" };

/** The log entry's JSON text; `json` is the event's (JSON.stringify of it), written as it is. */
function entry(e: OcsfEvent, cfg: DatadogConfig, now: number, json: string): string {
  // severity 99's caption is the sender's own text (a Falco priority): a "," in it would add tags
  const severity = nameSafe((e.severity ?? "unknown").toLowerCase());
  // outside what Datadog takes (NaN time too: no usable timestamp): Datadog's intake time instead
  const late = !(now - e.time <= cfg.lateAfterMs && e.time - now <= cfg.aheadAfterMs);
  const tags = [`class_uid:${e.class_uid}`, `severity:${severity}`, ...cfg.tags, ...(late ? ["tributary_late:true"] : [])].join(",");
  const log: Record<string, unknown> = { ddsource: expand(cfg.ddsource, e), ddtags: tags };
  const host = hostOf(e);
  if (host !== undefined) log.hostname = host;
  log.service = expand(cfg.service, e);
  log.status = STATUS[e.severity_id] ?? "info";
  if (!late) log.timestamp = e.time;
  if (cfg.messageFormat === "json") {
    log.message = json;
    return JSON.stringify(log);
  }
  log.message = e.message ?? textAt(e, "finding_info.title") ?? e.type_name ?? `OCSF class ${e.class_uid}`;
  return withLastMember(log, "ocsf", json);
}

export const datadog: SinkDriver<DatadogConfig> = {
  type: "datadog_logs",
  schema: datadogConfig,

  encode(events, cfg, ctx, lines) {
    const key = secretValue(cfg.apiKey, ctx.env, "datadog_logs", "apiKey");
    const json = jsonTextOf(events, lines);
    const url = `${cfg.url}/api/v2/logs`;
    const items: { i: number; text: string; bytes: number }[] = [];
    events.forEach((e, i) => {
      const text = entry(e, cfg, ctx.now, json(i));
      const bytes = utf8Length(text);
      if (bytes <= cfg.maxEventBytes) items.push({ i, text, bytes }); // larger: see unsentOutcome
    });
    const headers = { "content-type": "application/json", "dd-api-key": key };
    const runs = pack(items, (x) => x.bytes, { ...cfg, overhead: 2, separator: 1 });
    return postRuns(runs, url, headers, cfg, (run) => `[${run.map((x) => x.text).join(",")}]`);
  },

  unsentOutcome(e, cfg, ctx) {
    const bytes = utf8Length(entry(e, cfg, ctx.now, JSON.stringify(e)));
    return { kind: "reject", reason: `log entry is ${bytes} bytes, over the ${cfg.maxEventBytes}-byte limit (Datadog truncates logs over 1 MB)` };
  },

  classify(res, _req, cfg) {
    const o = classifyHttpStatus(res);
    if (o.kind === "delivered") return { outcome: o };
    if (res.status === 401 || res.status === 403) {
      const key = secretWhere(cfg.apiKey, "apiKey");
      return goneReject(`Datadog ${o.reason}`, `Datadog refused the API key (revoked, mistyped, an application key, or a key of another site than ${cfg.url}): set a valid API key in ${key} (Organization Settings > API Keys)`);
    }
    return { outcome: { ...o, reason: `Datadog ${o.reason}` } };
  },
};
