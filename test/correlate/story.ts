// Builds correlation stories from the real fixtures (Node and workerd). The issue allows adjusting
// timestamps and pod names so that events from different captures line up; every adjustment is made here
// on the parsed source record, before it is normalized, and is listed in docs/correlation.md ("Tests"):
//
//   k8s-audit/falco-trace__exec_pod.json                 kubectl exec bash (minikube-user): pod renamed, timestamps
//                                                         set, `container=` set to the Tetragon container's name
//                                                         (elasticsearch) so that request and shell line up
//   falco/terminal-shell-in-container__falco-docs.json    Terminal shell in container: k8s.ns.name/k8s.pod.name, time,
//                                                         container.id (and the same text in `output`) set to the
//                                                         Tetragon container e6af4dff4ea3
//   falco-k8saudit/attach-exec-pod__eks-blog.json         Falco Attach/Exec Pod (pod kubecon): time
//   tetragon/process_exit.ndjson [2], its `parent`        the exec'd shell: /bin/bash (pid 24200) in
//                                                         tenant-jobs/elasticsearch-56f8fc6988-65smb, the grandparent of
//                                                         cat and nc (bash -> sh lifecycle.sh -> cat, nc). No fixture has
//                                                         its own process_exec, so its process object, as Tetragon reports
//                                                         it as `parent` of `sh lifecycle.sh`, is put in a process_exec
//                                                         envelope; time and start_time set next to the kubectl exec
//   tetragon/process_exec.ndjson [6], process_connect.ndjson [0]   cat exec and nc connect, taken as they are (the
//                                                         story is lined up on their time); they descend from the bash
//   tetragon/process_exec.ndjson [3] (curl), [1] (starwars-docker)  unrelated processes, renamed into the story's pod
//                                                         and moved in time; for "the shell's child", the curl's
//                                                         parent_exec_id (and parent.exec_id) set to the bash's exec_id,
//                                                         and for its grandchild the starwars-docker's set to the curl's
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
/** The Tetragon container of the story (its 12-digit id, and its name in the pod spec). */
export const STORY_CONTAINER = "e6af4dff4ea3";
export const STORY_CONTAINER_NAME = "elasticsearch";
/** exec_id of the story's shell (/bin/bash, pid 24200): the parent of `sh lifecycle.sh`, grandparent of cat and nc. */
export const SHELL_EXEC_ID = "bWluaWt1YmU6MTkyNTA0Njg1Nzc1MjoyNDIwMA==";

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

/**
 * kubectl exec bash (k8s audit, ResponseStarted, 101): pod renamed, timestamps set to `at`, the `container=`
 * parameters set to `container` (default: the story's container name; the capture says nginx1).
 */
export function k8sExecRecord(o: PodAt & { container?: string }): Rec {
  const r = one("k8s-audit/falco-trace__exec_pod.json");
  const ref = r.objectRef as JsonObject;
  const oldPath = `/namespaces/${String(ref.namespace)}/pods/${String(ref.name)}/`;
  ref.namespace = o.ns ?? STORY_NS;
  ref.name = o.pod ?? STORY_POD;
  r.requestURI = String(r.requestURI)
    .replace(oldPath, `/namespaces/${String(ref.namespace)}/pods/${String(ref.name)}/`)
    .replace(/([?&])container=[^&]*/g, `$1container=${encodeURIComponent(o.container ?? STORY_CONTAINER_NAME)}`);
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

/** Falco "Terminal shell in container" (sh): pod renamed, time set, container ee97d9c4186f -> `container` (the story's). */
export function falcoShellRecord(o: PodAt & { container?: string }): Rec {
  const r = falcoPod(one("falco/terminal-shell-in-container__falco-docs.json"), o.ns ?? STORY_NS, o.pod ?? STORY_POD);
  const of = r.output_fields as JsonObject;
  const old = String(of["container.id"]);
  of["container.id"] = o.container ?? STORY_CONTAINER;
  r.output = String(r.output).replaceAll(`container=${old}`, `container=${String(of["container.id"])}`).replaceAll(`container_id=${old}`, `container_id=${String(of["container.id"])}`);
  return falcoAt(r, o.at);
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
/** `starwars-docker` started by containerd-shim (process_exec.ndjson line 2): an app process, not a shell's child. */
export const tetragonAppExecRecord = (o: Partial<PodAt> = {}) => tetragonRecord("process_exec.ndjson", 1, o);

/** A process_exec record made a child of `parentExecId`: process.parent_exec_id and parent.exec_id set. */
export function reparent(r: Rec, parentExecId: string): Rec {
  const body = r.process_exec as JsonObject;
  (body.process as JsonObject).parent_exec_id = parentExecId;
  (body.parent as JsonObject).exec_id = parentExecId;
  return r;
}

/** The curl exec made a child of the story's shell (its bash -c parent replaced by the bash's exec_id). */
export const tetragonCurlChildRecord = (o: Partial<PodAt> = {}) => reparent(tetragonCurlExecRecord(o), SHELL_EXEC_ID);

/**
 * The story's shell: /bin/bash (pid 24200, container elasticsearch) as Tetragon reports it in the `parent` of
 * process_exit.ndjson line 3 (`sh lifecycle.sh`), put in a process_exec envelope (no fixture holds its own exec);
 * event time and start_time set to `at`; optionally renamed into another pod.
 */
export function tetragonShellExecRecord(o: PodAt): Rec {
  const exit = tetragonRecord("process_exit.ndjson", 2);
  const shell = clone((exit.process_exit as JsonObject).parent as JsonObject);
  delete shell.refcnt;
  shell.start_time = iso(o.at);
  let r: Rec = { process_exec: { process: shell }, node_name: exit.node_name as string, time: iso(o.at) };
  if (o.pod !== undefined) r = tetragonPod(r, o.ns ?? STORY_NS, o.pod);
  return r;
}

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
  /** Falco "Terminal shell in container". */
  shell: OcsfEvent;
  /** Tetragon: the exec of the shell kubectl started (bash, the request's command, in the request's container). */
  exec: OcsfEvent;
  /** Tetragon: cat, the shell's grandchild (bash -> sh lifecycle.sh -> cat). */
  child: OcsfEvent;
  /** Tetragon: nc's outbound connect, the shell's grandchild. */
  connect: OcsfEvent;
  /** Its correlation key (the pod). */
  scope: string;
}

/** Times of the story, relative to STORY_AT (cat's exec): kubectl exec, Falco's alert, the shell's exec. */
export const AUDIT_AT = STORY_AT - 1410;
export const ALERT_AT = STORY_AT - 1405;
export const SHELL_AT = STORY_AT - 1400;

/**
 * kubectl exec bash at STORY_AT - 1.41 s, Falco's shell alert 5 ms and Tetragon's exec of the bash 10 ms later,
 * cat's exec at STORY_AT and nc's connect 9 ms later (both started from the bash through `sh lifecycle.sh`), all
 * in one pod (by default the Tetragon events' own pod; another name renames all five).
 */
export function execStory(pod: string = STORY_POD, cfg: Config = CFG): ExecStory {
  const rename = pod === STORY_POD ? {} : { pod, ns: STORY_NS };
  return {
    audit: normalizeRecord(k8sExecRecord({ pod, at: AUDIT_AT }), cfg),
    shell: normalizeRecord(falcoShellRecord({ pod, at: ALERT_AT }), cfg),
    exec: normalizeRecord(tetragonShellExecRecord({ ...rename, at: SHELL_AT }), cfg),
    child: normalizeRecord(tetragonCatExecRecord(rename), cfg),
    connect: normalizeRecord(tetragonNcConnectRecord(rename), cfg),
    scope: `pod:default/${STORY_NS}/${pod}`,
  };
}

/** The uids of an incident's related events (finding_info_list[0].related_events), in the incident's order. */
export function relatedOf(e: Record<string, unknown>): string[] {
  return (e.finding_info_list as { related_events: { uid: string }[] }[])[0]!.related_events.map((r) => r.uid);
}
