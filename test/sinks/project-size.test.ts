// The size saving docs/sinks.md states for its Splunk example projection, measured on the fixtures as they are
// enriched (correlation keys included) and sent: unmapped, raw_data, observables and evidences' environments
// excluded, unmapped.tributary kept. Also: the example keeps every event's correlation facts, and the Splunk host
// is read from the projected event.
import { describe, it, expect } from "vitest";
import { compileProjection } from "../../src/sinks/project";
import { hostOf } from "../../src/sinks/batch";
import { fixtures } from "../support/fixtures";
import { NEGATIVE_FIXTURES } from "../support/fixture-pipeline";
import { config, enrichedFixture } from "../enrich/helpers";
import type { OcsfEvent } from "../../src/normalize/ocsf";

const EXAMPLE = compileProjection({ exclude: ["unmapped", "raw_data", "observables", "evidences.process.environment"], keep: ["unmapped.tributary"] });
const NO_KEEP = compileProjection({ exclude: ["unmapped", "raw_data", "observables"] });
const bytes = (e: OcsfEvent): number => new TextEncoder().encode(JSON.stringify(e)).length;

function savings(): Record<string, { example: number; noKeep: number; events: number }> {
  const cfg = config({});
  const sums: Record<string, [number, number, number, number]> = {};
  for (const f of fixtures) {
    if (NEGATIVE_FIXTURES.has(f.name)) continue;
    for (const e of enrichedFixture(f.name, cfg)) {
      const s = (sums[e.metadata.product.name ?? "?"] ??= [0, 0, 0, 0]);
      s[0] += bytes(e);
      s[1] += bytes(EXAMPLE.apply(e));
      s[2] += bytes(NO_KEEP.apply(e));
      s[3]++;
    }
  }
  return Object.fromEntries(
    Object.entries(sums).map(([p, [whole, ex, nk, n]]) => [p, { example: Math.round(100 * (1 - ex / whole)), noKeep: Math.round(100 * (1 - nk / whole)), events: n }]),
  );
}

describe("projection size on the fixtures (docs/sinks.md)", () => {
  it("the example sends 20-32% less (Kubernetes audit to Tetragon), 29-40% without keeping unmapped.tributary", () => {
    const s = savings();
    expect(Object.keys(s).sort()).toEqual(["CloudTrail", "Falco", "Kubernetes", "Tetragon"]);
    for (const v of Object.values(s)) {
      expect(v.example).toBeGreaterThanOrEqual(20);
      expect(v.example).toBeLessThanOrEqual(32);
      expect(v.noKeep).toBeGreaterThanOrEqual(29);
      expect(v.noKeep).toBeLessThanOrEqual(40);
    }
  });

  it("the example keeps each event's correlation_uid and unmapped.tributary whole", () => {
    const cfg = config({});
    let keyed = 0;
    for (const f of fixtures) {
      if (NEGATIVE_FIXTURES.has(f.name)) continue;
      for (const e of enrichedFixture(f.name, cfg)) {
        const p = EXAMPLE.apply(e);
        expect(p.metadata.correlation_uid).toBe(e.metadata.correlation_uid);
        expect(p.unmapped?.tributary).toEqual(e.unmapped?.tributary);
        if (p.unmapped?.tributary !== undefined) keyed++;
      }
    }
    expect(keyed).toBeGreaterThan(90);
  });

  it("the Splunk/Datadog host is the projected event's: excluding device leaves it out", () => {
    const [e] = enrichedFixture("falco/terminal-shell-in-container__falco-docs.json", config({}));
    expect(hostOf(EXAMPLE.apply(e!))).toBe("falco-xczjd");
    expect(hostOf(compileProjection({ exclude: ["device"] }).apply(e!))).toBeUndefined();
  });
});
