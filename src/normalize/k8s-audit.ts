// Kubernetes audit Event (audit.k8s.io v1 / v1beta1) -> OCSF API Activity 6003.
// Field, verb and severity tables: docs/mapping-k8s-audit.md.
import { type Json, type JsonObject, isObject, str, isoToMs, setOwn } from "./json";
import { type NormalizeContext, type OcsfEvent, Observables, OBS, isIpAddress, withCaptions } from "./ocsf";
import { NormalizeError, keyList, quoted } from "./errors";
import { scopedUid, stableUid } from "./uid";

/** verb -> [activity_id, caption]; any other verb is 99 Other with the verb as activity_name. */
export const K8S_VERB_ACTIVITY: ReadonlyMap<string, readonly [number, string]> = new Map([
  ["create", [1, "Create"]],
  ["get", [2, "Read"]],
  ["list", [2, "Read"]],
  ["watch", [2, "Read"]],
  ["update", [3, "Update"]],
  ["patch", [3, "Update"]],
  ["delete", [4, "Delete"]],
  ["deletecollection", [4, "Delete"]],
] as const);

/** Verbs that grant or borrow privileges: always severity 3 Medium. */
const PRIVILEGE_VERBS = new Set(["impersonate", "escalate", "bind"]);
/** Resources whose every access is sensitive (severity 3 Medium). */
const SENSITIVE_RESOURCES = new Set(["secrets"]);
/** Subresources that open a shell, a stream, a proxy or mint a credential (severity 3 Medium). */
const SENSITIVE_SUBRESOURCES = new Set(["exec", "attach", "portforward", "proxy", "token"]);
/** RBAC objects: writes to them change who may do what (severity 3 Medium). */
const RBAC_RESOURCES = new Set(["roles", "rolebindings", "clusterroles", "clusterrolebindings"]);

const DECISION = "authorization.k8s.io/decision";
const REASON = "authorization.k8s.io/reason";

/** Top-level Event keys that are mapped below (everything else is copied to unmapped). */
const MAPPED = new Set([
  "apiVersion",
  "level",
  "auditID",
  "verb",
  "user",
  "impersonatedUser",
  "sourceIPs",
  "userAgent",
  "objectRef",
  "responseStatus",
  "requestReceivedTimestamp",
  "stageTimestamp",
  "annotations",
  "requestURI",
  "requestObject",
  "responseObject",
]);

/** Copies the keys of `o` that `mapped` consumes not; undefined when nothing is left (an empty `o` is kept as is). */
function restOf(o: JsonObject, mapped: (k: string, v: Json) => boolean): JsonObject | undefined {
  let rest: JsonObject | undefined;
  if (isEmpty(o)) return o;
  for (const k in o) {
    const v = o[k]!;
    if (!mapped(k, v)) setOwn((rest ??= {}), k, v);
  }
  return rest;
}

/** A copy of `o` without undefined values. Builds a new object instead of deleting keys (delete turns
 * V8 objects into slow dictionaries, which also slows down the JSON.stringify of every event). */
function defined<T extends object>(o: T): T {
  const out = {} as T;
  for (const k in o) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/** null, {} or []: nothing to map, but the key itself is kept (in unmapped). */
function isEmpty(v: Json): boolean {
  if (v === null) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v !== "object") return false;
  for (const _ in v) return false;
  return true;
}

function nonEmpty(v: Json | undefined): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** An address OCSF's ip_t accepts (max_len 40). */
function isIp(s: string): boolean {
  return s.length <= 40 && isIpAddress(s);
}

function stringArray(v: Json | undefined): string[] | undefined {
  if (!Array.isArray(v)) return undefined;
  for (const x of v) if (typeof x !== "string") return undefined;
  return v as string[];
}

interface MappedUser {
  user?: Record<string, unknown>;
  /** What stays in unmapped.user / unmapped.impersonatedUser. */
  rest?: Json;
}

/**
 * `user.extra` keys that identify the credential the request was authenticated with, first match wins:
 * the API server's own (1.30+; "JTI=<jti>" for a bound service-account token), then EKS's aws-iam-authenticator
 * (the IAM access key id). An extra value is a list of strings: only a list of one non-empty string is mapped.
 */
const CREDENTIAL_EXTRA = ["authentication.kubernetes.io/credential-id", "accessKeyId"];

function credentialOf(extra: Json | undefined): { key: string; value: string } | undefined {
  if (!isObject(extra)) return undefined;
  for (const key of CREDENTIAL_EXTRA) {
    const v = extra[key];
    const value = Array.isArray(v) && v.length === 1 ? nonEmpty(v[0]) : undefined;
    if (value !== undefined) return { key, value };
  }
  return undefined;
}

/**
 * authentication.k8s.io UserInfo -> OCSF user (name, uid, groups, type, and with `credential` the
 * credential_uid from `extra`); the rest of `extra` and odd values stay unmapped.
 */
function mapUser(u: Json | undefined, credential = false): MappedUser {
  if (u === undefined) return {};
  if (!isObject(u)) return { rest: u };
  const name = nonEmpty(u.username);
  const uid = nonEmpty(u.uid);
  const groups = stringArray(u.groups);
  if (name === undefined && uid === undefined) return { rest: u };
  const cred = credential ? credentialOf(u.extra) : undefined;
  let rest = restOf(
    u,
    (k) =>
      (k === "username" && name !== undefined) ||
      (k === "uid" && uid !== undefined) ||
      (k === "groups" && groups !== undefined && groups.length > 0) ||
      (k === "extra" && cred !== undefined),
  );
  if (cred !== undefined) {
    // the other extra keys stay in unmapped.user.extra (nothing when the credential was the only one)
    const extra = restOf(u.extra as JsonObject, (k) => k === cred.key);
    if (extra !== undefined) rest = { ...rest, extra };
  }
  const system = name !== undefined && name.startsWith("system:") && name !== "system:anonymous";
  return {
    user: defined({
      name,
      uid,
      groups: groups && groups.length ? groups.map((g) => ({ name: g })) : undefined,
      type_id: system ? 3 : undefined,
      type: system ? "System" : undefined,
      credential_uid: cred?.value,
    }),
    rest,
  };
}

/** Severity table (docs/mapping-k8s-audit.md): 3 Medium for sensitive calls, 2 Low for writes/denials/other, 1 for reads. */
export function k8sSeverity(verb: string, resource: string | undefined, subresource: string | undefined, denied: boolean, anonymousAllowed: boolean): number {
  if (PRIVILEGE_VERBS.has(verb)) return 3;
  if (resource !== undefined) {
    if (SENSITIVE_RESOURCES.has(resource)) return 3;
    if (subresource !== undefined && SENSITIVE_SUBRESOURCES.has(subresource)) return 3;
    const act = K8S_VERB_ACTIVITY.get(verb)?.[0];
    if (RBAC_RESOURCES.has(resource) && act !== undefined && act !== 2) return 3;
    if (anonymousAllowed) return 3;
  }
  if (denied) return 2;
  return K8S_VERB_ACTIVITY.get(verb)?.[0] === 2 ? 1 : 2;
}

/**
 * metadata.uid: the same for a re-sent copy of the event, different for another request. The audit ID alone
 * is not enough: the API server takes it from the client's `Audit-ID` request header when one is sent, so
 * several requests can share it (a client reusing one on purpose would have its later requests deduplicated
 * away by the sinks). The request's timestamps, verb and URI come from the server and tell them apart.
 */
function eventUid(rec: JsonObject, auditID: string, verb: string, stage: string | undefined): string {
  // (an absent value is written as null)
  return stableUid(JSON.stringify(["k8s_audit", auditID, stage ?? "", rec.requestReceivedTimestamp, rec.stageTimestamp, rec.timestamp, verb, rec.requestURI]));
}

// --- credentials in request/response bodies (docs/mapping-k8s-audit.md, "Secret values") ---
// A RequestResponse policy on secrets (or a catch-all rule) puts every Secret value, and the tokens of
// TokenRequest / TokenReview calls, in the audit event; copied as is they would reach every sink. They are
// replaced by "[redacted: <n> bytes]"; the keys, the sizes and the rest of the object stay.

const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";
const WEBHOOK_PATCH = "patch.webhook.admission.k8s.io/";

/** Decoded size of a base64 value (Secret `data`). */
function base64Bytes(s: string): number {
  const t = s.replace(/\s+/g, "");
  const pad = t.endsWith("==") ? 2 : t.endsWith("=") ? 1 : 0;
  return Math.max(0, Math.floor((t.length * 3) / 4) - pad);
}

const UTF8 = new TextEncoder();

function utf8Bytes(s: string): number {
  return UTF8.encode(s).length;
}

const redactedValue = (bytes: number): string => `[redacted: ${bytes} bytes]`;

/** A value this redaction wrote: a record redacted once (the quarantine's copy, replayed) keeps it as it is. */
const REDACTED_VALUE = /^\[redacted: \d+ bytes\]$/;

/** `v` redacted: a string by `size`, anything else by its JSON text; an earlier redaction's value unchanged. */
function redactedOf(v: Json, size: (s: string) => number): string {
  if (typeof v !== "string") return redactedValue(utf8Bytes(JSON.stringify(v)));
  return REDACTED_VALUE.test(v) ? v : redactedValue(size(v));
}

/** Collects the paths redacted in one event (OCSF paths: unmapped.tributary.redacted; record paths: the quarantine). */
class Redactions {
  readonly paths: string[] = [];
  /** A copy of `o` with the string (or any non-empty) values of its keys redacted; undefined when nothing was. */
  values(o: Json | undefined, path: string, size: (s: string) => number): JsonObject | undefined {
    if (!isObject(o)) return undefined;
    let out: JsonObject | undefined;
    for (const k in o) {
      const v = o[k]!;
      if (v === null || v === "") continue;
      setOwn((out ??= { ...o }), k, redactedOf(v, size));
      this.paths.push(`${path}.${k}`);
    }
    return out;
  }
  /** A Secret (kind Secret, a SecretList item, or a body sent to the secrets resource): data, stringData, last-applied. */
  secret(o: JsonObject, path: string): JsonObject {
    let out = o;
    const data = this.values(o.data, `${path}.data`, base64Bytes);
    if (data) out = { ...out, data };
    const stringData = this.values(o.stringData, `${path}.stringData`, utf8Bytes);
    if (stringData) out = { ...out, stringData };
    const meta = o.metadata;
    if (isObject(meta) && isObject(meta.annotations) && typeof meta.annotations[LAST_APPLIED] === "string") {
      const applied = meta.annotations[LAST_APPLIED] as string;
      const at = `${path}.metadata.annotations["${LAST_APPLIED}"]`;
      // kubectl apply keeps the whole applied Secret (with its data) in this annotation: redact inside it when it
      // is a JSON object (left as sent when nothing in it is), else the whole value
      let parsed: Json | undefined;
      try {
        parsed = JSON.parse(applied) as Json;
      } catch {
        parsed = undefined;
      }
      let text = applied;
      if (isObject(parsed)) {
        const before = this.paths.length;
        const inner = this.secret(parsed, at);
        if (this.paths.length > before) text = JSON.stringify(inner);
      } else {
        text = redactedOf(applied, utf8Bytes);
        this.paths.push(at);
      }
      if (text !== applied) out = { ...out, metadata: { ...meta, annotations: { ...meta.annotations, [LAST_APPLIED]: text } } };
    }
    return out;
  }
  /** `o[key][field]` redacted when it is a non-empty string (TokenRequest status.token, TokenReview spec.token). */
  token(o: JsonObject, key: string, field: string, path: string): JsonObject {
    const inner = o[key];
    if (!isObject(inner) || typeof inner[field] !== "string" || inner[field] === "") return o;
    this.paths.push(`${path}.${key}.${field}`);
    return { ...o, [key]: { ...inner, [field]: redactedOf(inner[field]!, utf8Bytes) } };
  }
  /**
   * A request or response object with its credentials redacted (the same object when there are none).
   * `secretsResource`: the request is on the core `secrets` resource, so a body without `kind` (a merge
   * patch) is a Secret too, and a JSON patch's values are redacted.
   */
  body(v: Json, path: string, secretsResource: boolean): Json {
    if (Array.isArray(v)) {
      if (!secretsResource) return v;
      // JSON patch (RFC 6902) on a Secret: the values written under /data, /stringData, /metadata/annotations,
      // and those parts of a value written at the root ("") or at /metadata
      return v.map((op, i) => {
        if (!isObject(op) || op.value === undefined || op.value === null || op.value === "" || typeof op.path !== "string") return op;
        const value = op.value;
        if (op.path === "" && isObject(value)) return { ...op, value: this.secret(value, `${path}[${i}].value`) };
        if (op.path === "/metadata" && isObject(value) && value.annotations !== undefined && value.annotations !== null && value.annotations !== "")
          return { ...op, value: this.redactKey(value, "annotations", `${path}[${i}].value`, utf8Bytes) };
        const at = /^\/(data|stringData|metadata\/annotations)(\/|$)/.exec(op.path);
        return at ? this.redactKey(op, "value", `${path}[${i}]`, at[1] === "data" ? base64Bytes : utf8Bytes) : op;
      });
    }
    if (!isObject(v)) return v;
    switch (v.kind) {
      case "Secret":
        return this.secret(v, path);
      case "SecretList":
        return this.each(v, "items", path, (it, at) => (isObject(it) ? this.secret(it, at) : it));
      case "List":
        // a v1 List (its items carry their kind)
        return this.each(v, "items", path, (it, at) => this.body(it, at, secretsResource));
      case "Table":
        // server-side printing (kubectl get): each row carries the object's metadata (includeObject=Metadata,
        // the default) or the whole object (includeObject=Object)
        return this.each(v, "rows", path, (row, at) => (isObject(row) && row.object !== undefined ? { ...row, object: this.body(row.object, `${at}.object`, secretsResource) } : row));
      case "PartialObjectMetadata":
        // a Secret's metadata alone still holds kubectl's last-applied copy of its data
        return secretsResource ? this.secret(v, path) : v;
      case "PartialObjectMetadataList":
        return secretsResource ? this.each(v, "items", path, (it, at) => (isObject(it) ? this.secret(it, at) : it)) : v;
      case "TokenRequest":
        return this.token(v, "status", "token", path);
      case "TokenReview":
        return this.token(v, "spec", "token", path);
      case undefined:
        return secretsResource ? this.secret(v, path) : v;
      default:
        return v;
    }
  }
  /**
   * Event annotations with the JSON patches mutating webhooks applied to a Secret (logged at Request level and
   * up as patch.webhook.admission.k8s.io/round_<r>_index_<i>: {"patch": [...], ...} as text) redacted like a
   * JSON patch request; undefined when nothing was.
   */
  webhookPatches(ann: JsonObject, path: string): JsonObject | undefined {
    let out: JsonObject | undefined;
    for (const k in ann) {
      const v = ann[k];
      if (!k.startsWith(WEBHOOK_PATCH) || typeof v !== "string") continue;
      let parsed: Json | undefined;
      try {
        parsed = JSON.parse(v) as Json;
      } catch {
        continue;
      }
      if (!isObject(parsed) || !Array.isArray(parsed.patch)) continue;
      const before = this.paths.length;
      const patch = this.body(parsed.patch, `${path}["${k}"].patch`, true);
      if (this.paths.length > before) setOwn((out ??= { ...ann }), k, JSON.stringify({ ...parsed, patch }));
    }
    return out;
  }
  /** `o` with the whole value of `key` redacted (a JSON patch op's value, the annotations written at /metadata). */
  private redactKey(o: JsonObject, key: string, path: string, size: (s: string) => number): JsonObject {
    const v = o[key]!;
    this.paths.push(`${path}.${key}`);
    return { ...o, [key]: redactedOf(v, size) };
  }
  /** `o` with each element of the array `o[key]` mapped by `fn` (`o` itself when it is no array). */
  private each(o: JsonObject, key: string, path: string, fn: (item: Json, path: string) => Json): JsonObject {
    const items = o[key];
    return Array.isArray(items) ? { ...o, [key]: items.map((it, i) => fn(it, `${path}.${key}[${i}]`)) } : o;
  }
}

/** A core Secret path, with or without a namespace and a name, and no subresource: /api/v1[/namespaces/<ns>]/secrets[/<name>]. */
const SECRETS_URI = /^\/api\/v1\/(?:namespaces\/[^/?]+\/)?secrets(?:\/[^/?]+)?\/?(?:\?|$)/;

/**
 * Whether the call is on the core `secrets` resource, without a subresource (a body without `kind` is then a
 * Secret, see Redactions.body): told by objectRef; by requestURI only when objectRef names no resource (a
 * malformed record: its bodies are redacted all the same).
 */
function onSecrets(rec: JsonObject): boolean {
  const o = rec.objectRef;
  const resource = isObject(o) ? nonEmpty(o.resource) : undefined;
  if (resource === undefined) return typeof rec.requestURI === "string" && SECRETS_URI.test(rec.requestURI);
  const ref = o as JsonObject;
  return resource === "secrets" && nonEmpty(ref.apiGroup) === undefined && nonEmpty(ref.subresource) === undefined;
}

/**
 * A record as received (an audit Event, an EventList, or an array of them) with the credentials that
 * normalizeK8sAudit redacts in its output redacted the same way, by the same code, at record paths
 * (`requestObject.data.password`, `items[2].responseObject.status.token`); undefined when there are none.
 * For the records ingest rejects: the quarantine keeps them like this instead of as sent. Any JSON value is
 * taken: only the bodies (`requestObject`, `responseObject`) and webhook patch annotations of objects are
 * read, and an object that is itself such a body (a Secret, a SecretList, a TokenRequest... sent to ingest by
 * mistake: `data.password`), so a record of another source comes back undefined. A value redacted before
 * ("[redacted: <n> bytes]") is kept as it is, so a quarantined record sent again is redacted to the same text.
 */
export function redactAuditRecord(v: Json): { record: Json; redacted: string[] } | undefined {
  const red = new Redactions();
  const event = (e: Json, at: string): Json => {
    if (!isObject(e)) return e;
    // an API object, not an audit Event (kind "Event", or no kind): redacted as a body is (a kind it knows)
    if (typeof e.kind === "string" && e.kind !== "Event" && e.kind !== "EventList") return red.body(e, at.slice(0, -1), false);
    if (e.kind === "EventList" && Array.isArray(e.items)) return { ...e, items: e.items.map((it, i) => event(it, `${at}items[${i}].`)) };
    const secrets = onSecrets(e);
    let out = e;
    for (const key of ["requestObject", "responseObject"] as const) {
      const body = e[key];
      if (body === undefined) continue;
      const r = red.body(body, `${at}${key}`, secrets);
      if (r !== body) out = { ...out, [key]: r };
    }
    const ann = secrets && isObject(e.annotations) ? red.webhookPatches(e.annotations, `${at}annotations`) : undefined;
    return ann ? { ...out, annotations: ann } : out;
  };
  // the copy is used only when something was redacted, so it need not keep the unchanged parts' identity
  const record = Array.isArray(v) ? v.map((it, i) => event(it, `[${i}].`)) : event(v, "");
  // a top-level body's paths start with its keys ("data.password", not ".data.password")
  return red.paths.length > 0 ? { record, redacted: red.paths.map((p) => (p.charCodeAt(0) === 46 ? p.slice(1) : p)) } : undefined;
}

function reject(rec: JsonObject, why: string): never {
  throw new NormalizeError(`not a Kubernetes audit Event: ${why} (keys: ${keyList(rec, 6)})`);
}

export function normalizeK8sAudit(rec: JsonObject, ctx: NormalizeContext): OcsfEvent {
  // --- shape checks: an audit Event always carries verb and auditID (kind/apiVersion may be absent) ---
  if (rec.kind !== undefined && rec.kind !== "Event") reject(rec, `kind is ${quoted(JSON.stringify(rec.kind))}, expected "Event"`);
  if (rec.apiVersion !== undefined && !(typeof rec.apiVersion === "string" && rec.apiVersion.startsWith("audit.k8s.io/")))
    reject(rec, `apiVersion is ${quoted(JSON.stringify(rec.apiVersion))}, expected "audit.k8s.io/v1" or "audit.k8s.io/v1beta1"`);
  const verb = rec.verb;
  const auditID = rec.auditID;
  if (typeof verb !== "string" || verb === "") reject(rec, "missing string field verb");
  if (typeof auditID !== "string" || auditID === "") reject(rec, "missing string field auditID");

  const unmapped: JsonObject = {};
  for (const k in rec) if (!MAPPED.has(k)) setOwn(unmapped, k, rec[k]!);

  const observables = new Observables();

  // --- time: stageTimestamp, else requestReceivedTimestamp, else v1beta1 timestamp ---
  const stageTs = typeof rec.stageTimestamp === "string" ? rec.stageTimestamp : undefined;
  const recvTs = typeof rec.requestReceivedTimestamp === "string" ? rec.requestReceivedTimestamp : undefined;
  const stageMs = isoToMs(stageTs);
  const start_time = isoToMs(recvTs);
  let time = stageMs;
  let original_time = stageMs !== undefined ? stageTs : undefined;
  if (time === undefined && start_time !== undefined) {
    time = start_time;
    original_time = recvTs;
  }
  if (time === undefined) {
    const legacy = isoToMs(rec.timestamp);
    if (legacy !== undefined) {
      time = legacy;
      original_time = rec.timestamp as string;
    }
  }
  if (rec.stageTimestamp !== undefined && stageMs === undefined) unmapped.stageTimestamp = rec.stageTimestamp;
  // start_time keeps milliseconds; the microsecond string stays next to it so nothing is lost
  if (rec.requestReceivedTimestamp !== undefined && original_time !== recvTs) unmapped.requestReceivedTimestamp = rec.requestReceivedTimestamp;

  // --- actor: the impersonated user acts; the authenticated (real) user stays whole in unmapped.user ---
  const actor: Record<string, unknown> = {};
  const imp = mapUser(rec.impersonatedUser);
  if (imp.rest !== undefined) unmapped.impersonatedUser = imp.rest;
  const realUser = rec.user;
  let actingUser: Record<string, unknown> | undefined;
  let realName: string | undefined;
  if (imp.user) {
    actingUser = imp.user;
    realName = isObject(realUser) ? nonEmpty(realUser.username) : undefined;
    // 1.3.0 has no attribute for the user behind an impersonation (actor.invoked_by is deprecated since 1.2.0
    // for app_name/app_uid, which name applications): the real user stays as sent in unmapped.user, and its
    // name is a User Name observable pointing there
    if (realUser !== undefined) unmapped.user = realUser;
    observables.add("unmapped.user.username", OBS.user_name, realName);
  } else {
    // the credential is the authenticated user's: mapped only when that user acts (an impersonated user's
    // extra is whatever the impersonator sent in Impersonate-Extra-* headers)
    const real = mapUser(realUser, true);
    if (real.rest !== undefined) unmapped.user = real.rest;
    actingUser = real.user;
  }
  const actorName = actingUser?.name as string | undefined;
  actor.user = actingUser ?? { name: "unknown", type_id: 0, type: "Unknown" };
  observables.add("actor.user.name", OBS.user_name, actorName);
  observables.add("actor.user.credential_uid", OBS.user_credential_id, actingUser?.credential_uid as string | undefined);

  // --- authorization annotations -> actor.authorizations ---
  let decision: string | undefined;
  if (isObject(rec.annotations)) {
    const ann = rec.annotations;
    const d = nonEmpty(ann[DECISION]);
    const r = nonEmpty(ann[REASON]);
    decision = d;
    if (d !== undefined || r !== undefined) actor.authorizations = [defined({ decision: d, policy: r !== undefined ? { name: r } : undefined })];
    const rest = restOf(ann, (k) => (k === DECISION && d !== undefined) || (k === REASON && r !== undefined));
    if (rest) unmapped.annotations = rest;
  } else if (rec.annotations !== undefined) unmapped.annotations = rec.annotations;

  // --- source endpoint: first source IP, the rest are intermediate hops ---
  let src_endpoint: Record<string, unknown> = { name: "unknown" };
  const ips = stringArray(rec.sourceIPs);
  if (ips && ips.length > 0 && ips.every(isIp)) {
    src_endpoint = ips.length > 1 ? { ip: ips[0], intermediate_ips: ips.slice(1) } : { ip: ips[0] };
    for (const ip of ips) observables.add(ip === ips[0] ? "src_endpoint.ip" : "src_endpoint.intermediate_ips", OBS.ip, ip);
  } else if (rec.sourceIPs !== undefined) unmapped.sourceIPs = rec.sourceIPs;

  // --- http request ---
  const ua = nonEmpty(rec.userAgent);
  const uri = nonEmpty(rec.requestURI);
  if (rec.userAgent !== undefined && ua === undefined) unmapped.userAgent = rec.userAgent;
  if (rec.requestURI !== undefined && uri === undefined) unmapped.requestURI = rec.requestURI;
  let http_request: Record<string, unknown> | undefined;
  if (uri !== undefined || ua !== undefined) {
    let url: Record<string, unknown> | undefined;
    if (uri !== undefined) {
      const q = uri.indexOf("?");
      url = q >= 0 ? { url_string: uri, path: uri.slice(0, q), query_string: uri.slice(q + 1) } : { url_string: uri, path: uri };
    }
    http_request = defined({ url, user_agent: ua });
    observables.add("http_request.user_agent", OBS.user_agent, ua);
  }

  // --- objectRef -> resources[0], api.version, api.group ---
  let resource: string | undefined;
  let subresource: string | undefined;
  let resources: Record<string, unknown>[] | undefined;
  let apiVersion: string | undefined;
  let apiGroup: string | undefined;
  let collection = false;
  if (isObject(rec.objectRef)) {
    const o = rec.objectRef;
    resource = nonEmpty(o.resource);
    subresource = nonEmpty(o.subresource);
    const refName = nonEmpty(o.name);
    const refUid = nonEmpty(o.uid);
    const namespace = nonEmpty(o.namespace);
    const version = nonEmpty(o.resourceVersion);
    apiVersion = nonEmpty(o.apiVersion);
    apiGroup = nonEmpty(o.apiGroup);
    let name = refName;
    let uid = refUid;
    const resp = rec.responseObject;
    const meta = subresource === undefined && isObject(resp) && resp.kind !== "Status" && isObject(resp.metadata) ? resp.metadata : undefined;
    if (meta) {
      // the object the server answered with: it names a create with generateName, and its uid is the one the
      // server assigned (objectRef.uid on a create can be the client's, copied from the request object); an
      // objectRef.uid that differs then stays in unmapped.objectRef.uid
      const respName = nonEmpty(meta.name);
      if (name === undefined) name = respName;
      const respUid = nonEmpty(meta.uid);
      if (respUid !== undefined && respName !== undefined && respName === name) uid = respUid;
    }
    // a collection (list, watch, deletecollection, create without a name) is named by its resource type
    if (name === undefined && uid === undefined) {
      name = resource;
      collection = true;
    }
    if (name !== undefined || uid !== undefined) {
      const type = resource !== undefined && subresource !== undefined ? `${resource}/${subresource}` : resource;
      resources = [defined({ type, name, namespace, uid, version, group: apiGroup !== undefined ? { name: apiGroup } : undefined })];
      observables.add("resources[0].uid", OBS.resource_uid, uid);
    }
    const inRes = resources !== undefined;
    const rest = restOf(o, (k) => {
      switch (k) {
        case "resource":
          // with a subresource, resources[0].type is "resource/subresource": both parts also stay in unmapped.objectRef
          return inRes && resource !== undefined && subresource === undefined;
        case "name":
          return inRes && refName !== undefined;
        case "namespace":
          return inRes && namespace !== undefined;
        case "uid":
          return inRes && refUid !== undefined && refUid === uid;
        case "resourceVersion":
          return inRes && version !== undefined;
        case "apiVersion":
          return apiVersion !== undefined;
        case "apiGroup":
          return apiGroup !== undefined;
        default:
          return false;
      }
    });
    if (rest) unmapped.objectRef = rest;
  } else if (rec.objectRef !== undefined) unmapped.objectRef = rec.objectRef;

  // --- responseStatus -> status, api.response ---
  let status_id = 0;
  let code: number | undefined;
  let respMessage: string | undefined;
  let respReason: string | undefined;
  if (isObject(rec.responseStatus)) {
    const rs = rec.responseStatus;
    // an HTTP status code; anything else (string, fraction, out of range) stays in unmapped.responseStatus
    code = typeof rs.code === "number" && Number.isInteger(rs.code) && rs.code > 0 && rs.code < 1000 ? rs.code : undefined;
    respMessage = nonEmpty(rs.message);
    respReason = nonEmpty(rs.reason);
    if (code !== undefined) status_id = code >= 100 && code < 400 ? 1 : 2;
    else if (rs.status === "Success") status_id = 1;
    else if (rs.status === "Failure") status_id = 2;
    const statusWord = status_id === 1 ? "Success" : status_id === 2 ? "Failure" : undefined;
    const rest = restOf(
      rs,
      (k, v) =>
        (k === "code" && code !== undefined) ||
        (k === "message" && respMessage !== undefined) ||
        (k === "reason" && respReason !== undefined) ||
        (k === "status" && v === statusWord),
    );
    if (rest) unmapped.responseStatus = rest;
  } else if (rec.responseStatus !== undefined) unmapped.responseStatus = rec.responseStatus;

  const denied = code === 401 || code === 403 || decision === "forbid";
  const actorUserName = (actor.user as { name?: string } | undefined)?.name;
  const anonymousAllowed = actorUserName === "system:anonymous" && status_id === 1;
  const severity_id = k8sSeverity(verb, resource, subresource, denied, anonymousAllowed);

  // --- api ---
  // request/response objects (json_t in 1.3.0) are kept as objects; null, {} and [] stay in unmapped
  const request: Record<string, unknown> = { uid: auditID };
  // credentials in the bodies are redacted (Secret values, tokens): see Redactions
  const redactions = new Redactions();
  const secretsResource = onSecrets(rec);
  const reqData = rec.requestObject !== undefined ? redactions.body(rec.requestObject, "api.request.data", secretsResource) : undefined;
  const respData =
    rec.responseObject !== undefined && !isEmpty(rec.responseObject) ? redactions.body(rec.responseObject, "api.response.data", secretsResource) : undefined;
  if (secretsResource && isObject(unmapped.annotations)) {
    const ann = redactions.webhookPatches(unmapped.annotations, "unmapped.annotations");
    if (ann) unmapped.annotations = ann;
  }
  // the redacted paths are listed in unmapped.tributary.redacted (unless the record has a `tributary` key of its own that is no object)
  const own = unmapped.tributary;
  if (redactions.paths.length > 0 && (own === undefined || isObject(own))) unmapped.tributary = { ...own, redacted: redactions.paths };
  if (reqData !== undefined) {
    if (isEmpty(reqData)) unmapped.requestObject = reqData;
    else request.data = reqData;
  }
  if (rec.responseObject !== undefined && respData === undefined) unmapped.responseObject = rec.responseObject;
  const response =
    code !== undefined || respMessage !== undefined || respReason !== undefined || respData !== undefined
      ? defined({ code, message: respMessage, error: respReason, data: respData })
      : undefined;
  const api = defined({
    operation: verb,
    request,
    response,
    version: apiVersion,
    group: apiGroup !== undefined ? { name: apiGroup } : undefined,
  });

  // --- activity ---
  const activity = K8S_VERB_ACTIVITY.get(verb);
  const activity_id = activity ? activity[0] : 99;

  const level = typeof rec.level === "string" ? rec.level : undefined;
  if (rec.level !== undefined && level === undefined) unmapped.level = rec.level;
  const logVersion = typeof rec.apiVersion === "string" ? rec.apiVersion : undefined;
  const stage = str(rec.stage);

  // message: "<who> <verb> <what> (<code>)", e.g. "alice create configmaps default/my-config (201)"
  let target = "";
  if (resources) {
    const r = resources[0] as { type?: string; name?: string; namespace?: string };
    target = r.type ?? "";
    if (!collection && r.name !== undefined) target += ` ${r.namespace !== undefined ? `${r.namespace}/${r.name}` : r.name}`;
    else if (r.namespace !== undefined) target += ` in ${r.namespace}`;
  } else if (uri !== undefined) target = (http_request!.url as { path: string }).path;
  const who = actorName ?? "unknown user";
  const asWho = realName !== undefined ? `${realName} as ${who}` : who;
  const message = `${asWho} ${verb}${target ? " " + target.trim() : ""}${code !== undefined ? ` (${code})` : stage ? ` (${stage})` : ""}`;

  const ev: OcsfEvent = {
    activity_id,
    category_uid: 6,
    class_uid: 6003,
    type_uid: 600300 + activity_id,
    severity_id,
    time: time ?? ctx.receivedAt,
    start_time,
    message,
    status_id,
    status: status_id === 1 ? "Success" : status_id === 2 ? "Failure" : "Unknown",
    status_code: code !== undefined ? String(code) : undefined,
    status_detail: respMessage ?? respReason,
    metadata: defined({
      version: ctx.ocsfVersion,
      product: { name: "Kubernetes", vendor_name: "Kubernetes", feature: { name: "Audit" } },
      uid: scopedUid(eventUid(rec, auditID, verb, stage), ctx.uidScope),
      correlation_uid: auditID,
      log_name: "k8s_audit",
      log_provider: "kube-apiserver",
      log_level: level,
      log_version: logVersion,
      original_time,
      tenant_uid: ctx.tenant,
      logged_time: ctx.receivedAt,
    }),
    actor,
    api,
    src_endpoint,
    http_request,
    resources,
    observables: observables.list.length ? observables.list : undefined,
    unmapped: Object.keys(unmapped).length ? unmapped : undefined,
    // raw_data is the record as sent, except that redacted bodies are not copied into it either
    raw_data: ctx.rawData ? (redactions.paths.length > 0 ? JSON.stringify({ ...rec, requestObject: reqData, responseObject: respData ?? rec.responseObject, annotations: isObject(rec.annotations) && isObject(unmapped.annotations) ? { ...rec.annotations, ...unmapped.annotations } : rec.annotations }) : (ctx.rawText ?? JSON.stringify(rec))) : undefined,
  };
  const out = withCaptions(defined(ev), "API Activity", activity ? activity[1] : verb);
  if (!activity) out.type_name = "API Activity: Other";
  return out;
}
