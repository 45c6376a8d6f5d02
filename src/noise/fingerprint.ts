// Fingerprints: which events count as "the same" for deduplication and throttling (docs/noise.md).
// A fingerprint is a digest (stableHex) of the values at a list of OCSF paths. Every fingerprint
// also covers the class, the tenant and the host (device.hostname), so events of two different hosts
// or tenants are never folded together, whatever the configured fields. Pure.
import type { OcsfEvent } from "../normalize/ocsf";
import { stableHex } from "../normalize/uid";
import { fieldAt } from "../sinks/batch";
import { pathKeys, sourceOf, valueAtKeys, type Source } from "../route/fields";

/** Always part of a fingerprint. */
export const ALWAYS_FIELDS = ["class_uid", "metadata.tenant_uid", "device.hostname"] as const;

/** What makes two events of a source "the same alert" (besides ALWAYS_FIELDS). */
export const DEFAULT_FIELDS: Record<Source, readonly string[]> = {
  // rule + container + process command line; for alerts of Falco's k8saudit and cloudtrail plugins,
  // which have neither, the user, API call, source address and target resource (where the normalizer
  // puts them), as the k8s_audit and cloudtrail defaults have: otherwise every such alert of one rule
  // folds together, whoever did what to which resource. Syscall alerts have none of these but the
  // container's Pod, which the container already decides.
  falco: [
    "finding_info.title",
    "evidences[0].container.uid",
    "evidences[0].process.cmd_line",
    "evidences[0].actor.user.name",
    "evidences[0].actor.user.account.uid",
    "evidences[0].api.operation",
    "evidences[0].src_endpoint.ip",
    "resources[0].type",
    "resources[0].namespace",
    "resources[0].name",
  ],
  // activity + container + binary + arguments (the process of process_exec/exit, the actor of hooks) +
  // policy + hook: as for Falco, the same command in two containers (pods) of one node is two alerts
  tetragon: [
    "activity_id",
    "process.container.uid",
    "process.file.path",
    "process.cmd_line",
    "actor.process.container.uid",
    "actor.process.file.path",
    "actor.process.cmd_line",
    "authorizations[0].policy.name",
    "metadata.event_code",
  ],
  // verb + user + resource (type, namespace, name) + outcome
  k8s_audit: ["api.operation", "actor.user.name", "resources[0].type", "resources[0].namespace", "resources[0].name", "status_id"],
  // API call + principal + source address + outcome + the target user and group of IAM classes
  // (CreateUser Bob and CreateUser Carol by one admin are two alerts, as k8s_audit's resources are)
  cloudtrail: ["api.service.name", "api.operation", "actor.user.uid", "actor.user.name", "src_endpoint.ip", "status_id", "user.uid", "user.name", "group.name"],
};

/** For events of no known source. */
export const FALLBACK_FIELDS: readonly string[] = ["type_uid", "finding_info.title", "metadata.event_code", "message"];

/** The value at an OCSF path as text ("" when absent; objects and lists as JSON). */
export function valueAt(e: OcsfEvent, path: string): string {
  return valueAtKeys(e, pathKeys(path));
}

/** The fields a fingerprint covers for this event: ALWAYS_FIELDS, then the configured or default ones. */
export function fingerprintFields(e: OcsfEvent, fields?: readonly string[]): string[] {
  const src = sourceOf(e);
  const own = fields ?? (src ? DEFAULT_FIELDS[src] : FALLBACK_FIELDS);
  return [...ALWAYS_FIELDS, ...own.filter((f) => !(ALWAYS_FIELDS as readonly string[]).includes(f))];
}

/** The values a fingerprint is made of, in field order (for logs, docs and tests). */
export function fingerprintParts(e: OcsfEvent, fields?: readonly string[]): string[] {
  return fingerprintFields(e, fields).map((f) => valueAt(e, f));
}

/** A 28-hex-digit digest of the fingerprint values (the same values give the same digest everywhere). */
export function fingerprint(e: OcsfEvent, fields?: readonly string[]): string {
  const paths = fingerprintFields(e, fields);
  // paths are part of the digest: the same values at different paths are different fingerprints
  return stableHex(JSON.stringify([paths, paths.map((p) => valueAt(e, p))]));
}

/**
 * The "rule" of an event, for `match.rule` and throttling per rule: the Falco rule (finding title),
 * the Tetragon policy, the API operation (Kubernetes verb, CloudTrail eventName), the hook, or the
 * event type.
 */
export function ruleOf(e: OcsfEvent): string {
  for (const p of ["finding_info.title", "authorizations.0.policy.name", "api.operation", "metadata.event_code", "type_name"]) {
    const v = fieldAt(e, p);
    if (typeof v === "string" && v !== "") return v;
  }
  return String(e.type_uid ?? e.class_uid);
}
