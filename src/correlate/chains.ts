// Chain matching (pure). An event becomes a compact summary (the facts the chains read, ~300-600 bytes);
// the summaries of one correlation key are kept by that key's Durable Object, which runs matchChains
// over its window each time summaries arrive. See docs/correlation.md.
//
//   k8s_exec               a `kubectl exec`/`attach` (k8s audit create|get pods/exec|attach, or Falco's k8s_audit
//                          alert on it) for pod P; Falco shell alerts for P close to it in time; the Tetragon exec
//                          of the exec'd shell (same command and container, close in time, or the process Falco's
//                          alert names) and, within the window, only that shell's descendants (exec_id ancestry)
//   aws_credential_new_ip  a CloudTrail credential action handing out credential K (an access key id, or a console
//                          password), then a call made with K from an IP the action did not come from
//   enforcement_alert      a Tetragon enforcement (Sigkill, Override...) and a Falco alert for the same process
//                          (same container and pid, or same binary) close in time
import type { OcsfEvent } from "../normalize/ocsf";
import { isObject, type Json, type JsonObject } from "../normalize/json";
import { stableUid } from "../normalize/uid";
import type { ChainName, CorrelateConfig } from "../config/correlate";
import { extract, podKey, scopedKey, type Extracted } from "./keys";

export type Role = "k8s_exec" | "shell_alert" | "alert" | "exec" | "connect" | "enforcement" | "cred_create" | "cred_use";

/** What a Durable Object keeps of an event (JSON; crosses the RPC boundary and is stored in SQLite). */
export interface Summary {
  /** metadata.uid of the event. */
  uid: string;
  /** Event time (ms). */
  time: number;
  class_uid: number;
  type_uid: number;
  type_name?: string;
  /** metadata.product.name. */
  product: string;
  severity_id: number;
  tenant?: string;
  /** The correlation key whose Durable Object keeps this summary. */
  scope: string;
  roles: Role[];
  /** Rule / finding title, API operation or event message. */
  title?: string;
  /** finding_info.uid when the event is a finding. */
  finding_uid?: string;
  /** Kubernetes user or AWS principal. */
  user?: string;
  /** "<cluster>/<namespace>/<pod>". */
  pod?: string;
  container?: string;
  pid?: number;
  /** Executable path (or process name when no path is known). */
  binary?: string;
  exec_id?: string;
  parent_exec_id?: string;
  /** Tetragon: the parent's parent_exec_id (every Tetragon event carries its parent in full). */
  grandparent_exec_id?: string;
  /** Container name (Tetragon pod.container.name; the `container=` of a `kubectl exec`). */
  container_name?: string;
  /** k8s exec anchors: the first word of the command run (`command=` parameters of the request). */
  command?: string;
  /** Tetragon action (KPROBE_ACTION_SIGKILL...). */
  action?: string;
  /** Credential reference: "aws.key:<id>" or "aws.login:<account>/<user>". */
  credential?: string;
  /** Source IP (CloudTrail, k8s audit). */
  ip?: string;
  /** Destination "ip:port" of a connection. */
  dst?: string;
  /** k8s auditID (several stages of one request are one anchor). */
  request_uid?: string;
}

export interface ChainMatch {
  chain: ChainName;
  /** finding_info uid of the incident: the chain and its anchor event (stable while the incident grows). */
  finding_uid: string;
  scope: string;
  /** Related events, in time order; the anchor is among them. */
  members: Summary[];
}

const MAX_TEXT = 256;

function o(v: Json | undefined | unknown): JsonObject | undefined {
  return isObject(v) ? v : undefined;
}
function s(v: Json | undefined | unknown): string | undefined {
  return typeof v === "string" && v !== "" ? (v.length > MAX_TEXT ? v.slice(0, MAX_TEXT) : v) : undefined;
}
function decodeParam(v: string): string {
  try {
    return decodeURIComponent(v.replace(/\+/g, " "));
  } catch {
    return v;
  }
}
function basename(p: string): string {
  const i = p.lastIndexOf("/");
  return i >= 0 ? p.slice(i + 1) : p;
}

/** Compact summary fields: undefined members are left out so the JSON stays small. */
function defined<T extends object>(x: T): T {
  const out = {} as T;
  for (const k in x) if (x[k] !== undefined) out[k] = x[k];
  return out;
}

const shellRes = new WeakMap<CorrelateConfig, RegExp>();
function shellRe(cfg: CorrelateConfig): RegExp {
  let re = shellRes.get(cfg);
  if (!re) shellRes.set(cfg, (re = new RegExp(cfg.chains.k8s_exec.shellPattern, "i")));
  return re;
}

/** The Durable Object (correlation key) a pod's or container's summary goes to, scoped by tenant when keys are. */
function scopeOf(x: Extracted): string | undefined {
  if (x.pod) return scopedKey(x, podKey(x.cluster, x.pod));
  return x.container ? scopedKey(x, `container:${x.container}`) : undefined;
}

/**
 * Tetragon: the exec_id of the process's grandparent. The parent comes in full either as the process's
 * parent_process (connects, hooks) or, for a process_exec, as actor.process (the launcher).
 */
function grandparentExecId(e: OcsfEvent, x: Extracted): string | undefined {
  if (x.product !== "Tetragon" || x.parentExecId === undefined) return undefined;
  const viaProcess = o(x.process?.parent_process);
  const actor = o(o(e.actor)?.process);
  const parent = viaProcess?.parent_process !== undefined ? viaProcess : s(actor?.uid) === x.parentExecId ? actor : undefined;
  return s(o(parent?.parent_process)?.uid);
}

function processFacts(e: OcsfEvent, x: Extracted): Partial<Summary> {
  const p = x.process;
  const file = o(p?.file);
  return {
    pod: x.pod ? `${x.cluster}/${x.pod.namespace}/${x.pod.name}` : undefined,
    container: x.container,
    container_name: s(o(p?.container)?.name),
    pid: x.pid,
    binary: s(file?.path) ?? s(p?.name),
    exec_id: x.execId,
    parent_exec_id: x.parentExecId,
    grandparent_exec_id: grandparentExecId(e, x),
  };
}

/** The command (argv) and target container of a `kubectl exec`: the request's query, or Falco's ka.uri.param fields. */
function execRequest(e: OcsfEvent, x: Extracted): { argv: string[]; container?: string } {
  if (x.product === "Falco") {
    const of = o(e.unmapped?.output_fields);
    const cmd = s(of?.["ka.uri.param[command]"]);
    return { argv: cmd !== undefined ? [cmd] : [], container: s(of?.["ka.uri.param[container]"]) };
  }
  const params = (s(o(o(e.http_request)?.url)?.query_string) ?? "").split("&");
  const values = (name: string) => params.filter((p) => p.startsWith(`${name}=`)).map((p) => decodeParam(p.slice(name.length + 1)));
  return { argv: values("command"), container: s(values("container")[0]) };
}

/** The Tetragon action of a hook event (unmapped.<event type>.action). */
function tetragonAction(e: OcsfEvent, x: Extracted): string | undefined {
  return s(o(e.unmapped?.[x.logName])?.action);
}

function isK8sExec(e: OcsfEvent, x: Extracted): boolean {
  if (!x.pod) return false;
  const res = Array.isArray(e.resources) ? (e.resources as Json[]).map(o) : [];
  if (x.product === "Kubernetes") {
    const op = s(o(e.api)?.operation);
    if (e.status_id === 2 || (op !== "create" && op !== "get")) return false;
    return res.some((r) => r?.type === "pods/exec" || r?.type === "pods/attach");
  }
  // Falco's k8s_audit rules (Attach/Exec Pod): resources [{type: pods, data.subresource}] / evidences[0].api.operation
  const sub = res.map((r) => s(o(r?.data)?.subresource)).find((v) => v !== undefined);
  const op = s(o(o(Array.isArray(e.evidences) ? (e.evidences as Json[])[0] : undefined)?.api)?.operation);
  return sub === "exec" || sub === "attach" || op === "exec" || op === "attach";
}

/**
 * The summaries an event contributes (usually none or one; a CloudTrail call that both uses a key and hands
 * out another gives two, for two credentials). Events no enabled chain can use give none and are not sent.
 * `byTenant` (separatesTenants of the config): each summary's scope carries the event's tenant, as its keys do.
 */
export function summarize(e: OcsfEvent, cfg: CorrelateConfig, byTenant = false): Summary[] {
  const x = extract(e, byTenant);
  const uid = e.metadata?.uid;
  if (typeof uid !== "string" || x.product === "Tributary" || typeof e.time !== "number") return [];
  const chains = cfg.chains;
  const time = e.time;
  const make = (scope: string, roles: Role[], facts: Partial<Summary>): Summary =>
    defined({
      uid,
      time,
      class_uid: e.class_uid,
      type_uid: e.type_uid,
      type_name: s(e.type_name),
      product: x.product,
      severity_id: e.severity_id,
      tenant: s(e.metadata.tenant_uid),
      scope,
      roles,
      ...facts,
    });
  const finding = o(e.finding_info);

  if (x.product === "Kubernetes" || (x.product === "Falco" && x.logName === "k8s_audit")) {
    if (!chains.k8s_exec.enabled || !isK8sExec(e, x) || !x.pod) return [];
    const req = execRequest(e, x);
    const command = req.argv.join(" ");
    return [
      make(scopedKey(x, podKey(x.cluster, x.pod)), ["k8s_exec"], {
        title: s(finding?.title) ?? (command ? `exec ${command}` : s(e.message)),
        finding_uid: s(finding?.uid),
        user: x.k8sUser,
        pod: `${x.cluster}/${x.pod.namespace}/${x.pod.name}`,
        command: s(req.argv[0]),
        container_name: req.container,
        ip: x.ips[0],
        request_uid: x.product === "Kubernetes" ? s(o(o(e.api)?.request)?.uid) : undefined,
      }),
    ];
  }

  if (x.product === "Falco") {
    if (x.logName === "internal") return [];
    const scope = scopeOf(x);
    if (!scope || !finding) return [];
    const roles: Role[] = [];
    const title = s(finding.title);
    const types = Array.isArray(finding.types) ? finding.types : [];
    if (chains.k8s_exec.enabled && ((title !== undefined && shellRe(cfg).test(title)) || types.includes("shell"))) roles.push("shell_alert");
    if (chains.enforcement_alert.enabled && x.process) roles.push("alert");
    if (roles.length === 0) return [];
    return [make(scope, roles, { title, finding_uid: s(finding.uid), ...processFacts(e, x) })];
  }

  if (x.product === "Tetragon") {
    const scope = scopeOf(x);
    if (!scope) return [];
    const roles: Role[] = [];
    const conn = o(e.connection_info);
    if (chains.k8s_exec.enabled && x.logName === "process_exec") roles.push("exec");
    if (chains.k8s_exec.enabled && e.class_uid === 4001 && conn?.direction_id === 2) roles.push("connect");
    const action = tetragonAction(e, x);
    if (chains.enforcement_alert.enabled && action !== undefined && chains.enforcement_alert.actions.includes(action)) roles.push("enforcement");
    if (roles.length === 0) return [];
    const dst = o(e.dst_endpoint);
    const dstIp = s(dst?.ip);
    return [
      make(scope, roles, {
        title: s(e.message),
        action: roles.includes("enforcement") ? action : undefined,
        dst: dstIp !== undefined && roles.includes("connect") ? (typeof dst?.port === "number" ? `${dstIp}:${dst.port}` : dstIp) : undefined,
        ...processFacts(e, x),
      }),
    ];
  }

  if (x.product === "CloudTrail") {
    const chain = chains.aws_credential_new_ip;
    const ip = s(o(e.src_endpoint)?.ip);
    if (!chain.enabled || ip === undefined) return [];
    const out: Summary[] = [];
    const op = s(o(e.api)?.operation);
    const actor = o(e.actor);
    const actorUser = o(actor?.user);
    const who = s(actorUser?.uid) ?? s(actorUser?.name);
    const ok = e.status_id === 1;
    // a credential an AWS service asked for on the user's behalf (userIdentity.invokedBy -> actor.app_name next to
    // the user or session; app_name alone is the normalizer's stand-in for a caller without one) is not the user's
    const viaService = actor?.app_name !== undefined && (actorUser !== undefined || actor.session !== undefined);
    if (ok && op !== undefined && chain.actions.includes(op) && !viaService) {
      const target = o(e.user);
      const key = s(target?.credential_uid);
      const account = s(o(target?.account)?.uid) ?? s(o(actorUser?.account)?.uid) ?? s(o(o(e.cloud)?.account)?.uid);
      const login = /LoginProfile$/.test(op) && s(target?.name) !== undefined && account !== undefined ? `aws.login:${account}/${s(target?.name)}` : undefined;
      const credential = login ?? (key !== undefined ? `aws.key:${key}` : undefined);
      if (credential) out.push(make(scopedKey(x, credential), ["cred_create"], { title: op, user: who, credential, ip }));
    }
    const used = s(actorUser?.credential_uid);
    const account = s(o(actorUser?.account)?.uid);
    const name = s(actorUser?.name);
    const credential =
      used !== undefined ? `aws.key:${used}` : ok && op === "ConsoleLogin" && name !== undefined && account !== undefined ? `aws.login:${account}/${name}` : undefined;
    if (credential && !out.some((y) => y.credential === credential)) out.push(make(scopedKey(x, credential), ["cred_use"], { title: op, user: who, credential, ip }));
    return out;
  }
  return [];
}

// ---------------------------------------------------------------------------------------------------------
// Matching over one key's window.

/** Time order, ties by uid (so every window and incident lists events the same way). */
export function byTime(a: Summary, b: Summary): number {
  return a.time - b.time || (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0);
}

function has(x: Summary, r: Role): boolean {
  return x.roles.includes(r);
}

/** Members in time order, at most `max` (the anchors always stay; the latest others go first). */
function finish(chain: ChainName, head: Summary, anchors: Summary[], others: Summary[], max: number): ChainMatch {
  const seen = new Set<string>();
  const keep: Summary[] = [];
  for (const x of [...anchors, ...others.sort(byTime)]) {
    if (seen.has(x.uid) || keep.length >= max) continue;
    seen.add(x.uid);
    keep.push(x);
  }
  return { chain, finding_uid: stableUid(`tributary/${chain}/${head.uid}`), scope: head.scope, members: keep.sort(byTime) };
}

/** Same container (12 hex), and the same pid when both sides know it, else the same binary name. */
function sameContainerProcess(a: Summary, b: Summary): boolean {
  if (a.container === undefined || a.container !== b.container) return false;
  if (a.pid !== undefined && b.pid !== undefined) return a.pid === b.pid;
  return a.binary !== undefined && b.binary !== undefined && basename(a.binary) === basename(b.binary);
}

/**
 * The Tetragon exec of the shell a `kubectl exec` started, within the skew of the anchor: the process a joined
 * Falco shell alert names (same container and pid; same container and name when Falco gives no pid), else the
 * exec whose binary is the request's command (`command=bash` -> `/bin/bash`) in the requested container (when
 * both name one). Several candidates: the one closest in time to the anchor. None: no Tetragon event joins.
 */
function shellStart(anchors: Summary[], alerts: Summary[], execs: Summary[], skew: number): Summary | undefined {
  const head = anchors[0]!;
  const near = execs.filter((x) => Math.abs(x.time - head.time) <= skew && x.exec_id !== undefined);
  const closest = (l: Summary[]) => l.sort((a, b) => Math.abs(a.time - head.time) - Math.abs(b.time - head.time) || byTime(a, b))[0];
  const byAlert = near.filter((x) => alerts.some((f) => Math.abs(f.time - x.time) <= skew && sameContainerProcess(f, x)));
  if (byAlert.length) return closest(byAlert);
  const command = anchors.find((a) => a.command !== undefined)?.command;
  const container = anchors.find((a) => a.container_name !== undefined)?.container_name;
  if (command === undefined) return undefined;
  const cmd = basename(command);
  return closest(near.filter((x) => x.binary !== undefined && basename(x.binary) === cmd && (container === undefined || x.container_name === undefined || x.container_name === container)));
}

/**
 * The shell's process tree: the Tetragon execs and connects in the window whose own exec_id, parent_exec_id or
 * grandparent exec_id is in the set, which starts as {shell exec_id} and takes the exec_id of every member
 * (a fixed point: at most one pass per candidate, so bounded by the window).
 */
function descendants(shell: Summary, procs: Summary[]): Summary[] {
  const tree = new Set<string>([shell.exec_id!]);
  const inTree = (id: string | undefined) => id !== undefined && tree.has(id);
  const out: Summary[] = [];
  let rest = procs.filter((x) => x.uid !== shell.uid);
  for (let grew = true, pass = 0; grew && pass <= procs.length; pass++) {
    grew = false;
    const left: Summary[] = [];
    for (const x of rest) {
      if (inTree(x.exec_id) || inTree(x.parent_exec_id) || inTree(x.grandparent_exec_id)) {
        out.push(x);
        if (x.exec_id !== undefined) tree.add(x.exec_id);
        grew = true;
      } else left.push(x);
    }
    rest = left;
  }
  return out;
}

function k8sExec(win: Summary[], cfg: CorrelateConfig): ChainMatch[] {
  const W = (cfg.chains.k8s_exec.windowSeconds ?? cfg.windowSeconds) * 1000;
  const skew = cfg.skewSeconds * 1000;
  // anchors of one `kubectl exec` (audit stages, Falco's alert on it) within the skew are one story
  const groups: Summary[][] = [];
  for (const a of win) {
    if (!has(a, "k8s_exec")) continue;
    const g = groups[groups.length - 1];
    const head = g?.[0];
    // stages of one request (auditID) minutes apart, but within the window: a stage with an absurd time (0, 9999)
    // must not become the head of the real exec's story and move its window away
    const sameRequest = head !== undefined && a.request_uid !== undefined && a.request_uid === head.request_uid && a.time - head.time <= W;
    const sameUser = head !== undefined && (a.user === undefined || head.user === undefined || a.user === head.user);
    const same = sameRequest || (head !== undefined && sameUser && a.time - head.time <= skew);
    if (g && same) g.push(a);
    else groups.push([a]);
  }
  const out: ChainMatch[] = [];
  for (const anchors of groups) {
    const head = anchors[0]!;
    const inWin = (x: Summary) => x.time >= head.time - skew && x.time <= head.time + W;
    const shellAlerts = win.filter((x) => has(x, "shell_alert") && inWin(x));
    const procs = win.filter((x) => (has(x, "exec") || has(x, "connect")) && inWin(x));
    // Falco alerts on the shell's start: within the skew of the exec
    const near = shellAlerts.filter((x) => Math.abs(x.time - head.time) <= skew);
    const shell = shellStart(anchors, near, procs.filter((x) => has(x, "exec")), skew);
    const tree = shell ? [shell, ...descendants(shell, procs)] : [];
    // a Falco shell alert joins when close to the exec (and in the shell's container, when both are known),
    // or when it names a process of the shell's tree (container and pid)
    const alerts = shellAlerts.filter(
      (f) =>
        (near.includes(f) && (shell?.container === undefined || f.container === undefined || f.container === shell.container)) ||
        tree.some((p) => f.pid !== undefined && p.pid !== undefined && sameContainerProcess(f, p)),
    );
    if (alerts.length === 0 && !shell) continue;
    out.push(finish("k8s_exec", head, anchors, [...alerts, ...tree], cfg.maxRelated));
  }
  return out;
}

function sameProcess(t: Summary, f: Summary): boolean {
  if (t.container !== undefined && f.container !== undefined && t.container !== f.container) return false;
  if (t.pid !== undefined && f.pid !== undefined && t.container !== undefined && t.container === f.container) return t.pid === f.pid;
  if (t.binary === undefined || f.binary === undefined) return false;
  return t.binary === f.binary || basename(t.binary) === basename(f.binary);
}

function enforcementAlert(win: Summary[], cfg: CorrelateConfig): ChainMatch[] {
  const W = cfg.chains.enforcement_alert.windowSeconds * 1000;
  const skew = cfg.skewSeconds * 1000;
  // one incident per enforced process (exec_id), else per event; enforcements of one process further than the
  // window from the first start another (one with an absurd time, 0 or 9999, does not head or stretch the story)
  const byProcess = new Map<string, Summary[][]>();
  for (const x of win) {
    if (!has(x, "enforcement")) continue;
    const k = x.exec_id ?? x.uid;
    const groups = byProcess.get(k);
    const g = groups?.[groups.length - 1];
    if (g && x.time - g[0]!.time <= W) g.push(x);
    else if (groups) groups.push([x]);
    else byProcess.set(k, [[x]]);
  }
  const out: ChainMatch[] = [];
  for (const enforced of [...byProcess.values()].flat()) {
    const head = enforced[0]!;
    const last = enforced[enforced.length - 1]!;
    const alerts = win.filter((f) => has(f, "alert") && enforced.some((t) => Math.abs(f.time - t.time) <= W && sameProcess(t, f)));
    if (alerts.length === 0) continue;
    // the process's exec: one (an exec_id starts once), the latest before it was enforced (within the skew), so a
    // copy at time 0 or 9999 is not listed
    const exec = head.exec_id !== undefined ? win.filter((x) => has(x, "exec") && x.exec_id === head.exec_id && x.time <= last.time + skew).slice(-1) : [];
    out.push(finish("enforcement_alert", head, enforced, [...alerts, ...exec], cfg.maxRelated));
  }
  return out;
}

function awsCredentialNewIp(win: Summary[], cfg: CorrelateConfig): ChainMatch[] {
  const W = (cfg.chains.aws_credential_new_ip.windowSeconds ?? cfg.windowSeconds) * 1000;
  const skew = cfg.skewSeconds * 1000;
  // the credential actions per credential, in time order; the first one used from a new IP is the story's head
  // (so an action with an absurd time, 0 or years off, joins nothing and cannot hide a later real one)
  const actions = new Map<string, Summary[]>();
  for (const x of win) {
    if (!has(x, "cred_create") || !x.credential) continue;
    const l = actions.get(x.credential);
    if (l) l.push(x);
    else actions.set(x.credential, [x]);
  }
  const out: ChainMatch[] = [];
  for (const heads of actions.values()) {
    for (const head of heads) {
      const known = new Set<string>(head.ip !== undefined ? [head.ip] : []);
      const fresh: Summary[] = [];
      for (const u of win) {
        if (!has(u, "cred_use") || u.credential !== head.credential || u.time < head.time - skew || u.time > head.time + W || u.ip === undefined) continue;
        if (!known.has(u.ip)) fresh.push(u);
        known.add(u.ip);
      }
      if (!fresh.length) continue;
      out.push(finish("aws_credential_new_ip", head, [head], fresh, cfg.maxRelated));
      break;
    }
  }
  return out;
}

/** Every chain that matches in one key's window (summaries of that key, any order). */
export function matchChains(window: Summary[], cfg: CorrelateConfig): ChainMatch[] {
  const win = [...window].sort(byTime);
  const out: ChainMatch[] = [];
  if (cfg.chains.k8s_exec.enabled) out.push(...k8sExec(win, cfg));
  if (cfg.chains.aws_credential_new_ip.enabled) out.push(...awsCredentialNewIp(win, cfg));
  if (cfg.chains.enforcement_alert.enabled) out.push(...enforcementAlert(win, cfg));
  return out;
}
