// Per-sink field projection (a sink's `projection` key, docs/sinks.md "Projection: send a sink less of each event"): send a SIEM billed by
// ingested bytes a lean event while the archive, the DLQ and the other sinks keep it whole.
//   { exclude: ["unmapped", "raw_data", "evidences.process.environment"] }  every field but these
//   { include: ["class_uid", ..., "metadata", "finding_info.title"] }      only these
//   { exclude: ["unmapped"], keep: ["unmapped.tributary"] }                 every field but these, save what keep
//                                                                           names inside them (Tributary's correlation
//                                                                           keys, which SIEM searches use)
// Paths are dotted OCSF paths; arrays are traversed implicitly, as in Elasticsearch's _source filtering:
// "evidences.process" means the process of every element of evidences. A path that is not in an event
// is no error (it removes or keeps nothing). A key that itself holds a dot (some `unmapped` keys, e.g.
// Falco's "proc.name") cannot be named on its own: name its parent ("unmapped").
// The fields delivery needs (DELIVERY_FIELDS) can be neither excluded nor left out of an include.
// Pure: compiled once per config (src/deliver/sinks.ts), applied once per delivery attempt before the
// driver encodes (src/deliver/attempt.ts). Events are never changed: a projection shares the parts of the
// event it leaves as they are and copies the objects on the way to what it removes.
import type { OcsfEvent } from "../normalize/ocsf";
import { isObject, setOwn } from "../normalize/json";

/** A sink's projection as configured: an include list, or an exclude list with what to keep inside it. */
export type ProjectionSpec = { include: string[] } | { exclude: string[]; keep?: string[] };

const BASE = "an OCSF base attribute every event must have; sinks read it (partitions by class and day, names, severities)";

/** Fields delivery needs, with why: OCSF's required base attributes and the event's uid. */
export const DELIVERY_FIELDS: Readonly<Record<string, string>> = {
  class_uid: BASE,
  category_uid: BASE,
  type_uid: BASE,
  activity_id: BASE,
  severity_id: BASE,
  time: BASE,
  "metadata.version": BASE,
  "metadata.product": BASE,
  "metadata.uid": "the event's uid: the dedupe key of SIEM records and storage objects across retries and replays",
};

/** Most paths in one list, and the longest path. */
export const MAX_PATHS = 200;
export const MAX_PATH_LENGTH = 256;

/** Why a path is malformed, or undefined. */
export function pathProblem(path: string): string | undefined {
  if (path.length > MAX_PATH_LENGTH) return `longer than ${MAX_PATH_LENGTH} characters`;
  if (path.includes("*")) return "wildcards are not supported: name the field (arrays are traversed without one: evidences.process)";
  if (/\s/.test(path)) return "white space in a path";
  if (path.split(".").some((s) => s === "")) return 'an empty segment: dotted OCSF path such as "evidences.process.environment"';
  return undefined;
}

/** `a` is `b` or one of its parents ("metadata" and "metadata.uid"). */
const covers = (a: string, b: string): boolean => a === b || b.startsWith(`${a}.`);

/** Why excluding `path` is refused (it is, holds or lies inside a field delivery needs), or undefined. */
export function excludeRefusal(path: string): string | undefined {
  for (const [need, why] of Object.entries(DELIVERY_FIELDS)) {
    if (path === need) return `cannot exclude ${need}: delivery needs it (${why})`;
    if (covers(path, need) || covers(need, path)) return `cannot exclude "${path}": it ${covers(path, need) ? "holds" : "is part of"} ${need}, which delivery needs (${why})`;
  }
  return undefined;
}

/** Why a `keep` path is refused (it is not inside an excluded path), or undefined. */
export function keepRefusal(path: string, exclude: readonly string[]): string | undefined {
  if (exclude.some((p) => p !== path && covers(p, path))) return undefined;
  return `keep "${path}" is not inside an excluded path: keep names what to send of an excluded field (exclude "unmapped", keep "unmapped.tributary")`;
}

/** The fields delivery needs that an include list leaves out, each with why. */
export function includeMissing(paths: readonly string[]): string[] {
  return Object.entries(DELIVERY_FIELDS)
    .filter(([need]) => !paths.some((p) => covers(p, need)))
    .map(([need, why]) => `include leaves out ${need}, which delivery needs (${why}): add "${need}"${need.includes(".") ? ` or "${need.split(".")[0]}"` : ""}`);
}

interface Node {
  /** The path ends here: the whole value is removed (exclude) or kept (include). */
  end: boolean;
  kids: Map<string, Node>;
  /** Exclude, at an end: what is sent of the value all the same (the `keep` paths under it, as an include). */
  keep?: Node;
}

function trie(paths: readonly string[], keep: readonly string[] = []): Node {
  const root: Node = { end: false, kids: new Map() };
  for (const p of paths) {
    let n = root;
    for (const seg of p.split(".")) {
      if (n.end) break; // a parent already ends here: it removes or keeps the whole value
      let k = n.kids.get(seg);
      if (!k) n.kids.set(seg, (k = { end: false, kids: new Map() }));
      n = k;
    }
    n.end = true;
    n.kids.clear();
  }
  // each keep path under the excluded path that holds it (the schema made sure there is one), as an include there
  const kept = new Map<Node, string[]>();
  for (const p of keep) {
    const segs = p.split(".");
    let n = root;
    let i = 0;
    while (!n.end && i < segs.length && n.kids.has(segs[i]!)) n = n.kids.get(segs[i++]!)!;
    if (n.end && i < segs.length) kept.set(n, [...(kept.get(n) ?? []), segs.slice(i).join(".")]);
  }
  for (const [n, rest] of kept) n.keep = trie(rest);
  return root;
}

type Obj = Record<string, unknown>;

/** `v` without the fields `node` names: `v` itself when none is there, else copies along the way. */
function without(v: unknown, node: Node): unknown {
  if (Array.isArray(v)) {
    let changed = false;
    const out = v.map((x) => {
      const y = without(x, node);
      if (y !== x) changed = true;
      return y;
    });
    return changed ? out : v;
  }
  if (!isObject(v)) return v;
  let out: Obj | undefined;
  for (const [k, kid] of node.kids) {
    if (!Object.hasOwn(v, k)) continue;
    if (kid.end) {
      out ??= { ...v };
      const kept = kid.keep ? only(v[k], kid.keep) : undefined;
      if (kept === undefined) delete out[k];
      else setOwn(out, k, kept);
      continue;
    }
    const x = v[k];
    const y = without(x, kid);
    if (y !== x) setOwn((out ??= { ...v }), k, y);
  }
  return out ?? v;
}

/** Only the fields `node` names, in the event's key order; undefined when none of them is there. */
function only(v: unknown, node: Node): unknown {
  if (Array.isArray(v)) {
    const out = v.map((x) => only(x, node)).filter((y) => y !== undefined);
    return out.length > 0 ? out : undefined;
  }
  if (!isObject(v)) return undefined;
  const out: Obj = {};
  let any = false;
  for (const k of Object.keys(v)) {
    const kid = node.kids.get(k);
    if (!kid) continue;
    const y = kid.end ? v[k] : only(v[k], kid);
    if (y === undefined) continue;
    setOwn(out, k, y);
    any = true;
  }
  return any ? out : undefined;
}

/** A compiled projection. */
export interface Projection {
  /** The spec it was compiled from (what check-config and /v1/test describe). */
  spec: ProjectionSpec;
  apply(event: OcsfEvent): OcsfEvent;
}

/**
 * Compiles a checked spec (the config schema refuses malformed paths and the fields delivery needs). Include
 * leaves out objects and array elements that none of its paths reaches into; exclude leaves an object it
 * emptied in place ({}).
 */
export function compileProjection(spec: ProjectionSpec): Projection {
  if ("include" in spec) {
    const root = trie(spec.include);
    // the delivery fields are always included (the schema makes sure), so the result is an event
    return { spec, apply: (e) => (only(e, root) ?? {}) as OcsfEvent };
  }
  const root = trie(spec.exclude, spec.keep);
  return { spec, apply: (e) => without(e, root) as OcsfEvent };
}

/** The events a projection gives, with their NDJSON lines (JSON.stringify of each projected event). */
export function projectItems(p: Projection, items: readonly { event: OcsfEvent; line: string }[]): { event: OcsfEvent; line: string }[] {
  return items.map((it) => {
    const event = p.apply(it.event);
    // an exclude that found none of its fields gives the event itself: its line is still the one to send
    return { event, line: event === it.event ? it.line : JSON.stringify(event) };
  });
}

/** Tributary's facts that SIEM searches join on (docs/correlation.md), with what for: check-config warns when a projection drops one. */
export const TRIBUTARY_FACTS: Readonly<Record<string, string>> = {
  "metadata.correlation_uid": "the hash its searches group by for everything about one pod, principal or credential",
  "unmapped.tributary.correlation": "the correlation keys and chain its searches use",
};

/** A fact (or part of one) a projection leaves out: why it matters and what to change in the projection to send it. */
export interface DroppedFact {
  path: string;
  why: string;
  fix: string;
}

/**
 * What of TRIBUTARY_FACTS a projection leaves out: a fact not included; excluded (or a path holding it excluded)
 * and not kept; or a part of it excluded (unmapped.tributary.correlation.keys), which no `keep` can send back (keep
 * names what to send inside an excluded path). The fix fits the case: the config refuses a keep that is not inside
 * an excluded path, and excluding metadata (which holds metadata.uid) at all.
 */
export function droppedFacts(spec: ProjectionSpec): DroppedFact[] {
  const out: DroppedFact[] = [];
  for (const [fact, why] of Object.entries(TRIBUTARY_FACTS)) {
    if ("include" in spec) {
      if (!spec.include.some((p) => covers(p, fact))) out.push({ path: fact, why, fix: `include "${fact}"` });
      continue;
    }
    const holder = spec.exclude.find((p) => covers(p, fact));
    if (holder === undefined) {
      for (const p of spec.exclude) if (covers(fact, p)) out.push({ path: p, why: `part of ${fact}, ${why}`, fix: `remove "${p}" from exclude` });
      continue;
    }
    // (an excluded path inside the holder is moot: the holder removes the whole value, keep sends back what it names)
    if ((spec.keep ?? []).some((k) => covers(k, fact))) continue;
    const below = fact.split(".").slice(0, holder.split(".").length + 1).join(".");
    const fix = holder === fact ? `remove "${fact}" from exclude` : spec.keep ? `add "${below}" to "keep"` : `add "keep": ["${below}"]`;
    out.push({ path: fact, why, fix });
  }
  return out;
}

/** For check-config and /v1/test: what a sink with this projection is sent of each event. */
export function describeProjection(spec: ProjectionSpec): string {
  if ("include" in spec) return `only ${spec.include.join(", ")}`;
  return `every field but ${spec.exclude.join(", ")}${spec.keep ? ` (keeping ${spec.keep.join(", ")})` : ""}`;
}
