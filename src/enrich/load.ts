// Loads the enrichment data that lives in R2 (the ARCHIVE bucket) or KV (the optional ENRICH_KV
// binding): the inventory file (R2 and/or KV) and the feeds (refreshed feeds at intel/<feed>.txt, raw
// feed files at their r2Key), once per isolate; checks for newer objects every intel.reloadSeconds
// and swaps in the rebuilt data. The only I/O of src/enrich
// besides ./refresh.ts. A source that fails to load keeps its last good data (or none, at first load):
// enrichment never blocks ingest.
import type { Config } from "../config/schema";
import type { FeedConfig, IntelConfig, InventoryRow } from "../config/enrich";
import { makeEnricher, inlineData, type Enricher, type EnrichData } from "./index";
import { Inventory, parseInventory } from "./inventory";
import { IntelSetBuilder, type IntelSet } from "./intel-set";
import { loadCompiledStream, addClassified } from "./compiled";
import { parseFeed, feedTextParser, feedCaps, textPieces } from "./feeds";
import type { LoadedFeed } from "./intel";
import { log as writeLog } from "../ops/log";

/** The part of an R2 bucket the loader and the refresh use (R2Bucket satisfies it). */
export interface EnrichBucket {
  head(key: string): Promise<{ etag: string; customMetadata?: Record<string, string> } | null>;
  get(key: string): Promise<StoredObject | null>;
  put(key: string, value: string | ReadableStream<Uint8Array>, options?: { customMetadata?: Record<string, string>; httpMetadata?: { contentType?: string } }): Promise<unknown>;
}

export interface StoredObject {
  etag: string;
  body: ReadableStream<Uint8Array>;
  text(): Promise<string>;
}

/** The part of a KV namespace the loader uses (KVNamespace satisfies it). */
export interface EnrichKv {
  get(key: string, type: "text"): Promise<string | null>;
}

export interface EnrichEnv {
  ARCHIVE?: EnrichBucket;
  /** Optional KV namespace for inventory.kvKey (bind it in wrangler.toml as ENRICH_KV). */
  ENRICH_KV?: EnrichKv;
}

/** R2 key of a refreshed (compiled) feed. */
export function feedKey(name: string): string {
  return `intel/${name}.txt`;
}

interface Source {
  key: string;
  etag?: string;
}

interface FeedState {
  compiled?: Source;
  raw?: Source;
  loaded?: LoadedFeed;
}

interface InventoryState {
  r2?: Source & { rows?: InventoryRow[] };
  /** text = the last KV value parsed (KV has no ETag: the value itself is compared). */
  kv?: { key: string; text?: string; rows?: InventoryRow[] };
  value?: Inventory;
}

interface State {
  enrich: Enricher;
  data: EnrichData;
  inventory?: InventoryState;
  feeds: Map<string, FeedState>;
  checkedAt: number;
  pending?: Promise<void>;
  /** Problems of the last (re)load, for logs and tests. */
  errors: string[];
}

const states = new WeakMap<Config, State>();

function log(msg: string, fields: Record<string, unknown>): void {
  writeLog("warn", msg, fields);
}

function inventoryFormat(cfg: Config, key: string): "json" | "csv" {
  return cfg.enrich.inventory?.format ?? (key.toLowerCase().endsWith(".csv") ? "csv" : "json");
}

/** Re-reads the inventory's R2 object and KV value; true when the rows changed. Errors are collected per source. */
async function reloadInventory(env: EnrichEnv, cfg: Config, s: InventoryState, errors: string[]): Promise<boolean> {
  let changed = false;
  if (s.r2) {
    try {
      const r = env.ARCHIVE ? await readIfChanged(env.ARCHIVE, s.r2) : undefined;
      if (r) {
        s.r2.rows = parseInventory(await r.text(), inventoryFormat(cfg, s.r2.key));
        s.r2.etag = r.etag;
        changed = true;
      }
    } catch (e) {
      errors.push(`inventory ${s.r2.key}: ${(e as Error).message}`);
    }
  }
  if (s.kv) {
    try {
      if (!env.ENRICH_KV) throw new Error("inventory.kvKey is set but the Worker has no ENRICH_KV binding");
      const text = await env.ENRICH_KV.get(s.kv.key, "text");
      if (text !== null && text !== s.kv.text) {
        s.kv.rows = parseInventory(text, inventoryFormat(cfg, s.kv.key));
        s.kv.text = text;
        changed = true;
      }
    } catch (e) {
      errors.push(`inventory kv:${s.kv.key}: ${(e as Error).message}`);
    }
  }
  if (changed) s.value = new Inventory([...(cfg.enrich.inventory?.inline ?? []), ...(s.r2?.rows ?? []), ...(s.kv?.rows ?? [])]);
  return changed;
}

/**
 * Builds one feed's set from its compiled object and its raw object (both streamed: never held whole;
 * a raw MISP/STIX file is read one JSON element at a time, up to intel.maxJsonFeedBytes) and its inline
 * indicators (any of them).
 */
async function buildFeed(f: FeedConfig, intel: IntelConfig, compiled: StoredObject | undefined, raw: StoredObject | undefined): Promise<IntelSet> {
  const b = new IntelSetBuilder(f.confidence);
  if (compiled !== undefined) await loadCompiledStream(compiled.body, b);
  if (raw !== undefined) {
    const caps = feedCaps(f, intel);
    // a raw plain/CSV file is your own: no byte cap (its memory is the set's); JSON ones keep theirs
    const maxBytes = caps.capName === "maxJsonFeedBytes" ? caps.maxBytes : Infinity;
    const p = feedTextParser(f, (c, conf) => addClassified(b, c, conf), Date.now(), caps.maxElementChars);
    for await (const piece of textPieces(raw.body, maxBytes, caps.capName)) p.push(piece);
    p.end();
  }
  if (f.indicators) parseFeed(f.indicators.join("\n"), { ...f, format: "plain" }, (c, conf) => addClassified(b, c, conf));
  return b.build();
}

/** The object at key when its etag differs from the known one; undefined = unchanged or absent, null = gone. */
async function readIfChanged(bucket: EnrichBucket, src: Source): Promise<StoredObject | null | undefined> {
  const head = await bucket.head(src.key);
  if (!head) return src.etag === undefined ? undefined : null;
  if (head.etag === src.etag) return undefined;
  return bucket.get(src.key);
}

/** The object of src now: just read (r), gone (null), or unchanged (undefined: read it again if it exists). */
async function currentObject(bucket: EnrichBucket, src: Source, r: StoredObject | null | undefined): Promise<StoredObject | undefined> {
  if (r) return r;
  if (r === null || src.etag === undefined) return undefined;
  return (await bucket.get(src.key)) ?? undefined;
}

async function reload(env: EnrichEnv, cfg: Config, st: State, now: number): Promise<void> {
  const errors: string[] = [];
  const bucket = env.ARCHIVE;
  let changed = false;
  if (st.inventory && (await reloadInventory(env, cfg, st.inventory, errors))) changed = true;
  for (const f of cfg.enrich.intel?.feeds ?? []) {
    const fs = st.feeds.get(f.name);
    if (!fs || !bucket || (!fs.compiled && !fs.raw)) continue;
    try {
      const c = fs.compiled ? await readIfChanged(bucket, fs.compiled) : undefined;
      const r = fs.raw ? await readIfChanged(bucket, fs.raw) : undefined;
      if (c === undefined && r === undefined && fs.loaded) continue;
      // something changed (or first load): rebuild from the current objects
      const compiledObj = fs.compiled ? await currentObject(bucket, fs.compiled, c) : undefined;
      const rawObj = fs.raw ? await currentObject(bucket, fs.raw, r) : undefined;
      const set = await buildFeed(f, cfg.enrich.intel!, compiledObj, rawObj);
      fs.loaded = { name: f.name, set, severityRaise: f.severityRaise };
      if (c) fs.compiled!.etag = c.etag;
      if (c === null) fs.compiled!.etag = undefined;
      if (r) fs.raw!.etag = r.etag;
      if (r === null) fs.raw!.etag = undefined;
      changed = true;
    } catch (e) {
      errors.push(`feed ${f.name}: ${(e as Error).message}`);
    }
  }
  st.checkedAt = now;
  st.errors = errors;
  for (const msg of errors) log("enrichment data not loaded; keeping the last good data", { error: msg });
  if (changed) {
    st.data = dataOf(cfg, st);
    st.enrich = makeEnricher(cfg, st.data);
  }
}

function dataOf(cfg: Config, st: State): EnrichData {
  const inline = inlineData(cfg);
  const data: EnrichData = { inventory: st.inventory?.value ?? inline.inventory };
  const intel = cfg.enrich.intel;
  if (intel) {
    const inlineFeeds = new Map((inline.intel?.feeds ?? []).map((f) => [f.name, f]));
    const feeds: LoadedFeed[] = [];
    for (const f of intel.feeds) {
      const loaded = st.feeds.get(f.name)?.loaded ?? inlineFeeds.get(f.name);
      if (loaded) feeds.push(loaded);
    }
    data.intel = { feeds, minConfidence: intel.minConfidence };
  }
  return data;
}

function newState(cfg: Config): State {
  const feeds = new Map<string, FeedState>();
  for (const f of cfg.enrich.intel?.feeds ?? []) {
    feeds.set(f.name, {
      compiled: f.url ? { key: feedKey(f.name) } : undefined,
      raw: f.r2Key ? { key: f.r2Key } : undefined,
    });
  }
  const inv = cfg.enrich.inventory;
  const data = inlineData(cfg);
  return {
    enrich: makeEnricher(cfg, data),
    data,
    inventory: inv?.r2Key || inv?.kvKey ? { r2: inv.r2Key ? { key: inv.r2Key } : undefined, kv: inv.kvKey ? { key: inv.kvKey } : undefined } : undefined,
    feeds,
    checkedAt: -Infinity,
    errors: [],
  };
}

function needsLoad(cfg: Config): boolean {
  const inv = cfg.enrich.inventory;
  return inv?.r2Key !== undefined || inv?.kvKey !== undefined || (cfg.enrich.intel?.feeds ?? []).some((f) => f.url !== undefined || f.r2Key !== undefined);
}

/**
 * The enricher for this config, with its R2/KV data loaded (first call) and re-checked when older than
 * intel.reloadSeconds. Never throws: a failed load keeps the last good data.
 */
export async function enricherFor(env: EnrichEnv, cfg: Config, now = Date.now()): Promise<Enricher> {
  let st = states.get(cfg);
  if (!st) {
    st = newState(cfg);
    states.set(cfg, st);
  }
  if (!needsLoad(cfg)) return st.enrich;
  const every = (cfg.enrich.intel?.reloadSeconds ?? 300) * 1000;
  if (now - st.checkedAt >= every) {
    const s = st;
    s.pending ??= reload(env, cfg, s, now)
      .catch((e: Error) => log("enrichment reload failed", { error: e.message }))
      .finally(() => (s.pending = undefined));
    await s.pending;
  }
  return st.enrich;
}

/** The data and last load errors behind enricherFor (tests, diagnostics). */
export function loadedState(cfg: Config): { data: EnrichData; errors: string[] } | undefined {
  const st = states.get(cfg);
  return st ? { data: st.data, errors: st.errors } : undefined;
}
