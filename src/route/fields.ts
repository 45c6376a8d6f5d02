// What the routing rules look at in an OCSF event. Each accessor reads the places the normalizers
// and enrichers write to, so a rule never needs to know where a value came from (docs/routing.md).
import type { OcsfEvent } from "../normalize/ocsf";
import { lookup, ownAt } from "../normalize/json";
import type { SOURCES } from "../config/routing";

export type Source = (typeof SOURCES)[number];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

// metadata.product.name as each normalizer writes it (lower-cased) -> source
const PRODUCT_SOURCE: Record<string, Source> = {
  falco: "falco",
  tetragon: "tetragon",
  kubernetes: "k8s_audit",
  "amazon eks": "k8s_audit",
  cloudtrail: "cloudtrail",
};

/** The sensor an event came from: falco, tetragon, k8s_audit or cloudtrail (undefined if unknown). */
export function sourceOf(e: OcsfEvent): Source | undefined {
  const name = e.metadata?.product?.name;
  return typeof name === "string" ? lookup(PRODUCT_SOURCE, name.toLowerCase()) : undefined;
}

/** Tags: metadata.labels, metadata.tags (names, and name:value), finding_info.types (Falco rule tags). */
export function tagsOf(e: OcsfEvent): string[] {
  const out: string[] = [];
  const push = (v: unknown) => {
    if (typeof v === "string") out.push(v);
    else if (isRecord(v) && typeof v.name === "string") {
      out.push(v.name);
      if (typeof v.value === "string") out.push(`${v.name}:${v.value}`);
    }
  };
  const md = e.metadata as Record<string, unknown> | undefined;
  for (const key of ["labels", "tags"]) {
    const list = md?.[key];
    if (Array.isArray(list)) list.forEach(push);
  }
  const fi = e.finding_info;
  if (isRecord(fi) && Array.isArray(fi.types)) fi.types.forEach(push);
  return out;
}

function addLabels(into: Map<string, string>, v: unknown): void {
  if (isRecord(v)) {
    for (const [k, val] of Object.entries(v)) if (typeof val === "string" || typeof val === "number" || typeof val === "boolean") into.set(k, String(val));
  } else if (Array.isArray(v)) {
    // OCSF key_value_pair objects ({name, value})
    for (const item of v) if (isRecord(item) && typeof item.name === "string" && item.value !== undefined) into.set(item.name, String(item.value));
  }
}

/** Inventory row fields that also count as host labels (besides the row's own labels). */
const INVENTORY_KEYS = ["environment", "criticality", "team", "owner", "region"];

/**
 * Labels of the host the event happened on, as key -> value: the host inventory enricher's row
 * (the enrichments[] entry of type "asset_inventory": its labels, and environment, criticality,
 * team, owner, region), Tetragon's node_labels and any unmapped.host_labels.
 */
export function hostLabelsOf(e: OcsfEvent): Map<string, string> {
  const out = new Map<string, string>();
  const u = e.unmapped;
  if (isRecord(u)) {
    addLabels(out, u.node_labels);
    addLabels(out, u.host_labels);
  }
  if (Array.isArray(e.enrichments)) {
    for (const en of e.enrichments) {
      if (en.type !== "asset_inventory" || !isRecord(en.data)) continue;
      for (const k of INVENTORY_KEYS) if (typeof en.data[k] === "string") out.set(k, en.data[k]);
      addLabels(out, en.data.labels);
    }
  }
  return out;
}

/** The keys of an OCSF path, split once: "evidences[0].process" -> ["evidences", "0", "process"]. */
export function pathKeys(path: string): string[] {
  return path.replace(/\[(\d+)\]/g, ".$1").split(".");
}

/**
 * The value at an OCSF path (its pathKeys) as text: "" when absent or null, numbers and booleans
 * printed, objects and lists as JSON. Own keys only (ownAt, as src/sinks/batch.ts fieldAt).
 */
export function valueAtKeys(e: OcsfEvent, keys: readonly string[]): string {
  const v = ownAt(e, keys);
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

/** Reputation scores from Suspicious/Risky (7) to Malicious (10) count as a threat-intel hit. */
export const INTEL_MIN_SCORE_ID = 7;

/**
 * True when a threat-intel enricher flagged the event: an observable whose reputation score_id is
 * 7-10 (Suspicious/Risky .. Malicious), or an enrichments[] entry of type "threat_intel"/"intel"/"ioc".
 */
export function hasIntelHit(e: OcsfEvent): boolean {
  if (Array.isArray(e.observables)) {
    for (const o of e.observables) {
      const s = o.reputation?.score_id;
      if (typeof s === "number" && s >= INTEL_MIN_SCORE_ID && s <= 10) return true;
    }
  }
  if (Array.isArray(e.enrichments)) {
    for (const en of e.enrichments) if (typeof en.type === "string" && /^(threat[ _-]?intel|intel|ioc)$/i.test(en.type)) return true;
  }
  return false;
}
