// Inventory globs run against host names that come from the events (a Falco alert's hostname that is no
// DNS name becomes device.name, of any length). The matcher must not backtrack exponentially: a regular
// expression of `.*` runs took seconds for a 100-character name and 5 stars.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { globMatcher, Inventory } from "../../src/enrich/inventory";

/** The reference: the glob as a regular expression (fine for the short strings generated here). */
function reference(glob: string): RegExp {
  let re = "^";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") re += "[^]*";
    else if (c === "?") re += "[^]";
    else if (c === "[" && glob.indexOf("]", i + 1) > i) {
      const close = glob.indexOf("]", i + 1);
      const body = glob.slice(i + 1, close);
      re += `[${body.startsWith("!") ? `^${body.slice(1)}` : body}]`;
      i = close;
    } else re += c.replace(/[.+^${}()|[\]\\/?*]/g, "\\$&");
  }
  return new RegExp(`${re}$`);
}

describe("inventory glob matching", () => {
  it("agrees with the glob's regular expression (*, ?, classes, literals)", () => {
    const globChar = fc.constantFrom("a", "b", "-", ".", "*", "?", "[ab]", "[!a]", "[a-c]", "[");
    const nameChar = fc.constantFrom("a", "b", "c", "-", ".", "[");
    fc.assert(
      fc.property(fc.array(globChar, { maxLength: 8 }), fc.array(nameChar, { maxLength: 12 }), (g, n) => {
        const glob = g.join("");
        const name = n.join("");
        let re: RegExp;
        try {
          re = reference(glob);
        } catch {
          // an invalid class ("[a-[ab]") is a config error for both
          expect(() => globMatcher(glob)).toThrow(SyntaxError);
          return;
        }
        expect(globMatcher(glob)(name)).toBe(re.test(name));
      }),
      { numRuns: 2000, seed: 20261206 },
    );
  });

  it("a many-star glob against a long hostile name ends (name x glob steps, no backtracking blow-up)", () => {
    const inv = new Inventory([{ match: "*a*a*a*a*a*a*a*a*b", team: "x" }]);
    // the regular expression form needed minutes for 200 characters; this is 100,000
    expect(inv.find("a".repeat(100_000))).toBeUndefined();
    expect(inv.find(`${"a".repeat(50)}b`)?.row.team).toBe("x");
  });
});
