// Tetragon JSON export event -> OCSF 1.3.0. Field tables, the hook -> class table and the severity table:
// docs/mapping-tetragon.md.
//
// process_exec / process_exit             -> Process Activity 1007 (Launch / Terminate)
// process_kprobe / _tracepoint / _lsm      -> chosen by hook and arguments: File System Activity 1001,
//                                            Network Activity 4001, Kernel Extension Activity 1002,
//                                            Process Activity 1007 (Set User ID, Launch), else Kernel Activity 1003
// process_uprobe / process_usdt            -> Process Activity 1007 Other
// process_loader                           -> Module Activity 1005 Load
// process_connect / _close / _listen       -> Network Activity 4001 Open / Close / Listen (pre-1.0 agents)
// process_throttle / rate_limit_info       -> Event Log Activity 1008 (Tetragon stopped or resumed exporting)
//
// "Nothing disappears": every input leaf whose value is not carried verbatim by a mapped attribute is kept in
// `unmapped`, at its original path. Mapped leaves are recorded in a tree of marks while mapping; `unmapped`
// is the record minus the marked leaves (untouched subtrees are shared, not copied).
import { type Json, type JsonObject, isObject, int, isoToMs, setOwn, bareObject } from "./json";
import { type NormalizeContext, type OcsfEvent, OBS, Observables, isHostname, isIpAddress, isUuid, withCaptions } from "./ocsf";
import { NormalizeError, keyList } from "./errors";
import { TETRAGON_KEYS, singleTetragonKey, envelopeHint } from "./detect";
import { scopedUid, stableUid } from "./uid";

type Obj = Record<string, unknown>;

/** Event keys this normalizer maps (the detector's list plus the rate-limit notice of the JSON exporter). */
const EVENT_TYPES = new Set<string>([...TETRAGON_KEYS, "rate_limit_info"]);

// ---------------------------------------------------------------------------------------------------------
// Marks: which input leaves were carried into the output.

interface Mark {
  [k: string]: Mark | true;
}

/** A mark node (bareObject: input keys such as "__proto__" or "constructor" never hit Object's members). */
function newMark(): Mark {
  return bareObject<Mark>();
}

function sub(m: Mark, k: string | number): Mark {
  const c = m[k];
  if (c === true) return newMark(); // already consumed whole: further marks are moot
  if (c !== undefined) return c;
  const n = newMark();
  m[k] = n;
  return n;
}

/** The part of `v` not covered by marks; undefined when nothing is left. Empty objects/arrays stay as they are. */
function rest(v: Json, m: Mark | undefined): Json | undefined {
  if (m === undefined) return v;
  if (Array.isArray(v)) {
    if (v.length === 0) return v;
    let any = false;
    const out: Json[] = new Array<Json>(v.length);
    for (let i = 0; i < v.length; i++) {
      const mi = m[i];
      const r = mi === true ? undefined : rest(v[i]!, mi);
      if (r === undefined) out[i] = null;
      else {
        out[i] = r;
        any = true;
      }
    }
    return any ? out : undefined;
  }
  if (isObject(v)) {
    let out: JsonObject | undefined;
    let n = 0;
    for (const k in v) {
      n++;
      const mk = m[k];
      if (mk === true) continue;
      const r = rest(v[k]!, mk);
      if (r === undefined) continue;
      setOwn((out ??= {}), k, r);
    }
    return n === 0 ? v : out;
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// Small helpers (no per-event regex compilation: every pattern is compiled once here).

/** Kernel symbol prefixes in front of the operation name: arch syscall wrappers, sys_, security_ (LSM), bpf_lsm_. */
const HOOK_PREFIX = /^(?:__(?:x64|arm64|ia32|ia32_compat|s390x|riscv|se|do)_)?(?:__)?(?:ksys_|sys_|security_|bpf_lsm_)?/;
const SYSCALL_PREFIX = /^(?:__(?:x64|arm64|ia32|ia32_compat|s390x|riscv|se|do)_)?(?:__)?(?:ksys|sys)_/;
const TRACEPOINT_SYSCALL = /^sys_(?:enter|exit)_/;

/**
 * An exact integer: a safe integer number, or a decimal string that reads back the same (protojson writes
 * uint64 as strings). Anything else (1.5, "007", 2^60) is not carried over and so stays in unmapped.
 */
function whole(v: Json | undefined): number | undefined {
  if (typeof v === "number") return Number.isSafeInteger(v) ? v : undefined;
  if (typeof v !== "string") return undefined;
  const n = int(v);
  return n !== undefined && String(n) === v ? n : undefined;
}

/** An exact integer that fits OCSF integer_t (32-bit), else undefined. */
function i32(v: Json | undefined): number | undefined {
  const n = whole(v);
  return n !== undefined && n >= -2147483648 && n <= 2147483647 ? n : undefined;
}

/** RFC 3339 (the schema's datetime_t): only such strings become *_time (ms) + *_time_dt. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/;

function rfc3339Ms(v: string | undefined): number | undefined {
  return v !== undefined && RFC3339.test(v) ? isoToMs(v) : undefined;
}

/** A copy of `o` without its undefined members (built by assignment: no `delete`, objects stay fast). */
function defined<T extends object>(o: T): T {
  const out = {} as T;
  for (const k in o) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

function text(v: Json | undefined): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

function basename(p: string): string {
  const i = p.lastIndexOf("/");
  return i >= 0 && i < p.length - 1 ? p.slice(i + 1) : p;
}

/** Number of fraction digits of an RFC 3339 time (0 when none). */
function fractionDigits(t: string): number {
  const dot = t.indexOf(".");
  if (dot < 0) return 0;
  let n = 0;
  for (let i = dot + 1; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c < 48 || c > 57) break;
    n++;
  }
  return n;
}

/** Runtime named by a container id scheme: "containerd://abc" -> "containerd". */
function runtimeOf(id: string): string | undefined {
  const i = id.indexOf("://");
  return i > 0 ? id.slice(0, i) : undefined;
}

/**
 * The container id of a Kubernetes containerID ("containerd://e6af...", "docker://...", "cri-o://...")
 * without its "<runtime>://" (the runtime is container.runtime): OCSF 1.3.0's container.uid is the full id,
 * the form Falco's container.full_id has. Only a scheme of [\w.-] (what correlate's shortContainerId cuts)
 * and a non-empty rest holding no other "://"; anything else unchanged, so the container key stays the same.
 */
function containerUidOf(id: string): string {
  const rest = /^[\w.-]+:\/\/(.+)$/s.exec(id)?.[1];
  return rest !== undefined && !rest.includes("://") ? rest : id;
}

/** Tag of an image reference "registry/repo:tag" (not a registry port, not a digest). */
function imageTag(name: string): string | undefined {
  const at = name.indexOf("@");
  const ref = at >= 0 ? name.slice(0, at) : name;
  const colon = ref.lastIndexOf(":");
  return colon > ref.lastIndexOf("/") && colon < ref.length - 1 ? ref.slice(colon + 1) : undefined;
}

/** Node name encoded in an exec_id (base64 "node:ktime:pid"), used only when the event has no node_name. */
function nodeOfExecId(execId: string | undefined): string | undefined {
  if (!execId) return undefined;
  try {
    const s = atob(execId);
    const i = s.indexOf(":");
    return i > 0 ? s.slice(0, i) : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Per-event state.

class State {
  readonly marks: Mark = newMark();
  readonly observables = new Observables();
  usesDatetime = false;
  usesContainer = false;

  obs(name: string, type_id: number, value: string | number | undefined): void {
    this.observables.add(name, type_id, value);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Process objects.

/** out[attr] = src[key] when it is a 32-bit integer; marks it. */
function takeInt(out: Obj, attr: string, src: JsonObject, key: string, m: Mark): number | undefined {
  const v = i32(src[key]);
  if (v !== undefined) {
    out[attr] = v;
    m[key] = true;
  }
  return v;
}

/** out[attr] (epoch ms) and out[attr_dt] (the text as sent) from an RFC 3339 src[key]; marks it. */
function takeTime(out: Obj, attr: string, src: JsonObject, key: string, m: Mark, st: State): void {
  const t = text(src[key]);
  const ms = rfc3339Ms(t);
  if (t === undefined || ms === undefined) return;
  out[attr] = ms;
  out[`${attr}_dt`] = t;
  m[key] = true;
  st.usesDatetime = true;
}


/** Tetragon Process -> OCSF process (without parent_process). Marks what it carries. */
function mapProcess(p: JsonObject, m: Mark, st: State): Obj {
  const out: Obj = {};
  const execId = text(p.exec_id);
  if (execId !== undefined) {
    out.uid = execId;
    m.exec_id = true;
  }
  takeInt(out, "pid", p, "pid", m);
  const bin = text(p.binary);
  if (bin !== undefined) {
    const name = basename(bin);
    out.name = name;
    const args = text(p.arguments);
    // the arguments stay in unmapped too: joined with a space they cannot always be split again
    out.cmd_line = args !== undefined ? `${bin} ${args}` : bin;
    if (bin.charCodeAt(0) !== 60 /* < as in "<kernel>" */) out.file = { name, path: bin, type_id: 1, type: "Regular File" };
    m.binary = true;
  }
  takeInt(out, "tid", p, "tid", m);
  takeTime(out, "created_time", p, "start_time", m, st);
  const user: Obj = {};
  const uid = whole(p.uid);
  if (uid !== undefined) {
    user.uid = String(uid);
    m.uid = true;
  }
  if (isObject(p.user)) {
    const uname = text(p.user.name);
    if (uname !== undefined) {
      user.name = uname;
      sub(m, "user").name = true;
    }
  }
  if (Object.keys(user).length) out.user = user;

  let container: Obj | undefined;
  if (isObject(p.pod)) {
    const pod = p.pod;
    const pm = sub(m, "pod");
    const c = isObject(pod.container) ? pod.container : undefined;
    if (c) {
      const cm = sub(pm, "container");
      const id = text(c.id);
      const name = text(c.name);
      if (id !== undefined || name !== undefined) {
        container = {};
        if (id !== undefined) {
          container.uid = containerUidOf(id);
          cm.id = true;
          const rt = runtimeOf(id);
          if (rt !== undefined) container.runtime = rt;
        }
        if (name !== undefined) {
          container.name = name;
          cm.name = true;
        }
        if (isObject(c.image)) {
          const iid = text(c.image.id);
          const iname = text(c.image.name);
          if (iid !== undefined || iname !== undefined) {
            const im = sub(cm, "image");
            const image: Obj = { uid: iid ?? iname };
            if (iid !== undefined) im.id = true;
            if (iname !== undefined) {
              image.name = iname;
              im.name = true;
              const tag = imageTag(iname);
              if (tag !== undefined) image.tag = tag;
            }
            container.image = image;
          }
        }
        container.orchestrator = "Kubernetes";
        const podUid = text(pod.uid);
        if (podUid !== undefined && isUuid(podUid)) {
          container.pod_uuid = podUid;
          pm.uid = true;
        }
        takeInt(out, "namespace_pid", c, "pid", cm);
      }
    }
  }
  const docker = text(p.docker);
  if (container === undefined && docker !== undefined) {
    // no pod metadata: the first digits of the container id are all there is
    container = { uid: docker };
    m.docker = true;
  }
  if (container !== undefined) {
    out.container = container;
    st.usesContainer = true;
  }
  return out;
}

/** A short reference to a mapped process (for actor.process when the full process is elsewhere). */
function ref(proc: Obj): Obj {
  return defined({ uid: proc.uid, pid: proc.pid, name: proc.name, user: proc.user });
}

/** A Tetragon Process that can become an OCSF process (which needs a uid or a pid), else undefined. */
function identifiable(v: Json | undefined): JsonObject | undefined {
  return isObject(v) && (text(v.exec_id) !== undefined || i32(v.pid) !== undefined) ? v : undefined;
}

interface Procs {
  /** The process that triggered the event (full). */
  proc?: Obj;
  /** Its parent (full), when the event has one. */
  parent?: Obj;
}

/**
 * Maps body.process and body.parent. The parent becomes proc.parent_process (full); the parent's own parent
 * becomes parent_process.parent_process {uid}; without a parent object, parent_exec_id gives parent_process {uid}.
 */
function mapProcs(body: JsonObject, bm: Mark, st: State): Procs {
  const p = identifiable(body.process);
  if (!p) return {};
  const pm = sub(bm, "process");
  const proc = mapProcess(p, pm, st);
  const parentExecId = text(p.parent_exec_id);
  const par = identifiable(body.parent);
  let parent: Obj | undefined;
  if (par) {
    const parm = sub(bm, "parent");
    parent = mapProcess(par, parm, st);
    const grand = text(par.parent_exec_id);
    if (grand !== undefined) {
      parent.parent_process = { uid: grand };
      parm.parent_exec_id = true;
    }
    proc.parent_process = parent;
    if (parentExecId !== undefined && parentExecId === parent.uid) pm.parent_exec_id = true;
  }
  if (proc.parent_process === undefined && parentExecId !== undefined) {
    proc.parent_process = { uid: parentExecId };
    pm.parent_exec_id = true;
  }
  // --enable-process-ancestors: read, not marked (the ancestors stay whole in unmapped)
  if (body.ancestors !== undefined && par) {
    const lineage = lineageOf(par, body.ancestors);
    if (lineage) proc.lineage = lineage;
  }
  return { proc, parent };
}

/**
 * process.lineage, OCSF 1.3.0 "a list of paths for each ancestor process", oldest first as in its example
 * (['/usr/sbin/sshd', '/usr/bin/bash', '/usr/bin/whoami']): the `binary` of each of Tetragon's `ancestors`
 * ("ancestors of the process beyond the immediate parent"), then the parent's. Tetragon lists the ancestors
 * nearest first: the agent walks parent_exec_id up from the parent's parent to init or kthreadd
 * (pkg/process GetAncestorProcessesInternal, used by pkg/grpc/exec and the event cache), and exports what it
 * found when the walk stopped early. Only when that chain holds in the record (each ancestor's exec_id is the
 * parent_exec_id of the one below it) and every binary is known; else no lineage (nothing is guessed).
 */
function lineageOf(parent: JsonObject, ancestors: Json): string[] | undefined {
  if (!Array.isArray(ancestors) || ancestors.length === 0) return undefined;
  const parentBinary = text(parent.binary);
  if (parentBinary === undefined) return undefined;
  const n = ancestors.length;
  const lineage = new Array<string>(n + 1);
  lineage[n] = parentBinary;
  let below = parent;
  for (let i = 0; i < n; i++) {
    const a = ancestors[i];
    if (!isObject(a)) return undefined;
    const binary = text(a.binary);
    const execId = text(a.exec_id);
    if (binary === undefined || execId === undefined || execId !== text(below.parent_exec_id)) return undefined;
    lineage[n - 1 - i] = binary;
    below = a;
  }
  return lineage;
}

// ---------------------------------------------------------------------------------------------------------
// Hooks: function name -> class and activity.

type ClassKind = "fs" | "net" | "kext" | "setid" | "exec";
interface Rule {
  k: ClassKind;
  /** activity_id */
  a: number;
  /** network: direction_id, and whether the local socket is the server side */
  dir?: number;
  server?: boolean;
  /** network: which way a size argument counts */
  bytes?: "in" | "out";
  /** file system: the file is a folder */
  folder?: boolean;
  /** activity chosen from an argument */
  special?: "mask" | "prot" | "kread";
}

const RULES = new Map<string, Rule>();
function rules(names: string, r: Rule): void {
  for (const n of names.split(/\s+/)) if (n) RULES.set(n, r);
}
// File System Activity 1001 (names after HOOK_PREFIX is removed: "security_file_open" -> "file_open").
rules("read readv pread64 preadv preadv2 vfs_read vfs_readv kernel_read", { k: "fs", a: 2 });
rules(
  "write writev pwrite64 pwritev pwritev2 vfs_write vfs_writev kernel_write path_truncate file_truncate truncate ftruncate do_truncate vfs_truncate fallocate vfs_fallocate",
  { k: "fs", a: 3 },
);
rules("file_open fd_install do_sys_open do_sys_openat2 open openat openat2 vfs_open do_filp_open dentry_open", { k: "fs", a: 14 });
rules(
  "creat inode_create path_mknod inode_mknod mknod mknodat vfs_create vfs_mknod path_symlink inode_symlink symlink symlinkat vfs_symlink path_link inode_link link linkat vfs_link",
  { k: "fs", a: 1 },
);
rules("path_mkdir inode_mkdir mkdir mkdirat vfs_mkdir", { k: "fs", a: 1, folder: true });
rules("path_unlink inode_unlink unlink unlinkat vfs_unlink do_unlinkat", { k: "fs", a: 4 });
rules("path_rmdir inode_rmdir rmdir vfs_rmdir do_rmdir", { k: "fs", a: 4, folder: true });
rules("path_rename inode_rename rename renameat renameat2 vfs_rename do_renameat2", { k: "fs", a: 5 });
rules(
  "inode_setattr notify_change utime utimes utimensat futimesat setxattr lsetxattr fsetxattr inode_setxattr vfs_setxattr removexattr lremovexattr fremovexattr inode_removexattr vfs_removexattr",
  { k: "fs", a: 6 },
);
rules("path_chmod chmod fchmod fchmodat fchmodat2 chmod_common path_chown chown fchown fchownat lchown chown_common", { k: "fs", a: 7 });
rules(
  "inode_getattr stat lstat fstat newstat newlstat newfstat newfstatat statx vfs_statx vfs_getattr getxattr lgetxattr fgetxattr inode_getxattr vfs_getxattr",
  { k: "fs", a: 8 },
);
rules("sb_mount mount move_mount path_mount do_mount fsmount", { k: "fs", a: 12 });
rules("sb_umount umount umount2 oldumount path_umount", { k: "fs", a: 13 });
rules("file_permission", { k: "fs", a: 99, special: "mask" });
rules("mmap_file", { k: "fs", a: 99, special: "prot" });
rules("kernel_read_file kernel_post_read_file", { k: "fs", a: 2, special: "kread" });
// Network Activity 4001
rules("tcp_connect tcp_v4_connect tcp_v6_connect inet_stream_connect socket_connect connect ip4_datagram_connect ip6_datagram_connect", {
  k: "net",
  a: 1,
  dir: 2,
});
rules("inet_csk_accept tcp_create_openreq_child accept accept4 socket_accept", { k: "net", a: 1, dir: 1, server: true });
rules("tcp_close inet_release tcp_done", { k: "net", a: 2, dir: 0 });
rules("tcp_send_reset tcp_v4_send_reset tcp_v6_send_reset tcp_send_active_reset tcp_reset", { k: "net", a: 3, dir: 0 });
rules(
  "tcp_sendmsg udp_sendmsg udpv6_sendmsg sock_sendmsg socket_sendmsg sendmsg sendto sendmmsg tcp_retransmit_skb ip_output ip_queue_xmit dev_queue_xmit",
  { k: "net", a: 6, dir: 0, bytes: "out" },
);
rules("tcp_recvmsg tcp_cleanup_rbuf udp_recvmsg udpv6_recvmsg sock_recvmsg socket_recvmsg recvmsg recvfrom recvmmsg", {
  k: "net",
  a: 6,
  dir: 0,
  bytes: "in",
});
rules("inet_csk_listen_start inet_listen listen socket_listen", { k: "net", a: 7, dir: 0, server: true });
rules("socket_bind bind inet_bind inet6_bind", { k: "net", a: 99, dir: 0, server: true });
// Kernel Extension Activity 1002
rules(
  "do_init_module load_module init_module finit_module find_module_sections kernel_module_request mod_sysfs_setup layout_and_allocate",
  { k: "kext", a: 1 },
);
rules("free_module delete_module", { k: "kext", a: 2 });
// Process Activity 1007: credential changes (Set User ID) and exec checks (Launch)
rules(
  "commit_creds setuid setgid setreuid setregid setresuid setresgid setfsuid setfsgid setgroups task_fix_setuid task_fix_setgid task_fix_setgroups",
  { k: "setid", a: 5 },
);
rules(
  "bprm_check_security bprm_check bprm_creds_for_exec bprm_creds_from_file bprm_committing_creds bprm_committed_creds bprm_execve execve execveat do_execveat_common sched_process_exec",
  { k: "exec", a: 1 },
);

interface Hook {
  /** Operation name used for the tables ("__x64_sys_write" -> "write", "security_file_open" -> "file_open"). */
  canon: string;
  /** The system call name, when the hook is one. */
  syscall?: string;
  rule?: Rule;
}

const HOOKS = new Map<string, Hook>();
function hookOf(fn: string, tracepoint: boolean): Hook {
  const key = tracepoint ? `tp:${fn}` : fn;
  let h = HOOKS.get(key);
  if (h) return h;
  let canon: string;
  let syscall: string | undefined;
  if (tracepoint) {
    canon = fn.replace(TRACEPOINT_SYSCALL, "");
    if (canon !== fn) syscall = canon;
  } else {
    canon = fn.replace(HOOK_PREFIX, "");
    if (SYSCALL_PREFIX.test(fn)) syscall = canon;
  }
  h = { canon, syscall, rule: RULES.get(canon) };
  if (HOOKS.size >= 4096) HOOKS.clear();
  HOOKS.set(key, h);
  return h;
}

// ---------------------------------------------------------------------------------------------------------
// Arguments.

/** Where each kind of argument sits in `args` (first occurrence). */
interface ArgIndex {
  file?: number; // file_arg | path_arg | linux_binprm_arg
  fileKey?: string;
  sock?: number;
  skb?: number;
  sockaddr?: number;
  module?: number;
  creds?: number;
  str?: number;
  ints: number[]; // int_arg | long_arg | uint_arg | size_arg, in order
}

const INT_KEYS = ["int_arg", "long_arg", "uint_arg", "size_arg"];
/** Object-valued argument kinds -> their slot in ArgIndex. */
const OBJECT_ARGS = new Map<string, "sock" | "skb" | "sockaddr" | "module" | "creds">([
  ["sock_arg", "sock"],
  ["skb_arg", "skb"],
  ["sockaddr_arg", "sockaddr"],
  ["module_arg", "module"],
  ["process_credentials_arg", "creds"],
]);

function indexArgs(args: Json[]): ArgIndex {
  const ix: ArgIndex = { ints: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!isObject(a)) continue;
    for (const k in a) {
      const v = a[k];
      switch (k) {
        case "file_arg":
        case "path_arg":
        case "linux_binprm_arg":
          if (ix.file === undefined && isObject(v)) {
            ix.file = i;
            ix.fileKey = k;
          }
          break;
        case "string_arg":
          if (ix.str === undefined && typeof v === "string") ix.str = i;
          break;
        default: {
          const slot = OBJECT_ARGS.get(k);
          if (slot !== undefined) {
            if (ix[slot] === undefined && isObject(v)) ix[slot] = i;
          } else if (INT_KEYS.includes(k)) ix.ints.push(i);
        }
      }
    }
  }
  return ix;
}

/** The integer of args[i] ({int_arg: n} or {size_arg: "n"}) and the key it sits under. */
function intArg(args: Json[], i: number | undefined): { v: number; key: string } | undefined {
  if (i === undefined) return undefined;
  const a = args[i];
  if (!isObject(a)) return undefined;
  for (const key of INT_KEYS) {
    const v = whole(a[key]);
    if (v !== undefined) return { v, key };
  }
  return undefined;
}

function argObj(args: Json[], i: number | undefined, key: string): JsonObject | undefined {
  if (i === undefined) return undefined;
  const a = args[i];
  const v = isObject(a) ? a[key] : undefined;
  return isObject(v) ? v : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Network endpoints.

interface Net {
  src?: Obj;
  dst?: Obj;
  info: Obj;
  traffic?: Obj;
}

const PROTO_NUM = new Map<string, number>([
  ["tcp", 6],
  ["udp", 17],
  ["icmp", 1],
  ["icmpv6", 58],
  ["sctp", 132],
  ["udplite", 136],
  ["raw", 255],
]);
const PROTO_NAME: Record<number, string> = { 6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6", 132: "sctp", 136: "udplite" };
const DIRECTION: Record<number, string> = { 0: "Unknown", 1: "Inbound", 2: "Outbound", 3: "Lateral" };

/** "IPPROTO_TCP" / "TCP" / "tcp" -> "tcp". */
function protoName(p: string): string {
  const s = p.startsWith("IPPROTO_") ? p.slice(8) : p;
  return s.toLowerCase();
}

/** Marks to apply once a mapping is committed (a hook may fall back to another class after a partial match). */
type Pending = [Mark, string][];

function commit(p: Pending): void {
  for (const [m, k] of p) m[k] = true;
}

/**
 * An endpoint from an address and a port; the keys used go to `p`. An unspecified address (0.0.0.0, ::) names
 * no peer and is skipped unless `unspecifiedOk` (a socket listening on all addresses).
 */
function endpoint(o: JsonObject, m: Mark, p: Pending, ipKey: string, portKey: string, unspecifiedOk = true): Obj | undefined {
  const ip = text(o[ipKey]);
  if (ip === undefined || !isIpAddress(ip)) return undefined;
  if (!unspecifiedOk && (ip === "0.0.0.0" || ip === "::")) return undefined;
  const ep: Obj = { ip };
  p.push([m, ipKey]);
  const port = whole(o[portKey]);
  if (port !== undefined && port >= 0 && port <= 65535) {
    ep.port = port;
    p.push([m, portKey]);
  }
  return ep;
}

function setProtocol(info: Obj, proto: string | undefined, family: string | undefined, ip: string | undefined): void {
  if (proto !== undefined) {
    const name = protoName(proto);
    info.protocol_name = name;
    const num = PROTO_NUM.get(name);
    if (num !== undefined) info.protocol_num = num;
  }
  if (family === "AF_INET" || family === "AF_INET6") info.protocol_ver_id = family === "AF_INET" ? 4 : 6;
  else if (ip !== undefined) info.protocol_ver_id = ip.includes(":") ? 6 : 4;
  if (info.protocol_ver_id !== undefined) info.protocol_ver = info.protocol_ver_id === 4 ? "Internet Protocol version 4 (IPv4)" : "Internet Protocol version 6 (IPv6)";
}

function direction(info: Obj, dir: number): void {
  info.direction_id = dir;
  info.direction = DIRECTION[dir] ?? "Unknown";
}

/** Network facts from sock / skb / sockaddr arguments; undefined when no destination can be named. */
function hookNet(args: Json[], ix: ArgIndex, am: Mark, rule: Rule | undefined): Net | undefined {
  const server = rule?.server === true;
  const p: Pending = [];
  const info: Obj = {};
  direction(info, rule?.dir ?? 0);
  let local: Obj | undefined;
  let remote: Obj | undefined;
  let traffic: Obj | undefined;
  const sock = argObj(args, ix.sock, "sock_arg");
  if (sock) {
    const sm = sub(sub(am, ix.sock!), "sock_arg");
    // an unbound / unconnected side (0.0.0.0, ::) stays in unmapped, except the address a server listens on
    local = endpoint(sock, sm, p, "saddr", "sport", server);
    remote = endpoint(sock, sm, p, "daddr", "dport", false);
    const proto = text(sock.protocol);
    setProtocol(info, proto, text(sock.family), text(sock.saddr));
    const cookie = sock.cookie;
    if ((typeof cookie === "number" || typeof cookie === "string") && cookie !== "" && cookie !== 0) {
      info.uid = String(cookie);
      p.push([sm, "cookie"]);
    }
  }
  const skb = argObj(args, ix.skb, "skb_arg");
  if (skb && !sock) {
    const km = sub(sub(am, ix.skb!), "skb_arg");
    local = endpoint(skb, km, p, "saddr", "sport", false);
    remote = endpoint(skb, km, p, "daddr", "dport", false);
    const pnum = whole(skb.proto);
    if (pnum !== undefined && PROTO_NAME[pnum] !== undefined) {
      info.protocol_num = pnum;
      info.protocol_name = PROTO_NAME[pnum];
      p.push([km, "proto"]);
    } else setProtocol(info, text(skb.protocol), text(skb.family), text(skb.saddr));
    if (info.protocol_ver_id === undefined) setProtocol(info, undefined, text(skb.family), text(skb.saddr));
    const len = whole(skb.len);
    if (len !== undefined) {
      traffic = { bytes: len };
      p.push([km, "len"]);
    }
  }
  const sa = argObj(args, ix.sockaddr, "sockaddr_arg");
  if (sa) {
    const am2 = sub(sub(am, ix.sockaddr!), "sockaddr_arg");
    const ep = endpoint(sa, am2, p, "addr", "port", server);
    if (ep) {
      if (server) local = ep;
      else remote = ep;
      if (info.protocol_ver_id === undefined) setProtocol(info, undefined, text(sa.family), text(sa.addr));
    }
  }
  // a size argument of send/receive hooks is the byte count of the call
  if (rule?.bytes && traffic === undefined && ix.ints.length) {
    const n = intArg(args, ix.ints[0]);
    if (n && n.v >= 0) {
      traffic = rule.bytes === "out" ? { bytes_out: n.v, bytes: n.v } : { bytes_in: n.v, bytes: n.v };
      p.push([sub(am, ix.ints[0]!), n.key]);
    }
  }
  // OCSF: dst_endpoint is the responder. A listening/accepting/binding socket is the server side.
  const src = server ? remote : local;
  const dst = server ? local : remote;
  if (dst === undefined) return undefined;
  commit(p);
  return { src, dst, info, traffic };
}

// ---------------------------------------------------------------------------------------------------------
// Enforcement and severity.

const ACTION_NAMES: Record<number, string> = {
  0: "KPROBE_ACTION_UNKNOWN",
  1: "KPROBE_ACTION_POST",
  2: "KPROBE_ACTION_FOLLOWFD",
  3: "KPROBE_ACTION_SIGKILL",
  4: "KPROBE_ACTION_UNFOLLOWFD",
  5: "KPROBE_ACTION_OVERRIDE",
  6: "KPROBE_ACTION_COPYFD",
  7: "KPROBE_ACTION_GETURL",
  8: "KPROBE_ACTION_DNSLOOKUP",
  9: "KPROBE_ACTION_NOPOST",
  10: "KPROBE_ACTION_SIGNAL",
  11: "KPROBE_ACTION_TRACKSOCK",
  12: "KPROBE_ACTION_UNTRACKSOCK",
  13: "KPROBE_ACTION_NOTIFYENFORCER",
  14: "KPROBE_ACTION_CLEANUPENFORCERNOTIFICATION",
};

/** Enforcing actions -> [action_id, disposition_id]. Every other action observes only (Allowed / Logged). */
export const TETRAGON_ENFORCEMENT: ReadonlyMap<string, readonly [number, number]> = new Map([
  ["KPROBE_ACTION_SIGKILL", [2, 2]], // Denied / Blocked: the process is killed synchronously
  ["KPROBE_ACTION_OVERRIDE", [2, 2]], // Denied / Blocked: the call returns the policy's error
  ["KPROBE_ACTION_NOTIFYENFORCER", [2, 2]], // Denied / Blocked: the enforcer kills or overrides
  ["KPROBE_ACTION_SIGNAL", [0, 7]], // Unknown / Custom Action: a chosen signal is sent
] as const);
const ACTION_CAPTION: Record<number, string> = { 0: "Unknown", 1: "Allowed", 2: "Denied" };
const DISPOSITION_CAPTION: Record<number, string> = { 2: "Blocked", 7: "Custom Action", 17: "Logged" };

function actionName(v: Json | undefined): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "number") return ACTION_NAMES[v];
  return undefined;
}

/** Tetragon has no severity: derived (table in docs/mapping-tetragon.md). */
export const TETRAGON_SEVERITY = {
  enforcement: 4, // High: a policy killed, blocked or signalled
  policyMatch: 3, // Medium: a hook event from a named tracing policy
  hook: 2, // Low: a hook event without a policy name (pre-1.0 agents)
  exportLoss: 2, // Low: Tetragon throttled or rate-limited its own export (events are missing)
  lifecycle: 1, // Informational: exec, exit, loader, legacy connect/close/listen, throttle stop
} as const;

// ---------------------------------------------------------------------------------------------------------
// The mapper.

interface Built {
  class_uid: number;
  category_uid: number;
  className: string;
  activity_id: number;
  activityName: string;
  severity_id: number;
  fields: Obj;
  message: string;
  /** Profiles applied by the fields (besides host/container/datetime, which are derived). */
  profiles?: string[];
}

const FS_ACTIVITY: Record<number, string> = {
  0: "Unknown",
  1: "Create",
  2: "Read",
  3: "Update",
  4: "Delete",
  5: "Rename",
  6: "Set Attributes",
  7: "Set Security",
  8: "Get Attributes",
  9: "Get Security",
  12: "Mount",
  13: "Unmount",
  14: "Open",
  99: "Other",
};
const NET_ACTIVITY: Record<number, string> = { 0: "Unknown", 1: "Open", 2: "Close", 3: "Reset", 4: "Fail", 5: "Refuse", 6: "Traffic", 7: "Listen", 99: "Other" };
const KEXT_ACTIVITY: Record<number, string> = { 0: "Unknown", 1: "Load", 2: "Unload", 99: "Other" };
const PROC_ACTIVITY: Record<number, string> = { 0: "Unknown", 1: "Launch", 2: "Terminate", 3: "Open", 4: "Inject", 5: "Set User ID", 99: "Other" };

/** Linux MAY_* access mask (security_file_permission) -> activity: write/append -> Update, read -> Read. */
function maskActivity(mask: number): number {
  if (mask & 0x2 || mask & 0x8) return 3;
  if (mask & 0x4) return 2;
  return 99;
}
/** mmap PROT_* -> activity. */
function protActivity(prot: number): number {
  if (prot & 0x2) return 3;
  if (prot & 0x1) return 2;
  return 99;
}

/** First character of an `ls -l` mode string -> OCSF file type_id / type. */
const FILE_TYPE = new Map<string, [number, string]>([
  ["-", [1, "Regular File"]],
  ["d", [2, "Folder"]],
  ["c", [3, "Character Device"]],
  ["b", [4, "Block Device"]],
  ["s", [5, "Local Socket"]],
  ["p", [6, "Named Pipe"]],
  ["l", [7, "Symbolic Link"]],
]);

function fileObj(path: string, folder: boolean): Obj {
  return folder ? { name: basename(path), path, type_id: 2, type: "Folder" } : { name: basename(path), path, type_id: 0, type: "Unknown" };
}

/** `file` with the type of an `ls -l` mode character (FILE_TYPE), e.g. "l" a symbolic link. */
function ofType(file: Obj, mode: "-" | "l"): Obj {
  const [type_id, type] = FILE_TYPE.get(mode)!;
  return { ...file, type_id, type };
}

/** The file an FS / exec / module hook is about: file_arg, path_arg, linux_binprm_arg, else a path string_arg. */
function hookFile(args: Json[], ix: ArgIndex, am: Mark, folder: boolean): Obj | undefined {
  if (ix.file !== undefined && ix.fileKey !== undefined) {
    const f = argObj(args, ix.file, ix.fileKey)!;
    const path = text(f.path);
    if (path !== undefined) {
      sub(sub(am, ix.file), ix.fileKey).path = true;
      // the mode string ("-rw-r--r--", "lrwxrwxrwx") tells the file type; it stays in unmapped as sent
      const type = folder ? undefined : FILE_TYPE.get(text(f.permission)?.charAt(0) ?? "");
      return type !== undefined ? { ...fileObj(path, false), type_id: type[0], type: type[1] } : fileObj(path, folder);
    }
  }
  if (ix.str !== undefined) {
    const s = (args[ix.str] as JsonObject).string_arg as string;
    if (s.charCodeAt(0) === 47 /* / */) {
      sub(am, ix.str).string_arg = true;
      return fileObj(s, folder);
    }
  }
  return undefined;
}

/** System calls (old path, new path): symlink(target, linkpath), link(old, new), rename(old, new) and their *at forms. */
const TWO_PATHS = new Set(["symlink", "symlinkat", "link", "linkat", "rename", "renameat", "renameat2"]);

/** The absolute path in the string argument after the one `file` came from (the new name of a two-path call). */
function secondPath(args: Json[], ix: ArgIndex, file: Obj): { path: string; i: number } | undefined {
  if (ix.str === undefined || (args[ix.str] as JsonObject).string_arg !== file.path) return undefined;
  for (let i = ix.str + 1; i < args.length; i++) {
    const a = args[i];
    const s = isObject(a) ? a.string_arg : undefined;
    if (typeof s === "string") return s.charCodeAt(0) === 47 /* / */ ? { path: s, i } : undefined;
  }
  return undefined;
}

/** The policy refused the call (Sigkill / Override / NotifyEnforcer) or it returned an error: nothing resulted. */
function refused(body: JsonObject): boolean {
  for (const v of [body.action, body.return_action]) {
    const name = actionName(v);
    if (name !== undefined && TETRAGON_ENFORCEMENT.get(name)?.[0] === 2) return true;
  }
  const ret = isObject(body.return) ? (whole(body.return.int_arg) ?? whole(body.return.long_arg)) : undefined;
  return ret !== undefined && ret < 0;
}

interface HookInput {
  type: string;
  body: JsonObject;
  bm: Mark;
  st: State;
  /** Name of the hooked function (kprobe/lsm), tracepoint event, or uprobe symbol. */
  fn: string | undefined;
  tracepoint: boolean;
}

/** kprobe / tracepoint / lsm: class and activity by hook name and arguments. */
function mapHook(h: HookInput): Built {
  const { body, bm, st, fn } = h;
  const { proc } = mapProcs(body, bm, st);
  const args = Array.isArray(body.args) ? body.args : [];
  const am = sub(bm, "args");
  const ix = indexArgs(args);
  const hook = fn !== undefined ? hookOf(fn, h.tracepoint) : undefined;
  const rule = hook?.rule;
  const actor: Obj = proc ? { process: proc } : { app_name: "Tetragon" };
  const where = proc ? ` by ${String(proc.file !== undefined ? (proc.file as Obj).path : (proc.name ?? proc.pid))}` : "";
  const hookName = fn ?? h.type;

  // --- file system ---
  if (rule?.k === "fs" || (rule === undefined && (ix.file !== undefined || ix.str !== undefined))) {
    const file = hookFile(args, ix, am, rule?.folder === true);
    if (file) {
      let a = rule?.a ?? 99;
      const fields: Obj = { actor, file };
      if (rule?.special === "mask" || rule?.special === "prot") {
        const n = intArg(args, ix.ints[0]);
        if (n && i32(n.v) !== undefined) {
          a = rule.special === "mask" ? maskActivity(n.v) : protActivity(n.v);
          fields.access_mask = n.v;
          sub(am, ix.ints[0]!)[n.key] = true;
        }
      } else if (rule?.special === "kread") {
        // security_kernel_read_file(file, id): id 2 READING_MODULE is a kernel module being loaded
        const id = intArg(args, ix.ints[0]);
        if (id?.v === 2) return kext(actor, 1, { file: ofType(file, "-") }, `${hookName} ${String(file.path)}${where}`);
      }
      const second = hook?.syscall !== undefined && TWO_PATHS.has(hook.canon) ? secondPath(args, ix, file) : undefined;
      if (second !== undefined && !refused(body)) {
        // the new name: the link made (symlink, link) or the name after a rename
        fields.file_result = hook!.canon.startsWith("symlink") ? ofType(fileObj(second.path, false), "l") : fileObj(second.path, false);
        sub(am, second.i).string_arg = true;
      }
      return {
        class_uid: 1001,
        category_uid: 1,
        className: "File System Activity",
        activity_id: a,
        activityName: FS_ACTIVITY[a] ?? "Other",
        severity_id: 0,
        fields,
        message: `${hookName} ${String(file.path)}${second !== undefined ? ` -> ${second.path}` : ""}${where}`,
      };
    }
  }

  // --- network ---
  // a socket the hook returned (returnArg type sock, e.g. inet_csk_accept: the accepted connection) is the
  // connection the event is about: it takes the place of a sock argument. It is read as one more argument whose
  // marks are those of `return`, so what it carries leaves unmapped.return.
  const retSock = isObject(body.return) && isObject(body.return.sock_arg);
  if (retSock) am[args.length] = sub(bm, "return");
  const netArgs = retSock ? [...args, body.return!] : args;
  const netIx = retSock ? { ...ix, sock: args.length } : ix;
  if (rule?.k === "net" || (rule === undefined && (netIx.sock !== undefined || ix.skb !== undefined || ix.sockaddr !== undefined))) {
    const net = hookNet(netArgs, netIx, am, rule);
    if (net) {
      const a = rule?.a ?? 99;
      return {
        class_uid: 4001,
        category_uid: 4,
        className: "Network Activity",
        activity_id: a,
        activityName: NET_ACTIVITY[a] ?? "Other",
        severity_id: 0,
        fields: defined({ actor, src_endpoint: net.src, dst_endpoint: net.dst, connection_info: net.info, traffic: net.traffic }),
        message: `${hookName} ${endpointText(net.src)} -> ${endpointText(net.dst)}${where}`,
      };
    }
  }

  // --- kernel modules ---
  if (rule?.k === "kext" || (rule === undefined && ix.module !== undefined)) {
    let file: Obj | undefined;
    const mod = argObj(args, ix.module, "module_arg");
    if (mod) {
      const name = text(mod.name);
      if (name !== undefined) {
        file = { name, type_id: 0, type: "Unknown" };
        sub(sub(am, ix.module!), "module_arg").name = true;
      }
    } else {
      file = hookFile(args, ix, am, false);
      if (file) file = ofType(file, "-");
      else if (ix.str !== undefined) {
        // security_kernel_module_request(name): the module (alias) the kernel asks modprobe to load
        const s = (args[ix.str] as JsonObject).string_arg as string;
        file = { name: s, type_id: 0, type: "Unknown" };
        sub(am, ix.str).string_arg = true;
      }
    }
    if (file) return kext(actor, rule?.a ?? 99, { file }, `${hookName} ${String(file.path ?? file.name)}${where}`);
  }

  // --- credentials: Set User ID ---
  if (rule?.k === "setid" && proc) {
    let newUid: number | undefined;
    const creds = argObj(args, ix.creds, "process_credentials_arg");
    if (creds) {
      newUid = whole(creds.euid);
      if (newUid !== undefined) sub(sub(am, ix.creds!), "process_credentials_arg").euid = true;
    } else {
      const c = hook!.canon;
      // setuid(uid) / setfsuid(uid): arg 0; setreuid(ruid, euid) / setresuid(ruid, euid, suid): arg 1 (-1 = unchanged)
      const pos = c === "setuid" || c === "setfsuid" ? 0 : c === "setreuid" || c === "setresuid" ? 1 : -1;
      const n = pos >= 0 ? intArg(args, ix.ints[pos]) : undefined;
      if (n && n.v >= 0 && n.v !== 4294967295) {
        newUid = n.v;
        sub(am, ix.ints[pos]!)[n.key] = true;
      }
    }
    const target: Obj = { ...proc };
    if (newUid !== undefined) target.user = { uid: String(newUid) };
    return procActivity(5, { actor: { process: ref(proc) }, process: target }, `${hookName}${newUid !== undefined ? ` uid ${newUid}` : ""}${where}`);
  }

  // --- exec checks (LSM bprm_*, execve kprobes): Launch of the binary being executed ---
  if (rule?.k === "exec" && proc?.pid !== undefined) {
    // the task keeps its pid across exec: the launched image is the same pid
    const file = hookFile(args, ix, am, false);
    if (file) {
      const target = defined({ pid: proc.pid, name: file.name, file: ofType(file, "-") });
      return procActivity(1, { actor: { process: proc }, process: target }, `${hookName} ${String(file.path)}${where}`);
    }
  }

  // --- everything else: the kernel function or system call that was invoked ---
  const kernel: Obj = { name: hookName, type_id: 2, type: "System Call" };
  if (hook?.syscall !== undefined) kernel.system_call = hook.syscall;
  return {
    class_uid: 1003,
    category_uid: 1,
    className: "Kernel Activity",
    activity_id: 4,
    activityName: "Invoke",
    severity_id: 0,
    fields: { actor, kernel },
    message: `${hookName}${capabilityText(args)}${where}`,
  };
}

/** " CAP_SYS_ADMIN" when a capability_arg names one (cap_capable and the like; 1.3.0 has no capability attribute). */
function capabilityText(args: Json[]): string {
  for (const a of args) {
    const c = isObject(a) && isObject(a.capability_arg) ? text(a.capability_arg.name) : undefined;
    if (c !== undefined) return ` ${c}`;
  }
  return "";
}

function kext(actor: Obj, a: number, driver: Obj, message: string): Built {
  return {
    class_uid: 1002,
    category_uid: 1,
    className: "Kernel Extension Activity",
    activity_id: a,
    activityName: KEXT_ACTIVITY[a] ?? "Other",
    severity_id: 0,
    fields: { actor, driver },
    message,
  };
}

function procActivity(a: number, fields: Obj, message: string): Built {
  return {
    class_uid: 1007,
    category_uid: 1,
    className: "Process Activity",
    activity_id: a,
    activityName: PROC_ACTIVITY[a] ?? "Other",
    severity_id: 0,
    fields,
    message,
  };
}

function endpointText(ep: Obj | undefined): string {
  if (!ep) return "?";
  const ip = String(ep.ip);
  const host = ip.includes(":") ? `[${ip}]` : ip;
  return ep.port !== undefined ? `${host}:${String(ep.port)}` : host;
}

/** process_exec: the parent launched the process. */
function mapExec(body: JsonObject, bm: Mark, st: State): Built {
  const { proc, parent } = mapProcs(body, bm, st);
  if (!proc) throw new NormalizeError("process_exec has no process object with an exec_id or a pid");
  const fields: Obj = { process: proc };
  if (parent) {
    // the parent is the actor, in full; the launched process points at it
    proc.parent_process = ref(parent);
    fields.actor = { process: parent };
  } else {
    // no parent object: the parent known by its exec_id, else (nothing known) the process itself
    fields.actor = { process: (proc.parent_process as Obj | undefined) ?? ref(proc) };
  }
  return { ...procActivity(1, fields, `process_exec ${String(proc.cmd_line ?? proc.name ?? proc.pid)}`), severity_id: TETRAGON_SEVERITY.lifecycle };
}

/** process_exit: the process terminated (exit status, signal). */
function mapExit(body: JsonObject, bm: Mark, st: State): Built {
  const { proc } = mapProcs(body, bm, st);
  if (!proc) throw new NormalizeError("process_exit has no process object with an exec_id or a pid");
  const fields: Obj = { actor: { process: ref(proc) }, process: proc };
  let status = takeInt(fields, "exit_code", body, "status", bm);
  takeTime(proc, "terminated_time", body, "time", bm, st);
  const signal = text(body.signal);
  if (body.status === undefined && signal === undefined) {
    // protojson leaves out a zero uint32: an exit with neither status nor signal is a normal exit with status 0
    // (Tetragon sends status = exit code, signal = the killing signal, so a signalled exit has no exit code)
    status = 0;
    fields.exit_code = 0;
  }
  const how = signal !== undefined ? ` (${signal})` : status !== undefined ? ` (status ${status})` : "";
  return { ...procActivity(2, fields, `process_exit ${String(proc.cmd_line ?? proc.name ?? proc.pid)}${how}`), severity_id: TETRAGON_SEVERITY.lifecycle };
}

/** Legacy (pre-1.0) process_connect / process_close / process_listen. */
function mapLegacyNet(type: string, body: JsonObject, bm: Mark, st: State): Built {
  const { proc } = mapProcs(body, bm, st);
  const actor: Obj = proc ? { process: proc } : { app_name: "Tetragon" };
  const info: Obj = {};
  let src: Obj | undefined;
  let dst: Obj | undefined;
  let a: number;
  const p: Pending = [];
  if (type === "process_listen") {
    a = 7;
    direction(info, 0);
    dst = endpoint(body, bm, p, "ip", "port");
  } else {
    a = type === "process_connect" ? 1 : 2;
    direction(info, type === "process_connect" ? 2 : 0);
    src = endpoint(body, bm, p, "source_ip", "source_port");
    dst = endpoint(body, bm, p, "destination_ip", "destination_port");
  }
  commit(p);
  if (!dst) throw new NormalizeError(`${type} has no destination address (${type === "process_listen" ? "ip" : "destination_ip"})`);
  setProtocol(info, text(body.protocol), undefined, String(dst.ip));
  let traffic: Obj | undefined;
  if (isObject(body.stats)) {
    const s = body.stats;
    const sm = sub(bm, "stats");
    const t: Obj = {};
    const put = (from: string, to: string) => {
      const v = whole(s[from]);
      if (v !== undefined) {
        t[to] = v;
        sm[from] = true;
      }
    };
    put("bytes_sent", "bytes_out");
    put("bytes_received", "bytes_in");
    put("segs_out", "packets_out");
    put("segs_in", "packets_in");
    if (t.bytes_out !== undefined || t.bytes_in !== undefined) t.bytes = ((t.bytes_out as number) ?? 0) + ((t.bytes_in as number) ?? 0);
    if (t.packets_out !== undefined || t.packets_in !== undefined) t.packets = ((t.packets_out as number) ?? 0) + ((t.packets_in as number) ?? 0);
    if (Object.keys(t).length) traffic = t;
  }
  const who = proc ? ` by ${String(proc.name ?? proc.pid)}` : "";
  return {
    class_uid: 4001,
    category_uid: 4,
    className: "Network Activity",
    activity_id: a,
    activityName: NET_ACTIVITY[a]!,
    severity_id: TETRAGON_SEVERITY.lifecycle,
    fields: defined({ actor, src_endpoint: src, dst_endpoint: dst, connection_info: info, traffic }),
    message: `${type} ${src ? `${endpointText(src)} -> ` : ""}${endpointText(dst)}${who}`,
  };
}

/** process_throttle / rate_limit_info: Tetragon stopped (or resumed) exporting events. */
function mapExportNotice(type: string, body: JsonObject): Built {
  let a = 99;
  let severity: number = TETRAGON_SEVERITY.exportLoss;
  let message: string;
  if (type === "process_throttle") {
    const t = body.type;
    const cgroup = text(body.cgroup) ?? "?";
    if (t === "THROTTLE_START" || t === 1) {
      a = 7; // Stop: events of the cgroup are no longer exported
      message = `Tetragon throttles events of cgroup ${cgroup}`;
    } else if (t === "THROTTLE_STOP" || t === 2) {
      a = 6; // Start: export of the cgroup's events resumes
      severity = TETRAGON_SEVERITY.lifecycle;
      message = `Tetragon stopped throttling events of cgroup ${cgroup}`;
    } else {
      a = 0;
      message = `Tetragon throttle notice for cgroup ${cgroup}`;
    }
  } else {
    const n = body.number_of_dropped_process_events;
    message = `Tetragon export rate limit: ${typeof n === "string" || typeof n === "number" ? String(n) : "some"} events dropped`;
  }
  const EVENT_LOG: Record<number, string> = { 0: "Unknown", 6: "Start", 7: "Stop", 99: "Other" };
  return {
    class_uid: 1008,
    category_uid: 1,
    className: "Event Log Activity",
    activity_id: a,
    activityName: EVENT_LOG[a]!,
    severity_id: severity,
    fields: { log_provider: "Tetragon", log_type_id: 2, log_type: "Application" },
    message,
  };
}

/** process_loader: a binary or library was mapped into the process. */
function mapLoader(body: JsonObject, bm: Mark, st: State): Built {
  const { proc } = mapProcs(body, bm, st);
  const path = text(body.path);
  if (!path) throw new NormalizeError("process_loader has no path");
  bm.path = true;
  const module = { file: { name: basename(path), path, type_id: 1, type: "Regular File" }, load_type_id: 0, load_type: "Unknown" };
  return {
    class_uid: 1005,
    category_uid: 1,
    className: "Module Activity",
    activity_id: 1,
    activityName: "Load",
    severity_id: TETRAGON_SEVERITY.lifecycle,
    fields: { actor: proc ? { process: proc } : { app_name: "Tetragon" }, module },
    message: `process_loader ${path}${proc ? ` by ${String(proc.name ?? proc.pid)}` : ""}`,
  };
}

/** process_uprobe / process_usdt: a user-space function of the process ran (no closer 1.3.0 class). */
function mapUserProbe(type: string, body: JsonObject, bm: Mark, st: State): Built {
  const { proc } = mapProcs(body, bm, st);
  if (!proc) throw new NormalizeError(`${type} has no process object with an exec_id or a pid`);
  const path = text(body.path) ?? "?";
  const what = type === "process_uprobe" ? (text(body.symbol) ?? String(body.offset ?? "?")) : `${text(body.provider) ?? "?"}:${text(body.name) ?? "?"}`;
  return procActivity(99, { actor: { process: ref(proc) }, process: proc }, `${type} ${path}:${what}`);
}

/**
 * metadata.uid from what identifies the event, not from the whole record text (hashing kilobytes per event is
 * the costliest step otherwise): an exec_id has one exec and one exit; any other event of a process is told
 * apart by its nanosecond time and hook, and with a coarser (older agents: millisecond) time also by its
 * arguments / addresses. Events without a process (throttle, rate limit) are small: their whole text is hashed.
 */
function eventUid(
  rec: JsonObject,
  type: string,
  body: JsonObject,
  execId: string | undefined,
  time: string | undefined,
  hookFn: string | undefined,
  ctx: NormalizeContext,
): string {
  if (execId === undefined) return stableUid(ctx.rawText ?? JSON.stringify(rec));
  if (type === "process_exec" || type === "process_exit") return stableUid(`tetragon\n${type}\n${execId}`);
  let key = `tetragon\n${type}\n${execId}\n${time ?? ""}\n${hookFn ?? ""}`;
  if (time === undefined || fractionDigits(time) <= 3) {
    key += HOOK_TYPES.has(type)
      ? `\n${JSON.stringify(body.args ?? null)}\n${JSON.stringify(body.return ?? null)}`
      : `\n${String(body.source_ip)}:${String(body.source_port)}>${String(body.destination_ip)}:${String(body.destination_port)}|${String(body.ip)}:${String(body.port)}|${String(body.path)}`;
  }
  return stableUid(key);
}

const HASH_ALGORITHM = new Map<string, [number, string]>([
  ["md5", [1, "MD5"]],
  ["sha1", [2, "SHA-1"]],
  ["sha256", [3, "SHA-256"]],
  ["sha512", [4, "SHA-512"]],
]);

const HOOK_TYPES = new Set(["process_kprobe", "process_tracepoint", "process_lsm", "process_uprobe", "process_usdt"]);

export function normalizeTetragon(rec: JsonObject, ctx: NormalizeContext): OcsfEvent {
  let type: string | undefined;
  let body: JsonObject | undefined;
  const [k] = singleTetragonKey(rec);
  if (k !== undefined && EVENT_TYPES.has(k) && isObject(rec[k])) {
    type = k;
    body = rec[k];
  }
  if (type === undefined || body === undefined) {
    throw new NormalizeError(`not a supported Tetragon event: expected one object among ${[...EVENT_TYPES].join(", ")} (keys: ${keyList(rec)})${envelopeHint(rec, ["tetragon"])}`);
  }
  const st = new State();
  const m = st.marks;
  const bm = sub(m, type);

  let hookFn: string | undefined;
  let b: Built;
  switch (type) {
    case "process_exec":
      b = mapExec(body, bm, st);
      break;
    case "process_exit":
      b = mapExit(body, bm, st);
      break;
    case "process_connect":
    case "process_close":
    case "process_listen":
      b = mapLegacyNet(type, body, bm, st);
      break;
    case "process_throttle":
    case "rate_limit_info":
      b = mapExportNotice(type, body);
      break;
    case "process_loader":
      b = mapLoader(body, bm, st);
      break;
    case "process_uprobe":
    case "process_usdt":
      hookFn = type === "process_uprobe" ? text(body.symbol) : text(body.name);
      b = mapUserProbe(type, body, bm, st);
      break;
    default: {
      const tracepoint = type === "process_tracepoint";
      hookFn = tracepoint ? text(body.event) : text(body.function_name);
      b = mapHook({ type, body, bm, st, fn: hookFn, tracepoint });
    }
  }

  const fields = b.fields;
  const profiles: string[] = [];
  let severity_id = b.severity_id;

  // --- policy, action, tags, message of hook events ---
  let message = b.message;
  const labels: string[] = [];
  if (HOOK_TYPES.has(type)) {
    const policy = text(body.policy_name);
    const action = actionName(body.action);
    const retAction = actionName(body.return_action);
    const enforce = (action !== undefined ? TETRAGON_ENFORCEMENT.get(action) : undefined) ?? (retAction !== undefined ? TETRAGON_ENFORCEMENT.get(retAction) : undefined);
    severity_id = enforce ? TETRAGON_SEVERITY.enforcement : policy !== undefined ? TETRAGON_SEVERITY.policyMatch : TETRAGON_SEVERITY.hook;
    const [action_id, disposition_id] = enforce ?? [1, 17];
    fields.action_id = action_id;
    fields.action = ACTION_CAPTION[action_id];
    fields.disposition_id = disposition_id;
    fields.disposition = DISPOSITION_CAPTION[disposition_id];
    const authz: Obj = { decision: ACTION_CAPTION[action_id] };
    if (policy !== undefined) {
      authz.policy = { name: policy };
      bm.policy_name = true;
    }
    fields.authorizations = [authz];
    profiles.push("security_control");
    if (hookFn !== undefined) {
      // the hook name is the product's code for the event (also kept in kernel.name for Kernel Activity)
      bm[type === "process_tracepoint" ? "event" : type === "process_uprobe" ? "symbol" : type === "process_usdt" ? "name" : "function_name"] = true;
    }
    const msg = text(body.message);
    if (msg !== undefined) {
      message = msg;
      bm.message = true;
    }
    if (Array.isArray(body.tags)) {
      const tm = sub(bm, "tags");
      body.tags.forEach((t, i) => {
        if (typeof t === "string") {
          labels.push(t);
          tm[i] = true;
        }
      });
    }
    // return value of the hook: status (negative = error)
    const ret = isObject(body.return) ? body.return : undefined;
    if (ret) {
      for (const key of ["int_arg", "long_arg"]) {
        const v = whole(ret[key]);
        if (v !== undefined) {
          fields.status_code = String(v);
          fields.status_id = v < 0 ? 2 : 1;
          fields.status = v < 0 ? "Failure" : "Success";
          sub(bm, "return")[key] = true;
          break;
        }
      }
    }
    if (action_id === 2) {
      // the policy denied the operation (killed the process or forced an error): it did not succeed
      fields.status_id = 2;
      fields.status = "Failure";
    }
  }

  // --- LSM: IMA hash of the file the hook is about ---
  if (type === "process_lsm") {
    const ima = text(body.ima_hash);
    const target = (fields.file ?? (fields.process as Obj | undefined)?.file) as Obj | undefined;
    if (ima !== undefined && target !== undefined) {
      // "sha256:<hex>": the original stays in unmapped (the hex alone is not the same string)
      const colon = ima.indexOf(":");
      const alg = colon > 0 ? ima.slice(0, colon).toLowerCase() : "";
      const id = HASH_ALGORITHM.get(alg);
      target.hashes = [id !== undefined ? { algorithm_id: id[0], algorithm: id[1], value: ima.slice(colon + 1) } : { algorithm_id: 99, algorithm: alg || "unknown", value: ima.slice(colon + 1) }];
    }
  }

  // --- time ---
  const timeStr = typeof rec.time === "string" ? rec.time : undefined;
  let time = rfc3339Ms(timeStr);
  if (timeStr !== undefined) m.time = true; // kept verbatim in metadata.original_time
  if (time === undefined) {
    const proc = (fields.process ?? (fields.actor as Obj | undefined)?.process) as Obj | undefined;
    // process_exec without `time` (some exporters): the exec is the process start; process_exit: the exit time
    time = type === "process_exec" ? (proc?.created_time as number | undefined) : type === "process_exit" ? (proc?.terminated_time as number | undefined) : undefined;
    time ??= ctx.receivedAt;
  }

  // --- device: the node ---
  const procObj = isObject(body.process) ? body.process : undefined;
  const execId = procObj ? text(procObj.exec_id) : undefined;
  const node = text(rec.node_name);
  let device: Obj;
  const devName = node ?? nodeOfExecId(execId);
  if (node !== undefined) m.node_name = true;
  if (devName !== undefined && isHostname(devName)) device = { hostname: devName, type_id: 0, type: "Unknown" };
  else device = { name: devName ?? "unknown", type_id: 0, type: "Unknown" };
  profiles.push("host");

  // --- aggregation ---
  let count: number | undefined;
  if (isObject(rec.aggregation_info)) {
    count = i32(rec.aggregation_info.count);
    if (count !== undefined) sub(m, "aggregation_info").count = true;
  }

  // --- observables ---
  if (device.hostname !== undefined) st.obs("device.hostname", OBS.hostname, device.hostname as string);
  const procPath = fields.process !== undefined ? "process" : "actor.process";
  const main = (fields.process ?? (fields.actor as Obj | undefined)?.process) as Obj | undefined;
  if (main) {
    st.obs(`${procPath}.name`, OBS.process_name, main.name as string | undefined);
    st.obs(`${procPath}.pid`, OBS.pid, main.pid as number | undefined);
    st.obs(`${procPath}.cmd_line`, OBS.cmd_line, main.cmd_line as string | undefined);
    const u = main.user as Obj | undefined;
    if (u?.name !== undefined) st.obs(`${procPath}.user.name`, OBS.user_name, u.name as string);
    const c = main.container as Obj | undefined;
    // an observable naming an object has no value (1.3.0): the container uid stays in the object
    if (c?.uid !== undefined) st.observables.addObject(`${procPath}.container`, OBS.container);
  }
  if (type === "process_exec") {
    // the launching parent (actor.process) is a process of interest too
    const a = (fields.actor as Obj).process as Obj;
    if (a !== main) st.obs("actor.process.name", OBS.process_name, a.name as string | undefined);
  }
  const file = (fields.file ?? (fields.driver as Obj | undefined)?.file) as Obj | undefined;
  if (file) st.obs(fields.file !== undefined ? "file.name" : "driver.file.name", OBS.file_name, file.name as string);
  const srcEp = fields.src_endpoint as Obj | undefined;
  const dstEp = fields.dst_endpoint as Obj | undefined;
  if (srcEp) st.obs("src_endpoint.ip", OBS.ip, srcEp.ip as string);
  if (dstEp) st.obs("dst_endpoint.ip", OBS.ip, dstEp.ip as string);

  if (st.usesContainer) profiles.push("container");
  if (st.usesDatetime) profiles.push("datetime");

  // --- uid: deterministic, so re-deliveries deduplicate ---
  const uid = eventUid(rec, type, body, execId, timeStr, hookFn, ctx);

  const unmapped = rest(rec, m);

  const ev: OcsfEvent = {
    activity_id: b.activity_id,
    category_uid: b.category_uid,
    class_uid: b.class_uid,
    type_uid: 0,
    severity_id,
    time,
    message,
    ...fields,
    device,
    metadata: defined({
      version: ctx.ocsfVersion,
      product: { name: "Tetragon", vendor_name: "Cilium" },
      uid: scopedUid(uid, ctx.uidScope),
      log_name: type,
      log_provider: "tetragon",
      event_code: hookFn,
      original_time: timeStr,
      tenant_uid: ctx.tenant,
      logged_time: ctx.receivedAt,
      labels: labels.length ? labels : undefined,
      profiles,
    }),
    count,
    observables: st.observables.list.length ? st.observables.list : undefined,
    unmapped: isObject(unmapped) ? unmapped : undefined,
    raw_data: ctx.rawData ? (ctx.rawText ?? JSON.stringify(rec)) : undefined,
  };
  return withCaptions(defined(ev), b.className, b.activityName);
}
