// HTTP ingest: auth, body decoding, status codes. Mapping lives in ../pipeline (pure).
// Answers 2xx only after every accepted record is on the queue, or (when the queue refuses) in the R2
// spool that is drained back into it (../deliver/spool.ts); each rejected record is reported by index
// with a reason and written to the quarantine (R2). See docs/ingest.md.
import { Hono, type Context } from "hono";
import { layout, itemsOf, countRecords, checkRecord, oversize, isLimitReason } from "./decode";
import { bodyFormat, readBytes, readBody, streamOf, drainFor, BodyError, type BodyFormat, type BodyText } from "./body";
import { authenticate, allows, CHALLENGE, type AuthResult, type Principal } from "./auth";
import { runPipeline, type PipelineOptions, type RoutedEvent } from "../pipeline";
import { Enqueuer } from "../deliver/enqueue";
import { spooler, drainDue, drainAfterIngest } from "../deliver/spool";
import { writeQuarantine, quarantineUniq, textRedactor, type Rejected } from "../deliver/quarantine";
import { configFor } from "../config/load";
import type { Enricher } from "../enrich/index";
import { enricherFor } from "../enrich/load";
import { makeRouter, type Router } from "../route/index";
import { multiTenant, type Config } from "../config/schema";
import { type Json, lookup } from "../normalize/json";
import { tenantUidScope } from "../normalize/uid";
import { EmptyContainers } from "../normalize/detect";
import type { SourceKind } from "../normalize/ocsf";
import { log } from "../ops/log";
import { quoted } from "../normalize/errors";
import { countAccepted, countRejected, countingProducer } from "../ops/record";

export type AppEnv = { Bindings: Env; Variables: { tenant?: string; requestId: string } };

export interface ResponseError {
  /** Position of the record in the request, in body order, after containers are unwrapped (-1: the request). */
  index: number;
  /** Where it sits in the body, e.g. "line 3", "[2]", "(body).Records[1]". */
  path: string;
  reason: string;
  source?: SourceKind | string;
}

export interface IngestResponse {
  accepted: number;
  rejected: number;
  errors: ResponseError[];
  /** Errors counted in `rejected` but not listed (over limits.maxReportedErrors; all are quarantined). */
  errors_omitted?: number;
  /** Paths of the containers that held no record (`[]`, `"Records": []`, `"items": []`), at most limits.maxReportedErrors. */
  empty?: string[];
  /** Empty containers over that number, not listed. */
  empty_omitted?: number;
  /** Events of this request already on the queue when the queue refused the rest (429/503). */
  queued_before_failure?: number;
  /** Accepted events written to the R2 spool because the queue refused them (counted in `accepted`; sent to the queue later). */
  spooled?: number;
  /** Set when the quarantine write failed (the accepted records are still accepted; with none accepted the answer is 503). */
  quarantine_error?: string;
}

export const KINDS: Record<string, SourceKind> = {
  falco: "falco",
  tetragon: "tetragon",
  "k8s-audit": "k8s_audit",
  cloudtrail: "cloudtrail",
};

/** Routed events are handed to the queue in windows of this many (bounded memory for big bodies). */
const WINDOW = 200;

type ErrorStatus = 400 | 401 | 403 | 413 | 415 | 429 | 503;

function requestError(c: Context<AppEnv>, status: ErrorStatus, reason: string, extra: Partial<IngestResponse> = {}) {
  const body: IngestResponse = { accepted: 0, rejected: 0, errors: [{ index: -1, path: "(body)", reason }], ...extra };
  return c.json(body, status);
}

function denied(c: Context<AppEnv>, a: Extract<AuthResult, { ok: false }>) {
  log("warn", "auth refused", { requestId: c.get("requestId"), status: a.status, reason: a.reason });
  if (a.status === 401) c.header("WWW-Authenticate", CHALLENGE);
  return requestError(c, a.status, a.reason);
}

class QueueRefused extends Error {}

/** A reason in the answer is cut at this many characters, whatever quotes the sender's text in it. */
const MAX_REASON = 1000;

/** The queue refused and the spool could not keep the records either (`spoolError`), or there was no spool. */
function queueRefused(c: Context<AppEnv>, e: unknown, queued: number, spoolError?: unknown) {
  const msg = e instanceof Error ? e.message : String(e);
  const tooMany = /too many/i.test(msg);
  c.header("Retry-After", tooMany ? "5" : "10");
  const spool = spoolError === undefined ? "" : ` and the spool could not keep them (${spoolError instanceof Error ? spoolError.message : String(spoolError)})`;
  let reason = `queue refused the records (${msg})${spool}: nothing was accepted, send the request again`;
  if (queued > 0) reason += `; ${queued} of its events were queued before the failure and will be queued again when the request is re-sent (same metadata.uid, deduplicated downstream)`;
  log("error", "queue refused", { requestId: c.get("requestId"), error: msg, queued });
  return requestError(c, tooMany ? 429 : 503, reason, queued > 0 ? { queued_before_failure: queued } : {});
}

// Enricher and router are built once per config (i.e. once per isolate), and whether several tenants send
// (multiTenant) is told once too; the enricher's R2 data (inventory file, refreshed feeds) is loaded on first
// use and re-checked every intel.reloadSeconds.
const built = new WeakMap<Config, { route: Router; multiTenant: boolean }>();
async function stepsFor(env: Env, cfg: Config): Promise<{ enrich: Enricher; route: Router; multiTenant: boolean }> {
  let s = built.get(cfg);
  if (!s) built.set(cfg, (s = { route: makeRouter(cfg), multiTenant: multiTenant(cfg.auth) }));
  return { enrich: await enricherFor(env, cfg), ...s };
}

/** Authenticates (HMAC needs the raw body first), then decodes the body to text. */
async function authenticatedText(c: Context<AppEnv>, cfg: Config, format: BodyFormat, auth: AuthResult): Promise<{ principal: Principal; body: BodyText } | Response> {
  const req = c.req.raw;
  if (auth.ok === "body") {
    const raw = await readBytes(req.body, cfg.limits, drainFor(c.env));
    auth = await auth.verify(raw);
    if (auth.ok !== true) return auth.ok === false ? denied(c, auth) : requestError(c, 401, "unexpected authentication state");
    return { principal: auth.principal, body: await readBody(streamOf(raw), format, cfg.limits) };
  }
  if (auth.ok !== true) return denied(c, auth as Extract<AuthResult, { ok: false }>);
  return { principal: auth.principal, body: await readBody(req.body, format, cfg.limits, drainFor(c.env)) };
}

/** What ingestRecords made of a body's records. */
export interface RecordsRun {
  /** Records seen, accepted and rejected (0: the body held none). */
  records: number;
  rejected: Rejected[];
  /** The containers that held no record. */
  empty: EmptyContainers;
}

/**
 * Steps 2 and 3 of an ingest request, for its decoded body: framing, the records-per-request limit, then every
 * record through admission and the pipeline under `principal` (on the route of `kind`), the routed events handed
 * to `take` in windows. A refusal of the whole body (before anything is taken) is `refused`. Re-ingesting a
 * quarantined record (./quarantine.ts) takes this same path.
 */
export async function ingestRecords(
  env: Env,
  cfg: Config,
  principal: Principal,
  kind: SourceKind | undefined,
  body: BodyText,
  framing: BodyFormat["framing"],
  receivedAt: number,
  take: (events: RoutedEvent[]) => Promise<void>,
): Promise<RecordsRun | { refused: { status: 400 | 413; reason: string } }> {
  const limits = cfg.limits;
  const { text, bad } = body;
  // 2. Framing, and the records-per-request limit, counted after unwrapping containers and before anything
  // is queued: a 413 always means nothing of the request was queued.
  // ocsf.rawData: array elements get their exact text from the body too (raw_data is each record's own text)
  const frameOpts = { maxRecordBytes: limits.maxRecordBytes, texts: cfg.ocsf.rawData, bad };
  const lay = layout(text, framing, frameOpts);
  if (bad !== undefined && lay.kind !== "lines" && lay.kind !== "text") {
    // lines were set aside (not UTF-8, or cut), but the body is one JSON document: all or nothing
    const [line, first] = bad.entries().next().value!;
    return { refused: { status: 400, reason: `body is one JSON document and line ${line} of it is unusable: ${first.reason}` } };
  }
  const declared = countRecords(text, lay, frameOpts);
  if (declared > limits.maxRecords) return { refused: { status: 413, reason: tooManyReason(limits.maxRecords, declared) } };

  // 3. Records -> pipeline -> queue, in windows.
  const steps = await stepsFor(env, cfg);
  // whether the body is over the record limit: only asked for records without their own text (array
  // elements, a whole-body value, the records of a container line over the limit: decode.ts), so an NDJSON
  // body is never measured (a UTF-8 count of ~1 µs per event)
  let bodyIsBig: boolean | undefined;
  let measure = false; // estimate record sizes: only for records inside a body larger than the limit
  const admit = (record: Json, k: SourceKind): string | undefined => {
    if (!allows(principal, k)) return `credentials of tenant "${principal.tenant}" may not send ${k} records`;
    return checkRecord(record, limits.maxDepth, measure ? limits.maxRecordBytes : undefined);
  };
  // containers without records are in no count: the answer lists them, so every part of the body is accounted for
  const empty = new EmptyContainers(limits.maxReportedErrors);
  const opts: PipelineOptions = {
    kind,
    empty,
    enrich: steps.enrich,
    route: steps.route,
    admit,
    ctx: { ocsfVersion: cfg.ocsf.version, rawData: cfg.ocsf.rawData, tenant: principal.tenant, receivedAt },
  };
  // several tenants: each tenant's metadata.uid is its own (one record from two tenants, two uids: src/normalize/uid.ts)
  if (steps.multiTenant) opts.ctx.uidScope = tenantUidScope(principal.tenant);
  const textOk = kind === undefined || kind === "falco";
  const rejected: Rejected[] = [];
  let pending: RoutedEvent[] = [];
  let index = 0;
  const flush = async () => {
    await take(pending);
    pending = [];
  };
  for (const item of itemsOf(text, lay, frameOpts)) {
    if (item.type === "error") {
      rejected.push({ index, path: item.path, reason: item.reason, raw: item.raw, rawBase64: item.rawBase64 }); // rawBase64, when set, is what the quarantine keeps
      index++;
    } else if (item.type === "text") {
      const big = oversize(item.line, limits.maxRecordBytes);
      const reason = !textOk
        ? `plain-text lines are only accepted as Falco output (json_output: false); ${kind} records must be JSON`
        : !allows(principal, "falco")
          ? `credentials of tenant "${principal.tenant}" may not send falco records`
          : big !== undefined
            ? `record is ${big} bytes, more than limits.maxRecordBytes (${limits.maxRecordBytes})`
            : undefined;
      if (reason !== undefined) rejected.push({ index, path: item.path, reason, source: "falco", raw: item.line });
      else {
        const res = runPipeline([], [item.path], [item.line], opts);
        for (const e of res.errors) rejected.push({ index, path: e.path, reason: e.reason, source: "falco", raw: item.line });
        for (const ev of res.events) pending.push(ev);
      }
      index++;
    } else {
      measure = (item.raw === undefined || item.path === "") && (bodyIsBig ??= oversize(text, limits.maxRecordBytes) !== undefined);
      const res = runPipeline([item.value], [item.path], [], opts, cfg.ocsf.rawData ? [item.raw ?? item.text] : undefined);
      const whole = item.path === "" ? "(body)" : item.path;
      for (const e of res.errors) {
        // records of a whole-body container: "items[3]", "Records[1]", "detail" (not ".items[3]")
        const r: Rejected = { index: index + e.index, path: e.path.charCodeAt(0) === 46 ? e.path.slice(1) : e.path, reason: e.reason, source: e.source };
        if (e.path === whole && item.raw !== undefined) r.raw = item.raw;
        else r.record = e.record;
        rejected.push(r);
      }
      index += res.total;
      for (const ev of res.events) pending.push(ev);
    }
    if (pending.length >= WINDOW) await flush();
  }
  await flush();
  return { records: index, rejected, empty };
}

async function ingest(c: Context<AppEnv>, kind: SourceKind | undefined) {
  const cfg = configFor(c.env);
  const limits = cfg.limits;
  const receivedAt = Date.now();
  const req = c.req.raw;

  // 1. Request-level checks, before reading a byte: credentials, Content-Length, types.
  const auth = await authenticate(req.headers, cfg, c.env);
  if (auth.ok === false) return denied(c, auth);
  let principal: Principal;
  let received: BodyText;
  let format: BodyFormat;
  try {
    format = bodyFormat(req.headers, limits);
    const r = await authenticatedText(c, cfg, format, auth);
    if (r instanceof Response) return r;
    ({ principal, body: received } = r);
  } catch (e) {
    if (e instanceof BodyError) {
      log("warn", "body refused", { requestId: c.get("requestId"), status: e.status, reason: e.message });
      return requestError(c, e.status, e.message);
    }
    throw e;
  }
  if (kind !== undefined && !allows(principal, kind)) {
    return requestError(c, 403, `credentials of tenant "${principal.tenant}" may not send ${kind} records (allowed: ${principal.sources?.join(", ")})`);
  }
  c.set("tenant", principal.tenant);

  // 2-3. Framing, the record limit, records -> pipeline -> queue (ingestRecords).
  // what the queue refuses goes to the R2 spool (drained back into the queue later): answered 202 all the same
  const spoolMeta = { requestId: c.get("requestId"), uniq: quarantineUniq(), tenant: principal.tenant, receivedAt };
  const queue = new Enqueuer(countingProducer(c.env.EVENTS), c.env.ARCHIVE, spooler(c.env.ARCHIVE, spoolMeta));
  let accepted = 0;
  const take = async (events: RoutedEvent[]) => {
    try {
      await queue.add(events);
    } catch (e) {
      throw new QueueRefused(e instanceof Error ? e.message : String(e));
    }
    countAccepted(events, principal.tenant, cfg);
    accepted += events.length;
  };
  let run: RecordsRun;
  try {
    const r = await ingestRecords(c.env, cfg, principal, kind, received, format.framing, receivedAt, take);
    if ("refused" in r) return requestError(c, r.refused.status, r.refused.reason);
    run = r;
    try {
      await queue.finish();
    } catch (e) {
      throw new QueueRefused(e instanceof Error ? e.message : String(e));
    }
  } catch (e) {
    if (e instanceof QueueRefused) return queue.refusal === undefined ? queueRefused(c, e, queue.sent) : queueRefused(c, queue.refusal, queue.sent + queue.spooled, e);
    throw e;
  }
  const { rejected, empty, records: index } = run;
  if (queue.spooled > 0) log("warn", "queue refused, events spooled", { requestId: spoolMeta.requestId, error: queue.refusal, spooled: queue.spooled, queued: queue.sent });
  // the queue takes messages again: send back a few spooled ones, after the answer (bounded, see drainDue)
  else if (queue.sent > 0 && drainDue()) c.executionCtx.waitUntil(drainAfterIngest(c.env));

  // 4. Answer: quarantine the rejected records first, so the answer never outruns them.
  if (index === 0) {
    if (received.text.trim() === "") return requestError(c, 400, "empty body: expected at least one record");
    // a well-formed batch that holds no record ([], {"Records": []}, an empty EventList): nothing to do, and
    // nothing wrong (a relay may forward an empty log file or EventList as it found it)
    return c.json({ accepted: 0, rejected: 0, errors: [], ...emptyFields(empty) } satisfies IngestResponse, 200);
  }
  countRejected(rejected, principal.tenant, cfg);
  const body: IngestResponse = { accepted, rejected: rejected.length, errors: [] };
  if (queue.spooled > 0) body.spooled = queue.spooled;
  const listed = Math.min(rejected.length, limits.maxReportedErrors);
  for (let i = 0; i < listed; i++) {
    const r = rejected[i]!;
    const reason = quoted(r.reason, MAX_REASON); // the quarantine keeps the whole reason
    body.errors.push(r.source ? { index: r.index, path: r.path, reason, source: r.source } : { index: r.index, path: r.path, reason });
  }
  if (listed < rejected.length) body.errors_omitted = rejected.length - listed;
  Object.assign(body, emptyFields(empty));
  if (rejected.length > 0) {
    const meta = { ...spoolMeta, route: new URL(req.url).pathname }; // the same request id and uniq as its spool objects
    try {
      await writeQuarantine(c.env.ARCHIVE, rejected, meta, cfg.redact); // the config's redact rules mask secrets in what it keeps
    } catch (e) {
      log("error", "quarantine write failed", { requestId: meta.requestId, error: e, rejected: rejected.length, accepted });
      if (accepted === 0) {
        // Every record was rejected and none of them could be kept: a 400 would lose them (the sender drops
        // the batch). 503 makes Vector and the audit webhook send it again; nothing was queued.
        body.quarantine_error = "the rejected records could not be written to the quarantine: nothing was kept, send the request again";
        c.header("Retry-After", "30");
        return c.json(body, 503);
      }
      body.quarantine_error = "the rejected records could not be written to the quarantine";
    }
    // the first reason masked by the config's redact, as the quarantine keeps it (a reason may quote the record)
    const first = rejected[0]!.reason;
    log("warn", "records rejected", { requestId: meta.requestId, tenant: principal.tenant, accepted, rejected: rejected.length, first: textRedactor(cfg.redact)?.reason(first) ?? first });
  }
  // nothing accepted: 413 when every record was refused for its size or depth (the sender must split or
  // trim them), else 400 (the rejected records are in the quarantine either way)
  return c.json(body, accepted > 0 ? 202 : rejected.every((r) => isLimitReason(r.reason)) ? 413 : 400);
}

/** `empty` / `empty_omitted` of the answer, when the body had containers without records. */
function emptyFields(empty: EmptyContainers): Partial<IngestResponse> {
  if (empty.count === 0) return {};
  return empty.count > empty.paths.length ? { empty: empty.paths, empty_omitted: empty.count - empty.paths.length } : { empty: empty.paths };
}

function tooManyReason(max: number, count: number): string {
  return `${count} records, more than limits.maxRecords (${max}) in one request (nothing was queued): send smaller batches`;
}

export const ingestRoutes = new Hono<AppEnv>();

ingestRoutes.post("/v1/events", (c) => ingest(c, undefined));
const unknownSource = (c: Context<AppEnv>) => c.json({ error: `unknown source "${c.req.param("source")}": use one of ${Object.keys(KINDS).join(", ")}` }, 404);
ingestRoutes.post("/v1/events/:source", (c) => {
  const kind = lookup(KINDS, c.req.param("source"));
  return kind ? ingest(c, kind) : unknownSource(c);
});
// Vector's healthcheck is `HEAD <uri>` (Hono answers HEAD with the GET handler): the per-source URLs answer it too.
ingestRoutes.get("/v1/events/:source", (c) => {
  const kind = lookup(KINDS, c.req.param("source"));
  return kind ? c.json({ status: "ok", accepts: "POST", source: kind }) : unknownSource(c);
});
// Falcosidekick's endpoint shape: Falco/Falcosidekick users only change the URL.
ingestRoutes.post("/", (c) => ingest(c, undefined));
