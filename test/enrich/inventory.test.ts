import { describe, it, expect } from "vitest";
import { FIXED_CTX } from "../support/fixture-pipeline";
import inventoryCsv from "./samples/inventory.csv?raw";
import { validateOcsf } from "../support/ocsf-validator";
import { config, enrichedFixture } from "./helpers";
import { fixture } from "../support/fixtures";
import { makeEnricher } from "../../src/enrich/index";
import { normalizeCloudTrail } from "../../src/normalize/cloudtrail";
import { parseJson, type JsonObject } from "../../src/normalize/json";
import { Inventory, parseInventory, globMatcher } from "../../src/enrich/inventory";
import type { OcsfEvent } from "../../src/normalize/ocsf";

const inv = (e: OcsfEvent) => (e.enrichments ?? []).filter((x) => x.type === "asset_inventory");

describe("host inventory", () => {
  it("matches the Falco hostname exactly and writes owner, team, environment, region, labels (valid 1.3.0)", () => {
    const cfg = config({ enrich: { inventory: { inline: parseInventory(inventoryCsv, "csv") } } });
    const [e] = enrichedFixture("falco/terminal-shell-in-container__falco-docs.json", cfg);
    expect(validateOcsf(e)).toEqual([]);
    expect(e!.device).toMatchObject({
      hostname: "falco-xczjd",
      owner: { name: "alice@example.com", email_addr: "alice@example.com" },
      region: "eu-west-1",
      groups: [
        { name: "platform", type: "team" },
        { name: "prod", type: "environment" },
      ],
    });
    expect(e!.metadata.labels).toEqual(expect.arrayContaining(["environment:prod", "criticality:high", "cost_center:cc-42", "tier:edge"]));
    expect(inv(e!)).toEqual([
      {
        name: "device.hostname",
        value: "falco-xczjd",
        type: "asset_inventory",
        provider: "tributary",
        short_desc: "inventory row falco-xczjd, owner alice@example.com, criticality high",
        data: {
          matched: "falco-xczjd",
          owner: "alice@example.com",
          team: "platform",
          environment: "prod",
          criticality: "high",
          region: "eu-west-1",
          labels: { cost_center: "cc-42", tier: "edge" },
        },
        // OCSF "recommended": when it was made, i.e. this pass, which received the event at metadata.logged_time
        created_time: FIXED_CTX.receivedAt,
      },
    ]);
  });

  it("matches Tetragon node names (one row, several names) and globs", () => {
    const cfg = config({
      enrich: {
        inventory: {
          inline: [
            { match: "mini*", owner: "k8s-team", environment: "dev", criticality: "low" },
            ...parseInventory(inventoryCsv, "csv"),
          ],
        },
      },
    });
    const kprobe = enrichedFixture("tetragon/process_kprobe.ndjson", cfg);
    for (const e of kprobe) expect(validateOcsf(e)).toEqual([]);
    expect(inv(kprobe[0]!)[0]).toMatchObject({ value: "tetragon-dev-control-plane", data: { matched: "tetragon-dev-control-plane", owner: "bob", team: "infra" } });
    expect(kprobe[0]!.metadata.labels).toContain("role:control-plane");
    const [connect] = enrichedFixture("tetragon/process_connect.ndjson", cfg);
    expect(inv(connect!)[0]).toMatchObject({ value: "minikube", data: { matched: "mini*", owner: "k8s-team", criticality: "low" } });
    expect(connect!.device).toMatchObject({ owner: { name: "k8s-team" }, groups: [{ name: "dev", type: "environment" }] });
    expect(validateOcsf(connect)).toEqual([]);
  });

  it("leaves hosts that are not in the table, and events without a device, alone", () => {
    const cfg = config({ enrich: { inventory: { inline: [{ match: "web-*", owner: "web" }] } } });
    const [e] = enrichedFixture("falco/terminal-shell-in-container__falco-docs.json", cfg);
    expect(inv(e!)).toEqual([]);
    expect((e!.device as { owner?: unknown }).owner).toBeUndefined();
    const ct = enrichedFixture("cloudtrail/records__create-key-pair__aws-docs.json", cfg);
    expect(ct.flatMap(inv)).toEqual([]);
  });

  it("prefers exact names over globs, globs in table order, case-insensitively", () => {
    const i = new Inventory([
      { match: "web-*", team: "web" },
      { match: "web-1*", team: "never (an earlier glob wins)" },
      { match: ["WEB-42", "i-0abc"], team: "exact" },
    ]);
    expect(i.find("web-42")?.row.team).toBe("exact");
    expect(i.find("I-0ABC")?.row.team).toBe("exact");
    expect(i.find("web-17")?.row.team).toBe("web");
    expect(i.find("db-1")).toBeUndefined();
    expect(globMatcher("ip-10-0-?-[0-9]*")("ip-10-0-3-7.ec2.internal")).toBe(true);
    expect(globMatcher("node-[!a]")("node-a")).toBe(false);
    expect(globMatcher("a.b")("axb")).toBe(false);
  });

  it("matches the EC2 instance that made a CloudTrail call (src_endpoint.instance_uid): owner, labels, enrichment (valid 1.3.0)", () => {
    // a real Stratus record, as it reads when the call is made with instance profile credentials
    const rec = structuredClone(parseJson(fixture("cloudtrail/stratus__credential-access.ec2-get-password-data.subset.json")) as JsonObject[])[0]!;
    const ui = rec.userIdentity as JsonObject;
    ui.arn = "arn:aws:sts::457448411975:assumed-role/stratus-red-team-ec2-get-password-data-role/i-0abc123def4567890";
    (ui.sessionContext as JsonObject).ec2RoleDelivery = "2.0";
    const cfg = config({ enrich: { inventory: { inline: parseInventory(inventoryCsv, "csv") } } });
    const e = makeEnricher(cfg)(normalizeCloudTrail(rec, { ocsfVersion: "1.3.0", receivedAt: 0, tenant: "t" }));
    expect(validateOcsf(e)).toEqual([]);
    expect(e.device).toBeUndefined();
    expect(e.src_endpoint).toEqual({ ip: "200.249.253.51", instance_uid: "i-0abc123def4567890", owner: { name: "bob" } });
    expect(e.metadata.labels).toEqual(expect.arrayContaining(["environment:dev", "criticality:low", "role:control-plane"]));
    expect(inv(e)).toEqual([
      expect.objectContaining({
        name: "src_endpoint.instance_uid",
        value: "i-0abc123def4567890",
        data: { matched: "i-0abc123def4567890", owner: "bob", team: "infra", environment: "dev", criticality: "low", labels: { role: "control-plane" } },
      }),
    ]);
    // the same call with the SDK's own session name: no instance, no inventory hit
    const plain = makeEnricher(cfg)(normalizeCloudTrail((parseJson(fixture("cloudtrail/stratus__credential-access.ec2-get-password-data.subset.json")) as JsonObject[])[0]!, { ocsfVersion: "1.3.0", receivedAt: 0, tenant: "t" }));
    expect(inv(plain)).toEqual([]);
  });

  it("parses JSON rows and names the bad row", () => {
    expect(parseInventory('[{"match":"h1","owner":"o"}]', "json")).toEqual([{ match: "h1", owner: "o" }]);
    expect(() => parseInventory('[{"match":"h1"},{"owner":"o"}]', "json")).toThrow(/inventory row 1: match/);
    expect(() => parseInventory("owner\nx\n", "csv")).toThrow(/match \(or hostname\) column/);
  });
});
