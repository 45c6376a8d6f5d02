// Per-source mapping tables for the "nothing lost" check (test/support/lossless.ts): which input leaf is
// carried by which OCSF attribute(s). Built from src/normalize/{falco,tetragon,k8s-audit,cloudtrail}.ts and
// docs/mapping-*.md. A leaf not listed here must be in `unmapped` at its own path. Several rules for one
// input path are alternatives (the attribute depends on the class or on the value): one must hold.
import { lostFields, type FieldRule } from "./lossless";
import type { Json } from "../../src/normalize/json";
import type { SourceKind } from "../../src/normalize/ocsf";

/** Rules from one input path to each of several alternative target lists. */
function alt(from: string, ...targets: string[][]): FieldRule[] {
  return targets.map((to) => ({ from, to }));
}

const of = (k: string) => `output_fields[${JSON.stringify(k)}]`;
const EV = "evidences[0]";
const PROC = `${EV}.process`;

/** "1.2.3.4:5678->10.0.0.1:443" (IPv6 maybe in brackets) -> [src ip, src port, dst ip, dst port]. */
function tuple(v: Json): unknown[] | undefined {
  const m = typeof v === "string" ? /^\[?([0-9a-fA-F:.]+?)\]?:(\d+)->\[?([0-9a-fA-F:.]+?)\]?:(\d+)$/.exec(v) : null;
  return m ? [m[1], Number(m[2]), m[3], Number(m[4])] : undefined;
}

/** A process ancestor N levels up (0 = the process) under evidences[0].process. */
const up = (n: number) => PROC + ".parent_process".repeat(n);

const falco: FieldRule[] = [
  { from: "uuid", to: ["metadata.uid", "finding_info.uid"] },
  { from: "output", to: ["message", "finding_info.desc"] },
  { from: "message", to: ["message", "finding_info.desc"] },
  { from: "rule", to: ["finding_info.title", "finding_info.analytic.name"] },
  { from: "time", to: ["metadata.original_time"] },
  { from: "source", to: ["metadata.log_name", "metadata.product.feature.name"] },
  { from: "tags[]", to: ["finding_info.types[]"] },
  ...alt("hostname", ["device.hostname"], ["device.name"]),
  { from: of("evt.time"), to: ["metadata.original_time"] },
  ...alt(of("evt.hostname"), ["device.hostname"], ["device.name"]),
  { from: of("falco.version"), to: ["metadata.product.version"] },
  // process and its ancestry (proc.aname[N] / proc.apid[N]: N levels up)
  { from: of("proc.name"), to: [`${up(0)}.name`] },
  { from: of("proc.pid"), to: [`${up(0)}.pid`] },
  { from: of("proc.cmdline"), to: [`${up(0)}.cmd_line`] },
  { from: of("proc.exepath"), to: [`${up(0)}.file.path`] },
  { from: of("proc.exe"), to: [`${up(0)}.file.path`] },
  { from: of("proc.pname"), to: [`${up(1)}.name`] },
  { from: of("proc.ppid"), to: [`${up(1)}.pid`] },
  { from: of("proc.pcmdline"), to: [`${up(1)}.cmd_line`] },
  { from: of("proc.pexepath"), to: [`${up(1)}.file.path`] },
  { from: of("proc.pexe"), to: [`${up(1)}.file.path`] },
  // proc.a*[N]: N levels up (0 = the process itself, the fallback for proc.name, proc.cmdline...)
  ...Array.from({ length: 10 }, (_, n) => n).flatMap((n) => [
    { from: of(`proc.aname[${n}]`), to: [`${up(n)}.name`] },
    { from: of(`proc.apid[${n}]`), to: [`${up(n)}.pid`] },
    { from: of(`proc.acmdline[${n}]`), to: [`${up(n)}.cmd_line`] },
    { from: of(`proc.aexepath[${n}]`), to: [`${up(n)}.file.path`] },
    { from: of(`proc.aexe[${n}]`), to: [`${up(n)}.file.path`] },
  ]),
  ...alt(of("user.name"), [`${PROC}.user.name`], [`${EV}.actor.user.name`]),
  ...alt(of("user.uid"), [`${PROC}.user.uid`], [`${EV}.actor.user.uid`]),
  { from: of("proc.tid"), to: [`${PROC}.tid`] },
  { from: of("thread.tid"), to: [`${PROC}.tid`] },
  { from: of("proc.vpid"), to: [`${PROC}.namespace_pid`] },
  { from: of("proc.tty"), to: [`${PROC}.session.terminal`] },
  // container and Kubernetes pod (resources[]: OCSF has no pod object)
  { from: of("container.id"), to: [`${EV}.container.uid`] },
  // the container plugin's 64-digit id (Falco 0.41+) when it extends container.id, which then stays in unmapped
  { from: of("container.full_id"), to: [`${EV}.container.uid`] },
  { from: of("container.name"), to: [`${EV}.container.name`] },
  { from: of("container.image.repository"), to: [`${EV}.container.image.name`] },
  { from: of("container.image"), to: [`${EV}.container.image.name`] },
  { from: of("container.image.tag"), to: [`${EV}.container.image.tag`] },
  { from: of("container.image.id"), to: [`${EV}.container.image.uid`] },
  { from: of("container.type"), to: [`${EV}.container.runtime`] },
  { from: of("k8s.pod.name"), to: ["resources[0].name"] },
  ...["k8s.pod.uid", "k8s.pod.id", "k8smeta.pod.uid"].map((k) => ({ from: of(k), to: ["resources[0].uid"] })),
  ...alt(of("k8s.ns.name"), ["resources[0].namespace"], ["resources[0].name"]),
  // fd.*: a file or a connection
  { from: of("fd.name"), to: [`${EV}.file.path`] },
  { from: of("fd.name"), to: [`${EV}.src_endpoint.ip`, `${EV}.src_endpoint.port`, `${EV}.dst_endpoint.ip`, `${EV}.dst_endpoint.port`], split: tuple },
  { from: of("fd.type"), to: [`${EV}.file.type_id`], conv: (v) => (v === "file" ? 1 : v === "directory" ? 2 : undefined) },
  { from: of("fd.directory"), to: [`${EV}.file.parent_folder`] },
  { from: of("fd.filename"), to: [`${EV}.file.name`] },
  ...["fd.cip", "fd.lip"].flatMap((k) => alt(of(k), [`${EV}.src_endpoint.ip`], [`${EV}.src_endpoint.hostname`], [`${EV}.src_endpoint.name`])),
  ...["fd.sip", "fd.rip"].flatMap((k) => alt(of(k), [`${EV}.dst_endpoint.ip`], [`${EV}.dst_endpoint.hostname`], [`${EV}.dst_endpoint.name`])),
  // the domain libsinsp knows for the client / server (local / remote) address: that endpoint's hostname
  ...["fd.cip.name", "fd.lip.name"].map((k) => ({ from: of(k), to: [`${EV}.src_endpoint.hostname`] })),
  ...["fd.sip.name", "fd.rip.name"].map((k) => ({ from: of(k), to: [`${EV}.dst_endpoint.hostname`] })),
  ...["fd.cport", "fd.lport"].map((k) => ({ from: of(k), to: [`${EV}.src_endpoint.port`] })),
  ...["fd.sport", "fd.rport"].map((k) => ({ from: of(k), to: [`${EV}.dst_endpoint.port`] })),
  { from: of("fd.l4proto"), to: [`${EV}.connection_info.protocol_name`] },
  // k8s_audit plugin (ka.*): the API call
  { from: of("ka.verb"), to: [`${EV}.api.operation`] },
  { from: of("ka.user.name"), to: [`${EV}.actor.user.name`] },
  // impersonation: the impersonated user acts; ka.user.* then stay in unmapped (their own paths)
  { from: of("ka.impuser.name"), to: [`${EV}.actor.user.name`] },
  { from: `${of("ka.user.groups")}[]`, to: [`${EV}.actor.user.groups[].name`] },
  { from: of("ka.target.resource"), to: ["resources[].type"] },
  ...alt(of("ka.target.subresource"), ["resources[].data.subresource"], [`${EV}.api.operation`]),
  { from: of("ka.target.name"), to: ["resources[].name"] },
  { from: of("ka.resp.name"), to: ["resources[].name"] },
  ...alt(of("ka.target.namespace"), ["resources[].namespace"], ["resources[].name"]),
  { from: of("ka.response.code"), to: [`${EV}.api.response.code`] },
  { from: of("ka.uri"), to: [`${EV}.url.url_string`] },
  { from: of("ka.auditid"), to: [`${EV}.api.request.uid`] },
  { from: of("ka.sourceips"), to: [`${EV}.src_endpoint.ip`] },
  // aws_cloudtrail plugin (ct.*): the AWS call, cloud account and region
  { from: of("ct.name"), to: [`${EV}.api.operation`] },
  { from: of("ct.src"), to: [`${EV}.api.service.name`] },
  { from: of("ct.user"), to: [`${EV}.actor.user.name`] },
  { from: of("ct.user.arn"), to: [`${EV}.actor.user.uid`] },
  { from: of("ct.user.accountid"), to: [`${EV}.actor.user.account.uid`, "cloud.account.uid"] },
  { from: of("ct.region"), to: ["cloud.region"] },
  ...alt(of("ct.srcip"), [`${EV}.src_endpoint.ip`], [`${EV}.src_endpoint.hostname`], [`${EV}.src_endpoint.name`]),
  { from: of("ct.id"), to: [`${EV}.api.request.uid`] },
  { from: of("ct.error"), to: [`${EV}.api.response.error`] },
  { from: of("ct.errormessage"), to: [`${EV}.api.response.error_message`] },
];

const ann = (k: string) => `annotations[${JSON.stringify(`authorization.k8s.io/${k}`)}]`;

const k8sAudit: FieldRule[] = [
  { from: "apiVersion", to: ["metadata.log_version"] },
  { from: "level", to: ["metadata.log_level"] },
  { from: "auditID", to: ["api.request.uid", "metadata.correlation_uid"] },
  { from: "verb", to: ["api.operation"] },
  // the impersonated user acts; the authenticated user then stays whole in unmapped.user (its own path)
  { from: "user.username", to: ["actor.user.name"] },
  { from: "user.uid", to: ["actor.user.uid"] },
  { from: "user.groups[]", to: ["actor.user.groups[].name"] },
  { from: 'user.extra["authentication.kubernetes.io/credential-id"][0]', to: ["actor.user.credential_uid"] },
  { from: "user.extra.accessKeyId[0]", to: ["actor.user.credential_uid"] },
  { from: "impersonatedUser.username", to: ["actor.user.name"] },
  { from: "impersonatedUser.uid", to: ["actor.user.uid"] },
  { from: "impersonatedUser.groups[]", to: ["actor.user.groups[].name"] },
  { from: "sourceIPs[0]", to: ["src_endpoint.ip"] },
  { from: "sourceIPs[]", to: ["src_endpoint.intermediate_ips[?]"] },
  { from: "userAgent", to: ["http_request.user_agent"] },
  { from: "requestURI", to: ["http_request.url.url_string"] },
  { from: "objectRef.resource", to: ["resources[0].type"] },
  { from: "objectRef.name", to: ["resources[0].name"] },
  { from: "objectRef.namespace", to: ["resources[0].namespace"] },
  { from: "objectRef.uid", to: ["resources[0].uid"] },
  { from: "objectRef.resourceVersion", to: ["resources[0].version"] },
  { from: "objectRef.apiVersion", to: ["api.version"] },
  { from: "objectRef.apiGroup", to: ["api.group.name"] },
  { from: "responseStatus.code", to: ["api.response.code", "status_code"] },
  { from: "responseStatus.message", to: ["api.response.message"] },
  { from: "responseStatus.reason", to: ["api.response.error"] },
  { from: "responseStatus.status", to: ["status"] },
  { from: "stageTimestamp", to: ["metadata.original_time"] },
  { from: "requestReceivedTimestamp", to: ["metadata.original_time"] },
  { from: ann("decision"), to: ["actor.authorizations[0].decision"] },
  { from: ann("reason"), to: ["actor.authorizations[0].policy.name"] },
  { from: "requestObject.**", to: ["api.request.data.**"] },
  { from: "responseObject.**", to: ["api.response.data.**"] },
];

const cloudtrail: FieldRule[] = [
  { from: "eventVersion", to: ["metadata.product.version"] },
  { from: "eventCategory", to: ["metadata.product.feature.name"] },
  { from: "eventType", to: ["metadata.event_code"] },
  // eventID stays in unmapped (metadata.uid hashes it with recipientAccountId, eventTime and eventName)
  { from: "sharedEventID", to: ["metadata.correlation_uid"] },
  { from: "eventTime", to: ["metadata.original_time"] },
  { from: "eventSource", to: ["api.service.name"] },
  { from: "eventName", to: ["api.operation"] },
  { from: "insightDetails.eventSource", to: ["api.service.name"] },
  { from: "insightDetails.eventName", to: ["api.operation"] },
  { from: "apiVersion", to: ["api.version"] },
  { from: "errorCode", to: ["api.response.error", "status_code"] },
  { from: "errorMessage", to: ["api.response.error_message", "status_detail"] },
  { from: "recipientAccountId", to: ["cloud.account.uid"] },
  { from: "awsRegion", to: ["cloud.region"] },
  { from: "userIdentity.userName", to: ["actor.user.name"] },
  { from: "userIdentity.arn", to: ["actor.user.uid"] },
  { from: "userIdentity.onBehalfOf.userId", to: ["actor.user.uid"] }, // IdentityCenterUser (no arn)
  { from: "userIdentity.principalId", to: ["actor.user.uid_alt"] },
  { from: "userIdentity.accessKeyId", to: ["actor.user.credential_uid"] },
  { from: "userIdentity.accountId", to: ["actor.user.account.uid"] },
  { from: "userIdentity.type", to: ["actor.user.type"] },
  { from: "userIdentity.invokedBy", to: ["actor.app_name"] },
  { from: "userIdentity.identityProvider", to: ["actor.idp.name"] },
  { from: "userIdentity.sessionContext.attributes.mfaAuthenticated", to: ["actor.session.is_mfa"] },
  { from: "userIdentity.sessionContext.sessionIssuer.arn", to: ["actor.session.issuer"] },
  { from: "userIdentity.sessionContext.webIdFederationData.federatedProvider", to: ["actor.idp.name"] },
  ...alt("sourceIPAddress", ["src_endpoint.ip"], ["src_endpoint.svc_name"]),
  { from: "vpcEndpointId", to: ["src_endpoint.uid"] },
  { from: "tlsDetails.clientProvidedHostHeader", to: ["dst_endpoint.hostname"] },
  { from: "userAgent", to: ["http_request.user_agent"] },
  { from: "requestID", to: ["api.request.uid"] },
  { from: "requestParameters.**", to: ["api.request.data.**"] },
  { from: "responseElements.**", to: ["api.response.data.**"] },
  // resources[] of API Activity (records without an ARN stay in unmapped, so positions may shift)
  { from: "resources[].ARN", to: ["resources[?].uid"] },
  { from: "resources[].ARNPrefix", to: ["resources[?].uid"] },
  { from: "resources[].type", to: ["resources[?].type"] },
  { from: "resources[].accountId", to: ["resources[?].owner.account.uid"] },
];

/** Tetragon Process fields -> OCSF process attributes (relative to where the process is put). */
const TETRAGON_PROCESS: [string, string[]][] = [
  ["exec_id", ["uid"]],
  ["pid", ["pid"]],
  ["tid", ["tid"]],
  // "<kernel>" and such have no file: the binary is then the name (and the command line)
  ["binary", ["file.path", "name"]],
  ["start_time", ["created_time_dt"]],
  ["uid", ["user.uid"]],
  ["user.name", ["user.name"]],
  ["docker", ["container.uid"]],
  ["pod.uid", ["container.pod_uuid"]],
  ["pod.container.name", ["container.name"]],
  ["pod.container.pid", ["namespace_pid"]],
  ["pod.container.image.id", ["container.image.uid"]],
  ["pod.container.image.name", ["container.image.name"]],
  // the process's parent (by exec_id) is its parent_process
  ["parent_exec_id", ["parent_process.uid"]],
];

/**
 * pod.container.id, a Kubernetes containerID "<runtime>://<id>": [runtime, id] when the normalizer cuts the
 * scheme off container.uid (a [\w.-] scheme, a rest without another "://"), so runtime + "://" + uid is the
 * text sent; undefined when it does not (the id is then container.uid as sent).
 */
function containerIdParts(v: Json): [string, string] | undefined {
  const [, runtime, id] = (typeof v === "string" && /^([\w.-]+):\/\/(.+)$/s.exec(v)) || [];
  return runtime !== undefined && id !== undefined && !id.includes("://") ? [runtime, id] : undefined;
}

/**
 * Where body.process and body.parent go: the process is `process` (exec, exit, Set User ID, uprobe) or
 * `actor.process` (hooks, legacy network, loader); the parent is its parent_process, or the actor itself
 * (process_exec: the parent launched the process).
 */
const TETRAGON_ROOTS: [string, string[]][] = [
  ["process", ["process", "actor.process"]],
  ["parent", ["actor.process", "process.parent_process", "actor.process.parent_process"]],
];

/** Argument kinds of kprobe / tracepoint / lsm hooks -> alternatives by the class the hook maps to. */
const TETRAGON_ARGS: [string, string[]][] = [
  ...["file_arg.path", "path_arg.path", "linux_binprm_arg.path"].map((k): [string, string[]] => [k, ["file.path", "driver.file.path", "process.file.path"]]),
  ["string_arg", ["file.path", "file_result.path", "driver.file.path", "driver.file.name", "process.file.path"]],
  ...["int_arg", "long_arg", "uint_arg", "size_arg"].map((k): [string, string[]] => [k, ["access_mask", "traffic.bytes", "process.user.uid"]]),
  ["module_arg.name", ["driver.file.name"]],
  ["process_credentials_arg.euid", ["process.user.uid"]],
  ...["sock_arg", "skb_arg"].flatMap((a): [string, string[]][] => [
    [`${a}.saddr`, ["src_endpoint.ip", "dst_endpoint.ip"]],
    [`${a}.sport`, ["src_endpoint.port", "dst_endpoint.port"]],
    [`${a}.daddr`, ["dst_endpoint.ip", "src_endpoint.ip"]],
    [`${a}.dport`, ["dst_endpoint.port", "src_endpoint.port"]],
  ]),
  ["sock_arg.cookie", ["connection_info.uid"]],
  ["skb_arg.proto", ["connection_info.protocol_num"]],
  ["skb_arg.len", ["traffic.bytes"]],
  ["sockaddr_arg.addr", ["dst_endpoint.ip", "src_endpoint.ip"]],
  ["sockaddr_arg.port", ["dst_endpoint.port", "src_endpoint.port"]],
];

const tetragon: FieldRule[] = [
  ...alt("node_name", ["device.hostname"], ["device.name"]),
  { from: "time", to: ["metadata.original_time"] },
  { from: "aggregation_info.count", to: ["count"] },
  ...TETRAGON_ROOTS.flatMap(([key, roots]) => TETRAGON_PROCESS.flatMap(([f, attrs]) => roots.flatMap((r) => attrs.map((a) => ({ from: `*.${key}.${f}`, to: [`${r}.${a}`] }))))),
  // the container id: container.runtime + "://" + container.uid, or container.uid as sent when it has no scheme to cut
  ...TETRAGON_ROOTS.flatMap(([key, roots]) =>
    roots.flatMap((r): FieldRule[] => [
      { from: `*.${key}.pod.container.id`, to: [`${r}.container.runtime`, `${r}.container.uid`], split: containerIdParts },
      { from: `*.${key}.pod.container.id`, to: [`${r}.container.uid`], conv: (v) => (containerIdParts(v) ? undefined : v) },
    ]),
  ),
  // hooks: the hooked function / tracepoint / symbol, policy, message, tags, return value
  ...["function_name", "event", "symbol", "name"].map((k) => ({ from: `*.${k}`, to: ["metadata.event_code"] })),
  { from: "*.policy_name", to: ["authorizations[0].policy.name"] },
  { from: "*.message", to: ["message"] },
  { from: "*.tags[]", to: ["metadata.labels[?]"] },
  ...["int_arg", "long_arg"].map((k) => ({ from: `*.return.${k}`, to: ["status_code"] })),
  ...TETRAGON_ARGS.flatMap(([f, targets]) => targets.map((t) => ({ from: `*.args[].${f}`, to: [t] }))),
  // a returned socket (returnArg type sock) is read as the hook's sock argument
  ...TETRAGON_ARGS.filter(([f]) => f.startsWith("sock_arg.")).flatMap(([f, targets]) => targets.map((t) => ({ from: `*.return.${f}`, to: [t] }))),
  // process_exit, process_loader
  { from: "*.status", to: ["exit_code"] },
  { from: "*.time", to: ["process.terminated_time_dt"] },
  { from: "*.path", to: ["module.file.path"] },
  // legacy process_connect / process_close / process_listen
  { from: "*.source_ip", to: ["src_endpoint.ip"] },
  { from: "*.source_port", to: ["src_endpoint.port"] },
  { from: "*.destination_ip", to: ["dst_endpoint.ip"] },
  { from: "*.destination_port", to: ["dst_endpoint.port"] },
  { from: "*.ip", to: ["dst_endpoint.ip"] },
  { from: "*.port", to: ["dst_endpoint.port"] },
  { from: "*.stats.bytes_sent", to: ["traffic.bytes_out"] },
  { from: "*.stats.bytes_received", to: ["traffic.bytes_in"] },
  { from: "*.stats.segs_out", to: ["traffic.packets_out"] },
  { from: "*.stats.segs_in", to: ["traffic.packets_in"] },
];

export const FIELD_MAPS: Record<SourceKind, FieldRule[]> = { falco, tetragon, k8s_audit: k8sAudit, cloudtrail };

/** Every input leaf of `input` (a record of `kind`) that `event` lost, as "path: what was expected where". */
export function lossOf(kind: SourceKind, input: Json, event: unknown): string[] {
  return lostFields(input, event, FIELD_MAPS[kind]).map((l) => `${l.path}: ${l.reason}`);
}

/** An EventBridge envelope (all but `detail`) is kept whole in unmapped.eventbridge. */
export function envelopeLossOf(envelope: Json, event: unknown): string[] {
  return lostFields(envelope, event, [], { unmappedAt: ["unmapped", "eventbridge"], label: "(envelope) " }).map((l) => `${l.path}: ${l.reason}`);
}
