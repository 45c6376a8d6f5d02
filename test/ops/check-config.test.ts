// `npm run check-config`: the core check (errors name the field, secrets listed, warnings) and the
// script itself (exit codes and output) run as the npm script runs it, through tsx.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkConfigText, formatReport, parseEnvFile, varSizeError } from "../../src/ops/check-config";
import { parseConfig } from "../../src/config/load";

const broken = {
  auth: { tokens: [{ tenant: "a", token: { env: "TOKEN_A" } }] },
  limits: { maxRecords: 0 },
  sinks: { siem: { type: "splunk_hec", url: "not a url", token: { env: "HEC" }, indexx: "main" } },
  routes: [{ sinks: ["siem"] }],
};

describe("checkConfigText", () => {
  it("names every invalid field", () => {
    const r = checkConfigText(JSON.stringify(broken));
    expect(r.ok).toBe(false);
    expect(r.errors).toEqual(["limits.maxRecords: Too small: expected number to be >0", "sinks.siem.url: Invalid URL", "sinks.siem.indexx: unknown field for a splunk_hec sink"]);
  });

  it("names a route's unknown sink by its index", () => {
    const r = checkConfigText(JSON.stringify({ routes: [{ match: { source: "falco" }, sinks: ["archive", "nowhere"] }] }));
    expect(r.errors).toEqual(['routes.0.sinks.1: unknown sink "nowhere" (defined sinks: archive)']);
  });

  it('refuses a key named "__proto__" (a sink, a map key), as the Worker does', () => {
    const text = '{"sinks":{"__proto__":{"type":"slack","webhook":"https://hooks.slack.com/x"}},"limits":{"__proto__":1}}';
    const r = checkConfigText(text);
    const refused = 'a key named "__proto__" is refused (the parser would drop it); name it otherwise';
    expect(r.errors).toEqual([`sinks.__proto__: ${refused}`, `limits.__proto__: ${refused}`]);
    expect(() => parseConfig(text)).toThrow(`invalid config: ${r.errors.join("; ")}`);
  });

  it("reports JSON syntax errors and non-object configs", () => {
    expect(checkConfigText('{"auth": }').errors[0]).toMatch(/^\(file\): not valid JSON/);
    expect(checkConfigText("[1]").errors).toEqual(["(root): expected a JSON object, got an array"]);
  });

  it("accepts the JSON string form of wrangler [vars] TRIBUTARY_CONFIG", () => {
    expect(checkConfigText(JSON.stringify(JSON.stringify({ ocsf: { rawData: true } }))).ok).toBe(true);
  });

  it("explains an invalid noise.suppress expiry: no offset, not a date, missing", () => {
    const expiry = (expires: unknown) => checkConfigText(JSON.stringify({ noise: { suppress: [{ match: { source: "falco" }, reason: "CI", expires }] } })).errors;
    const FORMAT = "an ISO 8601 date (2027-01-01, midnight UTC) or date-time with an offset (2027-01-01T00:00:00Z, 2027-01-01T09:00:00+02:00)";
    expect(expiry("2027-01-01T00:00:00")).toEqual([`noise.suppress.0.expires: "2027-01-01T00:00:00" has no offset: expected ${FORMAT}`]);
    expect(expiry("2027-13-01")).toEqual([`noise.suppress.0.expires: expected ${FORMAT}, got "2027-13-01"`]);
    expect(expiry(20270101)).toEqual([`noise.suppress.0.expires: expected ${FORMAT}, got 20270101`]);
    expect(expiry(undefined)).toEqual([`noise.suppress.0.expires: required: when the entry stops applying, ${FORMAT}`]);
    expect(expiry("2027-01-01")).toEqual([]);
    expect(expiry("2027-01-01T09:00:00+02:00")).toEqual([]);
    // the Worker says the same
    expect(() => parseConfig({ noise: { suppress: [{ match: {}, reason: "CI", expires: "2027-13-01" }] } })).toThrow(/noise\.suppress\.0\.expires: expected an ISO 8601 date/);
  });

  it("reports a cross-field error (a policy naming the archive, a route's unknown sink) together with field errors elsewhere", () => {
    const r = checkConfigText(
      JSON.stringify({
        limits: { maxRecords: 0 },
        routes: [{ sinks: ["nowhere"] }],
        noise: { suppress: [{ match: { source: "falco" }, reason: "CI", expires: "2027-01-01T00:00:00" }], dedup: [{ name: "shells", sinks: ["archive"] }] },
      }),
    );
    expect(r.errors).toEqual([
      "limits.maxRecords: Too small: expected number to be >0",
      expect.stringMatching(/^noise\.suppress\.0\.expires: "2027-01-01T00:00:00" has no offset/),
      'routes.0.sinks.0: unknown sink "nowhere" (defined sinks: archive)',
      'noise.dedup.0.sinks.0: the archive always keeps every event: noise policies cannot name "archive"',
    ]);
    // a part the check reads is itself malformed: its field error alone, no guess at the rest
    expect(checkConfigText(JSON.stringify({ noise: { dedup: [{ sinks: "archive" }] } })).errors).toEqual(["noise.dedup.0.sinks: Invalid input: expected array, received string"]);
  });

  it("checks a Slack sink's literal url (https, or http to this machine) and names the field without echoing the value", () => {
    const slackUrl = (url: unknown) => checkConfigText(JSON.stringify({ sinks: { chat: { type: "slack", url } }, routes: [{ sinks: ["chat"] }] })).errors;
    const msg = 'sinks.chat.url: expected the incoming webhook\'s https URL (https://hooks.slack.com/services/...) or {"env": "NAME"}; http only to 127.0.0.1 or localhost';
    expect(slackUrl("not a url")).toEqual([msg]);
    expect(slackUrl("http://hooks.slack.com/services/T0/B0/secretpart")).toEqual([msg]);
    expect(slackUrl("ftp://hooks.slack.com/services/T0/B0/x")).toEqual([msg]);
    expect(slackUrl("http://hooks.slack.com/services/T0/B0/secretpart").join("")).not.toContain("secretpart");
    for (const ok of ["https://hooks.slack.com/services/T0/B0/x", "https://chat.example.com/hooks/abc", "http://127.0.0.1:8089/services/T/B/X", "http://localhost:3000/x", { env: "SLACK_URL" }]) expect(slackUrl(ok), JSON.stringify(ok)).toEqual([]);
  });

  it("checks a webhook sink's literal Standard Webhooks secret (whsec_ + base64) and names the field without echoing it", () => {
    const secretErrors = (secret: unknown) => checkConfigText(JSON.stringify({ sinks: { hook: { type: "webhook", url: "https://example.com/hook", secret } }, routes: [{ sinks: ["hook"] }] })).errors;
    const msg = 'sinks.hook.secret: expected a Standard Webhooks secret: "whsec_" (optional) followed by base64, or {"env": "NAME"}';
    for (const bad of ["whsec_???", "whsec_", "whsec_not base64!", "whsec_a", "%%%%"]) expect(secretErrors(bad), bad).toEqual([msg]);
    expect(secretErrors("whsec_???").join("")).not.toContain("???");
    for (const ok of ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", { env: "HOOK_SECRET" }]) expect(secretErrors(ok), JSON.stringify(ok)).toEqual([]);
    // the same check at start-up: the Worker refuses the config naming the field
    expect(() => parseConfig({ sinks: { hook: { type: "webhook", url: "https://example.com/hook", secret: "whsec_???" } }, routes: [{ sinks: ["hook"] }] })).toThrow(/sinks\.hook\.secret/);
  });

  it("names unknown keys as errors: a top-level typo with the known keys, and one inside a section", () => {
    const r = checkConfigText(JSON.stringify({ routng: [{ sinks: ["archive"] }], limits: { maxRecrods: 5 }, ocsf: { rawData: true } }));
    expect(r.ok).toBe(false);
    expect(r.errors).toEqual([
      "limits.maxRecrods: unknown field",
      "routng: unknown top-level key (known keys: ocsf, auth, limits, enrich, sinks, routes, default_sinks, archive_all, delivery, metrics, noise, correlate, redact)",
    ]);
    // the Worker refuses the same config, naming the same field
    expect(() => parseConfig({ routng: [] })).toThrow(/^invalid config: routng: unknown top-level key/);
    expect(() => parseConfig({ delivery: { adminTokn: "x" } })).toThrow(/delivery\.adminTokn: unknown field/);
  });

  it("lists secret references, checks them against an env file, and warns about literal secrets and unrouted sinks", () => {
    const cfg = {
      auth: { tokens: [{ tenant: "a", token: "plain-text-token" }, { tenant: "b", token: { env: "TOKEN_B" } }] },
      sinks: { siem: { type: "splunk_hec", url: "https://splunk.example:8088", token: { env: "HEC" } } },
      metrics: { public: true },
    };
    const r = checkConfigText(JSON.stringify(cfg), parseEnvFile('# local\nTOKEN_B="b-secret"\nexport OTHER=1\n'));
    expect(r.ok).toBe(true);
    expect(r.secrets).toEqual([
      { name: "TOKEN_B", path: "auth.tokens.1.token", set: true },
      { name: "HEC", path: "sinks.siem.token", set: false },
    ]);
    expect(r.warnings.join("\n")).toContain("auth.tokens.0.token: a secret written in the config");
    expect(r.warnings.join("\n")).toContain("sinks.siem.token: the secret HEC is not set");
    expect(r.warnings.join("\n")).toContain("sinks.siem: no route and not in default_sinks");
    const text = formatReport("x.json", r);
    expect(text).toContain("HEC [NOT SET]  (sinks.siem.token)");
    expect(text).not.toContain("plain-text-token");
  });

  it("warns about routes after a catch-all without continue, and about events that go nowhere", () => {
    const sinks = { siem: { type: "splunk_hec", url: "https://splunk.example:8088", token: { env: "HEC" } }, hook: { type: "webhook", url: "https://hook.example/x", secret: { env: "W" } } };
    const warn = (cfg: Record<string, unknown>) => {
      const r = checkConfigText(JSON.stringify({ sinks, metrics: { public: true }, ...cfg }));
      expect(r.errors).toEqual([]);
      return r.warnings.filter((w) => w.startsWith("routes.") || w.startsWith("default_sinks"));
    };
    const shadowed = warn({ routes: [{ match: { source: "falco" }, sinks: ["hook"] }, { name: "all", sinks: ["siem"] }, { match: { rule: "x" }, sinks: ["hook"] }, { sinks: ["siem"] }] });
    expect(shadowed).toEqual(['routes.1 ("all"): matches every event and has no "continue": true, so routing stops there and routes.2, routes.3 never match (move it last, give it a match, or set continue)']);
    // last, with continue, or a match (also a not alone) that is not empty: nothing unreachable
    expect(warn({ routes: [{ match: { source: "falco" }, sinks: ["hook"] }, { sinks: ["siem"] }] })).toEqual([]);
    expect(warn({ routes: [{ sinks: ["siem"], continue: true }, { match: { source: "falco" }, sinks: ["hook"] }] })).toEqual([]);
    expect(warn({ routes: [{ match: { not: { source: "falco" } }, sinks: ["siem"] }, { sinks: ["hook"] }] })).toEqual([]);

    const NOWHERE = 'default_sinks: empty with archive_all: false: an event no route matches is accepted (202) and sent nowhere, not even to the archive (add "archive" to default_sinks, or end the routes with one that has no match)';
    const routes = [{ match: { source: "falco" }, sinks: ["siem", "archive"] }, { match: { source: "tetragon" }, sinks: ["hook"] }];
    expect(warn({ routes, archive_all: false, default_sinks: [] })).toEqual([NOWHERE]);
    // the archive keeps them, a default sink takes them, or a catch-all route does
    expect(warn({ routes, default_sinks: [] })).toEqual([]);
    expect(warn({ routes, archive_all: false, default_sinks: ["archive"] })).toEqual([]);
    expect(warn({ routes: [...routes, { sinks: ["siem"] }], archive_all: false, default_sinks: [] })).toEqual([]);
  });

  it("warns when nobody could send or scrape", () => {
    const r = checkConfigText("{}");
    expect(r.ok).toBe(true);
    expect(r.warnings.some((w) => w.startsWith("auth: no tokens"))).toBe(true);
    expect(r.warnings.some((w) => w.startsWith("metrics: no token"))).toBe(true);
  });

  it("warns about a Security Lake custom source name over AWS's 20 characters, in every sources form", () => {
    const lake = (sources: Record<string, unknown>) => {
      const sinks = { lake: { type: "security_lake", bucket: "lake-bucket", accessKeyId: { env: "K" }, secretAccessKey: { env: "S" }, accountId: "external", sources } };
      const r = checkConfigText(JSON.stringify({ sinks, routes: [{ sinks: ["lake"] }], metrics: { public: true } }));
      expect(r.errors).toEqual([]);
      return r.warnings.filter((w) => w.startsWith("sinks.lake.sources"));
    };
    const long = "tributary_findings_eu1"; // 22
    expect(lake({ "2004": long })).toEqual([expect.stringMatching(/^sinks\.lake\.sources\.2004: custom source name "tributary_findings_eu1" is 22 characters; AWS asks for at most 20/)]);
    expect(lake({ "2004": { name: long, version: "1.0" }, "1007": `s3://lake-bucket/ext/${long}x/1.0/` }).map((w) => w.split(":")[0])).toEqual(["sinks.lake.sources.1007", "sinks.lake.sources.2004"]);
    expect(lake({ "2004": "x".repeat(20), "1007": { name: "tributary_process", version: "1.0" }, "3006": "ext/groups/1.0/" })).toEqual([]);
  });
});

/** A valid config of more than 5 KB: 10 sinks and ingest tokens for 60 clusters, secrets as {env} refs. */
function bigConfig(): unknown {
  const sinks: Record<string, unknown> = {};
  for (let i = 0; i < 10; i++) sinks[`siem${i}`] = { type: "splunk_hec", url: `https://splunk-${i}.example.com:8088`, token: { env: `HEC_TOKEN_${i}` } };
  const tokens = Array.from({ length: 60 }, (_, i) => ({ tenant: `prod-eu-west-1-cluster-${i}`, token: { env: `INGEST_TOKEN_PROD_EU_WEST_1_CLUSTER_${i}` } }));
  return { auth: { tokens }, sinks, routes: [{ sinks: Object.keys(sinks) }], metrics: { public: true } };
}

describe("tenants sharing a cluster", () => {
  const tok = (tenant: string, env: string, cluster?: string) => ({ tenant, token: { env }, ...(cluster ? { cluster } : {}) });
  const shared = (r: ReturnType<typeof checkConfigText>) => r.warnings.filter((w) => w.includes("share cluster"));
  const perSensor = [tok("prod", "T1", "prod-eu-1"), tok("prod-falco", "T2", "prod-eu-1"), tok("prod-audit", "T3", "prod-eu-1"), tok("aws", "T4")];

  it("warns when different tenants name one cluster and correlation keeps tenants apart", () => {
    const r = checkConfigText(JSON.stringify({ auth: { tokens: perSensor } }));
    expect(r.ok).toBe(true);
    expect(shared(r)).toEqual([
      'auth: tenants "prod", "prod-falco", "prod-audit" share cluster "prod-eu-1": correlation keeps tenants apart, so their events (a kubectl exec, its Falco alert and Tetragon exec) are never joined (give the cluster\'s sensors one tenant, each with its own token or HMAC secret, or set correlate.acrossTenants)',
    ]);
  });

  it("counts HMAC signers' clusters too", () => {
    const hmac = [{ tenant: "prod-relay", secret: { env: "H1" }, cluster: "prod-eu-1" }];
    const r = checkConfigText(JSON.stringify({ auth: { tokens: [tok("prod", "T1", "prod-eu-1")], hmac } }));
    expect(shared(r)).toEqual([expect.stringContaining('auth: tenants "prod", "prod-relay" share cluster "prod-eu-1"')]);
    const same = [{ tenant: "prod", secret: { env: "H1" }, cluster: "prod-eu-1" }];
    expect(shared(checkConfigText(JSON.stringify({ auth: { tokens: [tok("prod", "T1", "prod-eu-1"), tok("aws", "T4")], hmac: same } })))).toEqual([]);
  });

  it("is quiet with one tenant per cluster, with correlate.acrossTenants, and for one cluster per tenant", () => {
    const oneTenant = [tok("prod", "T1", "prod-eu-1"), tok("prod", "T2", "prod-eu-1"), tok("aws", "T4")];
    expect(shared(checkConfigText(JSON.stringify({ auth: { tokens: oneTenant } })))).toEqual([]);
    expect(shared(checkConfigText(JSON.stringify({ auth: { tokens: perSensor }, correlate: { acrossTenants: true } })))).toEqual([]);
    const twoClusters = [tok("eu", "T1", "prod-eu-1"), tok("us", "T2", "prod-us-1")];
    expect(shared(checkConfigText(JSON.stringify({ auth: { tokens: twoClusters } })))).toEqual([]);
  });
});

describe("inventory globs without tenants", () => {
  const inline = [{ match: "node-*", owner: "a" }, { match: ["db-1", "ip-10-*"], tenants: "team-a" }, { match: ["web-1", "web-?"], owner: "w" }, { match: "db-2" }];
  const warned = (auth: unknown) => checkConfigText(JSON.stringify({ auth, enrich: { inventory: { inline } } })).warnings.filter((w) => w.startsWith("enrich.inventory"));
  const tokens = [{ tenant: "team-a", token: { env: "T1" } }, { tenant: "team-b", token: { env: "T2" } }];

  it("warns about each untenanted glob row when several tenants can send", () => {
    expect(warned({ tokens })).toEqual([
      'enrich.inventory.inline.0: glob "node-*" without tenants matches the hosts of every tenant that can send: add "tenants" unless its owner and criticality really hold for all of them',
      'enrich.inventory.inline.2: glob "web-?" without tenants matches the hosts of every tenant that can send: add "tenants" unless its owner and criticality really hold for all of them',
    ]);
  });

  it("is quiet with one tenant", () => {
    expect(warned({ tokens: tokens.slice(0, 1) })).toEqual([]);
  });
});

describe("varSizeError", () => {
  it("passes a value of up to 5 KB and names the bundled file for a bigger one", () => {
    expect(varSizeError("x".repeat(5120), "v")).toBeUndefined();
    expect(varSizeError(JSON.stringify(bigConfig()), "TRIBUTARY_CONFIG in .dev.vars")).toMatch(
      /^TRIBUTARY_CONFIG in \.dev\.vars: \d+ bytes, more than the 5120 bytes \(5 KB\) a Worker variable or secret may hold, so it cannot be TRIBUTARY_CONFIG: put the config in tributary\.config\.json at the repo root instead/,
    );
    // UTF-8 bytes, not characters
    expect(varSizeError("é".repeat(2561), "v")).toMatch(/^v: 5122 bytes/);
  });
});

describe("secret values a sink checks the form of", () => {
  const hook = (secret: unknown) => JSON.stringify({ sinks: { hook: { type: "webhook", url: "https://example.com/hook", secret } }, routes: [{ sinks: ["hook"] }] });
  const GOOD = `whsec_${Buffer.from("0123456789abcdef01234567").toString("base64")}`;

  it("a webhook secret from the environment that is not whsec_ + base64 is an error naming the binding, never the value", () => {
    const r = checkConfigText(hook({ env: "WEBHOOK_SECRET" }), { WEBHOOK_SECRET: "not-base64!!" });
    expect(r.ok).toBe(false);
    expect(r.errors).toEqual(['sinks.hook.secret: the secret WEBHOOK_SECRET in the given environment is not a Standard Webhooks secret: "whsec_" (optional) followed by base64 (every send would fail)']);
    expect(formatReport("c.json", r)).not.toContain("not-base64!!");
    // the same rule as the schema's for a literal secret
    expect(checkConfigText(hook("not-base64!!")).errors).toEqual(['sinks.hook.secret: expected a Standard Webhooks secret: "whsec_" (optional) followed by base64, or {"env": "NAME"}']);
  });

  it("a well-formed value, an unset one (a warning) or no environment at all is no error", () => {
    expect(checkConfigText(hook({ env: "WEBHOOK_SECRET" }), { WEBHOOK_SECRET: GOOD }).ok).toBe(true);
    const unset = checkConfigText(hook({ env: "WEBHOOK_SECRET" }), {});
    expect(unset.ok).toBe(true);
    expect(unset.warnings).toContain('sinks.hook.secret: the secret WEBHOOK_SECRET is not set in the given environment: every event routed to sink "hook" is rejected and dead-lettered (not retried) until it is set');
    // a rotation written in the config before its secrets are set: each says what stops working
    const rotated = { auth: { tokens: [{ tenant: "t1", token: { env: "TOKEN_NEW" } }] }, metrics: { token: { env: "METRICS_NEW" } }, delivery: { adminToken: { env: "ADMIN_NEW" } } };
    expect(checkConfigText(JSON.stringify(rotated), {}).warnings).toEqual(
      expect.arrayContaining([
        "auth.tokens.0.token: the secret TOKEN_NEW is not set in the given environment: that credential matches no request (403) until it is set",
        "metrics.token: the secret METRICS_NEW is not set in the given environment: GET /metrics answers 503 until it is set",
        "delivery.adminToken: the secret ADMIN_NEW is not set in the given environment: /v1/dlq (npm run dlq), /v1/backfill, /v1/quarantine and /v1/test answer 503 until it is set",
      ]),
    );
    expect(checkConfigText(hook({ env: "WEBHOOK_SECRET" })).ok).toBe(true);
  });
});

describe("bindings a config needs beyond the shipped wrangler.toml", () => {
  const cfg = JSON.stringify({ sinks: { cold: { type: "r2", binding: "COLD_BUCKET" } }, routes: [{ sinks: ["cold"] }], enrich: { inventory: { kvKey: "inv.csv" } } });
  const none: { r2_buckets: Set<string>; kv_namespaces: Set<string> } = { r2_buckets: new Set(["ARCHIVE"]), kv_namespaces: new Set() };

  it("lists an r2 sink's bucket binding and ENRICH_KV; without wrangler.toml's bindings given, no error", () => {
    const r = checkConfigText(cfg);
    expect(r.ok).toBe(true);
    expect(r.bindings).toEqual([
      { name: "COLD_BUCKET", kind: "r2_buckets", path: "sinks.cold.binding" },
      { name: "ENRICH_KV", kind: "kv_namespaces", path: "enrich.inventory.kvKey" },
    ]);
    expect(formatReport("c.json", r)).toContain("  COLD_BUCKET  [[r2_buckets]]  (sinks.cold.binding)\n  ENRICH_KV  [[kv_namespaces]]  (enrich.inventory.kvKey)\n");
  });

  it("one wrangler.toml does not declare is an error naming the field and the table to add; declared ones pass", () => {
    const r = checkConfigText(cfg, undefined, none);
    expect(r.ok).toBe(false);
    expect(r.errors).toEqual([
      'sinks.cold.binding: the binding COLD_BUCKET is not declared in wrangler.toml (add [[r2_buckets]] binding = "COLD_BUCKET"): every event routed to the sink would be rejected and dead-lettered',
      'enrich.inventory.kvKey: the binding ENRICH_KV is not declared in wrangler.toml (add [[kv_namespaces]] binding = "ENRICH_KV"): the inventory rows in KV would never be loaded',
    ]);
    const both = { r2_buckets: new Set(["ARCHIVE", "COLD_BUCKET"]), kv_namespaces: new Set(["ENRICH_KV"]) };
    expect(checkConfigText(cfg, undefined, both).ok).toBe(true);
    // the JSON string form (wrangler [vars]) is checked the same way
    expect(checkConfigText(JSON.stringify(cfg), undefined, none).errors).toHaveLength(2);
    expect(checkConfigText("{}", undefined, none)).toMatchObject({ ok: true, bindings: [] });
  });
});

describe("npm run check-config", () => {
  const run = (...args: string[]) => spawnSync(process.execPath, ["node_modules/tsx/dist/cli.mjs", "scripts/check-config.ts", ...args], { encoding: "utf8", timeout: 60_000 });
  /** Runs `fn` with a fresh temporary directory, removed afterwards whatever happens. */
  const inTempDir = (fn: (dir: string) => void) => {
    const dir = mkdtempSync(join(tmpdir(), "check-config-"));
    try {
      fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it("--env-file with a malformed webhook secret: an error naming the binding (not the value), exit 1", () => {
    inTempDir((dir) => {
    const cfg = join(dir, "hook.json");
    writeFileSync(cfg, JSON.stringify({ sinks: { hook: { type: "webhook", url: "https://example.com/hook", secret: { env: "WEBHOOK_SECRET" } } }, routes: [{ sinks: ["hook"] }] }));
    const vars = join(dir, ".dev.vars");
    writeFileSync(vars, "WEBHOOK_SECRET=not-base64!!\n");
    const r = run("--env-file", vars, cfg);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("error: sinks.hook.secret: the secret WEBHOOK_SECRET in the given environment is not a Standard Webhooks secret");
    expect(r.stdout + r.stderr).not.toContain("not-base64!!");
    writeFileSync(vars, `WEBHOOK_SECRET=whsec_${Buffer.from("0123456789abcdef01234567").toString("base64")}\n`);
    expect(run("--env-file", vars, cfg).status).toBe(0);
    });
  });

  it("a config needing a binding the repo's wrangler.toml lacks (an r2 sink's bucket): exit 1 naming it", () => {
    inTempDir((dir) => {
    const cfg = join(dir, "cold.json");
    writeFileSync(cfg, JSON.stringify({ sinks: { cold: { type: "r2", binding: "COLD_BUCKET" } }, routes: [{ sinks: ["cold"] }] }));
    const r = run(cfg);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('error: sinks.cold.binding: the binding COLD_BUCKET is not declared in wrangler.toml (add [[r2_buckets]] binding = "COLD_BUCKET")');
    writeFileSync(cfg, JSON.stringify({ sinks: { copy: { type: "r2", binding: "ARCHIVE" } }, routes: [{ sinks: ["copy"] }] }));
    const ok = run(cfg);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain("  ARCHIVE  [[r2_buckets]]  (sinks.copy.binding)");
    });
  });

  it("prints OK for examples/routing.json and the named fields of a broken file; exits 0 valid, 1 invalid, 2 on a usage error", () => {
    inTempDir((dir) => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify(broken));
    const both = run("examples/routing.json", bad);
    expect(both.status).toBe(1); // one of the two is invalid
    expect(both.stdout).toMatch(/^OK: examples\/routing\.json is a valid Tributary config/);
    expect(both.stdout).toContain("SPLUNK_HEC_TOKEN  (sinks.splunk.token)");
    expect(both.stderr).toContain("invalid config (3 errors)");
    expect(both.stderr).toContain("error: sinks.siem.url: Invalid URL");
    expect(run("examples/routing.json").status).toBe(0);
    expect(run("--env-file").status).toBe(2);
    });
  });

  it("checks the bundled tributary.config.json without a file; a TRIBUTARY_CONFIG over 5 KB in the env file is an error pointing at that file", () => {
    const plain = run();
    expect(plain.status).toBe(0);
    expect(plain.stdout).toMatch(/^OK: tributary\.config\.json is a valid Tributary config/);
    inTempDir((dir) => {
    const big = JSON.stringify(bigConfig());
    expect(checkConfigText(big).ok).toBe(true);
    const vars = join(dir, ".dev.vars");
    writeFileSync(vars, `TRIBUTARY_CONFIG='${big}'\n`);
    const over = run("--env-file", vars);
    expect(over.status).toBe(1);
    expect(over.stderr).toContain(`error: TRIBUTARY_CONFIG in ${vars}: ${big.length} bytes, more than the 5120 bytes (5 KB)`);
    expect(over.stderr).toContain("put the config in tributary.config.json at the repo root instead");
    // the same config as a named file: valid, with a warning that it can only be the bundled file
    const file = join(dir, "big.json");
    writeFileSync(file, big);
    const named = run(file);
    expect(named.status).toBe(0);
    expect(named.stdout).toContain(`warning: ${file}: ${big.length} bytes, more than the 5120 bytes`);
    // a small TRIBUTARY_CONFIG is checked as the config the Worker uses
    writeFileSync(vars, `TRIBUTARY_CONFIG='{"limits":{"maxRecords":0}}'\n`);
    const small = run("--env-file", vars);
    expect(small.status).toBe(1);
    expect(small.stdout).toContain(`note: TRIBUTARY_CONFIG in ${vars} is set: the Worker uses it, not tributary.config.json`);
    expect(small.stderr).toContain(`TRIBUTARY_CONFIG in ${vars}: invalid config (1 error)`);
    });
  });
});

describe("check-config: redact", () => {
  it("counts the redaction rules and names the presets; without `redact` says nothing of it", () => {
    const on = checkConfigText(JSON.stringify({ redact: { rules: [{ pattern: "pin=(\\d+)" }, { pattern: "x", binary: "mysql" }], presets: ["credentials"] } }));
    expect(formatReport("c.json", on)).toContain("0 ingest credential(s), 2 redaction rule(s) + preset credentials)");
    expect(formatReport("c.json", checkConfigText("{}"))).not.toContain("redaction");
    const bad = checkConfigText(JSON.stringify({ redact: { rules: [{ pattern: "(" }] } }));
    expect(bad.errors).toEqual([expect.stringMatching(/^redact\.rules\.0\.pattern: not a valid regular expression/)]);
  });
});

describe("check-config: several tenants", () => {
  const auth = {
    tokens: [{ tenant: "team-a", token: { env: "TOKEN_A" } }, { tenant: "team-a", token: { env: "TOKEN_A_NEXT" } }],
    hmac: [{ tenant: "team-c", secret: { env: "HMAC_C" } }],
  };
  const adminWarnings = (cfg: unknown) => checkConfigText(JSON.stringify(cfg)).warnings.filter((w) => w.startsWith("delivery.adminToken"));

  it("counts the HMAC signers among the ingest credentials", () => {
    const r = checkConfigText(JSON.stringify({ auth, delivery: { adminToken: { env: "ADMIN" } } }));
    expect(formatReport("c.json", r)).toContain("0 route(s), 3 ingest credential(s))");
  });

  it("warns when more than one tenant can send and delivery.adminToken is not set, saying what /v1/test and the admin endpoints then do", () => {
    const [w, ...more] = adminWarnings({ auth });
    expect(more).toEqual([]);
    expect(w).toContain('not set while 2 tenants can send ("team-a", "team-c"): POST /v1/test takes any of their ingest credentials');
    expect(w).toContain("/v1/dlq (npm run dlq), /v1/backfill and /v1/quarantine (npm run quarantine) answer 403 outside local development");
    expect(w).toContain("(TRIBUTARY_DEV=true) they and /v1/archive are open without any token");
    // set, or one tenant (however many credentials): no warning
    expect(adminWarnings({ auth, delivery: { adminToken: { env: "ADMIN" } } })).toEqual([]);
    expect(adminWarnings({ auth: { tokens: auth.tokens } })).toEqual([]);
  });
});
