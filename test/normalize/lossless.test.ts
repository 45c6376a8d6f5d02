// "No input field disappears": the missingFields helper, then every fixture record against its OCSF event.
import { describe, it, expect } from "vitest";
import { missingFields } from "../support/lossless";
import { fixtures } from "../support/fixtures";
import { runFixture, recordInput, NEGATIVE_FIXTURES } from "../support/fixture-pipeline";
import { parseJson } from "../../src/normalize/json";

describe("missingFields", () => {
  it("finds nothing missing when every value is somewhere in the output", () => {
    const input = { a: 1, b: { c: "text", d: [true, 2.5] } };
    const output = { x: { y: "1" }, z: ["text", true], w: 2.5 };
    expect(missingFields(input, output)).toEqual([]);
  });

  it("names the leaf paths whose value is nowhere in the output", () => {
    const input = { a: 1, b: { c: "gone", d: [7, 8] } };
    expect(missingFields(input, { k: 1, l: 8 })).toEqual(["b.c", "b.d[0]"]);
  });

  it("accepts long strings kept inside a longer output string, not short ones", () => {
    const input = { time: "2023-11-14T22:13:20Z", short: "abc" };
    const output = { original_time: "2023-11-14T22:13:20Z", message: "xxabcxx", note: "at 2023-11-14T22:13:20Z!" };
    expect(missingFields({ time: input.time }, { note: output.note })).toEqual([]);
    expect(missingFields({ short: "abc" }, { message: "xxabcxx" })).toEqual(["short"]);
  });

  it("keeps null leaves and empty containers only when their key name is in the output", () => {
    const input = { "proc.pname": null, tags: [], meta: {}, other: null };
    const output = { unmapped: { "proc.pname": null, tags: [], meta: {} } };
    expect(missingFields(input, output)).toEqual(["other"]);
  });

  it("matches numbers and their decimal strings both ways (big integers stay exact)", () => {
    const input = parseJson('{"evt.time": 1618923234553316352, "pid": 42}');
    expect(input).toEqual({ "evt.time": "1618923234553316352", pid: 42 });
    expect(missingFields(input, { t: "1618923234553316352", p: "42" })).toEqual([]);
    // a rounded number is not the same information
    expect(missingFields(input, { t: 1618923234553316400, p: 42 })).toEqual(["evt.time"]);
  });

  it("reports a root scalar by name", () => {
    expect(missingFields("lonely", {})).toEqual(["(root)"]);
  });
});

describe("no input field disappears (every fixture record)", () => {
  for (const f of fixtures.filter((x) => !NEGATIVE_FIXTURES.has(x.name))) {
    it(f.name, () => {
      const { result, records } = runFixture(f);
      expect(result.errors.map((e) => `${e.path}: ${e.reason}`)).toEqual([]);
      // with no errors, events come in record order
      expect(result.events).toHaveLength(records.length);
      const lost = records.flatMap((r, i) => missingFields(recordInput(r), result.events[i]!.event).map((p) => `${r.path}: ${p}`));
      expect(lost).toEqual([]);
    });
  }
});
