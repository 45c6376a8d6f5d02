// Enrichment entry point: builds, once per isolate, the function applied to every event.
// Each enricher lives in its own file in this folder and is a pure function over data loaded once:
//   redact.ts     secrets in event text replaced by "*****" (config `redact`; first, when configured)
//   context.ts    Kubernetes cluster/namespace/pod/workload labels, AWS account aliases
//   inventory.ts  host inventory (owner, team, environment, criticality, region, labels)
//   attack.ts     MITRE ATT&CK from rule/policy tags
//   intel.ts      threat-intel matches (reputation, enrichments[], severity raise)
// Data that lives in R2 (inventory file, refreshed feeds) is loaded by ./load.ts (the only I/O here,
// called by the ingest route); makeEnricher(cfg) alone uses what the config holds inline.
import type { OcsfEvent, Enrichment } from "../normalize/ocsf";
import type { Config } from "../config/schema";
import { enrichContext, contextData } from "./context";
import { enrichInventory, Inventory } from "./inventory";
import { enrichAttack } from "./attack";
import { enrichIntel, type IntelData, type LoadedFeed } from "./intel";
import { buildFromFeedText } from "./compiled";
import { applyCorrelationKeys, separatesTenants } from "../correlate/keys";
import { makeRedactor } from "./redact";

export type Enricher = (e: OcsfEvent) => OcsfEvent;

/** Data the enrichers read (built once per isolate; replaced whole when a refreshed feed is loaded). */
export interface EnrichData {
  inventory?: Inventory;
  intel?: IntelData;
}

const inlineCache = new WeakMap<Config, EnrichData>();

/** The data the config itself holds: inline inventory rows and inline feed indicators. */
export function inlineData(cfg: Config): EnrichData {
  let d = inlineCache.get(cfg);
  if (d) return d;
  const e = cfg.enrich;
  d = {};
  if (e.inventory?.inline.length) d.inventory = new Inventory(e.inventory.inline);
  const intel = e.intel;
  if (intel) {
    const feeds: LoadedFeed[] = [];
    for (const f of intel.feeds) {
      if (!f.indicators) continue;
      const { set } = buildFromFeedText(f.indicators.join("\n"), { ...f, format: "plain" });
      feeds.push({ name: f.name, set, severityRaise: f.severityRaise });
    }
    d.intel = { feeds, minConfidence: intel.minConfidence };
  }
  inlineCache.set(cfg, d);
  return d;
}

function guard(name: string, fn: Enricher): Enricher {
  return (e) => {
    try {
      return fn(e);
    } catch (err) {
      // an enricher bug must not cost the event: keep it, say what failed
      e.unmapped = { ...(e.unmapped ?? {}), enrich_error: `${name}: ${(err as Error).message}` };
      return e;
    }
  };
}

export function makeEnricher(cfg: Config, data: EnrichData = inlineData(cfg)): Enricher {
  const steps: Enricher[] = [];
  // first, and unguarded (it keeps no event unredacted: src/enrich/redact.ts): no later step, sink or the
  // archive sees the secrets it removes; absent `redact`, no step at all
  const redact = makeRedactor(cfg.redact);
  if (redact) steps.push(redact);
  const ctx = contextData(cfg);
  // always on: it also surfaces the cluster/pod context the sensor itself sent
  steps.push(guard("context", (e) => enrichContext(e, ctx)));
  const inv = data.inventory;
  if (inv && inv.size > 0) steps.push(guard("inventory", (e) => enrichInventory(e, inv)));
  if (cfg.enrich.attack.enabled) steps.push(guard("attack", enrichAttack));
  const intel = data.intel;
  if (intel && intel.feeds.length > 0) steps.push(guard("intel", (e) => enrichIntel(e, intel)));
  // last: correlation keys read the cluster/pod context above (docs/correlation.md)
  if (cfg.correlate?.keys !== false) {
    const byTenant = separatesTenants(cfg);
    steps.push(guard("correlate", (e) => applyCorrelationKeys(e, byTenant)));
  }
  return (e) => {
    const before = e.enrichments?.length ?? 0;
    let out = e;
    for (const s of steps) out = s(out);
    stampCreatedTime(out, before);
    return out;
  };
}

/**
 * enrichments[].created_time (OCSF 1.3.0, recommended: "the time when the enrichment data was
 * generated") on the entries this pass added: the event's metadata.logged_time, the time Tributary
 * received it, which the normalizers stamp and this same pass enriches it in. The enrichers stay pure
 * (no clock): an event enriched twice gets the same entries. No logged_time, no created_time.
 */
function stampCreatedTime(e: OcsfEvent, from: number): void {
  const list = e.enrichments;
  const t = e.metadata?.logged_time;
  if (!list || typeof t !== "number") return;
  for (let i = from; i < list.length; i++) {
    const en = list[i] as Enrichment & { created_time?: number };
    if (en.created_time === undefined) en.created_time = t;
  }
}
