// Inventory rows scoped by tenant (row `tenants`): overlapping host names of several tenants never cross.
import { describe, it, expect } from "vitest";
import { config, enrichedFixture, plainFixture } from "./helpers";
import { makeEnricher } from "../../src/enrich/index";
import { validateOcsf } from "../support/ocsf-validator";
import { Inventory, parseInventory } from "../../src/enrich/inventory";
import type { InventoryRow } from "../../src/config/enrich";
import type { OcsfEvent } from "../../src/normalize/ocsf";

const FALCO = "falco/terminal-shell-in-container__falco-docs.json"; // device.hostname falco-xczjd
const inv = (e: OcsfEvent) => (e.enrichments ?? []).filter((x) => x.type === "asset_inventory");
/** The Falco event as a sender without a tenant would give it: no metadata.tenant_uid. */
function untenanted(): OcsfEvent {
  const [e] = plainFixture(FALCO);
  delete e!.metadata.tenant_uid;
  return e!;
}
const owner = (e: OcsfEvent) => (e.device as { owner?: { name?: string } }).owner?.name;

const rows: InventoryRow[] = [
  { match: "falco-xczjd", tenants: "team-a", owner: "alice", criticality: "high", labels: { pager: "a-oncall" } },
  { match: "falco-xczjd", tenants: ["team-b"], owner: "bob", criticality: "low" },
  { match: "falco-*", owner: "shared", criticality: "medium" },
];

describe("host inventory scoped by tenant", () => {
  it("gives two tenants with the same host name each its own row, and nothing of the other's", () => {
    const cfg = config({ enrich: { inventory: { inline: rows } } });
    const [a] = enrichedFixture(FALCO, cfg, undefined, "team-a");
    const [b] = enrichedFixture(FALCO, cfg, undefined, "team-b");
    expect(a!.metadata.tenant_uid).toBe("team-a");
    expect(owner(a!)).toBe("alice");
    expect(a!.metadata.labels).toEqual(expect.arrayContaining(["criticality:high", "pager:a-oncall"]));
    expect(owner(b!)).toBe("bob");
    expect(b!.metadata.labels).toContain("criticality:low");
    expect(b!.metadata.labels).not.toContain("criticality:high");
    expect(JSON.stringify(b)).not.toMatch(/alice|a-oncall|team-a/);
    // the enrichment names the row's data, not the tenants the row is shared with
    expect(inv(a!)).toEqual([expect.objectContaining({ data: { matched: "falco-xczjd", owner: "alice", criticality: "high", labels: { pager: "a-oncall" } } })]);
    expect(validateOcsf(a!)).toEqual([]);
    expect(validateOcsf(b!)).toEqual([]);
  });

  it("falls back to the untenanted rows for other tenants and for events without a tenant_uid", () => {
    const cfg = config({ enrich: { inventory: { inline: rows } } });
    const [c] = enrichedFixture(FALCO, cfg, undefined, "team-c");
    expect(owner(c!)).toBe("shared");
    expect(inv(c!)).toEqual([expect.objectContaining({ data: expect.objectContaining({ matched: "falco-*" }) })]);
    const none = makeEnricher(cfg)(untenanted());
    expect(none.metadata.tenant_uid).toBeUndefined();
    expect(owner(none)).toBe("shared");
    // only tenanted rows: no tenant_uid, or another tenant, gets nothing
    const only = config({ enrich: { inventory: { inline: rows.slice(0, 2) } } });
    expect(inv(makeEnricher(only)(untenanted()))).toEqual([]);
    expect(inv(enrichedFixture(FALCO, only, undefined, "team-c")[0]!)).toEqual([]);
  });

  it("tries the tenant's rows (exact, globs) before the untenanted ones (exact, globs); memo per tenant", () => {
    const i = new Inventory([
      { match: "node-1", team: "shared exact" },
      { match: "node-*", team: "shared glob" },
      { match: "node-*", tenants: ["a", "b"], team: "a+b glob" },
      { match: "node-1", tenants: "b", team: "b exact" },
      { match: "ip-10-*", tenants: "a", team: "a ip" },
    ]);
    expect(i.find("node-1", "a")?.row.team).toBe("a+b glob"); // the tenant's glob beats an untenanted exact name
    expect(i.find("NODE-1", "b")?.row.team).toBe("b exact");
    expect(i.find("node-2", "b")?.row.team).toBe("a+b glob");
    expect(i.find("node-1", "c")?.row.team).toBe("shared exact");
    expect(i.find("node-2")?.row.team).toBe("shared glob");
    expect(i.find("ip-10-0-0-5", "a")?.row.team).toBe("a ip");
    // the same name, asked again for other tenants after being memoized for one
    expect(i.find("ip-10-0-0-5", "b")).toBeUndefined();
    expect(i.find("ip-10-0-0-5")).toBeUndefined();
    expect(i.find("ip-10-0-0-5", "a")?.row.team).toBe("a ip");
    // a tenant's miss falls through to the untenanted exact name, then glob
    const j = new Inventory([{ match: "db-1", team: "shared db" }, { match: "web-*", tenants: "a", team: "a web" }]);
    expect(j.find("db-1", "a")?.row.team).toBe("shared db");
    // a host name spelled like a tenant's memo key finds nothing of that tenant's (the memo keys cannot meet)
    const k = new Inventory([{ match: "node-*", tenants: "abc", team: "abc glob" }]);
    expect(k.find("node-1", "abc")?.row.team).toBe("abc glob");
    expect(k.find("3:abc/node-1")).toBeUndefined();
    expect(k.find("3:abc/node-1", "other")).toBeUndefined();
  });

  it("reads a tenants (or tenant) column from CSV and a tenants field from JSON", () => {
    const csv = "match,owner,tenant\nnode-1,alice,team-a\nnode-1,bob,team-b| team-c\nnode-*,shared,\n";
    expect(parseInventory(csv, "csv")).toEqual([
      { match: "node-1", owner: "alice", tenants: "team-a" },
      { match: "node-1", owner: "bob", tenants: ["team-b", "team-c"] },
      { match: "node-*", owner: "shared" },
    ]);
    const i = new Inventory(parseInventory(csv.replace("match,owner,tenant", "hostname,owner,tenants"), "csv"));
    expect(i.find("node-1", "team-c")?.row.owner).toBe("bob");
    expect(i.find("node-1", "team-x")?.row.owner).toBe("shared");
    expect(parseInventory('[{"match":"h1","tenants":["a","b"]}]', "json")).toEqual([{ match: "h1", tenants: ["a", "b"] }]);
    expect(() => parseInventory('[{"match":"h1","tenants":[]}]', "json")).toThrow(/inventory row 0: tenants/);
    expect(() => config({ enrich: { inventory: { inline: [{ match: "h1", tenants: "" }] } } })).toThrow(/tenants/);
  });
});
