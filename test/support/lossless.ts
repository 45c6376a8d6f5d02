// "Nothing lost" check: which leaves of an input record carry information that appears nowhere in the
// normalized output. Used by test/normalize/lossless.test.ts over every fixture record.
//
// Rules (a deliberately simple, value-based notion of "kept"):
// - a non-null scalar leaf is kept when String(value) equals some output scalar leaf (String(...)), so 42 and
//   "42" match (integers beyond 2^53 travel as decimal strings, see src/normalize/json.ts); a string of 8 or
//   more characters is also kept when it is a substring of an output string leaf (e.g. an RFC 3339 time kept
//   in metadata.original_time, or a path inside a URL);
// - a null leaf is kept when its key name appears as a key anywhere in the output;
// - an empty object or array is kept when its key name appears as a key anywhere in the output.

type Leaf = { path: string; key: string; value: unknown; kind: "scalar" | "null" | "empty" };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function walk(v: unknown, path: string, key: string, out: Leaf[]): void {
  if (v === null) {
    out.push({ path, key, value: v, kind: "null" });
    return;
  }
  if (Array.isArray(v)) {
    if (v.length === 0) out.push({ path, key, value: v, kind: "empty" });
    v.forEach((x, i) => walk(x, `${path}[${i}]`, key, out));
    return;
  }
  if (isPlainObject(v)) {
    const keys = Object.keys(v);
    if (keys.length === 0) out.push({ path, key, value: v, kind: "empty" });
    for (const k of keys) walk(v[k], path ? `${path}.${k}` : k, k, out);
    return;
  }
  if (v !== undefined) out.push({ path, key, value: v, kind: "scalar" });
}

interface OutputIndex {
  values: Set<string>;
  strings: string[];
  keys: Set<string>;
}

function indexOutput(v: unknown, idx: OutputIndex): void {
  if (Array.isArray(v)) {
    for (const x of v) indexOutput(x, idx);
    return;
  }
  if (isPlainObject(v)) {
    for (const [k, x] of Object.entries(v)) {
      idx.keys.add(k);
      indexOutput(x, idx);
    }
    return;
  }
  if (v === null || v === undefined) return;
  idx.values.add(String(v));
  if (typeof v === "string") idx.strings.push(v);
}

/** Input leaf paths (e.g. "output_fields.proc.pid") whose information is nowhere in the output. */
export function missingFields(input: unknown, output: unknown): string[] {
  const leaves: Leaf[] = [];
  walk(input, "", "", leaves);
  const idx: OutputIndex = { values: new Set(), strings: [], keys: new Set() };
  indexOutput(output, idx);
  const missing: string[] = [];
  for (const l of leaves) {
    const name = l.path || "(root)";
    if (l.kind === "null" || l.kind === "empty") {
      if (!idx.keys.has(l.key)) missing.push(name);
      continue;
    }
    const s = String(l.value);
    if (idx.values.has(s)) continue;
    if (typeof l.value === "string" && s.length >= 8 && idx.strings.some((o) => o.includes(s))) continue;
    missing.push(name);
  }
  return missing;
}
