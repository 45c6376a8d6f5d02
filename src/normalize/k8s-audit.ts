// Kubernetes audit Event (audit.k8s.io v1 / v1beta1) -> OCSF API Activity 6003.
// Placeholder until the mapping lands.
import type { JsonObject } from "./json";
import type { NormalizeContext, OcsfEvent } from "./ocsf";
import { NormalizeError } from "./errors";

export function normalizeK8sAudit(_rec: JsonObject, _ctx: NormalizeContext): OcsfEvent {
  throw new NormalizeError("Kubernetes audit mapping not implemented yet");
}
