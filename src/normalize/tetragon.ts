// Tetragon JSON export event -> OCSF (Process Activity 1007, File System 1001, Network 4001,
// Kernel 1003, Kernel Extension 1002). Placeholder until the Tetragon mapping lands.
import type { JsonObject } from "./json";
import type { NormalizeContext, OcsfEvent } from "./ocsf";
import { NormalizeError } from "./errors";

export function normalizeTetragon(_rec: JsonObject, _ctx: NormalizeContext): OcsfEvent {
  throw new NormalizeError("Tetragon mapping not implemented yet");
}
