// HTTP ingest: auth, body decoding, status codes. Mapping lives in ../pipeline (pure).
// Answers 202 only after every accepted record is on the queue.
import { Hono, type Context } from "hono";
import { frame } from "./decode";
import { runPipeline, type RecordError } from "../pipeline";
import { pack, sendAll } from "../deliver/enqueue";
import { configFor } from "../config/load";
import { makeEnricher, type Enricher } from "../enrich/index";
import { makeRouter, type Router } from "../route/index";
import type { Config } from "../config/schema";
import type { SourceKind } from "../normalize/ocsf";

export type AppEnv = { Bindings: Env; Variables: { tenant?: string; requestId: string } };

export interface IngestResponse {
  accepted: number;
  rejected: number;
  errors: RecordError[];
}

const KINDS: Record<string, SourceKind> = {
  falco: "falco",
  tetragon: "tetragon",
  "k8s-audit": "k8s_audit",
  cloudtrail: "cloudtrail",
};

function jsonError(c: Context<AppEnv>, status: 400 | 413 | 415 | 429 | 503, reason: string, extra: Record<string, unknown> = {}) {
  return c.json({ accepted: 0, rejected: 0, errors: [{ index: -1, path: "(body)", reason }], ...extra }, status);
}

// Enricher and router are built once per config (i.e. once per isolate).
const built = new WeakMap<Config, { enrich: Enricher; route: Router }>();
function stepsFor(cfg: Config): { enrich: Enricher; route: Router } {
  let s = built.get(cfg);
  if (!s) built.set(cfg, (s = { enrich: makeEnricher(cfg), route: makeRouter(cfg) }));
  return s;
}

async function ingest(c: Context<AppEnv>, kind: SourceKind | undefined) {
  const cfg = configFor(c.env);
  const steps = stepsFor(cfg);
  const text = await c.req.text();
  const framed = frame(text, c.req.header("content-type") ?? "");
  if (framed.values.length === 0 && framed.textLines.length === 0) {
    const reason = framed.errors[0]?.reason ?? "empty body: expected at least one record";
    return jsonError(c, 400, reason);
  }
  const result = runPipeline(framed.values, framed.paths, framed.textLines, {
    kind,
    enrich: steps.enrich,
    route: steps.route,
    ctx: { ocsfVersion: cfg.ocsf.version, rawData: cfg.ocsf.rawData, tenant: c.get("tenant"), receivedAt: Date.now() },
  });
  const errors = [...framed.errors, ...result.errors];
  if (result.events.length > 0) {
    try {
      await sendAll(c.env.EVENTS, pack(result.events));
    } catch (e) {
      const msg = (e as Error).message;
      const tooMany = /too many/i.test(msg);
      c.header("Retry-After", tooMany ? "5" : "10");
      return jsonError(c, tooMany ? 429 : 503, `queue refused the records, nothing was accepted: ${msg}`);
    }
  }
  const body: IngestResponse = { accepted: result.events.length, rejected: errors.length, errors };
  if (result.events.length === 0) return c.json(body, 400);
  return c.json(body, 202);
}

export const ingestRoutes = new Hono<AppEnv>();

ingestRoutes.post("/v1/events", (c) => ingest(c, undefined));
ingestRoutes.post("/v1/events/:source", (c) => {
  const kind = KINDS[c.req.param("source")];
  if (!kind) return c.json({ error: `unknown source "${c.req.param("source")}": use one of ${Object.keys(KINDS).join(", ")}` }, 404);
  return ingest(c, kind);
});
// Falcosidekick's endpoint shape: Falco/Falcosidekick users only change the URL.
ingestRoutes.post("/", (c) => ingest(c, undefined));
