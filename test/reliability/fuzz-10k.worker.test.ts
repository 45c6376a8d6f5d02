// Reliability (issue 9): 10,000 generated request bodies through worker.fetch inside workerd; none may
// crash the handler or get a 5xx. The bodies are real records of every source (the fixtures), mutated
// where the normalizers look: fields removed, set to null, replaced by random JSON of another type,
// wrapped in arrays, turned into integers beyond 2^53, very long or odd Unicode strings; one to five
// records per body, as one JSON value, a JSON array or NDJSON, sometimes gzipped, on every ingest
// route. (test/routes/fuzz.worker.test.ts covers raw bytes, broken encodings and headers in 400 runs.)
// What a 2xx accepted must be on the queue, and every queued event must carry an OCSF class and a uid.
import { it, expect } from "vitest";
import fc from "fast-check";
import { gzipSync } from "fflate";
import type { Json } from "../../src/normalize/json";
import { CaptureQueue, call, linesOf } from "../routes/helpers";

const RUNS = 10_000;
const records: Json[] = [
  ...linesOf("falco"),
  ...linesOf("falco-k8saudit"),
  ...linesOf("falco-cloudtrail"),
  ...linesOf("tetragon"),
  ...linesOf("k8s-audit"),
  ...linesOf("cloudtrail").slice(0, 12),
].map((l) => JSON.parse(l) as Json);

/** Quarantine and spill writes stay in memory (10,000 runs would fill the local R2). */
function memoryBucket(): R2Bucket {
  const m = new Map<string, string>();
  return {
    put: async (k: string, v: string) => void m.set(k, String(v)),
    get: async (k: string) => (m.has(k) ? { text: async () => m.get(k)!, json: async () => JSON.parse(m.get(k)!) as unknown } : null),
    list: async () => ({ objects: [], truncated: false, delimitedPrefixes: [] }),
    head: async () => null,
  } as unknown as R2Bucket;
}

const BIG = "\u0000BIGINT\u0000"; // replaced by an integer literal beyond 2^53 once serialized
type Mutation = { path: number[]; op: "delete" | "null" | "replace" | "wrap" | "bigint" | "long" | "unicode" | "number"; value: Json; text: string };

const mutation: fc.Arbitrary<Mutation> = fc.record({
  path: fc.array(fc.nat(), { minLength: 1, maxLength: 5 }),
  op: fc.constantFrom("delete", "null", "replace", "wrap", "bigint", "long", "unicode", "number"),
  value: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
  text: fc.string({ unit: "grapheme", maxLength: 40 }),
});

/** Applies a mutation at the node the path leads to (each step picks a key or an index modulo the size). */
function mutate(root: Json, m: Mutation): Json {
  const fresh = (): Json => {
    switch (m.op) {
      case "null":
        return null;
      case "replace":
        return m.value;
      case "bigint":
        return BIG;
      case "long":
        return m.text.repeat(2000 / Math.max(1, m.text.length)) || "x".repeat(2000);
      case "unicode":
        return `\ud800${m.text}\u202e\u0000\uffff`;
      case "number":
        return m.path[0]! % 2 ? -1e308 : 1.5;
      default:
        return m.value;
    }
  };
  if (typeof root !== "object" || root === null) return fresh();
  let parent: Json[] | { [k: string]: Json } = root;
  for (let depth = 0; depth < m.path.length; depth++) {
    const keys: (string | number)[] = Array.isArray(parent) ? parent.map((_, i) => i) : Object.keys(parent);
    if (keys.length === 0) return root;
    const key = keys[m.path[depth]! % keys.length]!;
    const child: Json = (parent as Record<string | number, Json>)[key]!;
    const last = depth === m.path.length - 1 || typeof child !== "object" || child === null;
    if (!last) {
      parent = child as Json[] | { [k: string]: Json };
      continue;
    }
    const at = parent as Record<string | number, Json>;
    if (m.op === "delete") {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete at[key];
    } else if (m.op === "wrap") at[key] = [child];
    else at[key] = fresh();
    return root;
  }
  return root;
}

const mutated = fc
  .tuple(fc.nat(records.length - 1), fc.array(mutation, { minLength: 0, maxLength: 4 }))
  .map(([i, ms]) => ms.reduce<Json>((r, m) => mutate(r, m), structuredClone(records[i]!)));
const layouts = fc.constantFrom("ndjson", "array", "single");
const routes = fc.constantFrom("/v1/events", "/", "/v1/events/falco", "/v1/events/tetragon", "/v1/events/k8s-audit", "/v1/events/cloudtrail");
const types = fc.constantFrom("application/json", "application/x-ndjson", undefined, "text/plain");

function serialize(rs: Json[], layout: string): string {
  const text = (v: Json) => JSON.stringify(v).replaceAll(`"${BIG}"`, "123456789012345678901234");
  if (layout === "array") return `[${rs.map(text).join(",")}]`;
  if (layout === "single") return text(rs[0]!);
  return rs.map(text).join("\n");
}

it(
  `${RUNS} mutated real records never crash the handler nor produce a 5xx`,
  async () => {
    let runs = 0;
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(fc.array(mutated, { minLength: 1, maxLength: 5 }), layouts, routes, types, fc.boolean(), async (rs, layout, path, ct, gzip) => {
        runs++;
        const text = serialize(rs, layout);
        const headers: Record<string, string> = {};
        if (ct) headers["content-type"] = ct;
        let body: Uint8Array = new TextEncoder().encode(text);
        if (gzip) {
          body = gzipSync(body);
          headers["content-encoding"] = "gzip";
        }
        const queue = new CaptureQueue();
        const r = await call(new Request(`http://tributary${path}`, { method: "POST", body, headers }), { queue, archive: memoryBucket() });
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        expect(r.status, JSON.stringify(r.body).slice(0, 500)).toBeLessThan(500);
        expect(r.body.accepted, "the answer is JSON").not.toBe(-1);
        if (r.status === 202) {
          expect(r.body.accepted).toBeGreaterThan(0);
          expect(queue.count()).toBe(r.body.accepted);
          for (const e of queue.events()) {
            expect(typeof e.class_uid).toBe("number");
            expect(typeof (e.metadata as { uid?: unknown }).uid).toBe("string");
          }
        } else if (r.status === 200) {
          // a well-formed body holding only empty containers: nothing queued, nothing wrong
          expect(queue.count()).toBe(0);
          expect(r.body).toMatchObject({ accepted: 0, rejected: 0, errors: [] });
        } else {
          expect(queue.count()).toBe(0);
          expect(r.body.errors.length).toBeGreaterThan(0);
        }
        if ((r.status === 202 || r.status === 400) && r.body.errors[0]?.index !== -1) {
          expect(r.body.errors.length + ((r.body.errors_omitted as number | undefined) ?? 0)).toBe(r.body.rejected);
        }
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
    expect(runs).toBe(RUNS);
    // the bodies reached the mapping: many accepted, many rejected with reasons
    expect(statuses.get(202) ?? 0, JSON.stringify([...statuses])).toBeGreaterThan(RUNS / 10);
    expect(statuses.get(400) ?? 0, JSON.stringify([...statuses])).toBeGreaterThan(RUNS / 10);
  },
  15 * 60_000,
);
