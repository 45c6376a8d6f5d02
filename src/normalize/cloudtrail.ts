// AWS CloudTrail record -> OCSF API Activity 6003 / Authentication 3002 / Account Change 3001.
// Placeholder until the mapping lands.
import type { JsonObject } from "./json";
import type { NormalizeContext, OcsfEvent } from "./ocsf";
import { NormalizeError } from "./errors";

export function normalizeCloudTrail(_rec: JsonObject, _ctx: NormalizeContext): OcsfEvent {
  throw new NormalizeError("CloudTrail mapping not implemented yet");
}
