import { describe, it, expect } from "vitest";
import { validateOcsf } from "../support/ocsf-validator";
import { config, enrichedFixture, plainFixture } from "./helpers";
import { enrichContext, contextData } from "../../src/enrich/context";
import { normalizeFalco } from "../../src/normalize/falco";
import { FIXED_CTX } from "../support/fixture-pipeline";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import type { JsonObject } from "../../src/normalize/json";

const labels = (e: OcsfEvent) => e.metadata.labels ?? [];

describe("Kubernetes context", () => {
  it("cluster name from the tenant's auth token; namespace and pod from the Falco pod resource", () => {
    const cfg = config({ auth: { tokens: [{ tenant: "acme", token: "s3cret", cluster: "prod-eu-1" }] } });
    const [e] = enrichedFixture("falco/terminal-shell-in-container__falco-docs.json", cfg);
    expect(validateOcsf(e)).toEqual([]);
    expect(labels(e!)).toEqual(expect.arrayContaining(["k8s.cluster:prod-eu-1", "k8s.namespace:default", "k8s.pod:kubecon"]));
    // another tenant's events do not get this cluster
    const [other] = enrichedFixture("falco/terminal-shell-in-container__falco-docs.json", cfg, undefined, "globex");
    expect(labels(other!).some((l) => l.startsWith("k8s.cluster:"))).toBe(false);
  });

  it("the tenant's cluster goes only on Kubernetes-side events (Tetragon, k8s audit, Falco syscall/k8s_audit/internal), not on CloudTrail", () => {
    const cfg = config({ auth: { tokens: [{ tenant: "acme", token: "s3cret", cluster: "prod-eu-1" }] } });
    const clusterLabels = (name: string) => enrichedFixture(name, cfg).map((e) => {
      expect(validateOcsf(e)).toEqual([]);
      return labels(e).filter((l) => l.startsWith("k8s.cluster:"));
    });
    for (const k8s of [
      "tetragon/process_exec.ndjson",
      "k8s-audit/falco-trace__exec_pod.json",
      "falco-k8saudit/attach-exec-pod__eks-blog.json",
      "falco/terminal-shell-in-container__falco-docs.json",
      "falco/falco-internal-syscall-event-drop__falcosidekick-test.json",
      // Falcosidekick's test alert says source "syscalls" (plural): a syscall alert all the same
      "falco/falcosidekick-test-event__falcosidekick-test.json",
    ]) {
      const got = clusterLabels(k8s);
      expect(got.length).toBeGreaterThan(0);
      for (const l of got) expect(l, k8s).toEqual(["k8s.cluster:prod-eu-1"]);
    }
    for (const aws of [
      "cloudtrail/records__create-key-pair__aws-docs.json",
      "cloudtrail/stratus__persistence.iam-create-admin-user.json",
      "falco-cloudtrail/terraform-managed-resource-modified__authorize-sg-ingress.json",
    ]) {
      const got = clusterLabels(aws);
      expect(got.length).toBeGreaterThan(0);
      for (const l of got) expect(l, aws).toEqual([]);
    }
    // the same through enrich.context.clusters
    const viaContext = config({ enrich: { context: { clusters: { acme: "prod-eu-2" } } } });
    const [ct] = enrichedFixture("cloudtrail/records__create-key-pair__aws-docs.json", viaContext);
    expect(labels(ct!).some((l) => l.startsWith("k8s.cluster:"))).toBe(false);
    const [audit] = enrichedFixture("k8s-audit/falco-trace__exec_pod.json", viaContext);
    expect(labels(audit!)).toContain("k8s.cluster:prod-eu-2");
  });

  it("enrich.context.clusters overrides the token's cluster", () => {
    const cfg = config({ auth: { tokens: [{ tenant: "acme", token: "t", cluster: "old" }] }, enrich: { context: { clusters: { acme: "new" } } } });
    const [e] = enrichedFixture("falco/terminal-shell-in-container__falco-docs.json", cfg);
    expect(labels(e!)).toContain("k8s.cluster:new");
    expect(labels(e!)).not.toContain("k8s.cluster:old");
  });

  it("Tetragon: namespace, pod, workload and pod labels from the record; cluster_name from the record when no tenant cluster", () => {
    const cfg = config({});
    const [kprobe] = enrichedFixture("tetragon/process_kprobe.ndjson", cfg);
    expect(validateOcsf(kprobe)).toEqual([]);
    expect(labels(kprobe!)).toEqual(expect.arrayContaining(["k8s.namespace:default", "k8s.pod:file-access", "k8s.workload:Pod/file-access", "k8s.label.run:file-access"]));
    // cluster_name as Tetragon sends it (helm tetragon.clusterName): the fixtures predate it, so add it to a real record
    const e = structuredClone(plainFixture("tetragon/process_exec.ndjson")[0]!);
    e.unmapped = { ...(e.unmapped ?? {}), cluster_name: "edge-7" };
    enrichContext(e, contextData(cfg));
    expect(labels(e)).toContain("k8s.cluster:edge-7");
    expect(validateOcsf(e)).toEqual([]);
  });

  it("pod labels go onto the Pod resource of findings too (Falco k8s.pod.labels output field)", () => {
    const e = structuredClone(plainFixture("falco/terminal-shell-in-container__falco-docs.json")[0]!);
    e.unmapped = { ...(e.unmapped ?? {}), output_fields: { "k8s.pod.labels": "[app:kubecon, tier:demo]" } };
    enrichContext(e, contextData(config({})));
    expect(validateOcsf(e)).toEqual([]);
    expect(e.resources).toEqual([{ type: "Pod", name: "kubecon", namespace: "default", labels: ["app=kubecon", "tier=demo"] }]);
    expect(labels(e)).toEqual(expect.arrayContaining(["k8s.label.app:kubecon", "k8s.label.tier:demo"]));
  });

  it("a Falco pod label field \"<NA>\" (not available) gives no label; the raw text stays in unmapped", () => {
    const e = structuredClone(plainFixture("falco/terminal-shell-in-container__falco-docs.json")[0]!);
    const of = { "k8s.pod.label.app": "kubecon", "k8s.pod.label.tier": "<NA>" };
    e.unmapped = { ...(e.unmapped ?? {}), output_fields: { ...of } };
    enrichContext(e, contextData(config({})));
    expect(validateOcsf(e)).toEqual([]);
    expect(e.resources).toEqual([{ type: "Pod", name: "kubecon", namespace: "default", labels: ["app=kubecon"] }]);
    expect(labels(e).filter((l) => l.startsWith("k8s.label."))).toEqual(["k8s.label.app:kubecon"]);
    expect(e.unmapped!.output_fields).toEqual(of);

    const all = structuredClone(plainFixture("falco/terminal-shell-in-container__falco-docs.json")[0]!);
    all.unmapped = { ...(all.unmapped ?? {}), output_fields: { "k8s.pod.labels": "<NA>" } };
    enrichContext(all, contextData(config({})));
    expect(all.resources).toEqual([{ type: "Pod", name: "kubecon", namespace: "default" }]);
    expect(labels(all).some((l) => l.startsWith("k8s.label."))).toBe(false);
  });

  it("the k8smeta plugin's pod labels (k8smeta.pod.labels \"(k:v,...)\", k8smeta.pod.label[k]) are the fallback for k8s.pod.labels", () => {
    // a Falco 0.37+ syscall alert whose pod fields come from the k8smeta plugin only (append_output); the
    // labels text as the plugin's own tests render it (falcosecurity/plugins, plugins/k8smeta/test/src/check_events.cpp)
    const fields: JsonObject = {
      "container.id": "3ad7b26ded6d",
      "container.name": "metrics-server",
      "proc.name": "sh",
      "proc.pid": 31337,
      "user.name": "root",
      "k8smeta.pod.name": "metrics-server-85d6fcf458-tqkcv",
      "k8smeta.ns.name": "kube-system",
      "k8smeta.pod.uid": "5eaeeca9-2277-460b-a4bf-5a0783f6d49f",
      "k8smeta.pod.labels": "(pod-template-hash:85d6fcf458,k8s-app:metrics-server)",
      "k8smeta.pod.label[tier]": "<NA>",
    };
    const run = (output_fields: JsonObject) =>
      enrichContext(
        normalizeFalco(
          {
            uuid: "6f1c9a0e-3b1d-4c8e-9f55-2a7d1e0b4c11",
            rule: "Terminal shell in container",
            priority: "Notice",
            source: "syscall",
            time: "2026-01-02T03:04:05.123456789Z",
            hostname: "kind-control-plane",
            output: "A shell was spawned in a container with an attached terminal (user=root container_id=3ad7b26ded6d)",
            tags: ["container", "mitre_execution", "shell", "T1059"],
            output_fields,
          },
          FIXED_CTX,
        ),
        contextData(config({})),
      );
    const k8sLabels = (e: OcsfEvent) => labels(e).filter((l) => l.startsWith("k8s.label."));
    const want = ["k8s.label.pod-template-hash:85d6fcf458", "k8s.label.k8s-app:metrics-server"];
    const e = run(fields);
    expect(validateOcsf(e)).toEqual([]);
    expect(e.resources).toEqual([
      { type: "Pod", name: "metrics-server-85d6fcf458-tqkcv", uid: "5eaeeca9-2277-460b-a4bf-5a0783f6d49f", namespace: "kube-system", labels: ["pod-template-hash=85d6fcf458", "k8s-app=metrics-server"] },
    ]);
    expect(labels(e)).toEqual(expect.arrayContaining(["k8s.namespace:kube-system", "k8s.pod:metrics-server-85d6fcf458-tqkcv"]));
    expect(k8sLabels(e)).toEqual(want);
    expect(e.unmapped!.output_fields).toMatchObject({ "k8smeta.pod.labels": fields["k8smeta.pod.labels"], "k8smeta.pod.label[tier]": "<NA>" });

    // a JSON list (libsinsp's JSON form of a list field) and one field a label read the same
    expect(k8sLabels(run({ ...fields, "k8smeta.pod.labels": ["pod-template-hash:85d6fcf458"], "k8smeta.pod.label[k8s-app]": "metrics-server" }))).toEqual(want);
    // both given: k8s.pod.labels wins, as k8s.pod.name does in the normalizer
    expect(k8sLabels(run({ ...fields, "k8s.pod.labels": "[k8s-app:metrics-server]" }))).toEqual(["k8s.label.k8s-app:metrics-server"]);
  });
});

describe("AWS account aliases", () => {
  const cfg = config({ enrich: { context: { awsAccountAliases: { "229654561268": "sandbox", "230446364776": "prod-payments" } } } });

  it("name every account object with a configured id (CloudTrail records)", () => {
    const events = enrichedFixture("cloudtrail/stratus__persistence.iam-create-admin-user.json", cfg);
    for (const e of events) {
      expect(validateOcsf(e)).toEqual([]);
      expect((e.cloud as { account: { name?: string } }).account.name).toBe("sandbox");
      expect((e.actor as { user: { account: { name?: string } } }).user.account.name).toBe("sandbox");
    }
  });

  it("and in Falco's CloudTrail plugin alerts (cloud and evidence actor)", () => {
    const [e] = enrichedFixture("falco-cloudtrail/terraform-managed-resource-modified__authorize-sg-ingress.json", cfg);
    expect(validateOcsf(e)).toEqual([]);
    expect((e!.cloud as { account: { name?: string } }).account.name).toBe("prod-payments");
    expect((e!.evidences as { actor: { user: { account: { name?: string } } } }[])[0]!.actor.user.account.name).toBe("prod-payments");
  });

  it("leave unknown accounts and names the sensor sent alone", () => {
    const [e] = enrichedFixture("cloudtrail/records__create-key-pair__aws-docs.json", cfg);
    expect((e!.cloud as { account?: { name?: string } }).account?.name).toBeUndefined();
    expect(() => config({ enrich: { context: { awsAccountAliases: { "12": "x" } } } })).toThrow(/12-digit AWS account id/);
  });
});
