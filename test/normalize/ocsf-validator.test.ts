// The OCSF validator (test/support/ocsf-validator.ts) must accept a good event and catch each kind of problem.
import { describe, it, expect } from "vitest";
import { validateOcsf, observableTypeIds } from "../support/ocsf-validator";

function good(): Record<string, unknown> {
  return {
    activity_id: 1,
    activity_name: "Create",
    category_uid: 2,
    category_name: "Findings",
    class_uid: 2004,
    class_name: "Detection Finding",
    type_uid: 200401,
    type_name: "Detection Finding: Create",
    severity_id: 5,
    severity: "Critical",
    time: 1700000000123,
    time_dt: "2023-11-14T22:13:20.123Z",
    status_id: 1,
    status: "New",
    message: "A shell was spawned in a container",
    metadata: {
      version: "1.3.0",
      product: { name: "Falco", vendor_name: "Falcosecurity" },
      uid: "1b6e8c4a-0000-4000-8000-000000000001",
      original_time: "2023-11-14T22:13:20.123456789Z",
      labels: ["a", "b"],
    },
    finding_info: {
      uid: "1b6e8c4a-0000-4000-8000-000000000001",
      title: "Terminal shell in container",
      types: ["container", "shell"],
      analytic: { type_id: 1, type: "Rule", name: "Terminal shell in container" },
    },
    device: { hostname: "node-1.example.com", type_id: 0, type: "Unknown" },
    evidences: [
      {
        process: { pid: 42, name: "bash", cmd_line: "bash -i", parent_process: { pid: 1, name: "runc" }, user: { name: "root", uid: "0" } },
        container: { uid: "abc123", name: "web", image: { uid: "sha256:0123", name: "nginx", tag: "latest" } },
        src_endpoint: { ip: "10.0.0.1", port: 5678 },
      },
    ],
    enrichments: [{ name: "x", value: "y", data: { anything: { goes: [1, "two", null] } } }],
    observables: [
      { name: "evidences[0].process.pid", type_id: 15, value: "42" },
      { name: "device.hostname", type_id: 1, value: "node-1.example.com" },
      { name: "evidences[0].container", type_id: 27 },
    ],
    unmapped: { "anything.goes": { nested: null }, list: [1, 2] },
  };
}

const DELETE = Symbol("delete");
type Change = [path: string, value: unknown];

/** A copy of the good event with values set (or deleted) at dotted paths ("evidences.0.process.pid"). */
function withChange(...changes: Change[]): Record<string, unknown> {
  const e = good();
  for (const [path, value] of changes) {
    const keys = path.split(".");
    let cur = e as Record<string, unknown>;
    for (const k of keys.slice(0, -1)) cur = cur[k] as Record<string, unknown>;
    const last = keys[keys.length - 1]!;
    if (value === DELETE) delete cur[last];
    else cur[last] = value;
  }
  return e;
}

describe("validateOcsf", () => {
  it("accepts a valid Detection Finding", () => {
    expect(validateOcsf(good())).toEqual([]);
  });

  it("knows the 1.3.0 observable type ids", () => {
    const ids = [...observableTypeIds()].sort((a, b) => a - b);
    expect(ids).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 30, 99]);
  });

  const cases: [string, Change[], string][] = [
    ["missing required top-level attribute", [["severity_id", DELETE]], "severity_id: required attribute missing"],
    ["missing required nested attribute", [["finding_info.title", DELETE]], "finding_info.title: required attribute missing"],
    ["missing metadata.product", [["metadata.product", DELETE]], "metadata.product: required attribute missing"],
    ["unknown nested attribute", [["evidences.0.process.foo", 1]], "evidences[0].process: unknown attribute 'foo'"],
    ["unknown top-level attribute", [["pod", {}]], "(event): unknown attribute 'pod'"],
    ["attribute the class does not have", [["evidences.0.http_request", {}]], "evidences[0]: unknown attribute 'http_request'"],
    ["enum value not listed", [["severity_id", 7]], "severity_id: 7 is not in enum"],
    ["enum value not listed (nested)", [["finding_info.analytic.type_id", 42]], "finding_info.analytic.type_id: 42 is not in enum"],
    ["string enum without Other", [["vulnerabilities", [{ cve: { uid: "CVE-1", cvss: [{ version: "3.1", base_score: 1, depth: "Other" }] } }]]], 'vulnerabilities[0].cve.cvss[0].depth: "Other" is not in enum (Base, Environmental, Temporal)'],
    ["enum sibling caption mismatch", [["severity", "High"]], "severity_id: 5 is 'Critical' but severity is 'High'"],
    ["string for an integer", [["evidences.0.process.pid", "42"]], "evidences[0].process.pid: expected integer_t"],
    ["float for a timestamp", [["time", 1.5]], "time: expected timestamp_t"],
    ["number for a string", [["finding_info.title", 3]], "finding_info.title: expected string_t"],
    ["boolean type", [["finding_info.src_url", true]], "finding_info.src_url: expected url_t"],
    ["object expected", [["device", "node-1"]], "device: expected object device"],
    ["array expected (is_array)", [["finding_info.types", "shell"]], "finding_info.types: expected an array"],
    ["single value expected", [["device", [good().device]]], "device: expected a single value"],
    ["bad ip_t", [["evidences.0.src_endpoint.ip", "10.0.0.300"]], "evidences[0].src_endpoint.ip: string \"10.0.0.300\" is not a valid ip_t"],
    ["port range", [["evidences.0.src_endpoint.port", 70000]], "evidences[0].src_endpoint.port: 70000 is outside port_t range"],
    ["bad datetime profile attribute", [["time_dt", "yesterday"]], "time_dt: string \"yesterday\" is not a valid datetime_t"],
    ["null value", [["message", null]], "message: is null"],
    ["at_least_one constraint", [["evidences.0.process", { name: "bash" }]], "evidences[0].process: at least one of [pid, uid] is required"],
    ["at_least_one on an extended object", [["evidences.0.container", { image: { name: "x" } }]], "evidences[0].container: at least one of [uid, name] is required"],
    ["empty evidence", [["evidences", [{}]]], "evidences[0]: at least one of [actor, api,"],
    ["required attribute deep inside", [["evidences.0.process.file", { name: "bash", type_id: 1, signature: { algorithm_id: 1, certificate: { issuer: "i", serial_number: "s" } } }]], "evidences[0].process.file.signature.certificate.fingerprints: required attribute missing"],
    ["class_uid formula", [["category_uid", 1]], "category_uid: 1 but class Detection Finding is in category 2"],
    ["type_uid formula", [["type_uid", 200402]], "type_uid: 200402 != class_uid*100 + activity_id (200401)"],
    ["unknown class", [["class_uid", 2099]], "class_uid: 2099 is not an OCSF 1.3.0 event class"],
    ["metadata.version", [["metadata.version", "1.1.0"]], "metadata.version: \"1.1.0\" is not the schema version 1.3.0"],
    ["observable type id outside 1.3.0", [["observables.0.type_id", 28]], "observables[0].type_id: 28 is not in enum"],
    ["observable type id of the wrong kind", [["observables.1.type_id", 2]], "observables[1].type_id: 2 but device.hostname is an observable of type 1"],
    ["observable without name", [["observables.0.name", DELETE]], "observables[0].name: required attribute missing"],
    ["unknown profile", [["metadata.profiles", ["linux_users"]]], "metadata.profiles[0]: 'linux_users' is not an OCSF 1.3.0 profile"],
    ["applied profile makes its attributes required", [["metadata.profiles", ["cloud"]]], "cloud: required attribute missing"],
    ["security_control profile requires action_id", [["metadata.profiles", ["security_control"]]], "action_id: required attribute missing"],
  ];
  for (const [what, change, expected] of cases) {
    it(`catches: ${what}`, () => {
      const problems = validateOcsf(withChange(...change));
      expect(problems.some((p) => p.startsWith(expected)), `${expected}\n  in ${JSON.stringify(problems)}`).toBe(true);
    });
  }

  it("allows anything inside unmapped and json_t attributes, and profile attributes when not applied", () => {
    const e = withChange(
      ["unmapped", { "k8s.pod.name": null, deep: { a: [{ b: 1 }] } }],
      ["enrichments.0.data", [1, { c: "d" }]],
      ["cloud", { provider: "AWS", region: "us-east-1" }],
      ["api", { operation: "RunInstances" }],
      ["evidences.0.process.container", { uid: "abc" }],
      ["metadata.profiles", ["cloud", "container"]],
    );
    expect(validateOcsf(e)).toEqual([]);
  });

  it("checks other classes through their extends chains (Process Activity 1007)", () => {
    const e = {
      activity_id: 1,
      category_uid: 1,
      class_uid: 1007,
      type_uid: 100701,
      severity_id: 1,
      time: 1,
      metadata: { version: "1.3.0", product: { name: "Tetragon", vendor_name: "Cilium" } },
      device: { hostname: "n1", type_id: 0 },
      actor: { process: { pid: 1 } },
      process: { pid: 2, name: "sh" },
    };
    expect(validateOcsf(e)).toEqual([]);
    expect(validateOcsf({ ...e, process: undefined, type_uid: 100702 })).toEqual(
      expect.arrayContaining(["process: required attribute missing", "type_uid: 100702 != class_uid*100 + activity_id (100701)"]),
    );
  });

  it("checks just_one constraints (Authorize Session 3003)", () => {
    const e = {
      activity_id: 1,
      category_uid: 3,
      class_uid: 3003,
      type_uid: 300301,
      severity_id: 1,
      time: 1,
      metadata: { version: "1.3.0", product: { name: "p", vendor_name: "v" } },
      user: { name: "alice" },
      privileges: ["SeDebugPrivilege"],
    };
    expect(validateOcsf(e)).toEqual([]);
    expect(validateOcsf({ ...e, group: { name: "admins" } })).toEqual(["(event): exactly one of [privileges, group] is required"]);
  });

  it("rejects what is not an object", () => {
    expect(validateOcsf("x")[0]).toMatch(/expected a JSON object/);
    expect(validateOcsf(null)[0]).toMatch(/expected a JSON object/);
  });

  it("refuses a schema version that is not vendored", () => {
    expect(() => validateOcsf(good(), { version: "9.9.9" })).toThrow(/not vendored/);
  });
});
