// Normalizer dispatch: one record of a known source -> one OCSF event. Pure, no I/O.
import { type Json, isObject } from "./json";
import type { NormalizeContext, OcsfEvent, SourceKind } from "./ocsf";
import { NormalizeError } from "./errors";
import { normalizeFalco } from "./falco";
import { normalizeTetragon } from "./tetragon";
import { normalizeK8sAudit } from "./k8s-audit";
import { normalizeCloudTrail } from "./cloudtrail";

export { NormalizeError };

const NORMALIZERS = {
  falco: normalizeFalco,
  tetragon: normalizeTetragon,
  k8s_audit: normalizeK8sAudit,
  cloudtrail: normalizeCloudTrail,
} satisfies Record<SourceKind, unknown>;

export function normalize(rec: Json, kind: SourceKind, ctx: NormalizeContext): OcsfEvent {
  if (!isObject(rec)) throw new NormalizeError(`a ${kind} record must be a JSON object`);
  const ev = NORMALIZERS[kind](rec, ctx);
  // an EventBridge event's envelope is kept whole (the record is its detail)
  if (ctx.envelope !== undefined) ev.unmapped = { ...(ev.unmapped ?? {}), eventbridge: ctx.envelope };
  return ev;
}
