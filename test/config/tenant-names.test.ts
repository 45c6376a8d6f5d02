// Tenants a sink's {tenant} template would give one name are refused at load (src/config/tenant-names.ts).
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config/load";

const es = { type: "elasticsearch", url: "https://es.example.com:9200", index: "ocsf-{tenant}-{class_uid}" };
const loki = { type: "loki", url: "https://loki.example.com", tenant: "{tenant}" };

/** A config with bearer tokens of these tenants, then HMAC signers of `signers`, and these sinks. */
function config(tenants: string[], sinks: Record<string, unknown>, signers: string[] = []): unknown {
  return {
    auth: {
      tokens: tenants.map((tenant, i) => ({ tenant, token: `token-${i}` })),
      ...(signers.length > 0 ? { hmac: signers.map((tenant, i) => ({ tenant, secret: `secret-${i}` })) } : {}),
    },
    sinks,
    default_sinks: Object.keys(sinks),
  };
}

/** The error lines of a refused config. */
function refusal(input: unknown): string {
  try {
    parseConfig(input);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error("the config was accepted");
}

describe("tenant names in sink templates", () => {
  it("refuses tenants differing only in case for Elasticsearch (lower-cased index), naming both, the sink and the field", () => {
    const msg = refusal(config(["Team-A", "team-a"], { es }));
    expect(msg).toContain("sinks.es.index:");
    expect(msg).toContain('tenants "Team-A" and "team-a" is the same "team-a"');
    // Loki's org id keeps case: the same two tenants are two orgs
    expect(Object.keys(parseConfig(config(["Team-A", "team-a"], { loki })).sinks)).toEqual(["loki"]);
  });

  it("refuses tenants that become one name once made name-safe, or cut to the same first 64 characters", () => {
    expect(refusal(config(["team a", "team_a"], { loki }))).toContain('sinks.loki.tenant: {tenant} of tenants "team a" and "team_a" is the same "team_a"');
    const long = "t".repeat(64);
    expect(refusal(config([`${long}-prod`, `${long}-dev`], { loki }))).toContain(`is the same "${long}"`);
  });

  it("counts HMAC signers' tenants and names every field of the sink that has {tenant}", () => {
    const dd = { type: "datadog_logs", apiKey: "k", ddsource: "{tenant}", service: "svc-{tenant}" };
    const msg = refusal(config(["team-a"], { dd }, ["TEAM-A"]));
    expect(msg).toContain('sinks.dd.ddsource: {tenant} of tenants "team-a" and "TEAM-A"');
    expect(msg).toContain('sinks.dd.service: {tenant} of tenants "team-a" and "TEAM-A"');
    const splunk = { type: "splunk_hec", url: "https://splunk.example.com:8088", token: "t", sourcetype: "ocsf:{tenant}" };
    expect(refusal(config(["x"], { splunk }, ["x/1", "x:1"]))).toContain('sinks.splunk.sourcetype: {tenant} of tenants "x/1" and "x:1" is the same "x_1"');
  });

  it("refuses a tenant named like the events without a tenant ('none'), whatever the case where the sink folds it", () => {
    expect(refusal(config(["team-a", "none"], { loki }))).toContain('sinks.loki.tenant: {tenant} of tenant "none" is "none", the name given to events sent without a tenant');
    expect(refusal(config(["NONE"], { es }))).toContain('tenant "NONE" is "none"');
    expect(Object.keys(parseConfig(config(["NONE"], { loki })).sinks)).toEqual(["loki"]);
  });

  it("accepts distinct names, one tenant with several credentials, and colliding tenants where no template has {tenant}", () => {
    expect(Object.keys(parseConfig(config(["team-a", "team-b"], { es, loki }, ["team-a"])).sinks).sort()).toEqual(["es", "loki"]);
    const shared = { type: "elasticsearch", url: "https://es.example.com:9200", index: "ocsf-{class_uid}" };
    expect(Object.keys(parseConfig(config(["Team-A", "team-a", "none"], { shared })).sinks)).toEqual(["shared"]);
  });
});
