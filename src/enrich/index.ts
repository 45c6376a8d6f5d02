// Enrichment entry point: builds, once per isolate, the function applied to every event.
// Each enricher lives in its own file in this folder and is a pure function over data loaded once.
import type { OcsfEvent } from "../normalize/ocsf";
import type { Config } from "../config/schema";

export type Enricher = (e: OcsfEvent) => OcsfEvent;

export function makeEnricher(_cfg: Config): Enricher {
  return (e) => e;
}
