// Correlation keys on every event (the key step at the end of the enricher): formats, primary key and
// metadata.correlation_uid, on the real fixtures.
import { describe, it, expect } from "vitest";
import { fixtures } from "../support/fixtures";
import { contentTypeOf } from "../support/fixture-pipeline";
import { NEGATIVE_FIXTURES } from "../support/fixture-pipeline";
import { frame } from "../../src/routes/decode";
import { runPipeline } from "../../src/pipeline";
import { parseConfig } from "../../src/config/load";
import { makeEnricher } from "../../src/enrich/index";
import { applyCorrelationKeys, correlationKeys, shortContainerId, keysOf, KEY_KINDS, PRIMARY_ORDER, type Extracted } from "../../src/correlate/keys";
import { stableUid } from "../../src/normalize/uid";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import type { JsonObject } from "../../src/normalize/json";
import { at } from "../support/at";
import {
  CFG,
  execStory,
  normalizeRecord,
  federationRecords,
  tetragonCurlExecRecord,
  falcoShellKubeconRecord,
  falcoShellRecord,
  k8sExecRecord,
  STORY_AT,
  ALERT_AT,
  AUDIT_AT,
  records,
} from "./story";

type Corr = { key: string; keys: string[]; source_correlation_uid?: string };
const corr = (e: OcsfEvent) => (e.unmapped?.tributary as { correlation?: Corr } | undefined)?.correlation;

function allFixtureEvents(): { name: string; event: OcsfEvent }[] {
  const enrich = makeEnricher(CFG);
  const out: { name: string; event: OcsfEvent }[] = [];
  for (const f of fixtures) {
    if (NEGATIVE_FIXTURES.has(f.name)) continue;
    const fr = frame(f.text, contentTypeOf(f.name));
    const res = runPipeline(fr.values, fr.paths, fr.textLines, { ctx: { ocsfVersion: "1.3.0", receivedAt: 0, tenant: "acme" }, enrich });
    for (const r of res.events) out.push({ name: f.name, event: r.event });
  }
  return out;
}

describe("correlation keys on every fixture event", () => {
  const events = allFixtureEvents();

  it("every event but a few without any identifying field gets keys; correlation_uid is the primary key's stable hash", () => {
    expect(events.length).toBeGreaterThan(100);
    const without: string[] = [];
    const kinds = new Set<string>(KEY_KINDS);
    for (const { name, event } of events) {
      const c = corr(event);
      if (!c) {
        without.push(name);
        continue;
      }
      expect(c.keys[0], name).toBe(c.key);
      expect(new Set(c.keys).size, name).toBe(c.keys.length);
      expect(event.metadata.correlation_uid, name).toBe(stableUid(c.key));
      for (const k of c.keys) {
        const kind = k.slice(0, k.indexOf(":"));
        expect(kinds.has(kind), `${name}: ${k}`).toBe(true);
        expect(k.length).toBeGreaterThan(kind.length + 1);
      }
    }
    // only records that name no pod, container, process, principal, IP or host are left without keys: AWS
    // acting on its own (service events) and a CloudTrail Insight
    expect(without.sort()).toEqual([
      "cloudtrail/record__create-service-linked-channel__aws-docs.json",
      "cloudtrail/record__insight-event__aws-docs.json",
      "cloudtrail/record__kms-rotate-key-service-event__aws-docs.json",
    ]);
  });

  it("a request on a collection (list pods) is keyed by its user, not by a pod named after the resource type", () => {
    const lists = events.filter((x) => x.name === "k8s-audit/audit2rbac-demo.ndjson" && (x.event.api as { operation?: string }).operation === "list");
    const podLists = lists.filter((x) => (x.event.resources as { type?: string }[] | undefined)?.[0]?.type === "pods");
    expect(podLists.length).toBeGreaterThan(1); // bob's and alice's `list pods`
    for (const { event } of podLists) {
      expect(corr(event)!.keys.filter((k) => k.startsWith("pod:"))).toEqual([]);
      expect(corr(event)!.key).toMatch(/^k8s\.user:default\//);
    }
    const users = new Set(podLists.map((x) => corr(x.event)!.key));
    expect(users.size).toBeGreaterThan(1); // different users no longer share one correlation_uid
    // a named pod is still a pod key
    const exec = events.find((x) => x.name === "k8s-audit/falco-trace__exec_pod.json")!.event;
    expect(corr(exec)!.key).toMatch(/^pod:/);
  });

  it("the normalizer's own correlation_uid (k8s auditID, CloudTrail sharedEventID) is kept in unmapped", () => {
    const audit = events.find((x) => x.name === "k8s-audit/falco-trace__exec_pod.json")!.event;
    expect(corr(audit)!.source_correlation_uid).toBe("ca1ed9f4-7bf4-4c85-81a8-1b11253d1ba6");
    expect((audit.api as { request: { uid: string } }).request.uid).toBe("ca1ed9f4-7bf4-4c85-81a8-1b11253d1ba6");
  });
});

describe("key formats per source", () => {
  it("k8s audit pods/exec: the target pod first, then the user and the source IP", () => {
    const { audit } = execStory();
    expect(corr(audit)).toMatchObject({
      key: "pod:default/tenant-jobs/elasticsearch-56f8fc6988-65smb",
      keys: ["pod:default/tenant-jobs/elasticsearch-56f8fc6988-65smb", "k8s.user:default/minikube-user", "ip:192.168.99.1"],
    });
  });

  it("Falco and Tetragon events of one pod share the pod key (correlation_uid); container, exec and pid keys are added", () => {
    const { audit, shell, exec: bash, child: exec, connect } = execStory();
    for (const e of [shell, bash, exec, connect]) expect(e.metadata.correlation_uid).toBe(audit.metadata.correlation_uid);
    expect(corr(shell)!.keys).toEqual(["pod:default/tenant-jobs/elasticsearch-56f8fc6988-65smb", "container:e6af4dff4ea3", "host:falco-xczjd"]);
    expect(corr(bash)!.keys).toContain("exec:bWluaWt1YmU6MTkyNTA0Njg1Nzc1MjoyNDIwMA==");
    expect(corr(exec)!.keys).toEqual([
      "pod:default/tenant-jobs/elasticsearch-56f8fc6988-65smb",
      "container:e6af4dff4ea3",
      "exec:bWluaWt1YmU6MzM0OTc2NjQ2MjgyMjozODMxMw==",
      "parent_exec:bWluaWt1YmU6MzM0OTc2MDUxNjExMTozODMxMg==",
      "proc:e6af4dff4ea3/38313",
      "host:minikube",
    ]);
    // cat and nc are both children of the same `sh lifecycle.sh`: the parent_exec key joins them
    expect(corr(connect)!.keys).toContain("parent_exec:bWluaWt1YmU6MzM0OTc2MDUxNjExMTozODMxMg==");
    expect(corr(connect)!.keys).toContain("exec:bWluaWt1YmU6MzM0OTc2NzgxOTUzNTozODMxNA==");
  });

  it("a Falco 0.41+ alert whose container.uid is the full id (container.full_id) keeps its keys and shares the container key with Tetragon", () => {
    const full = "e6af4dff4ea3b8d50313c59fbaa442e377da35671e79f43b8dc53c5efcc9b659";
    const { shell, child } = execStory();
    const rec = falcoShellRecord({ at: ALERT_AT });
    (rec.output_fields as JsonObject)["container.full_id"] = full;
    const alert = normalizeRecord(rec);
    expect(at(alert, "evidences.0.container.uid")).toBe(full);
    // Tetragon's uid is the same id, its "docker://" scheme cut off (it is container.runtime): a SIEM joins them on container.uid
    expect(at(child, "process.container.uid")).toBe(full);
    expect(at(child, "process.container.runtime")).toBe("docker");
    expect(at(child, "process.container.uid")).toBe(at(alert, "evidences.0.container.uid"));
    expect(corr(alert)).toEqual(corr(shell));
    expect(corr(alert)!.keys).toContain("container:e6af4dff4ea3");
    expect(corr(child)!.keys).toContain("container:e6af4dff4ea3");
    // without pod names the container key is the alert's primary key, the one Tetragon's exec carries
    for (const k of Object.keys(rec.output_fields as JsonObject)) if (k.startsWith("k8s.")) delete (rec.output_fields as JsonObject)[k];
    const bare = normalizeRecord(rec);
    expect(corr(bare)!.key).toBe("container:e6af4dff4ea3");
    expect(corr(child)!.keys).toContain(corr(bare)!.key);
  });

  it("events of other pods get other keys", () => {
    const curl = normalizeRecord(tetragonCurlExecRecord());
    const kubecon = normalizeRecord(falcoShellKubeconRecord(STORY_AT));
    const { audit } = execStory();
    expect(corr(curl)!.key).toBe("pod:default/default/xwing");
    expect(corr(kubecon)!.key).toBe("pod:default/default/kubecon");
    expect(new Set([curl, kubecon, audit].map((e) => e.metadata.correlation_uid)).size).toBe(3);
  });

  it("Falco's \"<NA>\" pod, namespace, container and cluster fields name nothing: host alerts of two nodes keep their host keys", () => {
    const host = (node: string) => {
      const r = records("falco/write-below-binary-dir__falcosidekick-readme.json")[0]!;
      r.hostname = node;
      const of = r.output_fields as Record<string, unknown>;
      Object.assign(of, { "container.id": "host", "container.name": "host", "k8s.ns.name": "<NA>", "k8s.pod.name": "<NA>", "k8smeta.cluster.name": "<NA>" });
      return normalizeRecord(r);
    };
    const [a, b] = [host("node-a"), host("node-b")];
    expect(corr(a)!.keys).toEqual(["host:node-a"]);
    expect(corr(b)!.keys).toEqual(["host:node-b"]);
    expect(a.metadata.correlation_uid).not.toBe(b.metadata.correlation_uid);
    expect(a.resources).toBeUndefined();
    expect(a.metadata.labels ?? []).toEqual([]);
    // a real pod beside a "<NA>" cluster: the default cluster, not "<NA>"
    const r = falcoShellKubeconRecord(STORY_AT);
    (r.output_fields as Record<string, unknown>)["k8smeta.cluster.name"] = "<NA>";
    expect(corr(normalizeRecord(r))!.key).toBe("pod:default/default/kubecon");
  });

  it("a pod re-created with the same name keeps the pod key (by name); the pod UID, when given, is a second key", () => {
    const { audit } = execStory();
    const incarnation = (uid: string, field: string) => {
      const r = falcoShellRecord({ at: ALERT_AT });
      (r.output_fields as Record<string, unknown>)[field] = uid;
      return normalizeRecord(r);
    };
    const first = incarnation("5f0d6c2e-1b7a-4c3e-9a1d-2f3b4c5d6e7f", "k8s.pod.uid");
    const second = incarnation("0b6e3f4a-9c2d-4e1f-8a7b-6c5d4e3f2a1b", "k8smeta.pod.uid");
    for (const e of [first, second]) expect(e.metadata.correlation_uid).toBe(audit.metadata.correlation_uid);
    expect(corr(first)!.keys).toEqual([corr(audit)!.key, "container:e6af4dff4ea3", "pod-uid:5f0d6c2e-1b7a-4c3e-9a1d-2f3b4c5d6e7f", "host:falco-xczjd"]);
    expect(corr(second)!.keys).toContain("pod-uid:0b6e3f4a-9c2d-4e1f-8a7b-6c5d4e3f2a1b");
    // the kubectl exec audit event has no pod UID: no pod-uid key, so the pod key cannot depend on one
    expect(corr(audit)!.keys.filter((k) => k.startsWith("pod-uid:"))).toEqual([]);
    // an audit event whose objectRef names the pod's uid gives it too
    const rec = k8sExecRecord({ at: AUDIT_AT });
    (rec.objectRef as Record<string, unknown>).uid = "5f0d6c2e-1b7a-4c3e-9a1d-2f3b4c5d6e7f";
    const withUid = normalizeRecord(rec);
    expect(corr(withUid)!.key).toBe(corr(audit)!.key);
    expect(corr(withUid)!.keys).toContain("pod-uid:5f0d6c2e-1b7a-4c3e-9a1d-2f3b4c5d6e7f");
  });

  it("the cluster comes from the token's configured cluster (context enricher), so two clusters never share a key", () => {
    const cfg = parseConfig({ auth: { tokens: [{ tenant: "prod-sensors", token: "t1", cluster: "prod" }] } });
    const e = normalizeRecord(tetragonCurlExecRecord(), cfg, "prod-sensors");
    expect(corr(e)!.key).toBe("pod:prod/default/xwing");
    const other = normalizeRecord(tetragonCurlExecRecord(), cfg, "someone-else");
    expect(corr(other)!.key).toBe("pod:default/default/xwing");
  });

  it("CloudTrail: principal first, then the keys used and handed out, the session issuer and the source IP", () => {
    const [create, use] = federationRecords().map((r) => normalizeRecord(r));
    expect(corr(create!)!.keys).toEqual([
      "aws.principal:arn:aws:iam::742491224508:user/stratus-red-team-user-federation-user",
      "aws.principal:arn:aws:sts::742491224508:federated-user/stratus_red_team",
      "aws.key:AKIA6V1GNZTT65XQH36M",
      "aws.key:ASIASTJKC5GCM7ZE6LUP",
      "ip:255.90.254.5",
    ]);
    expect(corr(use!)!.keys).toEqual([
      "aws.principal:arn:aws:sts::742491224508:federated-user/stratus_red_team",
      "aws.key:ASIASTJKC5GCM7ZE6LUP",
      "aws.issuer:arn:aws:iam::742491224508:user/stratus-red-team-user-federation-user",
      "ip:255.90.254.5",
    ]);
  });

  it("CreateAccessKey lists the new access key beside the caller's", () => {
    const rec = records("cloudtrail/stratus__persistence.iam-create-admin-user.json").find((r) => r.eventName === "CreateAccessKey")!;
    expect(corr(normalizeRecord(rec))!.keys).toEqual([
      "aws.principal:arn:aws:iam::229654561268:user/christophe",
      "aws.key:AKIAOZUDECYXYM4ONAN4",
      "aws.key:AKIAXAFZN8JEPF6L682H",
      "ip:75.50.255.67",
    ]);
  });
});

describe("the key step", () => {
  it("short container ids: runtime prefixes cut, 12 hex digits, 'host' and names are not containers", () => {
    expect(shortContainerId("containerd://551e161c47d8ff0eb665438a7bcd5b4e3ef5a297282b40a92b7c77d6bd168eb3")).toBe("551e161c47d8");
    expect(shortContainerId("docker://E6AF4DFF4EA3B8D5")).toBe("e6af4dff4ea3");
    expect(shortContainerId("cri-o://0123456789abcdef")).toBe("0123456789ab");
    expect(shortContainerId("ee97d9c4186f")).toBe("ee97d9c4186f");
    expect(shortContainerId("host")).toBeUndefined();
    expect(shortContainerId("abc")).toBeUndefined();
    expect(shortContainerId(undefined)).toBeUndefined();
  });

  it("is applied once per event by the enricher, and can be turned off (correlate.keys: false)", () => {
    const off = parseConfig({ correlate: { keys: false } });
    const e = normalizeRecord(tetragonCurlExecRecord(), off);
    expect(e.unmapped?.tributary).toBeUndefined();
    expect(e.metadata.correlation_uid).toBeUndefined();
    const again = applyCorrelationKeys(applyCorrelationKeys(e));
    expect(corr(again)!.key).toBe("pod:default/default/xwing");
    expect(corr(again)!.source_correlation_uid).toBeUndefined();
  });

  it("the primary key follows PRIMARY_ORDER; the other keys keep the KEY_KINDS order", () => {
    const full: Extracted = {
      product: "x",
      logName: "x",
      cluster: "c",
      pod: { namespace: "n", name: "p" },
      container: "0123456789ab",
      pid: 7,
      podUid: "U",
      execId: "E",
      parentExecId: "P",
      k8sUser: "u",
      awsPrincipals: ["arn:a"],
      awsKeys: ["K1", "K2"],
      awsIssuer: "arn:i",
      ips: ["10.0.0.1"],
      host: "h",
    };
    const all = ["pod:c/n/p", "container:0123456789ab", "exec:E", "parent_exec:P", "proc:0123456789ab/7", "pod-uid:U", "k8s.user:c/u", "aws.principal:arn:a", "aws.key:K1", "aws.key:K2", "aws.issuer:arn:i", "ip:10.0.0.1", "host:h"];
    expect(keysOf(full)).toEqual({ key: "pod:c/n/p", keys: all });
    // drop the kinds one by one in PRIMARY_ORDER: the next one becomes primary, moved to the front
    const x: Extracted = { ...full, awsPrincipals: [...full.awsPrincipals], awsKeys: [...full.awsKeys], ips: [...full.ips] };
    const expected: string[] = [];
    for (const kind of PRIMARY_ORDER) {
      const c = keysOf(x);
      const primary = all.find((k) => k.startsWith(`${kind}:`) && c!.keys.includes(k))!;
      expected.push(primary);
      expect(c!.key).toBe(primary);
      expect(c!.keys).toEqual([primary, ...c!.keys.slice(1).filter((k) => k !== primary)]);
      expect(new Set(c!.keys).size).toBe(c!.keys.length);
      if (kind === "pod") delete x.pod;
      if (kind === "container") delete x.container;
      if (kind === "aws.principal") x.awsPrincipals = [];
      if (kind === "aws.key") x.awsKeys = [];
      if (kind === "k8s.user") delete x.k8sUser;
      if (kind === "ip") x.ips = [];
      if (kind === "host") delete x.host;
    }
    expect(expected).toEqual(["pod:c/n/p", "container:0123456789ab", "aws.principal:arn:a", "aws.key:K1", "k8s.user:c/u", "ip:10.0.0.1", "host:h"]);
    // nothing of PRIMARY_ORDER left: the first remaining key (exec ids, the issuer)
    expect(keysOf(x)!.key).toBe("exec:E");
    expect(keysOf({ product: "", logName: "", cluster: "c", awsPrincipals: [], awsKeys: [], ips: [] })).toBeUndefined();
  });

  it("an event without any identifying field is left as it is", () => {
    const e: OcsfEvent = { activity_id: 0, category_uid: 2, class_uid: 2004, type_uid: 200400, severity_id: 1, time: 0, metadata: { version: "1.3.0", product: { name: "Falco", vendor_name: "Falcosecurity" } } };
    expect(correlationKeys(e)).toBeUndefined();
    expect(applyCorrelationKeys(e)).toEqual({ ...e });
    expect(e.unmapped).toBeUndefined();
  });
});
