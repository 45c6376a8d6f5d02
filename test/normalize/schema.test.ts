// Every fixture, through the real pipeline, gives OCSF that validates against the vendored 1.3.0 schema
// (required attributes, types, enums, constraints, class_uid/type_uid formulas, observables).
import { describe, it, expect } from "vitest";
import { fixtures } from "../support/fixtures";
import { validateOcsf } from "../support/ocsf-validator";
import { runFixture, NEGATIVE_FIXTURES } from "../support/fixture-pipeline";

describe("every fixture validates against OCSF 1.3.0", () => {
  it("finds the fixtures of every source", () => {
    expect(new Set(fixtures.map((f) => f.dir))).toEqual(new Set(["cloudtrail", "falco", "falco-cloudtrail", "falco-k8saudit", "k8s-audit", "tetragon"]));
  });
  for (const f of fixtures) {
    it(f.name, () => {
      const { result, frameErrors } = runFixture(f);
      expect(frameErrors).toEqual([]);
      if (NEGATIVE_FIXTURES.has(f.name)) {
        expect(result.events).toEqual([]);
        expect(result.errors).toHaveLength(1);
        expect(result.errors[0]!.reason.length).toBeGreaterThan(10);
        return;
      }
      expect(result.errors.map((e) => `${e.path}: ${e.reason}`)).toEqual([]);
      expect(result.events.length).toBeGreaterThan(0);
      const problems = result.events.flatMap(({ event }, i) => validateOcsf(event).map((p) => `event ${i} (class ${event.class_uid}): ${p}`));
      expect(problems).toEqual([]);
    });
  }
});
