// Correlation keys of one OCSF event (pure; on the hot path: every event passes here once, at ingest,
// as the last enrichment step). See docs/correlation.md for the key formats.
//
//   pod:<cluster>/<namespace>/<pod>     k8s audit objectRef (pods, pods/exec...), Falco k8s.ns.name/k8s.pod.name
//                                       (else k8smeta.*) and ka.target.*, Tetragon process.pod
//   container:<12 hex>                  Falco container.id, Tetragon process.docker / container uid (runtime prefix cut)
//   exec:<exec_id>, parent_exec:<id>    Tetragon exec_id / parent_exec_id (process.uid / parent_process.uid)
//   proc:<container>/<pid>              host pid inside a container (Falco proc.pid, Tetragon process.pid)
//   pod-uid:<uid>                       the pod's UID when the source gives it (k8s audit objectRef.uid of pods, Falco
//                                       k8s.pod.uid / k8smeta.pod.uid): tells a re-created pod of the same name apart.
//                                       Never primary (the kubectl exec audit event has no pod UID): the pod key is by name
//   k8s.user:<cluster>/<user>           Kubernetes user (audit user.username, Falco ka.user.name)
//   aws.principal:<arn>                 CloudTrail userIdentity.arn, and the principal an event creates or targets
//   aws.key:<access key id>             the access key used (userIdentity.accessKeyId) or handed out (responseElements)
//   aws.issuer:<arn>                    the role behind an assumed-role session (sessionIssuer.arn)
//   ip:<address>                        source IP
//   host:<hostname>                     device.hostname
//
// The cluster is the tenant's configured cluster (the context enricher's `k8s.cluster:` label), else the one
// the sensor sent (Tetragon cluster_name, Falco k8smeta.cluster.name), else "default".
//
// Tenants: where the config lets more than one tenant send (separatesTenants), every key of an event with a
// metadata.tenant_uid is scoped by it: "tenant:<tenant, URI-encoded>/<key>" (tenant:team-a/pod:default/ns/web-0).
// Two tenants' same pod name, IP or node then share no key, Durable Object, window, incident or
// correlation_uid. One tenant (or none), or correlate.acrossTenants: the keys above, unscoped.
import { multiTenant, type Config } from "../config/schema";
import { type OcsfEvent, labelValue } from "../normalize/ocsf";
import { isObject, type Json, type JsonObject } from "../normalize/json";
import { stableUid } from "../normalize/uid";
import { falcoClusterName } from "../enrich/context";

export const DEFAULT_CLUSTER = "default";

/** Key kinds, in the order they are listed; PRIMARY_ORDER picks metadata.correlation_uid. */
export const KEY_KINDS = ["pod", "container", "exec", "parent_exec", "proc", "pod-uid", "k8s.user", "aws.principal", "aws.key", "aws.issuer", "ip", "host"] as const;
export type KeyKind = (typeof KEY_KINDS)[number];
export const PRIMARY_ORDER: readonly KeyKind[] = ["pod", "container", "aws.principal", "aws.key", "k8s.user", "ip", "host"];

/** What an event says about where it happened and who did it (the parts keys and chains use). */
export interface Extracted {
  /** metadata.tenant_uid, when the keys are scoped by tenant (see separatesTenants); else undefined. */
  tenant?: string;
  product: string;
  logName: string;
  cluster: string;
  pod?: { namespace: string; name: string };
  /** The pod's UID, when the source names it (resources[] of a pod). */
  podUid?: string;
  /** Short (12 hex digit) container id. */
  container?: string;
  /** The process the event is about: Tetragon process (exec) or actor.process, Falco evidences[0].process. */
  process?: JsonObject;
  pid?: number;
  execId?: string;
  parentExecId?: string;
  k8sUser?: string;
  awsPrincipals: string[];
  awsKeys: string[];
  awsIssuer?: string;
  ips: string[];
  host?: string;
}

export interface Correlation {
  /** The primary key (metadata.correlation_uid is its stable hash). */
  key: string;
  keys: string[];
}

function o(v: Json | undefined | unknown): JsonObject | undefined {
  return isObject(v) ? v : undefined;
}
function s(v: Json | undefined | unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** Container id -> its 12-digit short form ("containerd://551e16...", "docker://e6af...", "ee97d9c4186f"). */
export function shortContainerId(id: string | undefined): string | undefined {
  if (id === undefined) return undefined;
  // what /^[\w.-]+:\/\// cuts: a scheme of word characters, dots and dashes up to the first ":", then "//"
  const colon = id.indexOf(":");
  let from = 0;
  if (colon > 0 && id.startsWith("//", colon + 1)) {
    from = colon + 3;
    for (let i = 0; i < colon; i++) {
      if (!isSchemeChar(id.charCodeAt(i))) {
        from = 0;
        break;
      }
    }
  }
  // then /^[0-9a-f]{12,}$/ after toLowerCase: hex digits of either case (no other character lower-cases to one)
  if (id.length - from < 12) return undefined;
  for (let i = from; i < id.length; i++) if (!isHexChar(id.charCodeAt(i))) return undefined;
  return id.slice(from, from + 12).toLowerCase();
}

/** [\w.-]: ASCII letters, digits, "_", "." and "-". */
function isSchemeChar(c: number): boolean {
  return (c >= 48 && c <= 57) || ((c | 0x20) >= 97 && (c | 0x20) <= 122) || c === 95 || c === 46 || c === 45;
}

/** [0-9a-fA-F]. */
function isHexChar(c: number): boolean {
  return (c >= 48 && c <= 57) || ((c | 0x20) >= 97 && (c | 0x20) <= 102);
}

function isPodResource(type: string): boolean {
  const t = type.toLowerCase();
  return t === "pod" || t === "pods" || t.startsWith("pods/");
}

/**
 * Verbs whose audit objectRef has no object name: the k8s-audit normalizer then names resources[0] by its
 * resource type (`list pods` -> {type: "pods", name: "pods"}), which is no pod.
 */
const COLLECTION_VERBS = new Set(["list", "watch", "deletecollection", "create"]);

/** resources[0] of a Kubernetes request on the collection rather than one object (see COLLECTION_VERBS). */
function isCollection(e: OcsfEvent, res: Record<string, Json>): boolean {
  const op = s(o(e.api)?.operation);
  return op !== undefined && COLLECTION_VERBS.has(op) && res.uid === undefined && res.name === res.type;
}

/** The event's resources[] entries that are one pod (not a request on the pods collection). */
function podResources(e: OcsfEvent): JsonObject[] {
  if (!Array.isArray(e.resources)) return [];
  const out: JsonObject[] = [];
  for (const r of e.resources as Json[]) {
    const res = o(r);
    if (res && isPodResource(String(res.type ?? "")) && !isCollection(e, res)) out.push(res);
  }
  return out;
}

/** The UID of the pod resource of an event (k8s audit objectRef.uid, Falco k8s.pod.uid / k8smeta.pod.uid). */
function podUidOf(pods: readonly JsonObject[]): string | undefined {
  for (const res of pods) {
    const uid = s(res.uid);
    if (uid !== undefined) return uid;
  }
  return undefined;
}

function podOf(e: OcsfEvent, pods: readonly JsonObject[], labels: string[] | undefined): { namespace: string; name: string } | undefined {
  for (const res of pods) {
    const name = s(res.name);
    const namespace = s(res.namespace);
    if (name && namespace) return { namespace, name };
  }
  const um = e.unmapped;
  if (um) {
    // Tetragon keeps the pod under <event type>.process.pod (the normalizer keeps unmapped fields at their paths)
    for (const k in um) {
      if (!k.startsWith("process_")) continue;
      const pod = o(o(o(um[k])?.process)?.pod);
      const name = s(pod?.name);
      const namespace = s(pod?.namespace);
      if (name && namespace) return { namespace, name };
    }
  }
  const name = labelValue(labels, "k8s.pod:");
  const namespace = labelValue(labels, "k8s.namespace:");
  return name && namespace ? { namespace, name } : undefined;
}

function clusterOf(e: OcsfEvent, labels: string[] | undefined): string {
  const um = e.unmapped;
  return labelValue(labels, "k8s.cluster:") ?? s(um?.cluster_name) ?? falcoClusterName(o(um?.output_fields)) ?? DEFAULT_CLUSTER;
}

function pushUnique(list: string[], v: string | undefined): void {
  if (v !== undefined && !list.includes(v)) list.push(v);
}

function addAwsUser(x: Extracted, user: JsonObject | undefined): void {
  if (!user) return;
  const uid = s(user.uid);
  if (uid?.startsWith("arn:")) pushUnique(x.awsPrincipals, uid);
  pushUnique(x.awsKeys, s(user.credential_uid));
}

/**
 * Whether correlation keeps tenants apart: the config lets more than one tenant send (the tenants of
 * auth.tokens and auth.hmac, plus senders without a credential when auth.required is false) and
 * correlate.acrossTenants is not set. With one tenant the keys stay unscoped, as before tenants existed.
 */
export function separatesTenants(cfg: Pick<Config, "auth" | "correlate">): boolean {
  return cfg.correlate?.acrossTenants !== true && multiTenant(cfg.auth);
}

/** A key as the event's tenant sees it: "tenant:<tenant>/<key>" when scoped by tenant, else the key itself. */
export function scopedKey(x: Pick<Extracted, "tenant">, key: string): string {
  return x.tenant === undefined ? key : `tenant:${encodeURIComponent(x.tenant)}/${key}`;
}

/**
 * Reads the correlation facts of an event (pure; a few property reads per event). `byTenant`
 * (separatesTenants of the config): the event's tenant_uid scopes its keys.
 */
export function extract(e: OcsfEvent, byTenant = false): Extracted {
  const md = e.metadata;
  const product = s(md?.product?.name) ?? "";
  const logName = s(md?.log_name) ?? "";
  const labels = Array.isArray(md?.labels) ? md.labels : undefined;
  const evidence = Array.isArray(e.evidences) ? o((e.evidences as Json[])[0]) : undefined;
  const actor = o(e.actor);
  const x: Extracted = { product, logName, cluster: clusterOf(e, labels), awsPrincipals: [], awsKeys: [], ips: [] };
  const tenant = byTenant ? s(md?.tenant_uid) : undefined;
  if (tenant !== undefined) x.tenant = tenant;
  const pods = podResources(e);
  const pod = podOf(e, pods, labels);
  if (pod) x.pod = pod;
  const podUid = podUidOf(pods);
  if (podUid !== undefined) x.podUid = podUid;

  const proc = product === "Falco" ? o(evidence?.process) : (o(e.process) ?? o(actor?.process));
  if (proc) {
    x.process = proc;
    if (typeof proc.pid === "number") x.pid = proc.pid;
  }
  const container = product === "Falco" ? o(evidence?.container) : o(proc?.container);
  x.container = shortContainerId(s(container?.uid));
  if (product === "Tetragon" && proc) {
    x.execId = s(proc.uid);
    x.parentExecId = s(o(proc.parent_process)?.uid);
  }

  if (product === "Kubernetes") x.k8sUser = s(o(actor?.user)?.name);
  else if (product === "Falco" && logName === "k8s_audit") x.k8sUser = s(o(o(evidence?.actor)?.user)?.name);

  if (product === "CloudTrail" || (product === "Falco" && logName === "aws_cloudtrail")) {
    addAwsUser(x, o(actor?.user));
    addAwsUser(x, o(e.user));
    addAwsUser(x, o(o(evidence?.actor)?.user));
    const issuer = o(actor?.session)?.issuer;
    x.awsIssuer = typeof issuer === "string" && issuer.startsWith("arn:") ? issuer : undefined;
  }

  pushUnique(x.ips, s(o(e.src_endpoint)?.ip));
  if (product === "Falco" && logName !== "syscall") pushUnique(x.ips, s(o(evidence?.src_endpoint)?.ip));
  x.host = s(o(e.device)?.hostname);
  return x;
}

export function podKey(cluster: string, pod: { namespace: string; name: string }): string {
  return `pod:${cluster}/${pod.namespace}/${pod.name}`;
}

/** Every correlation key of an extracted event, primary first (each value is unique within its kind). */
export function keysOf(x: Extracted): Correlation | undefined {
  const keys: string[] = [];
  if (x.pod) keys.push(`pod:${x.cluster}/${x.pod.namespace}/${x.pod.name}`);
  if (x.container !== undefined) keys.push(`container:${x.container}`);
  if (x.execId !== undefined) keys.push(`exec:${x.execId}`);
  if (x.parentExecId !== undefined) keys.push(`parent_exec:${x.parentExecId}`);
  if (x.container !== undefined && x.pid !== undefined) keys.push(`proc:${x.container}/${x.pid}`);
  if (x.podUid !== undefined) keys.push(`pod-uid:${x.podUid}`);
  const user = x.k8sUser !== undefined ? keys.push(`k8s.user:${x.cluster}/${x.k8sUser}`) - 1 : -1;
  const principal = keys.length;
  for (const p of x.awsPrincipals) keys.push(`aws.principal:${p}`);
  const key = keys.length;
  for (const k of x.awsKeys) keys.push(`aws.key:${k}`);
  if (x.awsIssuer !== undefined) keys.push(`aws.issuer:${x.awsIssuer}`);
  const ip = keys.length;
  for (const a of x.ips) keys.push(`ip:${a}`);
  const host = x.host !== undefined ? keys.push(`host:${x.host}`) - 1 : -1;
  if (keys.length === 0) return undefined;
  // PRIMARY_ORDER: pod, container (both already first when present), aws.principal, aws.key, k8s.user, ip, host
  const first =
    x.pod || x.container !== undefined ? 0 : x.awsPrincipals.length ? principal : x.awsKeys.length ? key : user >= 0 ? user : x.ips.length ? ip : host >= 0 ? host : 0;
  if (first > 0) keys.unshift(keys.splice(first, 1)[0]!);
  if (x.tenant !== undefined) for (let i = 0; i < keys.length; i++) keys[i] = scopedKey(x, keys[i]!);
  return { key: keys[0]!, keys };
}

export function correlationKeys(e: OcsfEvent, byTenant = false): Correlation | undefined {
  return keysOf(extract(e, byTenant));
}

/**
 * Writes the keys on the event: metadata.correlation_uid = stableUid(primary key), and
 * unmapped.tributary.correlation = {key, keys[, source_correlation_uid]} (the normalizer's own
 * correlation_uid, e.g. a k8s auditID or a CloudTrail sharedEventID, is kept there when replaced).
 */
export function applyCorrelationKeys(e: OcsfEvent, byTenant = false): OcsfEvent {
  const c = correlationKeys(e, byTenant);
  if (!c) return e;
  const uid = stableUid(c.key);
  const corr: JsonObject = { key: c.key, keys: c.keys };
  const prev = e.metadata.correlation_uid;
  if (typeof prev === "string" && prev !== uid) corr.source_correlation_uid = prev;
  e.metadata.correlation_uid = uid;
  const um = (e.unmapped ??= {});
  const t = o(um.tributary);
  if (t) t.correlation = corr;
  else um.tributary = { correlation: corr };
  return e;
}
