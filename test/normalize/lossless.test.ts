// "No input field disappears", path by path: the lostFields checker (test/support/lossless.ts), the
// per-source mapping tables (test/support/field-maps.ts), every fixture record against its OCSF event, and
// proof that deleting one mapped or unmapped field from a real event is reported by exactly its path.
import { describe, it, expect } from "vitest";
import { lostFields, lostPaths, formatPath, type FieldRule } from "../support/lossless";
import { FIELD_MAPS, lossOf, envelopeLossOf } from "../support/field-maps";
import { fixtures, fixture } from "../support/fixtures";
import { runFixture, NEGATIVE_FIXTURES, FIXED_CTX } from "../support/fixture-pipeline";
import { parseJson, type Json, type JsonObject } from "../../src/normalize/json";
import { normalize } from "../../src/normalize/index";
import type { OcsfEvent, SourceKind } from "../../src/normalize/ocsf";
import { frame } from "../../src/routes/decode";
import { runPipeline } from "../../src/pipeline";

describe("lostFields", () => {
  it("finds a leaf kept in unmapped at its own path, and nothing else", () => {
    const input = { a: 1, b: { c: "text", d: [true, 2.5] } };
    expect(lostPaths(input, { unmapped: input }, [])).toEqual([]);
    // the same values elsewhere in the event do not count: only the path does
    expect(lostPaths(input, { x: 1, y: "text", z: [true, 2.5], unmapped: { b: { d: [true, 2.5] } } }, [])).toEqual(["a", "b.c"]);
  });

  it("follows mapping rules value for value (42 and \"42\" alike), with [] positions carried over", () => {
    const table: FieldRule[] = [
      { from: "pid", to: ["process.pid"] },
      { from: "tags[]", to: ["finding_info.types[]"] },
      { from: 'fields["proc.name"]', to: ["process.name", "observables[?].value"] },
    ];
    const input = { pid: "42", tags: ["a", "b"], fields: { "proc.name": "sh" } };
    const good = { process: { pid: 42, name: "sh" }, finding_info: { types: ["a", "b"] }, observables: [{ value: "x" }, { value: "sh" }] };
    expect(lostPaths(input, good, table)).toEqual([]);
    const swapped = { ...good, finding_info: { types: ["b", "a"] } };
    expect(lostPaths(input, swapped, table)).toEqual(["tags[0]", "tags[1]"]);
    const noObs = { ...good, observables: [] };
    const lost = lostFields(input, noObs, table);
    expect(lost.map((l) => l.path)).toEqual(['fields["proc.name"]']);
    expect(lost[0]!.reason).toContain('observables[*].value holds nothing, not "sh"');
  });

  it("`**` rules carry whole subtrees; several rules for one path are alternatives", () => {
    const table: FieldRule[] = [
      { from: "requestParameters.**", to: ["api.request.data.**"] },
      { from: "host", to: ["device.hostname"] },
      { from: "host", to: ["device.name"] },
    ];
    const input = { requestParameters: { bucket: "b", acl: { grants: [1, 2] } }, host: "not a hostname!" };
    const ev = { api: { request: { data: { bucket: "b", acl: { grants: [1, 2] } } } }, device: { name: "not a hostname!" } };
    expect(lostPaths(input, ev, table)).toEqual([]);
    const cut = { ...ev, api: { request: { data: { bucket: "b", acl: { grants: [1] } } } } };
    expect(lostPaths(input, cut, table)).toEqual(["requestParameters.acl.grants[1]"]);
  });

  it("null leaves and empty containers must be there as such", () => {
    const input = { "proc.pname": null, tags: [], meta: {}, other: null };
    expect(lostPaths(input, { unmapped: { "proc.pname": null, tags: [], meta: {} } }, [])).toEqual(["other"]);
    expect(lostPaths({ meta: {} }, { unmapped: { meta: [] } }, [])).toEqual(["meta"]);
  });

  it("big integers stay exact: a rounded number is not the same information", () => {
    const input = parseJson('{"evt.time": 1618923234553316352}');
    const table: FieldRule[] = [{ from: '["evt.time"]', to: ["metadata.original_time"] }];
    expect(lostPaths(input, { metadata: { original_time: "1618923234553316352" } }, table)).toEqual([]);
    expect(lostPaths(input, { metadata: { original_time: 1618923234553316400 } }, table)).toEqual(['["evt.time"]']);
  });

  it("writes paths unambiguously (dotted keys quoted)", () => {
    expect(formatPath(["output_fields", "proc.aname[2]", 0, "x-amz-id-2", "authorization.k8s.io/decision"])).toBe(
      'output_fields["proc.aname[2]"][0].x-amz-id-2["authorization.k8s.io/decision"]',
    );
    expect(formatPath([])).toBe("(root)");
  });
});

/** The source of a normalized event (the table to check it with). */
function kindOf(e: OcsfEvent): SourceKind {
  const kinds: Record<string, SourceKind> = { Falco: "falco", Tetragon: "tetragon", Kubernetes: "k8s_audit", CloudTrail: "cloudtrail" };
  return kinds[e.metadata.product.name]!;
}

describe("no input field disappears (every fixture record, path by path)", () => {
  for (const f of fixtures.filter((x) => !NEGATIVE_FIXTURES.has(x.name))) {
    it(f.name, () => {
      const { result, records } = runFixture(f);
      expect(result.errors.map((e) => `${e.path}: ${e.reason}`)).toEqual([]);
      // with no errors, events come in record order
      expect(result.events).toHaveLength(records.length);
      const lost = records.flatMap((r, i) => {
        const ev = result.events[i]!.event;
        const own = lossOf(kindOf(ev), r.record, ev);
        const env = r.envelope ? envelopeLossOf(r.envelope, ev) : [];
        return [...own, ...env].map((p) => `${r.path}: ${p}`);
      });
      expect(lost).toEqual([]);
    });
  }

  it("the tables only name sources that exist, and every rule pattern parses", () => {
    expect(Object.keys(FIELD_MAPS).sort()).toEqual(["cloudtrail", "falco", "k8s_audit", "tetragon"]);
    for (const rules of Object.values(FIELD_MAPS)) for (const r of rules) expect(() => lostFields({}, {}, [r])).not.toThrow();
  });
});

// ---------------------------------------------------------------------------------------------------------
// The checker catches a deletion: take a real event, remove one field, expect exactly that input path.

function one(name: string, line = 0): { rec: JsonObject; kind: SourceKind; ev: OcsfEvent; envelope?: JsonObject } {
  const text = fixture(name);
  const fr = frame(text, name.endsWith(".ndjson") ? "application/x-ndjson" : "application/json");
  const res = runPipeline([fr.values[line]!], [fr.paths[line]!], [], { ctx: FIXED_CTX });
  expect(res.errors).toEqual([]);
  const ev = res.events[0]!.event;
  const v = fr.values[line] as JsonObject;
  const isEnvelope = typeof v["detail-type"] === "string";
  const rec = (isEnvelope ? v.detail : v) as JsonObject;
  const envelope = isEnvelope ? (Object.fromEntries(Object.entries(v).filter(([k]) => k !== "detail")) as JsonObject) : undefined;
  expect(lossOf(kindOf(ev), rec, ev)).toEqual([]);
  return { rec, kind: kindOf(ev), ev, envelope };
}

/** A deep copy of the event without the value at `path` (dotted; array positions as numbers). */
function without(ev: OcsfEvent, path: (string | number)[]): OcsfEvent {
  const copy = JSON.parse(JSON.stringify(ev)) as Record<string, Json>;
  let cur: Json = copy;
  for (const k of path.slice(0, -1)) cur = (cur as Record<string | number, Json>)[k]!;
  expect(cur as object, path.join(".")).toHaveProperty([String(path.at(-1))]);
  delete (cur as Record<string | number, Json>)[path.at(-1)!];
  return copy as unknown as OcsfEvent;
}

describe("a deleted field is reported by exactly its path", () => {
  const tetragonLine = fixture("tetragon/process_kprobe.ndjson").split("\n").findIndex((l) => l.includes('"refcnt"'));

  it("Tetragon: unmapped process.refcnt removed (its value 1 is elsewhere in the event)", () => {
    const { rec, ev } = one("tetragon/process_kprobe.ndjson", tetragonLine);
    const cut = without(ev, ["unmapped", "process_kprobe", "process", "refcnt"]);
    expect(lostPaths(rec, cut, FIELD_MAPS.tetragon)).toEqual(["process_kprobe.process.refcnt"]);
  });

  it("Tetragon: mapped exec_id removed from actor.process.uid", () => {
    const { rec, ev } = one("tetragon/process_kprobe.ndjson", tetragonLine);
    const cut = without(ev, ["actor", "process", "uid"]);
    expect(lostPaths(rec, cut, FIELD_MAPS.tetragon)).toEqual(["process_kprobe.process.exec_id"]);
  });

  it("CloudTrail: unmapped managementEvent and readOnly removed (booleans found elsewhere)", () => {
    const { rec, ev } = one("cloudtrail/record__create-service-linked-channel__aws-docs.json");
    expect(ev.unmapped).toMatchObject({ managementEvent: expect.any(Boolean) as unknown as boolean, readOnly: expect.any(Boolean) as unknown as boolean });
    expect(lostPaths(rec, without(ev, ["unmapped", "managementEvent"]), FIELD_MAPS.cloudtrail)).toEqual(["managementEvent"]);
    expect(lostPaths(rec, without(ev, ["unmapped", "readOnly"]), FIELD_MAPS.cloudtrail)).toEqual(["readOnly"]);
  });

  it("CloudTrail: mapped eventSource removed from api.service.name", () => {
    const { rec, ev } = one("cloudtrail/record__start-logging__aws-docs.json");
    expect(lostPaths(rec, without(ev, ["api", "service", "name"]), FIELD_MAPS.cloudtrail)).toEqual(["eventSource"]);
  });

  it("EventBridge: the envelope's version removed from unmapped.eventbridge", () => {
    const { ev, envelope } = one("cloudtrail/eventbridge__s3-createbucket__aws-cwe-docs.json");
    expect(envelopeLossOf(envelope!, ev)).toEqual([]);
    const cut = without(ev, ["unmapped", "eventbridge", "version"]);
    expect(envelopeLossOf(envelope!, cut).map((l) => l.split(":")[0])).toEqual(["(envelope) version"]);
  });

  it("Falco: mapped output_fields[\"proc.tty\"] removed from evidences[0].process.session", () => {
    const { rec, ev } = one("falco/terminal-shell-in-container__falco-docs.json");
    const cut = without(ev, ["evidences", 0, "process", "session", "terminal"]);
    expect(lostPaths(rec, cut, FIELD_MAPS.falco)).toEqual(['output_fields["proc.tty"]']);
  });

  it("Kubernetes audit: one key of requestObject removed from api.request.data", () => {
    const { rec, ev } = one("k8s-audit/falco-docs__configmap-create-v1beta1.json");
    const data = (ev.api as { request: { data: { metadata: Record<string, unknown> } } }).request.data;
    expect(data.metadata.name).toBeDefined();
    const cut = without(ev, ["api", "request", "data", "metadata", "name"]);
    expect(lostPaths(rec, cut, FIELD_MAPS.k8s_audit)).toEqual(["requestObject.metadata.name"]);
  });

  it("a normalizer that drops a field is caught (fixture record through normalize, one key deleted by hand)", () => {
    const rec = parseJson(fixture("falco/read-sensitive-file-untrusted__plugins-collector-readme.json")) as JsonObject;
    const ev = normalize(rec, "falco", FIXED_CTX);
    expect(lossOf("falco", rec, ev)).toEqual([]);
    const cut = without(ev, ["finding_info", "types"]);
    const tags = (rec.tags as string[]).map((_, i) => `tags[${i}]`);
    expect(lostPaths(rec, cut, FIELD_MAPS.falco)).toEqual(tags);
  });
});
