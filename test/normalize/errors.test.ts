// Reasons sent back to the sender quote the record's text (key names, values) only up to a bound.
import { describe, it, expect } from "vitest";
import { quoted, keyList, QUOTE_MAX } from "../../src/normalize/errors";
import { normalizeK8sAudit } from "../../src/normalize/k8s-audit";
import { normalizeTetragon } from "../../src/normalize/tetragon";
import { runPipeline } from "../../src/pipeline";
import type { JsonObject } from "../../src/normalize/json";
import type { NormalizeContext } from "../../src/normalize/ocsf";

const CTX: NormalizeContext = { ocsfVersion: "1.3.0", receivedAt: 1700000000000, tenant: "test" };

function reasonOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected a rejection");
}

describe("quoted text in reasons", () => {
  it("quoted keeps short text, cuts long text with a marker of what was left out, never inside a surrogate pair", () => {
    expect(quoted("abc")).toBe("abc");
    expect(quoted("x".repeat(QUOTE_MAX))).toBe("x".repeat(QUOTE_MAX));
    expect(quoted("x".repeat(5000))).toBe(`${"x".repeat(200)}…(+4800 chars)`);
    expect(quoted(`${"x".repeat(9)}🚀🚀`, 10)).toBe(`${"x".repeat(9)}…(+4 chars)`);
    expect(quoted(`${"x".repeat(8)}🚀🚀`, 10)).toBe(`${"x".repeat(8)}🚀…(+2 chars)`);
  });

  it("keyList names the first keys, each cut at 40 chars, the list at QUOTE_MAX", () => {
    expect(keyList({})).toBe("none");
    expect(keyList({ a: 1, b: 2 })).toBe("a, b");
    const rec: JsonObject = {};
    for (let i = 0; i < 9; i++) rec[`${i}${"k".repeat(8000)}`] = i;
    const list = keyList(rec);
    expect(list.length).toBeLessThan(QUOTE_MAX + 20);
    expect(list).toMatch(/^0k{39}…\(\+7961 chars\), 1k{39}…/);
  });

  it("records with huge key names or values get reasons of bounded length (unrecognised, Tetragon, Kubernetes audit)", () => {
    const long = "k".repeat(20_000);
    const rec: JsonObject = { [`a${long}`]: 1, [`b${long}`]: 2, [`c${long}`]: 3, [`d${long}`]: 4, [`e${long}`]: 5 };
    const reasons = [
      runPipeline([rec], ["line 1"], [], { ctx: CTX }).errors[0]!.reason,
      reasonOf(() => normalizeTetragon(rec, CTX)),
      reasonOf(() => normalizeK8sAudit(rec, CTX)),
      reasonOf(() => normalizeK8sAudit({ kind: long, verb: "get" }, CTX)),
      reasonOf(() => normalizeK8sAudit({ kind: "Event", apiVersion: long }, CTX)),
    ];
    expect(reasons[0]).toMatch(/^unrecognised record: .*\(keys: ak{39}…\(\+19961 chars\), bk{39}/);
    expect(reasons[1]).toMatch(/^not a supported Tetragon event: .*\(keys: ak{39}…/);
    expect(reasons[3]).toMatch(/^not a Kubernetes audit Event: kind is "k{199}…\(\+19802 chars\), expected "Event" \(keys: kind, verb\)$/);
    expect(reasons[4]).toMatch(/^not a Kubernetes audit Event: apiVersion is "k{199}…/);
    for (const r of reasons) expect(r.length, r.slice(0, 80)).toBeLessThan(600);
  });
});
