// Runs fixture files through the real core with an enricher (frame -> pipeline -> enrich).
import { frame } from "../../src/routes/decode";
import { runPipeline } from "../../src/pipeline";
import { parseConfig } from "../../src/config/load";
import type { Config } from "../../src/config/schema";
import { makeEnricher, type EnrichData } from "../../src/enrich/index";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { fixture } from "../support/fixtures";
import { FIXED_CTX, contentTypeOf } from "../support/fixture-pipeline";

export function config(input: unknown): Config {
  return parseConfig(input);
}

/** The OCSF events of a fixture file, enriched with cfg (and data, when given). */
export function enrichedFixture(name: string, cfg: Config, data?: EnrichData, tenant = FIXED_CTX.tenant): OcsfEvent[] {
  const framed = frame(fixture(name), contentTypeOf(name));
  const enrich = makeEnricher(cfg, data);
  const r = runPipeline(framed.values, framed.paths, framed.textLines, { ctx: { ...FIXED_CTX, tenant }, enrich });
  if (r.errors.length) throw new Error(`${name}: ${JSON.stringify(r.errors)}`);
  return r.events.map((e) => e.event);
}

/** The same events without enrichment (to compare against). */
export function plainFixture(name: string): OcsfEvent[] {
  const framed = frame(fixture(name), contentTypeOf(name));
  return runPipeline(framed.values, framed.paths, framed.textLines, { ctx: FIXED_CTX }).events.map((e) => e.event);
}
