// Fingerprints over real fixture events: defaults per source, hosts and tenants never shared, stable
// across copies that differ only in uid and time, configurable paths.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ALWAYS_FIELDS, DEFAULT_FIELDS, FALLBACK_FIELDS, fingerprint, fingerprintFields, fingerprintParts, ruleOf, valueAt } from "../../src/noise/fingerprint";
import { sourceOf } from "../../src/route/fields";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { fixtures, fixture } from "../support/fixtures";
import { runFixture } from "../support/fixture-pipeline";

function eventsOf(name: string): OcsfEvent[] {
  const f = fixtures.find((x) => x.name === name);
  if (!f) throw new Error(`no fixture ${name}`);
  return runFixture(f).result.events.map((r) => r.event);
}

const all = fixtures.flatMap((f) => runFixture(f).result.events.map((r) => r.event));
const shell = eventsOf("falco/terminal-shell-in-container__falco-docs.json")[0]!;

/** A copy with other values at some paths (dotted, objects created on the way). */
function withValues(e: OcsfEvent, values: Record<string, unknown>): OcsfEvent {
  const copy = structuredClone(e);
  for (const [path, v] of Object.entries(values)) {
    const keys = path.split(".");
    let o = copy as Record<string, unknown>;
    for (const k of keys.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>;
    o[keys[keys.length - 1]!] = v;
  }
  return copy;
}

describe("default fingerprints per source", () => {
  it("Falco: class, tenant, host, rule, container, command line", () => {
    expect(fingerprintFields(shell)).toEqual([...ALWAYS_FIELDS, ...DEFAULT_FIELDS.falco]);
    // no user, API call or source address of a plugin alert; the Pod of the container
    expect(fingerprintParts(shell)).toEqual(["2004", "acme", "falco-xczjd", "Terminal shell in container", "ee97d9c4186f", "sh -c clear; (bash || ash || sh)", "", "", "", "", "Pod", "default", "kubecon"]);
  });

  it("Falco k8saudit and cloudtrail plugin alerts: another user, resource or address is another alert", () => {
    const exec = eventsOf("falco-k8saudit/attach-exec-pod__eks-blog.json")[0]!;
    expect(valueAt(exec, "evidences[0].actor.user.name")).toBe("kubernetes-admin");
    const copy = withValues(exec, { "metadata.uid": "other", time: exec.time + 1 });
    expect(fingerprint(copy)).toBe(fingerprint(exec));
    for (const [path, v] of [
      ["evidences.0.actor.user.name", "mallory"],
      ["evidences.0.api.operation", "attach"],
      ["resources.0.name", "payments-db-0"],
      ["resources.0.namespace", "prod"],
    ] as const)
      expect(fingerprint(withValues(exec, { [path]: v })), path).not.toBe(fingerprint(exec));
    const ct = eventsOf("falco-cloudtrail/terraform-managed-resource-modified__authorize-sg-ingress.json")[0]!;
    expect(valueAt(ct, "evidences[0].src_endpoint.ip")).not.toBe("");
    for (const path of ["evidences.0.actor.user.name", "evidences.0.actor.user.account.uid", "evidences.0.src_endpoint.ip"])
      expect(fingerprint(withValues(ct, { [path]: "other" })), path).not.toBe(fingerprint(ct));
  });

  it("Tetragon: binary, arguments, policy and hook", () => {
    const kprobe = eventsOf("tetragon/process_kprobe.ndjson").find((e) => valueAt(e, "authorizations[0].policy.name") !== "")!;
    expect(kprobe).toBeDefined();
    const parts = new Map(fingerprintFields(kprobe).map((f, i) => [f, fingerprintParts(kprobe)[i]]));
    expect(parts.get("device.hostname")).not.toBe("");
    expect(parts.get("actor.process.file.path")).not.toBe("");
    expect(parts.get("authorizations[0].policy.name")).not.toBe("");
    expect(parts.get("metadata.event_code")).not.toBe("");
    const exec = eventsOf("tetragon/process_exec.ndjson")[0]!;
    expect(fingerprintParts(exec)).toContain(valueAt(exec, "process.cmd_line"));
    // the same command in another container (pod) of the node, like Falco's container.uid
    expect(valueAt(exec, "process.container.uid")).not.toBe("");
    expect(fingerprint(withValues(exec, { "process.container.uid": "containerd://other", "metadata.uid": "x" }))).not.toBe(fingerprint(exec));
    expect(fingerprint(withValues(exec, { "metadata.uid": "x", time: exec.time + 1 }))).toBe(fingerprint(exec));
    const hook = eventsOf("tetragon/process_kprobe.ndjson").find((e) => valueAt(e, "actor.process.container.uid") !== "")!;
    expect(fingerprint(withValues(hook, { "actor.process.container.uid": "containerd://other" }))).not.toBe(fingerprint(hook));
  });

  it("Kubernetes audit: verb, user, resource", () => {
    const e = all.find((x) => sourceOf(x) === "k8s_audit" && valueAt(x, "resources[0].name") !== "")!;
    const parts = fingerprintParts(e);
    expect(parts).toContain(valueAt(e, "api.operation"));
    expect(parts).toContain(valueAt(e, "actor.user.name"));
    expect(parts).toContain(valueAt(e, "resources[0].name"));
  });

  it("CloudTrail: API call, principal, source address", () => {
    const e = eventsOf("cloudtrail/records__iam-create-user__aws-docs.json")[0]!;
    const parts = fingerprintParts(e);
    expect(parts).toEqual(expect.arrayContaining(["CreateUser", "iam.amazonaws.com", "arn:aws:iam::123456789012:user/Alice", "127.0.0.1"]));
    // the user created is part of it: Alice creating Bob and Carol is two alerts
    expect(valueAt(e, "user.name")).toBe("Bob");
    expect(fingerprint(withValues(e, { "user.name": "Carol", "metadata.uid": "x" }))).not.toBe(fingerprint(e));
    const add = eventsOf("cloudtrail/records__iam-add-user-to-group__aws-docs.json")[0]!;
    expect(valueAt(add, "group.name")).toBe("admin");
    expect(fingerprint(withValues(add, { "group.name": "readers" }))).not.toBe(fingerprint(add));
    expect(fingerprint(withValues(add, { "metadata.uid": "x", time: add.time + 1 }))).toBe(fingerprint(add));
  });

  it("events of no known source use the fallback fields", () => {
    const e = withValues(shell, { "metadata.product.name": "Something Else" });
    expect(fingerprintFields(e)).toEqual([...ALWAYS_FIELDS, ...FALLBACK_FIELDS]);
  });
});

describe("fingerprint properties", () => {
  it("is the same for copies that differ only in uid, times and message", () => {
    for (const e of all) {
      const copy = withValues(e, { "metadata.uid": "other", time: e.time + 12345, "metadata.logged_time": 1, "metadata.original_time": "x" });
      expect(fingerprint(copy), e.metadata.uid).toBe(fingerprint(e));
    }
  });

  it("never matches for two different hosts or tenants, whatever the configured fields", () => {
    const fieldSets: (readonly string[] | undefined)[] = [undefined, ["finding_info.title"], ["class_uid"], ["device.hostname"]];
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.constantFrom(...fieldSets), (h1, h2, fields) => {
        fc.pre(h1 !== h2);
        expect(fingerprint(withValues(shell, { "device.hostname": h1 }), fields)).not.toBe(fingerprint(withValues(shell, { "device.hostname": h2 }), fields));
        expect(fingerprint(withValues(shell, { "metadata.tenant_uid": h1 }), fields)).not.toBe(fingerprint(withValues(shell, { "metadata.tenant_uid": h2 }), fields));
      }),
      { numRuns: 300 },
    );
  });

  it("separates what the default fields separate, and configured fields change what counts", () => {
    const otherCmd = withValues(shell, { "evidences.0.process.cmd_line": "bash" });
    expect(fingerprint(otherCmd)).not.toBe(fingerprint(shell));
    // by rule and host only: another command line folds together
    expect(fingerprint(otherCmd, ["finding_info.title"])).toBe(fingerprint(shell, ["finding_info.title"]));
    // values at different paths are different fingerprints
    expect(fingerprint(shell, ["finding_info.title"])).not.toBe(fingerprint(shell, ["finding_info.analytic.name"]));
  });

  it("reads [n] and .n list paths alike; objects as JSON; absent as empty", () => {
    expect(valueAt(shell, "evidences[0].container.uid")).toBe("ee97d9c4186f");
    expect(valueAt(shell, "evidences.0.container.uid")).toBe("ee97d9c4186f");
    expect(valueAt(shell, "evidences[0].container.image")).toBe(JSON.stringify({ uid: "docker.io/library/alpine", name: "docker.io/library/alpine" }));
    expect(valueAt(shell, "evidences[3].process.name")).toBe("");
    expect(fingerprint(shell)).toMatch(/^[0-9a-f]{28}$/);
  });
});

describe("ruleOf", () => {
  it("names the Falco rule, the Tetragon policy, the API operation", () => {
    expect(ruleOf(shell)).toBe("Terminal shell in container");
    const kprobe = eventsOf("tetragon/process_kprobe.ndjson").find((e) => valueAt(e, "authorizations[0].policy.name") !== "")!;
    expect(ruleOf(kprobe)).toBe(valueAt(kprobe, "authorizations[0].policy.name"));
    expect(ruleOf(eventsOf("cloudtrail/records__iam-create-user__aws-docs.json")[0]!)).toBe("CreateUser");
    for (const e of all) expect(ruleOf(e)).not.toBe("");
    expect(fixture("falco/terminal-shell-in-container__falco-docs.json")).toContain('"rule":"Terminal shell in container"');
  });
});
