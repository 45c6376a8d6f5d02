// Sender-supplied keys named "__proto__", "constructor", "prototype" (and other Object.prototype member
// names) at any depth of a record: JSON.parse makes them own data keys, and the pipeline must keep them as
// data. Object.prototype is never modified, no object of an event gets a sender's prototype, and the key
// comes out where the record's other unmapped keys come out (docs/security.md).
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { runPipeline } from "../../src/pipeline";
import { parseJson, setOwn, type Json, type JsonObject } from "../../src/normalize/json";
import { makeEnricher } from "../../src/enrich/index";
import { parseConfig } from "../../src/config/load";
import { fieldAt } from "../../src/sinks/batch";
import { sourceOf } from "../../src/route/fields";
import { bodyFormat, BodyError } from "../../src/routes/body";
import { ingestRoutes } from "../../src/routes/ingest";
import { mispAttribute, type ParseStats } from "../../src/enrich/feeds";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { fixture } from "../support/fixtures";
import { FIXED_CTX } from "../support/fixture-pipeline";

const SPECIAL = ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "valueOf"] as const;

/** Records to inject into, and the objects in each (paths) whose unknown keys the normalizer keeps in unmapped. */
const TARGETS: { name: string; line?: number; paths: string[][] }[] = [
  { name: "falco/terminal-shell-in-container__falco-docs.json", paths: [[], ["output_fields"]] },
  { name: "k8s-audit/falco-trace__exec_pod.json", paths: [[], ["annotations"], ["user"], ["objectRef"], ["responseStatus"]] },
  { name: "cloudtrail/record__console-login-iamuser-mfa__aws-docs.json", paths: [[], ["userIdentity"], ["additionalEventData"], ["responseElements"]] },
  { name: "tetragon/process_exec.ndjson", line: 0, paths: [[], ["process_exec"], ["process_exec", "process"], ["process_exec", "process", "pod"], ["process_exec", "parent"]] },
];

function baseRecord(name: string, line?: number): JsonObject {
  const text = line === undefined ? fixture(name) : fixture(name).split("\n").filter((l) => l.trim())[line]!;
  return JSON.parse(text) as JsonObject;
}

function objectAt(rec: JsonObject, path: string[]): JsonObject {
  let v: Json = rec;
  for (const k of path) v = (v as JsonObject)[k]!;
  return v as JsonObject;
}

/** Every object and array in v: its prototype is Object.prototype or Array.prototype (never a sender's object). */
function foreignPrototypes(v: unknown, at: string, out: string[]): string[] {
  if (typeof v !== "object" || v === null) return out;
  const p = Object.getPrototypeOf(v) as unknown;
  if (p !== Object.prototype && p !== Array.prototype && p !== null) out.push(at);
  for (const k of Object.keys(v)) foreignPrototypes((v as Record<string, unknown>)[k], `${at}.${k}`, out);
  return out;
}

const protoNames = () => Object.getOwnPropertyNames(Object.prototype).sort().join(",");

/** Values whose JSON text survives the round trip unchanged (no long integers, which parseJson quotes). */
const value = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.integer({ min: -1000, max: 1000 }),
  fc.boolean(),
  fc.dictionary(fc.constantFrom("polluted", "isAdmin", "cluster_name", "k8smeta.cluster.name", "x"), fc.string({ maxLength: 6 }), { maxKeys: 3 }),
);

function run(rec: JsonObject, enrich?: (e: OcsfEvent) => OcsfEvent): OcsfEvent {
  // the record goes through its JSON text, as a request body does (JSON.parse makes "__proto__" an own key)
  const r = runPipeline([parseJson(JSON.stringify(rec))], ["[0]"], [], { ctx: FIXED_CTX, enrich });
  expect(r.errors).toEqual([]);
  expect(r.events).toHaveLength(1);
  return r.events[0]!.event;
}

describe("special keys in records (prototype pollution)", () => {
  const enrich = makeEnricher(parseConfig({}));

  it("keeps the key and its value in the event; Object.prototype untouched; no sender prototypes", () => {
    const before = protoNames();
    const target = fc.constantFrom(...TARGETS.flatMap((t) => t.paths.map((path) => ({ ...t, path }))));
    fc.assert(
      fc.property(target, fc.constantFrom(...SPECIAL), value, (t, key, v) => {
        const rec = baseRecord(t.name, t.line);
        setOwn(objectAt(rec, t.path), key, v);
        const e = run(rec, enrich);
        expect(protoNames()).toBe(before);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect(foreignPrototypes(e, "event", [])).toEqual([]);
        // the key with its value, as JSON, is in the event's JSON: in unmapped, where the object's other unknown keys
        // go (CloudTrail's responseElements is carried whole as api.response.data); raw_data is off
        expect(JSON.stringify(e)).toContain(`${JSON.stringify(key)}:${JSON.stringify(v)}`);
      }),
      { numRuns: 300, seed: 20261206 },
    );
  });

  it("a Falco \"__proto__\" output field stays in unmapped.output_fields and lends no values to lookups (cluster name)", () => {
    const rec = baseRecord("falco/terminal-shell-in-container__falco-docs.json");
    setOwn(objectAt(rec, ["output_fields"]), "__proto__", { "k8smeta.cluster.name": "evil" });
    setOwn(rec, "__proto__", { cluster_name: "evil2" });
    const e = run(rec, enrich);
    const of = (e.unmapped as JsonObject).output_fields as JsonObject;
    expect(Object.getPrototypeOf(of)).toBe(Object.prototype);
    expect(Object.hasOwn(of, "__proto__")).toBe(true);
    expect(Object.hasOwn(e.unmapped as JsonObject, "__proto__")).toBe(true);
    expect((e.metadata.labels ?? []).filter((l) => l.includes("evil"))).toEqual([]);
  });

  it("priority/type/status values named like Object.prototype members map to Unknown/Other, not to Object's functions", () => {
    for (const p of ["constructor", "__proto__", "toString"]) {
      const rec = baseRecord("falco/terminal-shell-in-container__falco-docs.json");
      rec.priority = p;
      const e = run(rec);
      expect(e.severity_id).toBe(99);
    }
    const ct = baseRecord("cloudtrail/record__console-login-iamuser-mfa__aws-docs.json");
    (ct.userIdentity as JsonObject).type = "constructor";
    const user = (run(ct).actor as JsonObject | undefined)?.user as JsonObject | undefined;
    expect(user?.type_id).toBe(99);
    expect(user?.type).toBe("constructor");
  });

  it("a Tetragon pod label named \"__proto__\" is a label like any other", () => {
    const rec = baseRecord("tetragon/process_exec.ndjson", 0);
    setOwn(objectAt(rec, ["process_exec", "process", "pod", "pod_labels"]), "__proto__", "x");
    const e = run(rec, enrich);
    expect(e.metadata.labels).toContain("k8s.label.__proto__:x");
  });

  it("fieldAt (routing, noise, sink templates) reads own keys only", () => {
    const e = run(baseRecord("falco/terminal-shell-in-container__falco-docs.json"));
    expect(fieldAt(e, "unmapped.output_fields.constructor")).toBeUndefined();
    expect(fieldAt(e, "metadata.__proto__")).toBeUndefined();
    expect(fieldAt(e, "finding_info.title.length")).toBeUndefined();
    expect(fieldAt(e, "finding_info.title")).toBe("Terminal shell in container");
    expect(sourceOf({ ...e, metadata: { ...e.metadata, product: { name: "constructor", vendor_name: "x" } } })).toBeUndefined();
  });

  it("request-chosen names (Content-Type, the source in /v1/events/:source, a MISP type) never select Object's members", async () => {
    const limits = parseConfig({}).limits;
    for (const ct of ["constructor", "__proto__", "toString"]) {
      expect(() => bodyFormat(new Headers({ "content-type": ct }), limits)).toThrow(BodyError);
    }
    for (const source of ["constructor", "__proto__", "toString"]) {
      const res = await ingestRoutes.request(`/v1/events/${source}`, { method: "POST", body: "{}" });
      expect(res.status).toBe(404);
    }
    const st: ParseStats = { indicators: 0, invalid: 0, skipped: 0, samples: [] };
    const got: string[] = [];
    mispAttribute({ type: "constructor", value: "1.2.3.4" }, st, "auto", false, (i) => got.push(String(i)));
    expect(got).toEqual([]);
    expect(st.skipped).toBe(1);
  });
});
