// Kubernetes and cloud context enricher (pure). OCSF 1.3.0 has no Kubernetes cluster, namespace or
// workload object, so (docs/enrichment.md):
//   - cluster name -> metadata.labels "k8s.cluster:<name>" (every class has metadata.labels); from the
//     tenant's configured cluster (enrich.context.clusters, or the auth token's `cluster`) on events of
//     Kubernetes-side sources only (kubernetesSide), else from what the sensor sent (Tetragon's
//     cluster_name, kept by the normalizer in unmapped);
//   - namespace / pod / workload -> metadata.labels "k8s.namespace:<ns>", "k8s.pod:<name>",
//     "k8s.workload:<kind>/<name>", read from resources[] (type Pod) and from the sensor's pod
//     fields kept in unmapped; pod labels -> resources[] (Pod).labels ["app=nginx", ...] on findings,
//     and metadata.labels "k8s.label.app:nginx" everywhere;
//   - AWS account aliases -> the `name` of every account object whose uid is a configured account id
//     (cloud.account, actor.user.account, evidences[].actor.user.account, resources[].account ...).
import { credentialRows, type Config } from "../config/schema";
import type { OcsfEvent } from "../normalize/ocsf";
import { isObject, bareObject, type Json, type JsonObject } from "../normalize/json";
import { falcoValue } from "../normalize/falco";

export interface ContextData {
  /** tenant -> cluster name. */
  clusters: Map<string, string>;
  /** AWS account id -> alias. */
  aliases: Map<string, string>;
}

export function contextData(cfg: Config): ContextData {
  const clusters = new Map<string, string>();
  for (const t of credentialRows(cfg.auth)) if (t.cluster) clusters.set(t.tenant, t.cluster);
  for (const [tenant, cluster] of Object.entries(cfg.enrich.context.clusters)) clusters.set(tenant, cluster);
  return { clusters, aliases: new Map(Object.entries(cfg.enrich.context.awsAccountAliases)) };
}

function o(v: Json | undefined): JsonObject | undefined {
  return v !== undefined && isObject(v) ? v : undefined;
}

function s(v: Json | undefined): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

function addLabel(e: OcsfEvent, label: string): void {
  const labels = (e.metadata.labels ??= []);
  if (!labels.includes(label)) labels.push(label);
}

interface PodInfo {
  cluster?: string;
  namespace?: string;
  pod?: string;
  workload?: string;
  workloadKind?: string;
  labels?: Record<string, string>;
}

/** A label map for keys from input (bareObject): a sender's label key "__proto__" is kept as a label, not made the prototype. */
function labelMap(): Record<string, string> {
  return bareObject<Record<string, string>>();
}

/**
 * Pod labels as Tetragon ({k: v}) and Falco list fields give them: the text "[app:nginx, tier:web]" or, as
 * libsinsp renders a list field, "(app:nginx,tier:web)" (k8smeta.pod.labels), or a JSON list ["app:nginx", ...].
 */
function labelsOf(v: Json | undefined): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  const out = labelMap();
  if (isObject(v)) {
    for (const [k, x] of Object.entries(v)) if (typeof x === "string") out[k] = x;
  } else if (typeof v === "string" || Array.isArray(v)) {
    const parts = typeof v === "string" ? v.replace(/^[[(]|[\])]$/g, "").split(/,\s*/) : v.filter((x): x is string => typeof x === "string");
    for (const part of parts) {
      const i = part.indexOf(":");
      const j = part.indexOf("=");
      const cut = i > 0 && (j < 0 || i < j) ? i : j;
      if (cut > 0) out[part.slice(0, cut).trim()] = part.slice(cut + 1).trim();
    }
  }
  return Object.keys(out).length ? out : undefined;
}

/**
 * Falco pod labels: the list field (labelsOf), then one field a label, named `<prefix><key><suffix>`
 * (k8s.pod.label.<key>, the k8smeta plugin's k8smeta.pod.label[<key>]). "<NA>" (Falco could not get
 * the labels or a label): none; the raw text stays in unmapped.
 */
function falcoPodLabels(of: JsonObject, list: string, prefix: string, suffix: string): Record<string, string> | undefined {
  let labels = labelsOf(falcoValue(of[list]));
  for (const k in of) {
    if (k.length <= prefix.length + suffix.length || !k.startsWith(prefix) || !k.endsWith(suffix)) continue;
    const v = falcoValue(of[k]);
    if (typeof v === "string") (labels ??= labelMap())[k.slice(prefix.length, k.length - suffix.length)] = v;
  }
  return labels;
}

/**
 * The cluster a Falco alert's output fields name (k8smeta.cluster.name, else k8s.cluster.name); "<NA>"
 * (kept raw in unmapped.output_fields) names none. Also the correlation keys' fallback (correlate/keys.ts).
 */
export function falcoClusterName(of: JsonObject | undefined): string | undefined {
  return of && (s(falcoValue(of["k8smeta.cluster.name"])) ?? s(falcoValue(of["k8s.cluster.name"])));
}

/** Kubernetes context the sensor sent, from OCSF places and the source fields normalizers keep in unmapped. */
function podInfo(e: OcsfEvent): PodInfo {
  const info: PodInfo = {};
  const um = e.unmapped;
  // Tetragon: cluster_name at the top; the pod {namespace, name, workload, workload_kind, pod_labels}
  // under <event type>.process (the normalizer keeps unmapped fields at their original paths)
  info.cluster ??= s(um?.cluster_name);
  // for-in over own keys (JSON objects): the order of Object.entries, without an array per entry
  if (um) {
    for (const k in um) {
      if (!k.startsWith("process_")) continue;
      const pod = o(o(o(um[k])?.process)?.pod);
      if (!pod) continue;
      info.namespace ??= s(pod.namespace);
      info.pod ??= s(pod.name);
      info.workload ??= s(pod.workload);
      info.workloadKind ??= s(pod.workload_kind);
      info.labels ??= labelsOf(pod.pod_labels);
    }
  }
  // Falco output fields left unmapped
  const of = o(um?.output_fields);
  if (of) {
    // the k8smeta plugin's (Falco 0.37+) are the fallback, as its pod name and namespace are in the normalizer
    info.labels ??=
      falcoPodLabels(of, "k8s.pod.labels", "k8s.pod.label.", "") ?? falcoPodLabels(of, "k8smeta.pod.labels", "k8smeta.pod.label[", "]");
    info.cluster ??= falcoClusterName(of);
  }
  // OCSF places
  if (Array.isArray(e.resources)) {
    for (const r of e.resources) {
      const res = o(r);
      if (!res || String(res.type ?? "").toLowerCase() !== "pod") continue;
      info.pod ??= s(res.name);
      info.namespace ??= s(res.namespace);
    }
  }
  return info;
}

function setAccountName(acc: JsonObject | undefined, aliases: Map<string, string>): void {
  if (!acc || acc.name !== undefined) return;
  const uid = s(acc.uid);
  const alias = uid ? aliases.get(uid) : undefined;
  if (alias) acc.name = alias;
}

/** A user object's account. */
function userAccount(user: Json | undefined): JsonObject | undefined {
  return o(o(user)?.account);
}

/** Account objects in the places OCSF 1.3.0 has them (no closures: the bundler's keepNames names each one it makes). */
function accounts(e: OcsfEvent): (JsonObject | undefined)[] {
  const out: (JsonObject | undefined)[] = [];
  out.push(o(o(e.cloud as Json)?.account), userAccount(o(e.actor as Json)?.user), userAccount(e.user as Json));
  if (Array.isArray(e.evidences)) {
    for (const ev of e.evidences) {
      const x = o(ev);
      if (x) out.push(userAccount(o(x.actor)?.user), userAccount(x.user));
    }
  }
  if (Array.isArray(e.resources)) for (const r of e.resources) out.push(o(o(r)?.account));
  return out;
}

/**
 * Falco sources that watch the cluster (its nodes' syscalls, its API server's audit log, Falco's own alerts on a node).
 * "syscalls" (plural) is what Falcosidekick's own test alert sends (outputs/client_test.go): the same source.
 */
const FALCO_K8S_SOURCES = new Set(["syscall", "syscalls", "k8s_audit", "internal"]);

/**
 * Whether the event comes from the Kubernetes side of a tenant, where the tenant's configured cluster
 * applies: Tetragon, Kubernetes audit, Falco syscall / k8s_audit / internal (drops, metrics of the Falco on a
 * node) alerts. Not CloudTrail records nor Falco aws_cloudtrail (or other plugin) alerts: an AWS account is no cluster.
 */
function kubernetesSide(e: OcsfEvent): boolean {
  switch (e.metadata.product.name) {
    case "Tetragon":
    case "Kubernetes":
      return true;
    case "Falco":
      return e.metadata.log_name !== undefined && FALCO_K8S_SOURCES.has(e.metadata.log_name);
    default:
      return false;
  }
}

export function enrichContext(e: OcsfEvent, ctx: ContextData): OcsfEvent {
  const info = podInfo(e);
  const tenant = e.metadata.tenant_uid;
  const configured = tenant && ctx.clusters.size > 0 && kubernetesSide(e) ? ctx.clusters.get(tenant) : undefined;
  const cluster = configured ?? info.cluster;
  if (cluster) addLabel(e, `k8s.cluster:${cluster}`);
  if (info.namespace) addLabel(e, `k8s.namespace:${info.namespace}`);
  if (info.pod) addLabel(e, `k8s.pod:${info.pod}`);
  if (info.workload) addLabel(e, `k8s.workload:${info.workloadKind ? `${info.workloadKind}/` : ""}${info.workload}`);
  if (info.labels) {
    const kv = Object.entries(info.labels);
    for (const [k, v] of kv) addLabel(e, `k8s.label.${k}:${v}`);
    if (Array.isArray(e.resources)) {
      for (const r of e.resources) {
        const res = o(r);
        if (!res || String(res.type ?? "").toLowerCase() !== "pod") continue;
        const labels = Array.isArray(res.labels) ? (res.labels as Json[]) : [];
        for (const [k, v] of kv) if (!labels.includes(`${k}=${v}`)) labels.push(`${k}=${v}`);
        res.labels = labels;
      }
    }
  }
  if (ctx.aliases.size > 0) for (const acc of accounts(e)) setAccountName(acc, ctx.aliases);
  return e;
}
