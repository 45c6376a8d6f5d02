// Falco's text output (json_output: false): the `key=value` fields a rule's output writes into the message,
// read back as the Falco fields they print, so a text alert is mapped like the JSON alert of the same rule.
// The keys are the conventional ones of the default rules (falcosecurity/rules falco_rules.yaml, the
// k8saudit rules) and of %container.info / -pc / -pk / append_output; table and limits: docs/mapping-falco.md.
import type { JsonObject } from "./json";

/** How a text key is read: the Falco field it prints; `token`: the value has no spaces (it ends at the first one). */
interface KeyRule {
  field: string | undefined; // undefined: a known key that only ends the value before it (no single field)
  token?: boolean;
  /** Only a value of this form is read (else the key only ends the value before it). */
  accept?: RegExp;
}

const T = true;
const rule = (field: string | undefined, token?: boolean, accept?: RegExp): KeyRule => ({ field, token, accept });

/** Keys of the syscall rules and of the container / Kubernetes decorations (%container.info, -pc, -pk, append_output). */
const SYSCALL_KEYS: Readonly<Record<string, KeyRule>> = {
  evt_type: rule("evt.type", T),
  evt_res: rule("evt.res", T),
  res: rule("evt.res", T),
  user: rule("user.name", T),
  user_uid: rule("user.uid", T),
  user_loginuid: rule("user.loginuid", T),
  user_loginname: rule("user.loginname", T),
  group_gid: rule("group.gid", T),
  group_name: rule("group.name", T),
  process: rule("proc.name"),
  shell: rule("proc.name"), // older "Terminal shell in container": shell=%proc.name
  proc_exepath: rule("proc.exepath"),
  proc_exe: rule("proc.exe"),
  parent: rule("proc.pname"),
  parent_exe: rule("proc.pexe"),
  parent_exepath: rule("proc.pexepath"),
  command: rule("proc.cmdline"),
  cmdline: rule("proc.cmdline"), // older rules
  pcmdline: rule("proc.pcmdline"),
  proc_pcmdline: rule("proc.pcmdline"),
  gparent: rule("proc.aname[2]"),
  ggparent: rule("proc.aname[3]"),
  gggparent: rule("proc.aname[4]"),
  gexepath: rule("proc.aexepath[2]"),
  proc_cwd: rule("proc.cwd"),
  proc_sname: rule("proc.sname"),
  module: rule("proc.args"),
  terminal: rule("proc.tty", T),
  exe_flags: rule("evt.arg.flags", T),
  file: rule("fd.name"),
  connection: rule("fd.name", T),
  lport: rule("fd.lport", T),
  rport: rule("fd.rport", T),
  fd_type: rule("fd.type", T),
  fd_proto: rule("fd.l4proto", T),
  "fd.sip": rule("fd.sip", T),
  socket_info: rule("evt.args"),
  target: rule("evt.arg.target"),
  linkpath: rule("evt.arg.linkpath"),
  cap_effective: rule("thread.cap_effective"),
  container_start_ts: rule("container.start_ts", T),
  container_id: rule("container.id", T),
  // old -pk: "k8s.ns=... k8s.pod=... container=%container.id"; older rules' container=%container.info printed a name
  container: rule("container.id", T, /^(?:[0-9a-f]{12,64}|host)$/),
  container_name: rule("container.name", T),
  container_image: rule("container.image.repository", T), // -pc / -pk (Falco 0.37-0.40)
  container_image_repository: rule("container.image.repository", T), // append_output (Falco 0.41+)
  container_image_tag: rule("container.image.tag", T),
  image: rule("container.image", T), // older rules: %container.image.repository, sometimes :%container.image.tag
  k8s_ns: rule("k8s.ns.name", T),
  k8s_ns_name: rule("k8s.ns.name", T),
  k8s_pod_name: rule("k8s.pod.name", T),
  "k8s.ns": rule("k8s.ns.name", T),
  "k8s.pod": rule("k8s.pod.name", T),
};

/** Keys of the k8saudit plugin's rules (the user is ka.user.name there, not a process's user). */
const K8S_AUDIT_KEYS: Readonly<Record<string, KeyRule>> = {
  user: rule("ka.user.name", T),
  verb: rule("ka.verb", T),
  uri: rule("ka.uri", T),
  resp: rule("ka.response.code", T),
  ns: rule("ka.target.namespace", T),
  pod: rule("ka.target.name", T), // %ka.target.name, or %ka.resp.name in the "Create ... Pod" rules
  resource: rule("ka.target.resource", T),
  action: rule("ka.target.subresource", T),
  command: rule("ka.uri.param[command]"),
  decision: rule("ka.auth.decision", T),
  reason: rule("ka.auth.reason"),
  images: rule("ka.req.pod.containers.image", T),
  target: rule(undefined, T), // %ka.target.name/%ka.target.resource: two fields in one value
};

/** Keys only the k8saudit rules write: one of them marks the line as a k8s_audit alert. */
const K8S_AUDIT_MARKERS = new Set(["verb", "uri", "resp", "resource", "action", "decision", "images"]);

/** aname[4]=%proc.aname[4] ... (the "Run shell untrusted" rule). */
const ANAME_KEY = /^aname\[(\d)\]$/;

function ruleFor(table: Readonly<Record<string, KeyRule>>, key: string): KeyRule | undefined {
  if (Object.hasOwn(table, key)) return table[key];
  const m = table === SYSCALL_KEYS ? ANAME_KEY.exec(key) : null;
  return m ? { field: `proc.aname[${m[1]}]` } : undefined;
}

/** A key: at the start, after whitespace or after the "(" that opens the older "(key=value ...)" group. */
const KEY = /(^|[\s(])([A-Za-z][\w.[\]]*)=/g;

export interface FalcoTextFields {
  source: "syscall" | "k8s_audit";
  /** Falco field -> the text value (the first key that prints a field wins). */
  fields: JsonObject;
  /** Text key -> the Falco field it was read as, for the keys whose value was used. */
  read: JsonObject;
  /** The rule's own text before the fields: before " | " (Falco 0.38+ rules) or before " (" (older rules). */
  title?: string;
}

/** More ")" than "(": the value took the ")" that closes the older "(key=value ...)" group. */
function closesGroup(v: string): boolean {
  if (!v.endsWith(")")) return false;
  let depth = 0;
  for (const c of v) depth += c === "(" ? 1 : c === ")" ? -1 : 0;
  return depth < 0;
}

/**
 * Reads the known `key=value` fields of a Falco text alert's message. Only known keys split the message
 * (`command=curl -d a=b` stays whole); a value runs to the next known key. Undefined when none was read.
 */
export function readFalcoTextFields(message: string): FalcoTextFields | undefined {
  const found: { key: string; at: number; valueAt: number }[] = [];
  let isAudit = false;
  for (const m of message.matchAll(KEY)) {
    const key = m[2]!;
    if (K8S_AUDIT_MARKERS.has(key)) isAudit = true;
    found.push({ key, at: m.index + m[1]!.length, valueAt: m.index + m[0].length });
  }
  const table = isAudit ? K8S_AUDIT_KEYS : SYSCALL_KEYS;
  const known = found.filter((k) => ruleFor(table, k.key) !== undefined);
  const first = known[0];
  if (!first) return undefined;

  // the title, and whether the fields sit in the older "(key=value ...)" group
  let title: string | undefined;
  const oldForm = message[first.at - 1] === "(" && (first.at === 1 || /\s/.test(message[first.at - 2]!));
  if (oldForm) title = message.slice(0, first.at - 1).trim();
  else {
    const bar = message.indexOf(" | ");
    if (bar >= 0 && bar < first.at) title = message.slice(0, bar).trim();
  }

  const fields: JsonObject = {};
  const read: JsonObject = {};
  for (let i = 0; i < known.length; i++) {
    const k = known[i]!;
    const r = ruleFor(table, k.key)!;
    const next = known[i + 1];
    // the value ends where the next known key's separator (space or "(") begins
    let v = message.slice(k.valueAt, next ? next.at - 1 : message.length).trim();
    if (r.token) v = v.split(/\s/, 1)[0]!;
    if (oldForm && closesGroup(v)) v = v.slice(0, -1).trimEnd();
    if (r.field === undefined || v === "" || (r.accept && !r.accept.test(v)) || Object.hasOwn(fields, r.field)) continue;
    fields[r.field] = v;
    read[k.key] = r.field;
  }
  if (Object.keys(read).length === 0) return undefined;
  return { source: isAudit ? "k8s_audit" : "syscall", fields, read, title: title || undefined };
}
