// Feeds a consumer batch to the correlation Durable Objects (the consumer calls this after the archive
// write, beside the sink deliveries). One RPC per correlation key per batch, a few at a time; it never
// throws and never waits longer than FEED_TIMEOUT_MS, so it cannot block or fail delivery to sinks.
import type { OcsfEvent } from "../normalize/ocsf";
import type { CorrelateConfig } from "../config/correlate";
import { summarize, type Summary } from "./chains";
import { log } from "../ops/log";

/** The part of the CORRELATOR namespace the feed uses (structural, so Node tests can stand in for it). */
export interface CorrelatorNamespace {
  getByName(name: string): { add(summaries: Summary[]): Promise<unknown> };
}

export interface FeedResult {
  summaries: number;
  keys: number;
  /** Keys whose RPC failed or did not answer in time (their summaries are lost for correlation only). */
  failed: number;
  /** Summaries left out because the batch had more than maxKeysPerBatch keys. */
  dropped: number;
}

const CONCURRENCY = 16;
export const FEED_TIMEOUT_MS = 20_000;

function isNamespace(v: unknown): v is CorrelatorNamespace {
  return typeof v === "object" && v !== null && typeof (v as { getByName?: unknown }).getByName === "function";
}

/**
 * Summaries grouped by correlation key (pure). A key's credential-use summaries are thinned to the first
 * per source IP: later calls from a known IP cannot make a new story. `byTenant` (separatesTenants of the
 * config): the keys carry the events' tenants, so two tenants' events never reach one object.
 */
export function groupByKey(events: Iterable<OcsfEvent>, cfg: CorrelateConfig, byTenant = false): Map<string, Summary[]> {
  const out = new Map<string, Summary[]>();
  const seenUse = new Set<string>();
  for (const e of events) {
    let list: Summary[];
    try {
      list = summarize(e, cfg, byTenant);
    } catch {
      continue; // an odd event is not correlated; delivery is unaffected
    }
    for (const x of list) {
      if (x.roles.length === 1 && x.roles[0] === "cred_use") {
        const k = `${x.scope}\u0000${x.ip ?? ""}`;
        if (seenUse.has(k)) continue;
        seenUse.add(k);
      }
      const l = out.get(x.scope);
      if (l) l.push(x);
      else out.set(x.scope, [x]);
    }
  }
  return out;
}

export async function feedCorrelation(
  events: Iterable<OcsfEvent>,
  namespace: unknown,
  cfg: CorrelateConfig | undefined,
  timeoutMs = FEED_TIMEOUT_MS,
  byTenant = false,
): Promise<FeedResult> {
  const res: FeedResult = { summaries: 0, keys: 0, failed: 0, dropped: 0 };
  if (!cfg?.enabled || !isNamespace(namespace)) return res;
  let groups: [string, Summary[]][];
  try {
    groups = [...groupByKey(events, cfg, byTenant)];
  } catch (e) {
    log("error", "correlation feed failed", { error: (e as Error).message });
    return res;
  }
  if (groups.length > cfg.maxKeysPerBatch) {
    for (const [, l] of groups.slice(cfg.maxKeysPerBatch)) res.dropped += l.length;
    groups = groups.slice(0, cfg.maxKeysPerBatch);
    log("warn", "correlation: more keys in the batch than correlate.maxKeysPerBatch; summaries dropped", { dropped: res.dropped });
  }
  res.keys = groups.length;
  for (const [, l] of groups) res.summaries += l.length;
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < groups.length) {
      const [key, list] = groups[next++]!;
      try {
        await namespace.getByName(key).add(list);
      } catch (e) {
        res.failed++;
        log("warn", "correlation: a key's summaries could not be added", { key, summaries: list.length, error: (e as Error).message });
      }
      done++;
    }
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), timeoutMs)));
  const all = Promise.all(Array.from({ length: Math.min(CONCURRENCY, groups.length) }, worker));
  const outcome = await Promise.race([all.then(() => "done" as const), timeout]);
  clearTimeout(timer);
  if (outcome === "timeout") {
    res.failed += groups.length - done;
    log("warn", "correlation: the Durable Objects did not answer in time; the rest of the batch is not correlated", { keys: groups.length - done });
    next = groups.length; // start no more calls
  }
  return res;
}
