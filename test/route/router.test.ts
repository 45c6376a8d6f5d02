// Routing rules: each match key, first match vs continue, the default route, archive_all, interned
// sink lists, config errors naming the exact field, and the examples of docs/routing.md.
import { describe, it, expect, beforeAll } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { makeRouter } from "../../src/route/index";
import { parseConfig } from "../../src/config/load";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { fixtureEvents } from "../support/siem-servers";
import { normalizeFalco } from "../../src/normalize/falco";

const S3 = { type: "s3", bucket: "bucket-1", accessKeyId: "k", secretAccessKey: { env: "S" } };
const HOOK = { type: "webhook", url: "https://hook.example/x", secret: { env: "W" } };

/** A router over sinks a, b, c (all S3) and the given routes. */
function router(routes: unknown[], extra: Record<string, unknown> = {}) {
  return makeRouter(parseConfig({ sinks: { a: S3, b: S3, c: HOOK }, routes, ...extra }));
}

function configError(cfg: unknown): string {
  try {
    parseConfig(cfg);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("config was accepted");
}

let events: OcsfEvent[];
const pick = (f: (e: OcsfEvent) => boolean): OcsfEvent => {
  const e = events.find(f);
  if (!e) throw new Error("no such fixture event");
  return structuredClone(e);
};
const product = (name: string) => (e: OcsfEvent) => e.metadata.product.name === name;

beforeAll(() => {
  events = fixtureEvents();
});

describe("router: match keys", () => {
  it("with no routes sends everything to the archive only", () => {
    const r = makeRouter(parseConfig({}));
    for (const e of events) expect(r(e)).toEqual(["archive"]);
  });

  it("class_uid and category_uid (one value or a list)", () => {
    const r = router([
      { match: { class_uid: 2004 }, sinks: ["a"] },
      { match: { class_uid: [1007, 4001] }, sinks: ["b"] },
      { match: { category_uid: 6 }, sinks: ["c"] },
    ]);
    for (const e of events) {
      const want = e.class_uid === 2004 ? ["a"] : [1007, 4001].includes(e.class_uid) ? ["b"] : e.category_uid === 6 ? ["c"] : [];
      expect(r(e), `class ${e.class_uid}`).toEqual(["archive", ...want].sort());
    }
  });

  it("severity_at_least, numeric or by caption; 99 (Other) never passes", () => {
    const byName = router([{ match: { severity_at_least: "High" }, sinks: ["a"] }]);
    const byId = router([{ match: { severity_at_least: 4 }, sinks: ["a"] }]);
    for (const e of events) {
      const want = e.severity_id >= 4 && e.severity_id !== 99;
      expect(byName(e).includes("a")).toBe(want);
      expect(byId(e).includes("a")).toBe(want);
    }
    expect(events.some((e) => e.severity_id >= 4)).toBe(true);
    expect(byId({ ...pick(product("Falco")), severity_id: 99 })).toEqual(["archive"]);
  });

  it("source, from the product that produced the event", () => {
    const r = router([
      { match: { source: "falco" }, sinks: ["a"] },
      { match: { source: ["tetragon", "k8s_audit"] }, sinks: ["b"] },
      { match: { source: "cloudtrail" }, sinks: ["c"] },
    ]);
    const want: Record<string, string> = { Falco: "a", Tetragon: "b", Kubernetes: "b", CloudTrail: "c" };
    for (const e of events) expect(r(e)).toEqual(["archive", want[e.metadata.product.name]!].sort());
    expect(new Set(events.map((e) => e.metadata.product.name))).toEqual(new Set(Object.keys(want)));
  });

  it("tags_any: Falco rule tags, metadata.labels and metadata.tags", () => {
    const r = router([{ match: { tags_any: ["mitre_execution", "falco_internal", "team:red"] }, sinks: ["a"] }]);
    const shell = pick((e) => ((e.finding_info as { types?: string[] } | undefined)?.types ?? []).includes("mitre_execution"));
    expect(r(shell)).toEqual(["a", "archive"]);
    const internal = pick((e) => (e.metadata.labels ?? []).includes("falco_internal"));
    expect(r(internal)).toEqual(["a", "archive"]);
    const tagged = pick(product("CloudTrail"));
    expect(r(tagged)).toEqual(["archive"]);
    tagged.metadata.tags = [{ name: "team", value: "red" }];
    expect(r(tagged)).toEqual(["a", "archive"]);
    // one tag without a list, as every other match key takes one value
    const one = router([{ match: { tags_any: "mitre_execution" }, sinks: ["a"] }]);
    expect(one(shell)).toEqual(["a", "archive"]);
    expect(one(internal)).toEqual(["archive"]);
  });

  it("tenant", () => {
    const r = router([{ match: { tenant: ["acme", "globex"] }, sinks: ["a"] }]);
    const e = pick(product("Tetragon"));
    expect(r(e)).toEqual(["archive"]);
    expect(r({ ...e, metadata: { ...e.metadata, tenant_uid: "acme" } })).toEqual(["a", "archive"]);
    expect(r({ ...e, metadata: { ...e.metadata, tenant_uid: "initech" } })).toEqual(["archive"]);
  });

  it("host_labels: every key, one of the values or *, from the inventory, node_labels or unmapped.host_labels", () => {
    const r = router([{ match: { host_labels: { environment: ["prod", "staging"], team: "*" } }, sinks: ["a"] }]);
    const e = pick(product("Falco"));
    const inventory = (data: Record<string, unknown>) => ({ ...e, enrichments: [{ name: "device.hostname", value: "h", type: "asset_inventory", data }] }) as OcsfEvent;
    expect(r(e)).toEqual(["archive"]);
    expect(r(inventory({ environment: "prod", team: "payments" }))).toEqual(["a", "archive"]);
    expect(r(inventory({ environment: "dev", team: "payments" }))).toEqual(["archive"]);
    expect(r(inventory({ environment: "prod" }))).toEqual(["archive"]);
    expect(r(inventory({ labels: { environment: "staging", team: "x" } }))).toEqual(["a", "archive"]);
    expect(r({ ...e, unmapped: { node_labels: { environment: "prod", team: "k8s" } } })).toEqual(["a", "archive"]);
    expect(r({ ...e, unmapped: { host_labels: { environment: "staging", team: "ops" } } })).toEqual(["a", "archive"]);
  });

  it("intel_hit: a threat_intel enrichment or a malicious reputation; false matches clean events", () => {
    const r = router([
      { match: { intel_hit: true }, sinks: ["a"] },
      { match: { intel_hit: false }, sinks: ["b"] },
    ]);
    const e = pick(product("CloudTrail"));
    expect(r(e)).toEqual(["archive", "b"]);
    const enriched = { ...e, enrichments: [{ name: "src_endpoint.ip", value: "203.0.113.9", type: "threat_intel", data: { feed: "x" } }] } as OcsfEvent;
    expect(r(enriched)).toEqual(["a", "archive"]);
    const rep = (score_id: number) => ({ ...e, observables: [{ name: "src_endpoint.ip", type_id: 2, value: "203.0.113.9", reputation: { base_score: 90, score_id } }] }) as OcsfEvent;
    expect(r(rep(9))).toEqual(["a", "archive"]);
    expect(r(rep(3))).toEqual(["archive", "b"]);
  });

  it("rule: the Falco rule (finding title), Tetragon policy or API operation, as noise policies read it", () => {
    const r = router([
      { match: { rule: "Terminal shell in container" }, sinks: ["a"] },
      { match: { rule: ["CreateUser", "nope"] }, sinks: ["b"] },
    ]);
    for (const e of events) {
      const title = (e.finding_info as { title?: string } | undefined)?.title;
      const op = (e as { api?: { operation?: string } }).api?.operation;
      const want = title === "Terminal shell in container" ? ["a"] : title === undefined && op === "CreateUser" ? ["b"] : [];
      expect(r(e), `${title ?? op}`).toEqual(["archive", ...want].sort());
    }
    expect(events.filter((e) => r(e).includes("a")).length).toBeGreaterThan(0);
  });

  it("fields: every OCSF path holds one of the values, compared as text (an absent path reads as \"\")", () => {
    const hostOf = (e: OcsfEvent) => (e.device as { hostname?: unknown } | undefined)?.hostname;
    const falco = pick((e) => product("Falco")(e) && typeof hostOf(e) === "string");
    const host = hostOf(falco) as string;
    const r = router([
      { match: { fields: { "device.hostname": host, severity_id: [falco.severity_id, 99] } }, sinks: ["a"] },
      { match: { fields: { "resources[0].namespace": "payments" } }, sinks: ["b"] },
      { match: { fields: { "device.hostname": "" } }, sinks: ["c"] },
    ]);
    expect(r(falco)).toEqual(["a", "archive"]);
    expect(r({ ...falco, severity_id: falco.severity_id === 1 ? 2 : 1 })).toEqual(["archive"]);
    expect(r({ ...falco, device: { hostname: "other" }, resources: [{ type: "Pod", namespace: "payments" }] } as OcsfEvent)).toEqual(["archive", "b"]);
    expect(r({ ...falco, device: undefined } as OcsfEvent)).toEqual(["archive", "c"]);
  });

  it("not: the event must not match the sub-match; the other keys still must", () => {
    const r = router([{ match: { source: "falco", not: { tags_any: ["k8s.namespace:kube-system", "k8s.namespace:falco"], severity_at_least: "high" } }, sinks: ["a"] }]);
    const falco = pick(product("Falco"));
    const inNs = (ns: string, severity_id: number): OcsfEvent => ({ ...falco, severity_id, metadata: { ...falco.metadata, labels: [`k8s.namespace:${ns}`] } });
    expect(r(inNs("kube-system", 5))).toEqual(["archive"]); // matches the whole of not: left out
    expect(r(inNs("falco", 4))).toEqual(["archive"]);
    expect(r(inNs("kube-system", 3))).toEqual(["a", "archive"]); // not's keys are ANDed too: Medium is not left out
    expect(r(inNs("payments", 5))).toEqual(["a", "archive"]);
    expect(r(pick(product("Tetragon")))).toEqual(["archive"]); // source still must match
    // "all but": not alone, on rule and fields
    const allBut = router([{ match: { not: { rule: "Terminal shell in container" } }, sinks: ["b"] }]);
    for (const e of events) expect(allBut(e).includes("b")).toBe((e.finding_info as { title?: string } | undefined)?.title !== "Terminal shell in container");
  });

  it("all keys of one match must hold (AND)", () => {
    const r = router([{ match: { source: "falco", severity_at_least: "high", tags_any: ["shell"] }, sinks: ["a"] }]);
    for (const e of events) {
      const tags = (e.finding_info as { types?: string[] } | undefined)?.types ?? [];
      const want = e.metadata.product.name === "Falco" && e.severity_id >= 4 && tags.includes("shell");
      expect(r(e).includes("a")).toBe(want);
    }
    expect(events.filter((e) => r(e).includes("a")).length).toBe(1);
  });
});

describe("router: order, defaults, archive", () => {
  it("the first matching route wins; continue adds the next matches", () => {
    const stop = router([
      { match: { class_uid: 2004 }, sinks: ["a"] },
      { match: { source: "falco" }, sinks: ["b"] },
    ]);
    const go = router([
      { match: { class_uid: 2004 }, sinks: ["a"], continue: true },
      { match: { source: "falco" }, sinks: ["b"] },
      { sinks: ["c"] },
    ]);
    const falco = pick(product("Falco"));
    expect(stop(falco)).toEqual(["a", "archive"]);
    expect(go(falco)).toEqual(["a", "archive", "b"]);
    // the catch-all route (no match) takes what the others left
    expect(go(pick(product("Tetragon")))).toEqual(["archive", "c"]);
  });

  it("default_sinks take the events no route matched", () => {
    const r = router([{ match: { class_uid: 2004 }, sinks: ["a"] }], { default_sinks: ["b"] });
    expect(r(pick(product("Tetragon")))).toEqual(["archive", "b"]);
    expect(r(pick(product("Falco")))).toEqual(["a", "archive"]);
  });

  it("archive_all: false archives only what the routes say", () => {
    const r = router([{ match: { class_uid: 2004 }, sinks: ["a", "archive"] }], { archive_all: false, default_sinks: ["b"] });
    expect(r(pick(product("Falco")))).toEqual(["a", "archive"]);
    expect(r(pick(product("Tetragon")))).toEqual(["b"]);
    const none = router([{ match: { class_uid: 2004 }, sinks: ["a"] }], { archive_all: false, default_sinks: [] });
    expect(none(pick(product("Tetragon")))).toEqual([]);
  });

  it("returns one shared, sorted, de-duplicated array per sink set", () => {
    const r = router([
      { match: { source: "falco" }, sinks: ["c", "a"], continue: true },
      { match: { class_uid: 2004 }, sinks: ["a"] },
    ]);
    const x = r(pick(product("Falco")));
    const y = r(pick((e) => product("Falco")(e) && e.severity_id === 1));
    expect(x).toEqual(["a", "archive", "c"]);
    expect(y).toBe(x);
  });
});

describe("routing config errors name the exact field", () => {
  it("unknown sinks in routes and default_sinks", () => {
    expect(configError({ sinks: { a: S3 }, routes: [{ sinks: ["a"] }, { sinks: ["nope"] }] })).toMatch(/routes\.1\.sinks\.0: unknown sink "nope"/);
    expect(configError({ sinks: { a: S3 }, default_sinks: ["a", "gone"] })).toMatch(/default_sinks\.1: unknown sink "gone"/);
    expect(configError({ sinks: { archive: S3 } })).toMatch(/sinks\.archive: "archive" is the built-in R2 archive/);
  });

  it("bad match values and unknown match keys", () => {
    expect(configError({ routes: [{ match: { severity_at_least: "urgent" }, sinks: ["archive"] }] })).toMatch(/routes\.0\.match\.severity_at_least: unknown severity "urgent"/);
    expect(configError({ routes: [{ match: { source: "syslog" }, sinks: ["archive"] }] })).toMatch(/routes\.0\.match\.source/);
    // what a value must be, not only "Invalid input"
    const route = (match: unknown) => configError({ routes: [{ match, sinks: ["archive"] }] });
    expect(route({ source: "Falco" })).toContain('routes.0.match.source: expected one of falco, tetragon, k8s_audit, cloudtrail (lower case), or a list of them (got "Falco")');
    expect(route({ class_uid: ["2004"] })).toContain('routes.0.match.class_uid: expected an OCSF class_uid (a number, e.g. 2004), or a list of them (got ["2004"])');
    expect(route({ host_labels: { env: ["prod", 1] } })).toContain("routes.0.match.host_labels.env: expected a label value");
    expect(route({ tags_any: 5 })).toContain("routes.0.match.tags_any: expected a tag (a non-empty string), or a list of them (got 5)");
    expect(configError({ noise: { dedup: [{ match: { rule: 7, fields: { "device.hostname": null } } }] } })).toMatch(
      /noise\.dedup\.0\.match\.rule: expected a rule name \(a non-empty string\), or a list of them \(got 7\).*noise\.dedup\.0\.match\.fields\.device\.hostname: expected a value \(a string, number or boolean\)/,
    );
    // an unknown match key: the keys there are, and a hint for what Falcosidekick users write
    const keys = "use source, class_uid, category_uid, severity_at_least, tags_any, tenant, host_labels, intel_hit, rule, fields, not";
    expect(configError({ routes: [{ match: { priority: "high" }, sinks: ["archive"] }] })).toContain(
      `routes.0.match.priority: unknown match key (severity_at_least takes Falco priorities, e.g. "warning"): ${keys}`,
    );
    expect(route({ rulename: "Terminal shell in container" })).toContain(`routes.0.match.rulename: unknown match key (use rule): ${keys}`);
    // inside not: the same hints, a bad value named under not, no nested not, no empty not
    const inNot = route({ source: "falco", not: { namespace: "kube-system", tags_any: 5 } });
    expect(inNot).toContain(`routes.0.match.not.namespace: unknown match key (use tags_any "k8s.namespace:<ns>" or fields {"resources[0].namespace": "<ns>"}): ${keys}`);
    expect(inNot).toContain("routes.0.match.not.tags_any: expected a tag (a non-empty string), or a list of them (got 5)");
    expect(route({ not: { rule: "x", not: { rule: "y" } } })).toContain("routes.0.match.not.not: no not inside not: one level of negation");
    expect(route({ not: {} })).toContain("routes.0.match.not: an empty not leaves out every event");
    expect(route({ fields: { "evidences[0": "x" } })).toContain("routes.0.match.fields.evidences[0: an OCSF path is names separated by dots");
    // noise policies take the same match (the same schema): not and its errors there too
    expect(configError({ noise: { sample: [{ match: { not: { not: { rule: "y" } } }, rate: 0.5 }] } })).toContain("noise.sample.0.match.not.not: no not inside not");
    expect(configError({ noise: { sample: [{ match: { not: { rule: 7 } }, rate: 0.5 }] } })).toContain("noise.sample.0.match.not.rule: expected a rule name (a non-empty string), or a list of them (got 7)");
    const two = configError({ routes: [{ sinks: ["archive"] }, { match: { tags: ["shell"], hostname: "h", severity_at_least: "urgent" }, sinks: ["nowhere"] }] });
    expect(two).toContain(`routes.1.match.tags: unknown match key (use tags_any): ${keys}`);
    expect(two).toContain(`routes.1.match.hostname: unknown match key: ${keys}`);
    expect(two).toContain('routes.1.sinks.0: unknown sink "nowhere"');
    expect(two).toContain('routes.1.match.severity_at_least: unknown severity "urgent"'); // the known keys are checked in the same run
    expect(two).not.toContain("unknown field");
    expect(configError({ routes: [{ sinks: [] }] })).toMatch(/routes\.0\.sinks:/);
  });

  it("severity_at_least takes Falco priorities (Falcosidekick's minimumpriority) as the Falco mapping ranks them", () => {
    // Falcosidekick-style alerts of every Falco priority, through the real normalizer
    const PRIORITIES = ["Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"];
    const alert = (priority: string) =>
      normalizeFalco(
        { uuid: `0000000${PRIORITIES.indexOf(priority)}-3b1d-4c8e-9f55-2a7d1e0b4c11`, rule: "r", priority, source: "syscall", time: "2026-01-02T03:04:05Z", output: "o", output_fields: { "proc.name": "sh" } },
        { ocsfVersion: "1.3.0", receivedAt: 0 },
      );
    const passing = (minimumpriority: string) => {
      const r = router([{ match: { severity_at_least: minimumpriority }, sinks: ["a"] }], { default_sinks: [] });
      return PRIORITIES.filter((p) => r(alert(p)).includes("a"));
    };
    expect(passing("emergency")).toEqual(["Emergency"]);
    // Alert and Critical are both OCSF Critical (5), Informational and Debug both Informational (1)
    expect(passing("Alert")).toEqual(["Emergency", "Alert", "Critical"]);
    expect(passing("critical")).toEqual(["Emergency", "Alert", "Critical"]);
    expect(passing("error")).toEqual(["Emergency", "Alert", "Critical", "Error"]);
    expect(passing("warning")).toEqual(["Emergency", "Alert", "Critical", "Error", "Warning"]);
    expect(passing(" Notice ")).toEqual(PRIORITIES.slice(0, 6));
    for (const low of ["informational", "info", "debug"]) expect(passing(low)).toEqual(PRIORITIES);
    // the OCSF captions keep their meaning
    expect(passing("high")).toEqual(["Emergency", "Alert", "Critical", "Error"]);
    expect(passing("fatal")).toEqual(["Emergency"]);
    expect(configError({ routes: [{ match: { severity_at_least: "warn" }, sinks: ["archive"] }] })).toContain(
      'routes.0.match.severity_at_least: unknown severity "warn": use 0-6 or one of unknown, informational, low, medium, high, critical, fatal (OCSF) or emergency, alert, error, warning, notice, info, debug (Falco priorities)',
    );
  });

  it("source is the sensor: a Falco k8saudit-plugin alert is falco, not k8s_audit (docs/routing.md)", () => {
    const e = normalizeFalco(
      { rule: "Attach to cluster-admin Role", priority: "Warning", source: "k8s_audit", time: "2026-01-02T03:04:05Z", output: "o", output_fields: { "ka.user.name": "bob", "ka.verb": "create" } },
      { ocsfVersion: "1.3.0", receivedAt: 0 },
    );
    expect(e.metadata.log_name).toBe("k8s_audit");
    const r = router([{ match: { source: "k8s_audit" }, sinks: ["a"] }, { match: { source: "falco" }, sinks: ["b"] }]);
    expect(r(e)).toEqual(["archive", "b"]);
  });

  it("sink configs are checked by their driver's schema", () => {
    expect(configError({ sinks: { siem: { type: "splunk_hec", url: "not a url", token: "t" } } })).toMatch(/sinks\.siem\.url: Invalid URL/);
    expect(configError({ sinks: { x: { type: "carrier_pigeon" } } })).toMatch(/sinks\.x\.type: unknown sink type "carrier_pigeon": use one of .*s3.*splunk_hec/);
    expect(configError({ sinks: { x: { ...S3, bucket: "ok-bucket", colour: "blue" } } })).toMatch(/sinks\.x\.colour: unknown field for a s3 sink/);
    expect(configError({ sinks: { x: { ...S3, batch: { maxEvents: 0 } } } })).toMatch(/sinks\.x\.batch\.maxEvents/);
  });
});

describe("docs/delivery.md examples", () => {
  it("every json example is a valid config", () => {
    const doc = readFileSync(join(import.meta.dirname, "..", "..", "docs", "delivery.md"), "utf8");
    const blocks = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!) as unknown);
    expect(blocks.length).toBeGreaterThanOrEqual(1);
    for (const b of blocks) expect(() => parseConfig(b)).not.toThrow();
  });
});

describe("docs/routing.md examples", () => {
  const doc = readFileSync(join(import.meta.dirname, "..", "..", "docs", "routing.md"), "utf8");
  const blocks = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!) as Record<string, unknown>);

  it("every json example is a valid config", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    for (const b of blocks) expect(() => parseConfig(b)).not.toThrow();
  });

  it("all to S3, high severity and intel hits to Slack, Detection Findings to Splunk", () => {
    const r = makeRouter(parseConfig(blocks[0]));
    const critical = pick((e) => product("Falco")(e) && e.severity_id === 5);
    const medium = pick((e) => product("Falco")(e) && e.severity_id === 3);
    const lowApi = pick((e) => product("CloudTrail")(e) && e.severity_id <= 2 && e.class_uid === 6003);
    expect(r(critical)).toEqual(["archive", "s3", "slack", "splunk"]);
    expect(r(medium)).toEqual(["archive", "s3", "splunk"]);
    expect(r(lowApi)).toEqual(["archive", "s3"]);
    const hit = { ...lowApi, enrichments: [{ name: "src_endpoint.ip", value: "198.51.100.7", type: "threat_intel", data: {} }] } as OcsfEvent;
    expect(r(hit)).toEqual(["archive", "s3", "slack"]);
    for (const e of events) expect(r(e)).toContain("s3");
  });

  it("per tenant, first match wins", () => {
    const r = makeRouter(parseConfig(blocks[1]));
    const e = pick((x) => product("Falco")(x) && x.severity_id === 3);
    expect(r({ ...e, metadata: { ...e.metadata, tenant_uid: "team-a" } })).toEqual(["archive", "team-a-siem"]);
    const prod = { ...e, enrichments: [{ name: "device.hostname", value: "h", type: "asset_inventory", data: { environment: "prod" } }] } as OcsfEvent;
    expect(r(prod)).toEqual(["archive", "lake"]);
    expect(r(e)).toEqual(["archive"]);
  });

  it("a Falco rule to Slack, a namespace by its tag or by the Falco field", () => {
    const r = makeRouter(parseConfig(blocks[2]));
    const shell = normalizeFalco(
      {
        time: "2026-01-01T00:00:00Z",
        rule: "Terminal shell in container",
        priority: "Notice",
        source: "syscall",
        output: "A shell was spawned",
        output_fields: { "k8s.ns.name": "payments", "k8s.pod.name": "api-0", "container.id": "0123456789ab", "proc.name": "sh" },
      },
      { ocsfVersion: "1.3.0", receivedAt: 0 },
    );
    expect(r(shell)).toEqual(["archive", "oncall", "payments-siem"]); // by resources[0].namespace, no enricher
    const other = { ...shell, finding_info: { ...(shell.finding_info as object), title: "Other rule" }, resources: [] } as OcsfEvent;
    expect(r(other)).toEqual(["archive"]);
    const tagged = pick(product("Tetragon"));
    expect(r({ ...tagged, metadata: { ...tagged.metadata, labels: ["k8s.namespace:payments"] } })).toEqual(["archive", "payments-siem"]);
  });

  it("all but some: not leaves kube-system and falco out of the SIEM route", () => {
    const r = makeRouter(parseConfig(blocks[3]));
    const falco = pick((x) => product("Falco")(x) && x.severity_id === 3);
    const inNs = (e: OcsfEvent, ns: string, severity_id: number): OcsfEvent => ({ ...e, severity_id, metadata: { ...e.metadata, labels: [`k8s.namespace:${ns}`] } });
    expect(r(inNs(falco, "kube-system", 5))).toEqual(["archive", "oncall"]);
    expect(r(inNs(falco, "kube-system", 3))).toEqual(["archive"]);
    expect(r(inNs(falco, "payments", 3))).toEqual(["archive", "siem"]);
    expect(r(inNs(falco, "payments", 1))).toEqual(["archive"]);
  });
});
