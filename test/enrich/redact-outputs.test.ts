// What redaction makes of every fixture's events (raw_data included) and of the corpus texts, compared with
// recorded hashes (test/enrich/redact-outputs.json): recorded from the code before its speed-up (commit e433eb3's
// src/enrich/redact.ts), so a faster walk or needle test that changed any output fails here. A change meant to
// change outputs records them again (the hashes redactedOutputs gives, written to that file) and says why.
import { describe, expect, it } from "vitest";
import { makeRedactor } from "../../src/enrich/redact";
import { redactedOutputs, RECORDED_CONFIGS } from "./redact-corpus";
import recorded from "./redact-outputs.json";

describe("redaction outputs", () => {
  it("every fixture and corpus text, with the preset alone and with custom rules, redacts as recorded", () => {
    const now = redactedOutputs(makeRedactor);
    // every fixture of test/fixtures but the negative one, and the corpus, per config
    expect(Object.keys(now).length).toBeGreaterThan(60 * Object.keys(RECORDED_CONFIGS).length);
    expect(now).toEqual(recorded);
  });

  it("the record tells the configs apart (custom rules change some outputs)", () => {
    const differ = Object.keys(recorded).filter((k) => k.startsWith("preset ") && recorded[k as keyof typeof recorded] !== recorded[`mixed ${k.slice(7)}` as keyof typeof recorded]);
    expect(differ.length).toBeGreaterThan(5);
    expect(differ).toContain("preset corpus");
  });
});
