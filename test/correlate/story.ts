// Builds correlation stories from the real fixtures (Node and workerd). The issue allows adjusting
// timestamps and pod names so that events from different captures line up; every adjustment is made here
// on the parsed source record, before it is normalized, and is listed in docs/correlation.md ("Tests"):
//
//   k8s-audit/falco-trace__exec_pod.json                 kubectl exec (minikube-user): pod renamed, timestamps set
//   falco/terminal-shell-in-container__falco-docs.json    Terminal shell in container: k8s.ns.name/k8s.pod.name, time
//   falco-k8saudit/attach-exec-pod__eks-blog.json         Falco Attach/Exec Pod (pod kubecon): time
//   tetragon/process_exec.ndjson [6], process_connect.ndjson [0]   cat exec and nc connect in
//                                                         tenant-jobs/elasticsearch-56f8fc6988-65smb (taken as they are;
//                                                         the story is lined up on their time)
//   tetragon/process_kprobe.ndjson [9]                    the same cat's read hook; action set to KPROBE_ACTION_SIGKILL
//                                                         (no fixture has an enforcement: the one non-time, non-pod edit)
//   falco/read-sensitive-file-untrusted__plugins-collector-readme.json   cat /etc/shadow: given the pod, time
//   cloudtrail/stratus__persistence.sts-federation-token.json   GetFederationToken + GetCallerIdentity with the
//                                                         token: the use's sourceIPAddress is changed for the
//                                                         positive case (the capture used one IP)
import { fixture } from "../support/fixtures";
import { frame } from "../../src/routes/decode";
import { runPipeline } from "../../src/pipeline";
import { parseConfig } from "../../src/config/load";
import { makeEnricher } from "../../src/enrich/index";
import type { Config } from "../../src/config/schema";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import type { JsonObject } from "../../src/normalize/json";
import { isObject } from "../../src/normalize/json";

export const CFG: Config = parseConfig({});

/** Time of the Tetragon `cat` exec in tenant-jobs/elasticsearch-56f8fc6988-65smb (process_exec.ndjson line 7). */
export const STORY_AT = Date.parse("2022-02-01T18:01:56.410Z");
export const STORY_NS = "tenant-jobs";
export const STORY_POD = "elasticsearch-56f8fc6988-65smb";

type Rec = JsonObject;

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The records of a fixture file: a JSON object, a JSON array, CloudTrail {Records}, or NDJSON lines. */
export function records(name: string): Rec[] {
  const text = fixture(name);
  if (name.endsWith(".ndjson")) return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as Rec);
  const v = JSON.parse(text) as unknown;
  if (Array.isArray(v)) return v as Rec[];
  if (isObject(v) && Array.isArray(v.Records)) return v.Records as Rec[];
  return [v as Rec];
}

function one(name: string, index = 0): Rec {
  const r = records(name)[index];
  if (!r) throw new Error(`${name} has no record ${index}`);
  return clone(r);
}

/** Normalizes and enriches one source record, as ingest does (keys included). */
export function normalizeRecord(rec: Rec, cfg: Config = CFG, tenant = "acme"): OcsfEvent {
  const text = JSON.stringify(rec);
  const f = frame(text, "application/json");
  const res = runPipeline(f.values, f.paths, f.textLines, { ctx: { ocsfVersion: "1.3.0", receivedAt: STORY_AT + 60_000, tenant }, enrich: makeEnricher(cfg) });
  if (res.errors.length || res.events.length !== 1) throw new Error(`record did not normalize: ${JSON.stringify(res.errors)}`);
  return res.events[0]!.event;
}

// --- source records, adjusted -------------------------------------------------------------------------

export interface PodAt {
  ns?: string;
  pod?: string;
  /** Event time (ms). */
  at: number;
}

/** kubectl exec (k8s audit, ResponseStarted, 101): pod renamed, timestamps set to `at`. */
export function k8sExecRecord(o: PodAt): Rec {
  const r = one("k8s-audit/falco-trace__exec_pod.json");
  const ref = r.objectRef as JsonObject;
  const oldPath = `/namespaces/${String(ref.namespace)}/pods/${String(ref.name)}/`;
  ref.namespace = o.ns ?? STORY_NS;
  ref.name = o.pod ?? STORY_POD;
  r.requestURI = String(r.requestURI).replace(oldPath, `/namespaces/${String(ref.namespace)}/pods/${String(ref.name)}/`);
  r.requestReceivedTimestamp = iso(o.at - 35);
  r.stageTimestamp = iso(o.at);
  r.timestamp = iso(o.at);
  (r.metadata as JsonObject).creationTimestamp = iso(o.at);
  return r;
}

function falcoAt(r: Rec, at: number): Rec {
  r.time = iso(at);
  const of = r.output_fields as JsonObject;
  if (of["evt.time"] !== undefined) of["evt.time"] = `${at}000000`;
  return r;
}

function falcoPod(r: Rec, ns: string, pod: string): Rec {
  const of = r.output_fields as JsonObject;
  const oldPod = typeof of["k8s.pod.name"] === "string" ? of["k8s.pod.name"] : undefined;
  const oldNs = typeof of["k8s.ns.name"] === "string" ? of["k8s.ns.name"] : undefined;
  of["k8s.ns.name"] = ns;
  of["k8s.pod.name"] = pod;
  if (oldPod !== undefined && oldNs !== undefined) r.output = String(r.output).replace(`k8s.ns=${oldNs} k8s.pod=${oldPod}`, `k8s.ns=${ns} k8s.pod=${pod}`);
  return r;
}

/** Falco "Terminal shell in container" (sh, container ee97d9c4186f): pod renamed, time set. */
export function falcoShellRecord(o: PodAt): Rec {
  return falcoAt(falcoPod(one("falco/terminal-shell-in-container__falco-docs.json"), o.ns ?? STORY_NS, o.pod ?? STORY_POD), o.at);
}

/** Falco "Terminal shell in container" for its own pod (default/kubecon): time set only. */
export function falcoShellKubeconRecord(at: number): Rec {
  return falcoAt(one("falco/terminal-shell-in-container__falco-docs.json"), at);
}

/** Falco k8s_audit "Attach/Exec Pod" (kubernetes-admin, default/kubecon): time set only. */
export function falcoAttachExecRecord(at: number): Rec {
  return falcoAt(one("falco-k8saudit/attach-exec-pod__eks-blog.json"), at);
}

/** Falco "Read sensitive file untrusted" (cat /etc/shadow, captured on a host): given the pod, time set. */
export function falcoReadSensitiveRecord(o: PodAt): Rec {
  return falcoAt(falcoPod(one("falco/read-sensitive-file-untrusted__plugins-collector-readme.json"), o.ns ?? STORY_NS, o.pod ?? STORY_POD), o.at);
}

function tetragonPod(r: Rec, ns: string, pod: string): Rec {
  for (const k of Object.keys(r)) {
    if (!k.startsWith("process_") || !isObject(r[k])) continue;
    for (const side of ["process", "parent"]) {
      const p = (r[k] as JsonObject)[side];
      if (isObject(p) && isObject(p.pod)) {
        p.pod.namespace = ns;
        p.pod.name = pod;
      }
    }
  }
  return r;
}

/** A Tetragon line; optionally renamed into another pod and/or moved in time. */
export function tetragonRecord(file: string, index: number, o: Partial<PodAt> = {}): Rec {
  let r = one(`tetragon/${file}`, index);
  if (o.pod !== undefined) r = tetragonPod(r, o.ns ?? STORY_NS, o.pod);
  if (o.at !== undefined) r.time = iso(o.at);
  return r;
}

/** The `cat` exec of the story (process_exec.ndjson line 7). */
export const tetragonCatExecRecord = (o: Partial<PodAt> = {}) => tetragonRecord("process_exec.ndjson", 6, o);
/** The `nc` outbound connect of the story (process_connect.ndjson). */
export const tetragonNcConnectRecord = (o: Partial<PodAt> = {}) => tetragonRecord("process_connect.ndjson", 0, o);
/** The `curl` exec in default/xwing (process_exec.ndjson line 4): an unrelated pod. */
export const tetragonCurlExecRecord = (o: Partial<PodAt> = {}) => tetragonRecord("process_exec.ndjson", 3, o);

/** The `cat` read hook (process_kprobe.ndjson line 10) with action KPROBE_ACTION_SIGKILL. */
export function tetragonCatSigkillRecord(o: Partial<PodAt> = {}, action = "KPROBE_ACTION_SIGKILL"): Rec {
  const r = tetragonRecord("process_kprobe.ndjson", 9, o);
  (r.process_kprobe as JsonObject).action = action;
  return r;
}

/** GetFederationToken (0) and the GetCallerIdentity made with its token (1); `useIp` replaces the use's source IP. */
export function federationRecords(useIp?: string): [Rec, Rec] {
  const recs = records("cloudtrail/stratus__persistence.sts-federation-token.json").map(clone);
  const create = recs.find((r) => r.eventName === "GetFederationToken")!;
  const use = recs.find((r) => r.eventName === "GetCallerIdentity")!;
  if (useIp !== undefined) use.sourceIPAddress = useIp;
  return [create, use];
}

// --- the k8s exec story, normalized ---------------------------------------------------------------------

export interface ExecStory {
  audit: OcsfEvent;
  shell: OcsfEvent;
  exec: OcsfEvent;
  connect: OcsfEvent;
  /** Its correlation key (the pod). */
  scope: string;
}

/**
 * kubectl exec at STORY_AT - 1.41 s, Falco shell alert at STORY_AT - 0.41 s, Tetragon cat exec at STORY_AT and
 * nc connect 9 ms later, all in one pod (by default the Tetragon events' own pod; another name renames all four).
 */
export function execStory(pod: string = STORY_POD, cfg: Config = CFG): ExecStory {
  const rename = pod === STORY_POD ? {} : { pod, ns: STORY_NS };
  return {
    audit: normalizeRecord(k8sExecRecord({ pod, at: STORY_AT - 1410 }), cfg),
    shell: normalizeRecord(falcoShellRecord({ pod, at: STORY_AT - 410 }), cfg),
    exec: normalizeRecord(tetragonCatExecRecord(rename), cfg),
    connect: normalizeRecord(tetragonNcConnectRecord(rename), cfg),
    scope: `pod:default/${STORY_NS}/${pod}`,
  };
}
