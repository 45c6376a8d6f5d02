// "Nothing lost" check, path by path: every leaf of an input record must be found either
//   (a) in the event's `unmapped`, at the same path (or under the root the normalizer documents, e.g.
//       unmapped.eventbridge for an EventBridge envelope), with the same value; or
//   (b) through a rule of the source's mapping table (test/support/field-maps.ts): input path -> OCSF
//       path(s), each of which must hold the leaf's value (or conv(value)).
// A leaf found neither way is reported by its exact path, so deleting one key from the output, mapped or
// unmapped, is caught even when its value happens to appear elsewhere in the event.
//
// Paths and patterns: keys joined by ".", array positions as [3]; a key holding anything but letters,
// digits, "_" or "-" is written ["proc.name"]. Patterns add `[]` (any position), `*` (any key) and a final
// `**` (any rest of the path). A target may use `[]`, `*` and `**`: they take the input's positions, keys
// and rest in order (one left without a capture, or `[?]`, matches any position: the value must be at one).
import type { Json } from "../../src/normalize/json";

export type Seg = string | number;

export interface FieldRule {
  /** Input path pattern, e.g. 'output_fields["proc.pid"]', "tags[]", "requestParameters.**". */
  from: string;
  /** OCSF paths that carry the value (all must), e.g. ["evidences[0].process.pid"]. */
  to: string[];
  /** The value the OCSF attribute holds for an input value (default: the same value, 42 and "42" alike). */
  conv?: (v: Json) => unknown;
  /** One expected value per target, for a leaf split over several attributes (e.g. "ip:port->ip:port"). */
  split?: (v: Json) => unknown[] | undefined;
}

export interface Lost {
  path: string;
  reason: string;
}

type Tok = { k: "key"; v: string } | { k: "idx"; v: number } | { k: "anyIdx" } | { k: "anyKey" } | { k: "rest" } | { k: "free" };

const PLAIN = /^[A-Za-z0-9_-]+$/;

/** A path as text; a null step (a target's free position or key) is written [*]. */
export function formatPath(p: readonly (Seg | null)[]): string {
  let s = "";
  for (const x of p) {
    if (x === null) s += "[*]";
    else if (typeof x === "number") s += `[${x}]`;
    else if (PLAIN.test(x)) s += s === "" ? x : `.${x}`;
    else s += `[${JSON.stringify(x)}]`;
  }
  return s === "" ? "(root)" : s;
}

const TOKEN = /\["((?:[^"\\]|\\.)*)"\]|\[(\d*|\?)\]|\.?([^.[\]]+)/y;
const parsed = new Map<string, Tok[]>();

export function parsePattern(p: string): Tok[] {
  const hit = parsed.get(p);
  if (hit) return hit;
  const out: Tok[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < p.length) {
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(p);
    if (!m) throw new Error(`bad path pattern ${JSON.stringify(p)} at ${at}`);
    if (m[1] !== undefined) out.push({ k: "key", v: JSON.parse(`"${m[1]}"`) as string });
    else if (m[2] !== undefined) out.push(m[2] === "" ? { k: "anyIdx" } : m[2] === "?" ? { k: "free" } : { k: "idx", v: Number(m[2]) });
    else if (m[3] === "**") out.push({ k: "rest" });
    else if (m[3] === "*") out.push({ k: "anyKey" });
    else out.push({ k: "key", v: m[3]! });
  }
  parsed.set(p, out);
  return out;
}

interface Captures {
  idx: number[];
  keys: string[];
  rest: Seg[];
}

function match(toks: Tok[], path: readonly Seg[]): Captures | undefined {
  const c: Captures = { idx: [], keys: [], rest: [] };
  let i = 0;
  for (let t = 0; t < toks.length; t++) {
    const tok = toks[t]!;
    if (tok.k === "rest") {
      c.rest = path.slice(i);
      return c;
    }
    const seg = path[i++];
    if (seg === undefined) return undefined;
    if (tok.k === "key" && seg !== tok.v) return undefined;
    if (tok.k === "idx" && seg !== tok.v) return undefined;
    if (tok.k === "free" && typeof seg !== "number") return undefined;
    if (tok.k === "anyIdx") {
      if (typeof seg !== "number") return undefined;
      c.idx.push(seg);
    }
    if (tok.k === "anyKey") {
      if (typeof seg !== "string") return undefined;
      c.keys.push(seg);
    }
  }
  return i === path.length ? c : undefined;
}

/** A target with the input's captures put in; a `[]` or `*` left without a capture matches any position or key. */
function resolve(target: string, c: Captures): (Seg | null)[] {
  const out: (Seg | null)[] = [];
  let ii = 0;
  let ki = 0;
  for (const tok of parsePattern(target)) {
    if (tok.k === "key" || tok.k === "idx") out.push(tok.v);
    else if (tok.k === "anyIdx") out.push(ii < c.idx.length ? c.idx[ii++]! : null);
    else if (tok.k === "anyKey") out.push(ki < c.keys.length ? c.keys[ki++]! : null);
    else if (tok.k === "free") out.push(null);
    else out.push(...c.rest);
  }
  return out;
}

/** Every concrete path (and its value) a resolved target names in `v`. */
function expand(v: unknown, p: readonly (Seg | null)[], from = 0, done: Seg[] = []): [Seg[], unknown][] {
  if (from === p.length) return [[done, v]];
  if (v === null || typeof v !== "object") return [];
  const s = p[from]!;
  if (s === null) return Object.keys(v).flatMap((k) => expand((v as Record<string, unknown>)[k], p, from + 1, [...done, Array.isArray(v) ? Number(k) : k]));
  if (!Object.prototype.hasOwnProperty.call(v, s)) return [];
  return expand((v as Record<string | number, unknown>)[s], p, from + 1, [...done, s]);
}

const MISSING = Symbol("missing");

function at(v: unknown, p: readonly Seg[]): unknown {
  let cur = v;
  for (const s of p) {
    if (cur === null || typeof cur !== "object") return MISSING;
    if (!Object.prototype.hasOwnProperty.call(cur, s)) return MISSING;
    cur = (cur as Record<string | number, unknown>)[s];
  }
  return cur;
}

/** Scalars equal as text (42 = "42"; big integers travel as decimal strings); null and empty containers by JSON. */
function same(expected: unknown, found: unknown): boolean {
  if (found === MISSING) return false;
  const scalar = (x: unknown) => x !== null && typeof x !== "object";
  if (scalar(expected) && scalar(found)) return String(expected) === String(found);
  return JSON.stringify(expected) === JSON.stringify(found);
}

function show(v: unknown): string {
  return v === MISSING ? "nothing" : JSON.stringify(v);
}

type Leaf = [Seg[], Json];

function leaves(v: Json, p: Seg[], out: Leaf[]): Leaf[] {
  if (Array.isArray(v)) {
    if (v.length === 0) out.push([p, v]);
    for (let i = 0; i < v.length; i++) leaves(v[i]!, [...p, i], out);
  } else if (v !== null && typeof v === "object") {
    const keys = Object.keys(v);
    if (keys.length === 0) out.push([p, v]);
    for (const k of keys) leaves(v[k]!, [...p, k], out);
  } else out.push([p, v]);
  return out;
}

export interface LostOptions {
  /** Where the input's unmapped leaves live in the event (default ["unmapped"]). */
  unmappedAt?: Seg[];
  /** Prefix for reported paths (e.g. "eventbridge envelope: "). */
  label?: string;
}

/**
 * Input leaves whose value is found neither at their own path under `unmapped` nor through a rule of
 * `table`. Each is reported by exact path, with what was expected where.
 */
export function lostFields(input: Json, event: unknown, table: readonly FieldRule[], o: LostOptions = {}): Lost[] {
  const unmapped = at(event, o.unmappedAt ?? ["unmapped"]);
  const lost: Lost[] = [];
  for (const [path, value] of leaves(input, [], [])) {
    if (same(value, at(unmapped, path))) continue;
    const tried: string[] = [];
    let found = false;
    for (const rule of table) {
      const c = match(parsePattern(rule.from), path);
      if (!c) continue;
      const wants = rule.split ? rule.split(value) : rule.to.map(() => (rule.conv ? rule.conv(value) : value));
      const bad: string[] = [];
      rule.to.forEach((t, i) => {
        const want = wants?.[i] === undefined ? MISSING : wants[i];
        const tp = resolve(t, c);
        const hits = expand(event, tp);
        if (!hits.some(([, v]) => want !== MISSING && same(want, v))) {
          bad.push(`${formatPath(tp)} holds ${hits.length ? hits.map(([, v]) => show(v)).join(" / ") : "nothing"}, not ${show(want)}`);
        }
      });
      if (bad.length === 0) {
        found = true;
        break;
      }
      tried.push(bad.join("; "));
    }
    if (found) continue;
    const where = `not in unmapped (${formatPath([...(o.unmappedAt ?? ["unmapped"]), ...path])} holds ${show(at(unmapped, path))})`;
    lost.push({ path: `${o.label ?? ""}${formatPath(path)}`, reason: tried.length ? `${where}; mapped: ${tried.join(" | ")}` : `${where}; no mapping rule` });
  }
  return lost;
}

/** The paths of lostFields (what most tests compare). */
export function lostPaths(input: Json, event: unknown, table: readonly FieldRule[], o: LostOptions = {}): string[] {
  return lostFields(input, event, table, o).map((l) => l.path);
}
