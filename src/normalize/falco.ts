// Falco alert (any source: syscall, k8s_audit, aws_cloudtrail, internal, plugins) -> OCSF
// Detection Finding (class 2004, activity 1 Create). Field table: docs/mapping-falco.md.
import { type Json, type JsonObject, isObject, str, int, isoToMs, compact } from "./json";
import { type NormalizeContext, type OcsfEvent, type Observable, OBS, withCaptions } from "./ocsf";
import { stableUid } from "./uid";

/** Falco priority -> OCSF severity_id (documented in docs/mapping-falco.md). */
export const FALCO_SEVERITY: Record<string, number> = {
  emergency: 6, // Fatal
  alert: 5, // Critical
  critical: 5, // Critical
  error: 4, // High
  warning: 3, // Medium
  notice: 2, // Low
  informational: 1, // Informational
  info: 1,
  debug: 1,
};

const TOP_LEVEL = new Set(["uuid", "output", "priority", "rule", "time", "output_fields", "source", "tags", "hostname"]);

/** Takes (and removes) fields from a working copy of output_fields, so the rest is "unmapped". */
class Fields {
  readonly rest: JsonObject;
  constructor(of: JsonObject) {
    this.rest = { ...of };
  }
  take(key: string): Json | undefined {
    const v = this.rest[key];
    if (v === undefined) return undefined;
    if (v === null) return undefined; // keep nulls in unmapped: the key is information too
    delete this.rest[key];
    return v;
  }
  s(key: string): string | undefined {
    const v = this.rest[key];
    if (v === null || v === undefined) return undefined;
    const r = str(v);
    if (r !== undefined) delete this.rest[key];
    return r;
  }
  i(key: string): number | undefined {
    const v = this.rest[key];
    const r = int(v ?? undefined);
    if (r !== undefined) delete this.rest[key];
    return r;
  }
  has(prefix: string): boolean {
    for (const k in this.rest) if (k.startsWith(prefix)) return true;
    return false;
  }
}

function basename(p: string): string {
  const i = p.lastIndexOf("/");
  return i >= 0 ? p.slice(i + 1) : p;
}

/** Epoch ms of a Falco alert: the RFC 3339 `time`, else output_fields evt.time (ns, possibly a string). */
function alertTime(rec: JsonObject, of: JsonObject): number | undefined {
  const ms = isoToMs(rec.time);
  if (ms !== undefined) return ms;
  const ns = of["evt.time"];
  if (typeof ns === "string" && /^\d+$/.test(ns)) return Number(BigInt(ns) / 1000000n);
  if (typeof ns === "number") return Math.floor(ns / 1e6);
  return undefined;
}

/** Parses Falco's fd.name connection tuple "1.2.3.4:5678->10.0.0.1:443" (IPv6 in brackets or bare). */
export function parseTuple(t: string): { src: { ip: string; port: number }; dst: { ip: string; port: number } } | undefined {
  const m = /^\[?([0-9a-fA-F:.]+?)\]?:(\d+)->\[?([0-9a-fA-F:.]+?)\]?:(\d+)$/.exec(t);
  if (!m) return undefined;
  return { src: { ip: m[1]!, port: Number(m[2]) }, dst: { ip: m[3]!, port: Number(m[4]) } };
}

export function normalizeFalco(rec: JsonObject, ctx: NormalizeContext): OcsfEvent {
  const of: JsonObject = isObject(rec.output_fields) ? rec.output_fields : {};
  const f = new Fields(of);
  const source = str(rec.source) ?? (str(rec.rule) === "Test rule" ? "internal" : "syscall");
  const rule = str(rec.rule) ?? "Falco alert";
  const output = str(rec.output);
  const priority = str(rec.priority);
  const tags = Array.isArray(rec.tags) ? rec.tags.filter((t): t is string => typeof t === "string") : [];
  const hostname = str(rec.hostname);
  const time = alertTime(rec, of) ?? ctx.receivedAt;
  const severity_id = priority ? (FALCO_SEVERITY[priority.toLowerCase()] ?? 99) : 0;
  const internal = source === "internal" || rule.startsWith("Falco internal");
  const uid = str(rec.uuid) ?? stableUid(ctx.rawText ?? JSON.stringify(rec));

  const observables: Observable[] = [];
  const obs = (name: string, type_id: number, value: string | number | undefined) => {
    if (value !== undefined && value !== "") observables.push({ name, type_id, value: String(value) });
  };

  const evidence: Record<string, unknown> = {};
  const resources: Record<string, unknown>[] = [];
  let cloud: Record<string, unknown> | undefined;

  // --- process (syscall source and plugins that expose proc.* fields) ---
  const pid = f.i("proc.pid");
  const pname = f.s("proc.name");
  const cmd = f.s("proc.cmdline");
  const exe = f.s("proc.exepath") ?? f.s("proc.exe");
  const ppid = f.i("proc.ppid");
  const parentName = f.s("proc.pname");
  const parentCmd = f.s("proc.pcmdline");
  const cwd = f.s("proc.cwd");
  const userName = f.s("user.name");
  const userUid = f.s("user.uid");
  const user = userName !== undefined || userUid !== undefined ? compact({ name: userName, uid: userUid }) : undefined;
  if (pid !== undefined || pname !== undefined || cmd !== undefined || exe !== undefined) {
    const parent =
      ppid !== undefined || parentName !== undefined || parentCmd !== undefined
        ? compact({ pid: ppid, name: parentName, cmd_line: parentCmd })
        : undefined;
    evidence.process = compact({
      pid,
      name: pname,
      cmd_line: cmd,
      file: exe ? { path: exe, name: basename(exe), type_id: 1, type: "Regular File" } : undefined,
      parent_process: parent,
      user,
      working_directory: cwd,
    });
    obs("evidences[0].process.name", OBS.process_name, pname);
    obs("evidences[0].process.cmd_line", OBS.cmd_line, cmd);
    obs("evidences[0].process.pid", OBS.pid, pid);
  } else if (user) {
    evidence.actor = { user };
  }
  obs("user.name", OBS.user_name, userName);

  // --- container and Kubernetes pod ---
  const cid = f.s("container.id");
  const cname = f.s("container.name");
  const repo = f.s("container.image.repository");
  const tag = f.s("container.image.tag");
  const imageId = f.s("container.image.id");
  const image = f.s("container.image");
  const podName = f.s("k8s.pod.name");
  const podUid = f.s("k8s.pod.uid") ?? f.s("k8smeta.pod.uid");
  const ns = f.s("k8s.ns.name");
  if ((cid !== undefined && cid !== "host") || cname !== undefined) {
    const imgName = repo ?? image;
    evidence.container = compact({
      uid: cid,
      name: cname ?? cid,
      image: imgName ? compact({ uid: imageId ?? (tag ? `${imgName}:${tag}` : imgName), name: imgName, tag }) : undefined,
      orchestrator: podName !== undefined || ns !== undefined ? "Kubernetes" : undefined,
      pod_uuid: podUid,
    });
    if (cid) obs("evidences[0].container.uid", OBS.container, cid);
  } else if (cid === "host") {
    // Falco reports "host" for processes outside containers: keep it as a fact, not a container.
    f.rest["container.id"] = cid;
    if (cname !== undefined) f.rest["container.name"] = cname;
  }
  if (podName !== undefined || ns !== undefined) {
    resources.push(compact({ type: "Pod", name: podName, namespace: ns, uid: podUid }));
    if (podName) obs("resources[0].name", OBS.resource_uid, ns ? `${ns}/${podName}` : podName);
  }

  // --- file / connection from fd.* ---
  const fdName = f.rest["fd.name"];
  const tuple = typeof fdName === "string" ? parseTuple(fdName) : undefined;
  const sip = f.s("fd.sip") ?? f.s("fd.rip");
  const cip = f.s("fd.cip") ?? f.s("fd.lip");
  if (tuple) {
    f.take("fd.name");
    evidence.src_endpoint = { ip: tuple.src.ip, port: tuple.src.port };
    evidence.dst_endpoint = { ip: tuple.dst.ip, port: tuple.dst.port };
    evidence.connection_info = compact({ protocol_name: str(f.take("fd.l4proto") ?? null), direction_id: 0 });
    obs("evidences[0].src_endpoint.ip", OBS.ip, tuple.src.ip);
    obs("evidences[0].dst_endpoint.ip", OBS.ip, tuple.dst.ip);
  } else if (typeof fdName === "string" && fdName.startsWith("/")) {
    f.take("fd.name");
    evidence.file = { path: fdName, name: basename(fdName), type_id: 1, type: "Regular File" };
    obs("evidences[0].file.name", OBS.file_name, basename(fdName));
  } else if (sip !== undefined || cip !== undefined) {
    if (cip) evidence.src_endpoint = compact({ ip: cip, port: f.i("fd.cport") ?? f.i("fd.lport") });
    if (sip) evidence.dst_endpoint = compact({ ip: sip, port: f.i("fd.sport") ?? f.i("fd.rport") });
    obs("evidences[0].src_endpoint.ip", OBS.ip, cip);
    obs("evidences[0].dst_endpoint.ip", OBS.ip, sip);
  }

  // --- k8s_audit plugin fields: the API call is the evidence ---
  if (f.has("ka.")) {
    const verb = f.s("ka.verb");
    const kuser = f.s("ka.user.name");
    const groups = f.take("ka.user.groups");
    const targetRes = f.s("ka.target.resource");
    const targetSub = f.s("ka.target.subresource");
    const targetName = f.s("ka.target.name");
    const targetNs = f.s("ka.target.namespace");
    const code = f.s("ka.response.code");
    const uri = f.s("ka.uri");
    const ua = f.s("ka.useragent");
    const srcIp = f.s("ka.sourceips");
    const auditId = f.s("ka.auditid");
    evidence.actor = {
      user: compact({
        name: kuser,
        groups: Array.isArray(groups) ? groups.filter((g): g is string => typeof g === "string").map((name) => ({ name })) : undefined,
      }),
    };
    evidence.api = compact({
      operation: verb ?? (targetSub ?? "unknown"),
      request: auditId ? { uid: auditId } : undefined,
      response: code ? { code: int(code) } : undefined,
    });
    if (uri) evidence.http_request = { url: { path: uri, url_string: uri } };
    if (ua) evidence.http_request = { ...((evidence.http_request as object) ?? {}), user_agent: ua };
    if (srcIp) evidence.src_endpoint = { ip: srcIp.replace(/^\[|\]$/g, "").split(/[ ,]/)[0] };
    if (targetRes || targetName) {
      resources.push(compact({ type: targetSub ? `${targetRes}/${targetSub}` : targetRes, name: targetName, namespace: targetNs }));
    }
    obs("evidences[0].actor.user.name", OBS.user_name, kuser);
  }

  // --- aws_cloudtrail plugin fields: the AWS call is the evidence ---
  if (f.has("ct.")) {
    const ctName = f.s("ct.name");
    const ctSrc = f.s("ct.src");
    const ctUser = f.s("ct.user");
    const ctArn = f.s("ct.user.arn");
    const account = f.s("ct.user.accountid");
    const region = f.s("ct.region");
    const srcIp = f.s("ct.srcip");
    const ctId = f.s("ct.id");
    const err = f.s("ct.error");
    evidence.actor = { user: compact({ name: ctUser, uid: ctArn, account: account ? { uid: account } : undefined }) };
    evidence.api = compact({
      operation: ctName ?? "unknown",
      service: ctSrc ? { name: ctSrc } : undefined,
      request: ctId ? { uid: ctId } : undefined,
      response: err ? { error: err } : undefined,
    });
    if (srcIp) evidence.src_endpoint = { ip: srcIp };
    cloud = compact({ provider: "AWS", region, account: account ? { uid: account } : undefined });
    obs("evidences[0].actor.user.name", OBS.user_name, ctUser);
    obs("evidences[0].src_endpoint.ip", OBS.ip, srcIp);
  }

  // --- unmapped: every output field not used above, plus unknown top-level keys ---
  const unmapped: JsonObject = {};
  if (Object.keys(f.rest).length > 0) unmapped.output_fields = f.rest;
  if (priority !== undefined) unmapped.priority = priority;
  if (str(rec.source) === undefined) unmapped.source_defaulted = true;
  for (const k of Object.keys(rec)) if (!TOP_LEVEL.has(k)) unmapped[k] = rec[k]!;
  if (rec.time !== undefined && isoToMs(rec.time) === undefined) unmapped.time = rec.time;

  if (hostname) obs("device.hostname", OBS.hostname, hostname);

  const labels = internal ? ["falco_internal"] : undefined;
  const ev: OcsfEvent = {
    activity_id: 1,
    category_uid: 2,
    class_uid: 2004,
    type_uid: 200401,
    severity_id,
    time,
    message: output ?? rule,
    status_id: 1,
    status: "New",
    metadata: compact({
      version: ctx.ocsfVersion,
      product: { name: "Falco", vendor_name: "Falcosecurity", feature: { name: source } },
      uid,
      log_name: source,
      log_provider: "falco",
      original_time: typeof rec.time === "string" ? rec.time : undefined,
      tenant_uid: ctx.tenant,
      logged_time: ctx.receivedAt,
      labels,
      profiles: cloud ? ["cloud"] : undefined,
    }),
    finding_info: compact({
      uid,
      title: rule,
      desc: output,
      types: tags.length ? tags : undefined,
      created_time: time,
      analytic: { type_id: 1, type: "Rule", name: rule, uid: stableUid(`falco:${rule}`) },
    }),
    device: hostname ? { hostname, type_id: 0, type: "Unknown" } : undefined,
    evidences: Object.keys(evidence).length ? [evidence] : undefined,
    resources: resources.length ? resources : undefined,
    cloud,
    observables: observables.length ? observables : undefined,
    unmapped: Object.keys(unmapped).length ? unmapped : undefined,
    raw_data: ctx.rawData ? (ctx.rawText ?? JSON.stringify(rec)) : undefined,
  };
  if (internal) ev.unmapped = { ...(ev.unmapped ?? {}), falco_internal: true };
  return withCaptions(compact(ev), "Detection Finding", "Create");
}

/** Falco with json_output: false posts plain text lines: "<time>: <Priority> <message>". */
export function normalizeFalcoText(line: string, ctx: NormalizeContext): OcsfEvent {
  const m = /^(\S+):\s+(Emergency|Alert|Critical|Error|Warning|Notice|Informational|Info|Debug)\s+(.*)$/i.exec(line.trim());
  const priority = m?.[2];
  const msg = m?.[3] ?? line.trim();
  const rec: JsonObject = { output: line.trim(), rule: "Falco alert (text output)", source: "syscall" };
  if (priority) rec.priority = priority;
  const ev = normalizeFalco(rec, { ...ctx, rawText: line });
  ev.finding_info = { ...(ev.finding_info as object), desc: msg };
  ev.unmapped = { ...(ev.unmapped ?? {}), text_output: true, ...(m?.[1] ? { text_time: m[1] } : {}) };
  return ev;
}
