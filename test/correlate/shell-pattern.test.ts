// shellPattern (config) runs on Falco rule titles, which are sender text. A pattern that backtracks
// exponentially is refused when the config is loaded, and only the first 256 characters of a title are
// tested (summaries keep at most MAX_TEXT = 256 characters of a text: src/correlate/chains.ts; docs/security.md).
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load";
import { repeatsAmbiguousGroup } from "../../src/config/correlate";
import { summarize } from "../../src/correlate/chains";
import { CFG, SHELL_AT, falcoShellRecord, normalizeRecord } from "./story";

const C = CFG.correlate;
const shellPattern = (p: string) => parseConfig({ correlate: { chains: { k8s_exec: { shellPattern: p } } } });

describe("shellPattern safety", () => {
  it("refuses repeated groups holding a quantifier or an alternation; keeps ordinary patterns", () => {
    for (const bad of ["(a+)+$", "(a|a)*b", "(?:\\w+\\s?)*$", "((sh))+|(x+)+", "(a{2,})+"]) {
      expect(repeatsAmbiguousGroup(bad)).toBe(true);
      expect(() => shellPattern(bad)).toThrow(/correlate\.chains\.k8s_exec\.shellPattern: a repeated group/);
    }
    for (const ok of ["shell", "(bash|sh|zsh)", "\\b(ba)?sh\\b", "(?:sh)+", "[(+)]+x", "terminal shell|shell in container", "(?<n>ab)+"]) {
      expect(repeatsAmbiguousGroup(ok)).toBe(false);
      expect(shellPattern(ok).correlate.chains.k8s_exec.shellPattern).toBe(ok);
    }
  });

  it("tests only the first 256 characters of a rule title", () => {
    const roles = (title: string) => {
      const rec = falcoShellRecord({ at: SHELL_AT });
      rec.rule = title;
      rec.tags = [];
      return summarize(normalizeRecord(rec), C).flatMap((x) => x.roles);
    };
    expect(roles("Terminal shell in container")).toContain("shell_alert");
    expect(roles(`${"x".repeat(256)} shell`)).not.toContain("shell_alert");
  });
});
