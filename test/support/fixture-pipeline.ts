// Runs a fixture file through the real core (frame -> unwrap -> detect -> normalize) with a fixed context,
// and pairs every unwrapped record with the event made from it. Used by the schema and lossless tests.
import { frame } from "../../src/routes/decode";
import { runPipeline, type PipelineResult } from "../../src/pipeline";
import { unwrap, type Unwrapped } from "../../src/normalize/detect";
import type { Json } from "../../src/normalize/json";
import type { NormalizeContext } from "../../src/normalize/ocsf";
import type { Fixture } from "./fixtures";

export const FIXED_CTX: NormalizeContext = { ocsfVersion: "1.3.0", receivedAt: Date.UTC(2026, 0, 2, 3, 4, 5, 678), tenant: "acme" };

/** Fixtures that must be rejected (one error each, with a reason). */
export const NEGATIVE_FIXTURES = new Set(["k8s-audit/negative__falco-fuzz-kind-0.json"]);

export interface FixtureRun {
  result: PipelineResult;
  /** Framing errors (must be none for real fixtures). */
  frameErrors: string[];
  /** Unwrapped records, in the order the pipeline sees them. */
  records: Unwrapped[];
}

export function contentTypeOf(name: string): string {
  return name.endsWith(".ndjson") ? "application/x-ndjson" : "application/json";
}

export function runFixture(f: Fixture, ctx: NormalizeContext = FIXED_CTX): FixtureRun {
  const framed = frame(f.text, contentTypeOf(f.name));
  const records: Unwrapped[] = [];
  framed.values.forEach((v, i) => unwrap(v, framed.paths[i] ?? `[${i}]`, records));
  const result = runPipeline(framed.values, framed.paths, framed.textLines, { ctx });
  return { result, frameErrors: framed.errors.map((e) => `${e.path}: ${e.reason}`), records };
}

/** The input information of a record: the record, inside its EventBridge envelope when it had one. */
export function recordInput(r: Unwrapped): Json {
  return r.envelope ? { ...r.envelope, detail: r.record } : r.record;
}
