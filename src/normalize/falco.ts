// Falco alert (any source: syscall, k8s_audit, aws_cloudtrail, internal, plugins) -> OCSF Detection Finding
// (class 2004, activity 1 Create). Field-by-field table and severity table: docs/mapping-falco.md.
//
// Every output field is either mapped (and removed from a working copy) or left in unmapped.output_fields
// untouched (nulls included), so no input information disappears. Falco's evt.time (nanoseconds, beyond 2^53)
// arrives as an exact decimal string from parseJson and is never turned into a JS number except by BigInt.
import { type Json, type JsonObject, isObject, str, int, isoToMs, compact, obj, setOwn, lookup } from "./json";
import {
  type NormalizeContext,
  type OcsfEvent,
  OBS,
  Observables,
  withCaptions,
  isIpAddress,
  isHostname,
  isUuid,
} from "./ocsf";
import { plausibleUid, scopedUid, stableUid, stableUidOfJson } from "./uid";
import { NormalizeError } from "./errors";
import { type FalcoTextFields, readFalcoTextFields } from "./falco-text";

/** Falco priority (case-insensitive) -> OCSF severity_id. Documented in docs/mapping-falco.md. */
export const FALCO_SEVERITY: Record<string, number> = {
  emergency: 6, // Fatal
  alert: 5, // Critical
  critical: 5, // Critical
  error: 4, // High
  warning: 3, // Medium
  notice: 2, // Low
  informational: 1, // Informational
  info: 1, // Informational (Falcosidekick accepts "info")
  debug: 1, // Informational
};

/** Top-level keys of a Falco JSON alert that the mapping consumes; any other key goes to unmapped. */
const TOP_LEVEL = new Set(["uuid", "output", "priority", "rule", "time", "output_fields", "source", "tags", "hostname"]);

/**
 * The alert text: `output`, else `message` (json_include_message_property: true writes "message", the rule
 * output without the time and priority; with json_include_output_property: false it is the only text).
 * A `message` beside an `output` stays in unmapped.
 */
function alertText(rec: JsonObject): { text: string | undefined; fromMessage: boolean } {
  const output = str(rec.output);
  if (output !== undefined || typeof rec.message !== "string") return { text: output, fromMessage: false };
  return { text: rec.message, fromMessage: true };
}

/**
 * Falco's text for a field it could not get. libsinsp prints "<NA>" for it in text output; JSON output_fields
 * usually has null instead, but older Falco (falcosecurity/falco#1029) and extra fields formatted as text
 * (append_output) carry the "<NA>" string. Only this text: libsinsp's formatter writes no other ("N/A" stays a value).
 */
export const FALCO_NA = "<NA>";

/** A Falco output field value, with the not-available marker read as null (absent): the raw value stays in unmapped. */
export function falcoValue(v: Json | undefined): Json | undefined {
  return v === FALCO_NA ? null : v;
}

/**
 * A working copy of output_fields: mapped keys are taken out, the rest is `unmapped.output_fields`.
 * Taken keys are blanked (undefined) rather than deleted, so the copy keeps its fast shape; `put`
 * re-adds a key at the end, as assigning a deleted key of an object does.
 */
class Fields {
  private readonly w: { [k: string]: Json | undefined };
  constructor(of: JsonObject) {
    this.w = { ...of };
  }
  /**
   * A string (numbers and booleans as their text); null, "<NA>", "" and absent give undefined and stay in rest.
   * An empty text is no value either: libsinsp writes "user.name": "" for a user it could not resolve
   * (falcosecurity/falco#2700), and no mapped field has "" as a meaning (no "" user, container or file name).
   */
  s(key: string): string | undefined {
    const r = str(falcoValue(this.w[key]) ?? undefined);
    if (r === "") return undefined;
    if (r !== undefined) this.w[key] = undefined;
    return r;
  }
  /** An exact integer (safe range); anything else stays in rest. */
  i(key: string): number | undefined {
    const r = int(falcoValue(this.w[key]) ?? undefined);
    if (r !== undefined) this.w[key] = undefined;
    return r;
  }
  /** The value, without taking it ("<NA>" as null). */
  peek(key: string): Json | undefined {
    return falcoValue(this.w[key]);
  }
  take(key: string): void {
    if (this.w[key] !== undefined) this.w[key] = undefined;
  }
  /** Puts a value (back) in rest, at the end. */
  put(key: string, v: Json): void {
    if (this.w[key] === undefined) delete this.w[key];
    this.w[key] = v;
  }
  has(prefix: string): boolean {
    for (const k in this.w) if (this.w[k] !== undefined && k.startsWith(prefix)) return true;
    return false;
  }
  /** Keys still in rest, in order. */
  keys(): string[] {
    const out: string[] = [];
    for (const k in this.w) if (this.w[k] !== undefined) out.push(k);
    return out;
  }
  /** What was not taken. */
  rest(): JsonObject {
    const out: JsonObject = {};
    for (const k in this.w) {
      const v = this.w[k];
      if (v !== undefined) setOwn(out, k, v);
    }
    return out;
  }
}

function basename(p: string): string {
  const i = p.lastIndexOf("/");
  return i >= 0 && i < p.length - 1 ? p.slice(i + 1) : p;
}

function dirname(p: string): string | undefined {
  const i = p.lastIndexOf("/");
  return i > 0 ? p.slice(0, i) : i === 0 ? "/" : undefined;
}

/**
 * Nanoseconds since the epoch, as a decimal string, to epoch ms (exact: BigInt, never a double). Falco's evt.time
 * is a uint64: a number beyond 2^64 (1e300 from a broken sender) is no time, as JavaScript dates end at year 275760
 * and every sink writing an ISO date would throw on it.
 */
function nsToMs(ns: Json | undefined): number | undefined {
  if (typeof ns === "string" && /^\d{1,20}$/.test(ns)) return Number(BigInt(ns) / 1000000n);
  if (typeof ns === "number" && Number.isFinite(ns) && ns >= 0 && ns < UINT64_END) return Math.floor(ns / 1e6);
  return undefined;
}

/** 2^64: the first nanosecond count a uint64 cannot hold. */
const UINT64_END = 2 ** 64;

/** Parses Falco's fd.name connection tuple "1.2.3.4:5678->10.0.0.1:443" (IPv6 bare or in brackets). */
export function parseTuple(t: string): { src: { ip: string; port: number }; dst: { ip: string; port: number } } | undefined {
  const m = /^\[?([0-9a-fA-F:.]+?)\]?:(\d+)->\[?([0-9a-fA-F:.]+?)\]?:(\d+)$/.exec(t);
  if (!m || !isIpAddress(m[1]!) || !isIpAddress(m[3]!)) return undefined;
  const sp = Number(m[2]);
  const dp = Number(m[4]);
  if (sp > 65535 || dp > 65535) return undefined;
  return { src: { ip: m[1]!, port: sp }, dst: { ip: m[3]!, port: dp } };
}

/** A network endpoint for an address that may be an IP, a host name or something else (CloudTrail). */
function endpoint(addr: string, port?: number): JsonObject {
  const e: JsonObject = isIpAddress(addr) ? { ip: addr } : isHostname(addr) ? { hostname: addr } : { name: addr };
  if (port !== undefined && port >= 0 && port <= 65535) e.port = port;
  return e;
}

function fileObject(path: string, typeId: number, parentFolder?: string): JsonObject {
  const types: Record<number, string> = { 0: "Unknown", 1: "Regular File", 2: "Folder" };
  return obj({ name: basename(path), path, type_id: typeId, type: types[typeId] ?? "Unknown", parent_folder: parentFolder ?? dirname(path) });
}

interface Built {
  evidence: JsonObject;
  resources: JsonObject[];
  cloud?: JsonObject;
}

/** Falco's indexed ancestor fields (libsinsp: proc.aname[1] is the parent, proc.aname[0] the process itself). */
const ANCESTOR_FIELD = /^proc\.a(?:name|pid|cmdline|exepath|exe)\[(\d+)\]$/;

/** The process's (level 0) and the parent's (level 1) own fields, tried before proc.a*[0] / proc.a*[1]. */
const OWN_FIELDS = [
  { name: "proc.name", pid: "proc.pid", cmd: "proc.cmdline", exepath: "proc.exepath", exe: "proc.exe" },
  { name: "proc.pname", pid: "proc.ppid", cmd: "proc.pcmdline", exepath: "proc.pexepath", exe: "proc.pexe" },
] as const;

/**
 * One level of the process ancestry: 0 = the process, 1 = parent, N = proc.aname[N] / proc.apid[N] /
 * proc.acmdline[N] / proc.aexepath[N] (else proc.aexe[N] when it is an absolute path).
 * (A module function, not a closure in mapProcess: the bundler's keepNames names every closure it makes.)
 */
function processLevel(f: Fields, n: number, findingUid: string): JsonObject | undefined {
  const own = OWN_FIELDS[n]; // levels 0 and 1: their own fields first
  const name = (own && f.s(own.name)) ?? f.s(`proc.aname[${n}]`);
  const pid = (own && f.i(own.pid)) ?? f.i(`proc.apid[${n}]`);
  const cmd = (own && f.s(own.cmd)) ?? f.s(`proc.acmdline[${n}]`);
  const exePath = (own && (f.s(own.exepath) ?? exeIfPath(f, own.exe))) ?? f.s(`proc.aexepath[${n}]`) ?? exeIfPath(f, `proc.aexe[${n}]`);
  if (name === undefined && pid === undefined && cmd === undefined && exePath === undefined) return undefined;
  return obj({
    pid,
    // OCSF 1.3.0 requires pid or uid: without Falco's pid, a uid unique to this alert and ancestry level
    uid: pid === undefined ? stableUid(`${findingUid}/process/${n}`) : undefined,
    name,
    cmd_line: cmd,
    file: exePath !== undefined ? fileObject(exePath, 1) : undefined,
  });
}

/** proc.* / user.* -> evidences[0].process (with parent_process and the proc.aname[N] ancestors). */
function mapProcess(f: Fields, b: Built, obs: Observables, findingUid: string): void {
  // ancestors: level 0 = the process, 1 = parent, N = proc.aname[N] / proc.apid[N] / proc.acmdline[N] ...
  let top = 1;
  for (const k of f.keys()) {
    if (!k.startsWith("proc.a")) continue;
    const m = ANCESTOR_FIELD.exec(k);
    if (m) top = Math.max(top, Number(m[1]));
  }
  let chain: JsonObject | undefined;
  for (let n = top; n >= 1; n--) {
    // a level Falco did not send below a known ancestor (gparent=%proc.aname[2] without %proc.pname, or a
    // null parent) keeps its place with only a uid, so proc.aname[N] stays N-1 levels above the parent
    const p = processLevel(f, n, findingUid) ?? (chain ? { uid: stableUid(`${findingUid}/process/${n}`) } : undefined);
    if (p) chain = chain ? { ...p, parent_process: chain } : p;
  }
  const proc = processLevel(f, 0, findingUid) ?? (chain ? { uid: stableUid(`${findingUid}/process/0`) } : undefined);

  const userName = f.s("user.name");
  // (uid_t)-1 is no user: libsinsp's uid of a thread whose user it does not know (falcosecurity/falco#2700)
  const uidRaw = f.peek("user.uid");
  const userUid = uidRaw === 4294967295 || uidRaw === "4294967295" || uidRaw === -1 || uidRaw === "-1" ? undefined : f.s("user.uid");
  const user = userName !== undefined || userUid !== undefined ? obj({ name: userName, uid: userUid }) : undefined;
  if (!proc) {
    if (user) {
      b.evidence.actor = { user };
      obs.add("evidences[0].actor.user.name", OBS.user_name, userName);
    }
    return;
  }
  if (chain) proc.parent_process = chain;
  if (user) proc.user = user;
  const tid = f.i("proc.tid") ?? f.i("thread.tid");
  if (tid !== undefined) proc.tid = tid;
  const vpid = f.i("proc.vpid");
  if (vpid !== undefined) proc.namespace_pid = vpid;
  const tty = int(f.peek("proc.tty") ?? undefined);
  if (tty !== undefined && tty !== 0) {
    f.take("proc.tty");
    proc.session = { terminal: String(tty) };
  }
  b.evidence.process = proc;
  obs.add("evidences[0].process.name", OBS.process_name, str(proc.name));
  obs.add("evidences[0].process.cmd_line", OBS.cmd_line, str(proc.cmd_line));
  obs.add("evidences[0].process.pid", OBS.pid, str(proc.pid));
  obs.add("evidences[0].process.user.name", OBS.user_name, userName);
  if (isObject(chain)) obs.add("evidences[0].process.parent_process.name", OBS.process_name, str(chain.name));
  if (isObject(proc.file)) obs.add("evidences[0].process.file.name", OBS.file_name, str(proc.file.name));
}

/** proc.exe is argv[0]: only a file path when it is absolute. */
function exeIfPath(f: Fields, key: string): string | undefined {
  const v = f.peek(key);
  return typeof v === "string" && v.startsWith("/") ? f.s(key) : undefined;
}

/**
 * The container plugin's container.full_id (Falco 0.41+) when it is the full form of container.id: 64 hex digits
 * whose first 12 are container.id. OCSF container.uid is "the full container unique identifier", and Tetragon's
 * pod.container.id carries the full id too (after its "containerd://" prefix). The 12-digit container.id then stays
 * in unmapped.output_fields (OCSF has no attribute for a short id); any other full_id stays there, beside the
 * container.id mapped as before.
 */
function fullContainerId(f: Fields): string | undefined {
  const full = f.peek("container.full_id");
  const short = f.peek("container.id");
  if (typeof full !== "string" || typeof short !== "string" || short.length !== 12) return undefined;
  return /^[0-9a-f]{64}$/.test(full) && full.startsWith(short) ? f.s("container.full_id") : undefined;
}

/** container.*, k8s.* and k8smeta.* -> evidences[0].container and resources[] (OCSF has no pod object). */
function mapContainer(f: Fields, b: Built, obs: Observables): void {
  const cid = f.peek("container.id");
  const cnameRaw = f.peek("container.name");
  // Falco reports container.id "host" for processes outside containers: a fact kept in unmapped, not a container
  const inContainer = (typeof cid === "string" && cid !== "" && cid !== "host") || (typeof cnameRaw === "string" && cnameRaw !== "" && cnameRaw !== "host" && cid !== "host");
  // the k8smeta plugin (Falco 0.37+) names the pod in k8smeta.*: the fallback for each k8s.* field
  const podName = f.s("k8s.pod.name") ?? f.s("k8smeta.pod.name");
  const podUid = f.s("k8s.pod.uid") ?? f.s("k8s.pod.id") ?? f.s("k8smeta.pod.uid");
  const ns = f.s("k8s.ns.name") ?? f.s("k8smeta.ns.name");
  if (inContainer) {
    const uid = fullContainerId(f) ?? f.s("container.id");
    const name = f.s("container.name");
    const repo = f.s("container.image.repository");
    const tag = f.s("container.image.tag");
    const imageId = f.s("container.image.id");
    const image = repo === undefined ? f.s("container.image") : undefined;
    const imgName = repo ?? image;
    b.evidence.container = obj({
      uid,
      name,
      // image.uid is required in 1.3.0: the image id when Falco has it, else the image reference
      image:
        imgName !== undefined || imageId !== undefined
          ? obj({ uid: imageId ?? (imgName !== undefined && tag !== undefined ? `${imgName}:${tag}` : imgName), name: imgName, tag })
          : undefined,
      runtime: f.s("container.type"),
      orchestrator: podName !== undefined || ns !== undefined ? "Kubernetes" : undefined,
      pod_uuid: podUid !== undefined && isUuid(podUid) ? podUid : undefined,
    });
    // container.uid is a plain string in 1.3.0: the Container observable (27) names the object, without a value
    if (uid !== undefined) obs.addObject("evidences[0].container", OBS.container);
  }
  if (podName !== undefined) {
    b.resources.push(obj({ type: "Pod", name: podName, uid: podUid, namespace: ns }));
    obs.add(`resources[${b.resources.length - 1}].uid`, OBS.resource_uid, podUid !== undefined && podUid.length <= 64 ? podUid : undefined);
  } else if (ns !== undefined) {
    b.resources.push({ type: "Namespace", name: ns });
  } else if (podUid !== undefined) {
    b.resources.push({ type: "Pod", uid: podUid });
  }
}

/** fd.* -> evidences[0].file, or the connection (src/dst endpoints + connection_info). */
function mapFd(f: Fields, b: Built, obs: Observables): void {
  const fdName = f.peek("fd.name");
  const tuple = typeof fdName === "string" ? parseTuple(fdName) : undefined;
  const evtType = str(f.peek("evt.type") ?? undefined);
  // the field whose domain name (its ".name" field) belongs to each endpoint: the client's and the server's
  // unless the endpoint came from the local / remote address
  let srcKey = "fd.cip";
  let dstKey = "fd.sip";
  if (tuple) {
    f.take("fd.name");
    b.evidence.src_endpoint = { ip: tuple.src.ip, port: tuple.src.port };
    b.evidence.dst_endpoint = { ip: tuple.dst.ip, port: tuple.dst.port };
  } else if (typeof fdName === "string" && fdName.startsWith("/")) {
    f.take("fd.name");
    const fdType = str(f.peek("fd.type") ?? undefined);
    const typeId = fdType === "file" ? 1 : fdType === "directory" ? 2 : 0;
    if (typeId !== 0) f.take("fd.type");
    const dir = f.peek("fd.directory");
    const parent = typeof dir === "string" && dir === dirname(fdName) ? f.s("fd.directory") : undefined;
    if (f.peek("fd.filename") === basename(fdName)) f.take("fd.filename");
    b.evidence.file = fileObject(fdName, typeId, parent);
    obs.add("evidences[0].file.name", OBS.file_name, basename(fdName));
    return;
  } else {
    if (f.peek("fd.cip") === undefined && f.peek("fd.lip") !== undefined) srcKey = "fd.lip";
    if (f.peek("fd.sip") === undefined && f.peek("fd.rip") !== undefined) dstKey = "fd.rip";
    const cip = f.s(srcKey);
    const sip = f.s(dstKey);
    if (cip !== undefined) b.evidence.src_endpoint = endpoint(cip, f.i("fd.cport") ?? f.i("fd.lport"));
    if (sip !== undefined) b.evidence.dst_endpoint = endpoint(sip, f.i("fd.sport") ?? f.i("fd.rport"));
  }
  endpointName(f, b, "src_endpoint", `${srcKey}.name`);
  endpointName(f, b, "dst_endpoint", `${dstKey}.name`);
  if (b.evidence.src_endpoint === undefined && b.evidence.dst_endpoint === undefined) return;
  const proto = f.s("fd.l4proto");
  const protoNum: Record<string, number> = { tcp: 6, udp: 17, icmp: 1 };
  // Falco writes tuples client->server; whether the host is the client depends on the syscall
  const direction: [number, string] =
    evtType === "connect" || evtType === "sendto" || evtType === "sendmsg"
      ? [2, "Outbound"]
      : evtType === "accept" || evtType === "accept4" || evtType === "listen"
        ? [1, "Inbound"]
        : [0, "Unknown"];
  b.evidence.connection_info = obj({
    direction_id: direction[0],
    direction: direction[1],
    protocol_name: proto,
    protocol_num: proto !== undefined ? protoNum[proto.toLowerCase()] : undefined,
  });
  for (const side of ["src_endpoint", "dst_endpoint"] as const) {
    const e = b.evidence[side];
    if (isObject(e)) {
      obs.add(`evidences[0].${side}.ip`, OBS.ip, str(e.ip));
      obs.add(`evidences[0].${side}.hostname`, OBS.hostname, str(e.hostname));
    }
  }
}

/**
 * fd.sip.name / fd.cip.name (fd.rip.name / fd.lip.name): the domain name libsinsp's DNS manager knows for that
 * address (a domain a rule condition names, resolved by Falco; falco.org "Resolving Domain Names in Falco Rules")
 * -> that endpoint's hostname (1.3.0: "the fully qualified name of the endpoint"), so domain intel sees it.
 * Only a DNS name, and only when the endpoint has no hostname yet; else it stays in unmapped.
 */
function endpointName(f: Fields, b: Built, side: "src_endpoint" | "dst_endpoint", key: string): void {
  const name = f.peek(key);
  if (typeof name !== "string" || !isHostname(name)) return;
  const e = b.evidence[side];
  if (isObject(e) && e.hostname !== undefined) return;
  f.take(key);
  b.evidence[side] = isObject(e) ? { ...e, hostname: name } : { hostname: name };
}

/**
 * ka.user.* / ka.impuser.name -> evidences[0].actor.user. As in the native audit event (src/normalize/k8s-audit.ts)
 * the impersonated user acts; the real user's ka.user.name and ka.user.groups then stay in unmapped.output_fields
 * (1.3.0 has no attribute for the user behind an impersonation), the name as a User Name observable.
 */
function mapKaActor(f: Fields, b: Built, obs: Observables): void {
  const impName = f.s("ka.impuser.name");
  if (impName !== undefined) {
    b.evidence.actor = { user: { name: impName } };
    obs.add("evidences[0].actor.user.name", OBS.user_name, impName);
    obs.add('unmapped.output_fields["ka.user.name"]', OBS.user_name, str(f.peek("ka.user.name") ?? undefined));
    return;
  }
  const userName = f.s("ka.user.name");
  const groupsRaw = f.peek("ka.user.groups");
  let groups: string[] | undefined;
  // an element "<NA>" (Falco could not get it) is no group, as a scalar "<NA>" is no value (falcoValue)
  if (Array.isArray(groupsRaw)) {
    groups = groupsRaw.filter((g): g is string => typeof falcoValue(g) === "string");
    // only a list mapped whole is taken: with a non-string or "<NA>" element the raw list stays in unmapped
    if (groups.length === groupsRaw.length) f.take("ka.user.groups");
  } else if (typeof groupsRaw === "string") {
    // Falco renders lists as "(a,b)": mapped to groups, the original text stays in unmapped
    groups = groupsRaw.replace(/^\(|\)$/g, "").split(",").map((g) => g.trim()).filter((g) => g !== "" && falcoValue(g) !== null);
  }
  if (userName !== undefined || groups?.length) {
    b.evidence.actor = { user: obj({ name: userName, groups: groups?.length ? groups.map((name) => ({ name })) : undefined }) };
    obs.add("evidences[0].actor.user.name", OBS.user_name, userName);
  }
}

/** k8s_audit plugin fields (ka.*): the API call is the evidence (actor.user, api, resources). */
function mapK8sAudit(f: Fields, b: Built, obs: Observables): void {
  const verb = f.s("ka.verb");
  mapKaActor(f, b, obs);
  const targetRes = f.s("ka.target.resource");
  const targetSub = f.s("ka.target.subresource");
  const targetName = f.s("ka.target.name");
  // the upstream "Create ... Pod" rules name the pod by the response object (pod=%ka.resp.name), not by
  // ka.target.name: a create names its object in the body, and its alert carries no ka.target.name
  const resName = targetName ?? f.s("ka.resp.name");
  const targetNs = f.s("ka.target.namespace");
  const codeRaw = f.peek("ka.response.code");
  const code = int(codeRaw ?? undefined);
  if (code !== undefined) f.take("ka.response.code");
  const uri = f.s("ka.uri");
  const auditId = f.s("ka.auditid");
  const srcRaw = f.peek("ka.sourceips");
  let srcIp: string | undefined;
  if (typeof srcRaw === "string" && isIpAddress(srcRaw)) srcIp = f.s("ka.sourceips");
  else if (typeof srcRaw === "string" || Array.isArray(srcRaw)) {
    const first = (Array.isArray(srcRaw) ? srcRaw.map(String) : srcRaw.replace(/^[[(]|[\])]$/g, "").split(/[ ,]+/)).find(isIpAddress);
    srcIp = first; // the list itself stays in unmapped
  }

  // without ka.verb, the subresource (exec, attach, log...) is the best name Falco gives for the operation
  const operation = verb ?? targetSub;
  if (operation !== undefined) {
    b.evidence.api = obj({
      operation,
      request: auditId !== undefined ? { uid: auditId } : undefined,
      response: code !== undefined ? { code } : undefined,
    });
  } else if (auditId !== undefined || code !== undefined) {
    // no operation to name: keep what was taken in unmapped
    if (auditId !== undefined) f.put("ka.auditid", auditId);
    if (code !== undefined) f.put("ka.response.code", codeRaw ?? code);
  }
  if (uri !== undefined) {
    const q = uri.indexOf("?");
    b.evidence.url = obj({ url_string: uri, path: q >= 0 ? uri.slice(0, q) : uri, query_string: q >= 0 ? uri.slice(q + 1) : undefined });
  }
  if (srcIp !== undefined) {
    b.evidence.src_endpoint = { ip: srcIp };
    obs.add("evidences[0].src_endpoint.ip", OBS.ip, srcIp);
  }
  if (targetRes !== undefined || resName !== undefined) {
    // 1.3.0 requires a resource's name or uid: without one (a list, a create with generateName, "<NA>") the
    // resource type names the collection, as for the native audit event (src/normalize/k8s-audit.ts)
    b.resources.push(
      obj({ type: targetRes, name: resName ?? targetRes, namespace: targetNs, data: targetSub !== undefined ? { subresource: targetSub } : undefined }),
    );
  } else if (targetNs !== undefined) {
    b.resources.push({ type: "namespaces", name: targetNs });
  }
}

/** aws_cloudtrail plugin fields (ct.*): the AWS call is the evidence (actor, api); cloud account/region. */
function mapCloudTrail(f: Fields, b: Built, obs: Observables): void {
  const name = f.s("ct.name");
  const src = f.s("ct.src");
  const userName = f.s("ct.user");
  const arn = f.s("ct.user.arn");
  const account = f.s("ct.user.accountid");
  const region = f.s("ct.region");
  const srcIp = f.s("ct.srcip");
  const id = f.s("ct.id");
  const err = f.s("ct.error");
  const errMsg = f.s("ct.errormessage");
  const acct = account !== undefined ? { uid: account, type_id: 10, type: "AWS Account" } : undefined;
  if (userName !== undefined || arn !== undefined || acct !== undefined) {
    b.evidence.actor = { user: obj({ name: userName, uid: arn, account: acct }) };
    obs.add("evidences[0].actor.user.name", OBS.user_name, userName);
    // as on the CloudTrail route: user.uid (the ARN) is a plain string in 1.3.0, so the User observable (21)
    // names the object, without a value (an observable naming an object has none)
    if (arn !== undefined) obs.addObject("evidences[0].actor.user", OBS.user);
  }
  if (name !== undefined) {
    b.evidence.api = obj({
      operation: name,
      service: src !== undefined ? { name: src } : undefined,
      request: id !== undefined ? { uid: id } : undefined,
      response: err !== undefined || errMsg !== undefined ? obj({ error: err, error_message: errMsg }) : undefined,
    });
  } else {
    for (const [k, v] of [["ct.src", src], ["ct.id", id], ["ct.error", err], ["ct.errormessage", errMsg]] as const) if (v !== undefined) f.put(k, v);
  }
  if (srcIp !== undefined) {
    b.evidence.src_endpoint = endpoint(srcIp);
    if (isIpAddress(srcIp)) obs.add("evidences[0].src_endpoint.ip", OBS.ip, srcIp);
  }
  b.cloud = obj({ provider: "AWS", region, account: acct });
}

/**
 * The rule's key=value fields read from a JSON alert's text, for an alert sent without output_fields
 * (json_include_output_fields_property: false): `output` without its "<time>: <Priority> " prefix, or `message`.
 * Only for the sources the text key table knows (syscall, k8s_audit, or none given) and when the keys read agree
 * with the given source; a plugin's text (aws_cloudtrail, ...) is not read with the syscall table.
 */
function fieldsOfText(text: string, fromMessage: boolean, givenSource: string | undefined): FalcoTextFields | undefined {
  if (givenSource !== undefined && givenSource !== "syscall" && givenSource !== "k8s_audit") return undefined;
  const body = fromMessage ? text : (TEXT_LINE.exec(text.trim())?.[3] ?? text);
  const parsed = readFalcoTextFields(body);
  return parsed && (givenSource === undefined || parsed.source === givenSource) ? parsed : undefined;
}

/** stableUid(`falco:<rule>`), cached: a deployment has a few hundred rules at most. */
const ruleUids = new Map<string, string>();
function ruleUid(rule: string): string {
  let u = ruleUids.get(rule);
  if (u === undefined) {
    u = stableUid(`falco:${rule}`);
    if (ruleUids.size < 4096) ruleUids.set(rule, u);
  }
  return u;
}

export function normalizeFalco(rec: JsonObject, ctx: NormalizeContext): OcsfEvent {
  // the explicit /v1/events/falco route skips detection: still refuse what is not a Falco alert
  if (typeof rec.rule !== "string" && typeof rec.output !== "string") {
    throw new NormalizeError("not a Falco alert: neither a \"rule\" nor an \"output\" string");
  }
  const rule = str(rec.rule) ?? "Falco alert";
  const { text: output, fromMessage } = alertText(rec);
  const givenSource = str(rec.source);
  // json_include_output_fields_property: false sends no output_fields: the rule's fields are read from the text
  const textFields = rec.output_fields === undefined && output !== undefined ? fieldsOfText(output, fromMessage, givenSource) : undefined;
  const of: JsonObject = isObject(rec.output_fields) ? rec.output_fields : (textFields?.fields ?? {});
  const f = new Fields(of);
  const priority = str(rec.priority);
  const tags = Array.isArray(rec.tags) ? rec.tags.filter((t): t is string => typeof t === "string") : [];
  // Falco before ~0.26 sent no "source": infer it from the fields (marked in unmapped.source_inferred)
  // ka.* / ct.* fields: only the k8s_audit / aws_cloudtrail mappers take them, so the answer holds throughout
  const hasKa = f.has("ka.");
  const hasCt = f.has("ct.");
  const source = givenSource ?? (rule.startsWith("Falco internal") ? "internal" : hasKa ? "k8s_audit" : hasCt ? "aws_cloudtrail" : "syscall");
  const internal = source === "internal" || rule.startsWith("Falco internal");
  // without a uuid the uid hashes the record's text (the given one, else JSON.stringify's); raw_data is that
  // text too: written at most once, and not at all for the uid alone (stableUidOfJson hashes it unwritten).
  // A uuid that is no plausible id (empty, over 128 characters, control characters) is treated as absent
  // and kept in unmapped.uuid: a SIEM could not key on it (Elasticsearch refuses an _id over 512 bytes).
  let recText = ctx.rawText;
  const givenUuid = str(rec.uuid);
  let uid = givenUuid !== undefined && plausibleUid(givenUuid) ? givenUuid : undefined;
  if (uid === undefined) uid = recText === undefined && !ctx.rawData ? stableUidOfJson(rec) : stableUid((recText ??= JSON.stringify(rec)));

  // time: the RFC 3339 `time` (ns precision kept as text in metadata.original_time), else evt.time (ns)
  let time = isoToMs(rec.time);
  let originalTime = time !== undefined ? str(rec.time) : undefined;
  if (time === undefined) {
    const ns = f.peek("evt.time");
    time = nsToMs(ns ?? undefined);
    if (time !== undefined) originalTime = f.s("evt.time");
  }

  let hostname = str(rec.hostname);
  if (hostname === undefined || f.peek("evt.hostname") === hostname) hostname = f.s("evt.hostname") ?? hostname;

  const obs = new Observables();
  const b: Built = { evidence: {}, resources: [] };
  mapProcess(f, b, obs, uid);
  mapContainer(f, b, obs);
  mapFd(f, b, obs);
  if (hasKa) mapK8sAudit(f, b, obs);
  if (hasCt) mapCloudTrail(f, b, obs);
  const productVersion = internal ? f.s("falco.version") : undefined;

  const device: JsonObject | undefined =
    hostname === undefined ? undefined : isHostname(hostname) ? { hostname, type_id: 0, type: "Unknown" } : { name: hostname, type_id: 0, type: "Unknown" };
  if (device?.hostname !== undefined) obs.add("device.hostname", OBS.hostname, hostname);
  // 1.3.0 evidences need one of actor, process, file, endpoints, device, ... and container is not among them:
  // an alert whose fields name only a container (a custom rule printing %container.id) names its host too
  if (device !== undefined && b.evidence.container !== undefined && Object.keys(b.evidence).length === 1) b.evidence.device = device;

  // unmapped: every output field not used above, the priority text, unknown top-level keys
  const unmapped: JsonObject = {};
  const rest = f.rest();
  if (Object.keys(rest).length > 0 || (isObject(rec.output_fields) && Object.keys(rec.output_fields).length === 0)) unmapped.output_fields = rest;
  if (rec.output_fields !== undefined && !isObject(rec.output_fields)) unmapped.output_fields = rec.output_fields;
  if (priority !== undefined) unmapped.priority = priority;
  if (givenSource === undefined) unmapped.source_inferred = true;
  if (rec.time !== undefined && originalTime !== rec.time) unmapped.time = rec.time;
  if (rec.tags !== undefined && (!Array.isArray(rec.tags) || tags.length !== rec.tags.length)) unmapped.tags = rec.tags;
  for (const k of Object.keys(rec)) if (!TOP_LEVEL.has(k) && !(k === "message" && fromMessage)) setOwn(unmapped, k, rec[k]!);
  for (const k of ["rule", "output", "uuid", "source", "hostname"] as const) {
    if (rec[k] !== undefined && str(rec[k]) === undefined) unmapped[k] = rec[k]!;
  }
  if (givenUuid !== undefined && givenUuid !== uid) unmapped.uuid = rec.uuid!;
  if (internal) unmapped.falco_internal = true;
  if (textFields) unmapped.text_fields = textFields.read;

  const profiles = [device ? "host" : undefined, b.cloud ? "cloud" : undefined].filter((p): p is string => p !== undefined);
  const sev = priority !== undefined ? lookup(FALCO_SEVERITY, priority.toLowerCase()) : undefined;
  const ev: OcsfEvent = {
    activity_id: 1,
    category_uid: 2,
    class_uid: 2004,
    type_uid: 200401,
    severity_id: priority === undefined ? 0 : (sev ?? 99),
    time: time ?? ctx.receivedAt,
    message: output ?? rule,
    status_id: 1,
    status: "New",
    metadata: compact({
      version: ctx.ocsfVersion,
      product: compact({ name: "Falco", vendor_name: "Falcosecurity", version: productVersion, feature: { name: source } }),
      uid: scopedUid(uid, ctx.uidScope),
      log_name: source,
      original_time: originalTime,
      tenant_uid: ctx.tenant,
      logged_time: ctx.receivedAt,
      labels: internal ? ["falco_internal"] : undefined,
      profiles: profiles.length ? profiles : undefined,
    }),
    finding_info: obj({
      uid,
      title: rule,
      desc: output,
      // MITRE tags (T1234, mitre_*) become finding_info.attacks in the ATT&CK enricher (src/enrich/attack.ts)
      types: tags.length ? tags : undefined,
      created_time: time,
      analytic: internal
        ? { type_id: 99, type: "Falco internal", name: rule, uid: ruleUid(rule) }
        : { type_id: 1, type: "Rule", name: rule, uid: ruleUid(rule) },
    }),
    device,
    evidences: Object.keys(b.evidence).length ? [b.evidence] : undefined,
    resources: b.resources.length ? b.resources : undefined,
    cloud: b.cloud,
    observables: obs.list.length ? obs.list : undefined,
    unmapped: Object.keys(unmapped).length ? unmapped : undefined,
    raw_data: ctx.rawData ? (recText ?? JSON.stringify(rec)) : undefined,
  };
  const out = withCaptions(compact(ev), "Detection Finding", "Create");
  // severity 99 Other: the caption is the source's own value
  if (out.severity_id === 99 && priority !== undefined) out.severity = priority;
  return out;
}

// "<time>: <Priority> <message>": the time of day ("13:44:05.478445995") or, with
// time_format_iso_8601, a full date ("2016-08-04T16:17:57.881781397+0000")
const TEXT_LINE =
  /^((?:\d{4}-\d{2}-\d{2}T)?\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?):\s+(Emergency|Alert|Critical|Error|Warning|Notice|Informational|Info|Debug)(?:\s+(.*))?$/i;

/** Why a text line is refused: it is not Falco's text output. */
export const NOT_FALCO_TEXT = "not a Falco text alert: expected '<time>: <Priority> <message>'";

/**
 * Falco with json_output: false posts plain text lines: "<time>: <Priority> <message>". Any other
 * line throws NormalizeError (so `hello world` or `GET / HTTP/1.1` is refused, not a finding).
 * The rule's known key=value fields are mapped as output_fields would be (src/normalize/falco-text.ts);
 * unmapped.text_fields names the keys read. The message and desc keep the whole text.
 */
export function normalizeFalcoText(line: string, ctx: NormalizeContext): OcsfEvent {
  const text = line.trim();
  const m = TEXT_LINE.exec(text);
  if (!m) throw new NormalizeError(NOT_FALCO_TEXT);
  // the rule's key=value fields, read back as the Falco fields they print (src/normalize/falco-text.ts)
  const parsed = m[3] !== undefined ? readFalcoTextFields(m[3]) : undefined;
  const rec: JsonObject = { output: text, rule: "Falco alert (text output)", source: parsed?.source ?? "syscall", priority: m[2]! };
  if (parsed) rec.output_fields = parsed.fields;
  // a full date ("2016-08-04T16:17:57.881781397+0000", time_format_iso_8601) is the event time;
  // a bare time of day ("13:44:05.478445995") is not enough and stays as text in unmapped
  const stamp = m[1]!;
  const iso = stamp.replace(/([+-]\d{2})(\d{2})$/, "$1:$2");
  const dated = /^\d{4}-\d{2}-\d{2}T/.test(iso) && isoToMs(iso) !== undefined;
  if (dated) rec.time = iso;
  const ev = normalizeFalco(rec, { ...ctx, rawText: line });
  // the text has no rule name: the title is the rule's own text before its fields, when there is one
  const info = ev.finding_info as JsonObject;
  ev.finding_info = { ...info, title: parsed?.title ?? info.title!, desc: m[3] ?? text };
  if (dated) ev.metadata.original_time = stamp;
  const unmapped: JsonObject = { ...(ev.unmapped ?? {}), text_output: true, source_inferred: true };
  if (!dated) unmapped.text_time = stamp;
  if (parsed) unmapped.text_fields = parsed.read;
  ev.unmapped = unmapped;
  return ev;
}
