// Event text that ends up in names and metadata a SIEM acts on: a Falco alert's `source` (metadata.log_name)
// and `priority` (the caption of severity 99) are whatever the sender wrote. They must not choose another
// Elasticsearch index, add Datadog tags, or make Loki refuse a whole push (docs/security.md).
import { describe, expect, it } from "vitest";
import { gunzipSync, strFromU8 } from "fflate";
import { runPipeline } from "../../src/pipeline";
import { parseJson, type JsonObject } from "../../src/normalize/json";
import { elasticsearch } from "../../src/sinks/elasticsearch";
import { datadog } from "../../src/sinks/datadog";
import { splunkHec } from "../../src/sinks/splunk-hec";
import { loki, MAX_LABEL_VALUE } from "../../src/sinks/loki";
import { MAX_NAME_PART, NO_TENANT, expand, nameSafe, templateSchema } from "../../src/sinks/batch";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import type { SinkContext } from "../../src/sinks/types";
import { fixture } from "../support/fixtures";
import { FIXED_CTX } from "../support/fixture-pipeline";

const ctx: SinkContext = { env: { K: "secret-value" }, now: FIXED_CTX.receivedAt };
const URL = "http://127.0.0.1:9";

function hostileEvent(source: string, priority: string, tenant?: string): OcsfEvent {
  const rec = JSON.parse(fixture("falco/terminal-shell-in-container__falco-docs.json")) as JsonObject;
  rec.source = source;
  rec.priority = priority;
  const r = runPipeline([parseJson(JSON.stringify(rec))], ["[0]"], [], { ctx: tenant === undefined ? FIXED_CTX : { ...FIXED_CTX, tenant } });
  expect(r.errors).toEqual([]);
  return r.events[0]!.event;
}

const text = (body: string | Uint8Array): string => (typeof body === "string" ? body : strFromU8(gunzipSync(body)));

describe("event text in sink names and metadata", () => {
  it("nameSafe keeps letters, digits, _ and -, replaces the rest, and bounds the length", () => {
    expect(nameSafe("syscall")).toBe("syscall");
    expect(nameSafe("../../.kibana,logs-*#x y\r\n")).toBe("_______kibana_logs-__x_y__");
    expect(nameSafe("a".repeat(10_000))).toHaveLength(MAX_NAME_PART);
  });

  it("an Elasticsearch index from {log_name} stays in the template's family", async () => {
    const e = hostileEvent("../../.security,logs-* x", "Critical");
    const cfg = elasticsearch.schema.parse({ url: URL, index: "ocsf-{log_name}", compression: "none" });
    const [req] = await elasticsearch.encode([e], cfg, ctx);
    const action = JSON.parse(text(req!.body).split("\n")[0]!) as { create: { _index: string } };
    expect(action.create._index).toBe("ocsf-_______security_logs-__x");
    expect(action.create._index).toMatch(/^ocsf-[a-z0-9_-]+$/);
  });

  it("a Falco priority with commas adds no Datadog tags; ddsource/service from {log_name} are names", async () => {
    const e = hostileEvent("x,env:prod", "Whatever,env:prod,team:attacker");
    const cfg = datadog.schema.parse({ url: URL, apiKey: { env: "K" }, compression: "none", ddsource: "{log_name}", service: "{product}" });
    const [req] = await datadog.encode([e], cfg, ctx);
    const [log] = JSON.parse(text(req!.body)) as { ddtags: string; ddsource: string; service: string }[];
    // the event is from 2023: it is also tagged tributary_late:true
    expect(log!.ddtags.split(",")).toEqual(["class_uid:2004", "severity:whatever_env_prod_team_attacker", "tributary_late:true"]);
    expect(log!.ddsource).toBe("x_env_prod");
    expect(log!.service).toBe("falco");
  });

  it("Splunk source/sourcetype from {log_name} are names", async () => {
    const e = hostileEvent("a/../b\nsourcetype=evil", "Critical");
    const cfg = splunkHec.schema.parse({ url: URL, token: { env: "K" }, compression: "none", source: "{log_name}", sourcetype: "ocsf:{log_name}" });
    const [req] = await splunkHec.encode([e], cfg, ctx);
    const env = JSON.parse(text(req!.body)) as { source: string; sourcetype: string };
    expect(env.source).toBe("a____b_sourcetype_evil");
    expect(env.sourcetype).toBe("ocsf:a____b_sourcetype_evil");
  });

  it("a Loki label value from a long sender field is cut below Loki's limit", async () => {
    const e = hostileEvent("s".repeat(5000), "Critical");
    const cfg = loki.schema.parse({ url: URL, compression: "none" });
    const [req] = await loki.encode([e], cfg, ctx);
    const body = JSON.parse(text(req!.body)) as { streams: { stream: Record<string, string> }[] };
    expect(body.streams[0]!.stream.source).toBe("s".repeat(MAX_LABEL_VALUE));
  });
});

describe("{tenant} in name templates", () => {
  const teamA = hostileEvent("syscall", "Critical", "Team A/eu,prod");
  // ingested without a credential (auth not required): no tenant_uid
  const { tenant_uid: _, ...untenanted } = teamA.metadata;
  const none: OcsfEvent = { ...teamA, metadata: untenanted };

  it("is the event's metadata.tenant_uid made a name, and none without one", () => {
    expect([teamA.metadata.tenant_uid, none.metadata.tenant_uid]).toEqual(["Team A/eu,prod", undefined]);
    expect([expand("{tenant}", teamA), expand("{tenant}", none)]).toEqual(["Team_A_eu_prod", NO_TENANT]);
    expect(expand("{tenant}", { ...teamA, metadata: { ...teamA.metadata, tenant_uid: "" } })).toBe("none");
    expect(expand("{tenant}", hostileEvent("syscall", "Critical", "t".repeat(500)))).toBe("t".repeat(MAX_NAME_PART));
    expect(templateSchema.safeParse("ocsf-{tenant}").success).toBe(true);
    expect(templateSchema.safeParse("ocsf-{tenant_uid}").error?.issues[0]?.message).toMatch(/unknown placeholder; use .*\{tenant\}/);
  });

  it("an Elasticsearch index, Splunk source/sourcetype and Datadog ddsource/service per tenant", async () => {
    const es = elasticsearch.schema.parse({ url: URL, index: "ocsf-{tenant}-{class_uid}", compression: "none" });
    const [esReq] = await elasticsearch.encode([teamA, none], es, ctx);
    const actions = text(esReq!.body).split("\n").filter((_, i) => i % 2 === 0 && _ !== "").map((l) => (JSON.parse(l) as { create: { _index: string } }).create._index);
    expect(actions).toEqual(["ocsf-team_a_eu_prod-2004", "ocsf-none-2004"]);

    const hec = splunkHec.schema.parse({ url: URL, token: { env: "K" }, compression: "none", source: "{tenant}", sourcetype: "ocsf:{tenant}:{class_uid}" });
    const [hecReq] = await splunkHec.encode([teamA, none], hec, ctx);
    const envelopes = text(hecReq!.body).split(/(?<=\})(?=\{"time":)/).map((t) => JSON.parse(t) as { source: string; sourcetype: string });
    expect(envelopes.map((x) => [x.source, x.sourcetype])).toEqual([["Team_A_eu_prod", "ocsf:Team_A_eu_prod:2004"], ["none", "ocsf:none:2004"]]);

    const dd = datadog.schema.parse({ url: URL, apiKey: { env: "K" }, compression: "none", ddsource: "tributary-{tenant}", service: "{tenant}" });
    const [ddReq] = await datadog.encode([teamA, none], dd, ctx);
    const logs = JSON.parse(text(ddReq!.body)) as { ddsource: string; service: string }[];
    expect(logs.map((l) => [l.ddsource, l.service])).toEqual([["tributary-Team_A_eu_prod", "Team_A_eu_prod"], ["tributary-none", "none"]]);
  });
});
