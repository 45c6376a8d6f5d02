// examples/multi-tenant.json, one Tributary for three teams (docs/security.md, docs/sinks.md name templates):
// it is a valid config without warnings; each tenant's credential (bearer tokens, an HMAC signer in
// rotation) files its events under its own tenant, and the shared Loki and Elasticsearch sinks send
// them to that tenant's org and indices only.
import { describe, expect, it } from "vitest";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";
import example from "../../examples/multi-tenant.json?raw";
import { checkConfigText } from "../../src/ops/check-config";
import { loki, lokiConfig } from "../../src/sinks/loki";
import { elasticsearch, elasticsearchConfig } from "../../src/sinks/elasticsearch";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { call, CaptureQueue } from "../routes/helpers";
import { fixture } from "../support/fixtures";

const config = JSON.parse(example) as { sinks: Record<string, unknown> };
const vars: Record<string, string> = Object.fromEntries(checkConfigText(example).secrets.map((s) => [s.name, `secret-${s.name.toLowerCase()}`]));

async function post(source: string, body: string, headers: Record<string, string>, queue: CaptureQueue): Promise<number> {
  const req = new Request(`http://tributary/v1/events/${source}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
  return (await call(req, { config, dev: false, queue, vars })).status;
}

/** A sink's own settings (without `type`), as its driver's schema takes them. */
const settings = (name: string): unknown => {
  const { type: _type, ...rest } = config.sinks[name] as Record<string, unknown>;
  return rest;
};
const bearer = (name: string) => ({ authorization: `Bearer ${vars[name]}` });
const signed = (name: string, body: string) => ({ "x-team-c-signature": `sha256=${bytesToHex(hmac(sha256, utf8ToBytes(vars[name]!), utf8ToBytes(body)))}` });

describe("examples/multi-tenant.json", () => {
  it("is a valid config with no warnings", () => {
    const r = checkConfigText(example);
    expect([r.errors, r.warnings, r.ok]).toEqual([[], [], true]);
  });

  it("each tenant's events go to its own Loki org and Elasticsearch indices; the same alert from two tenants has two uids", async () => {
    const queue = new CaptureQueue();
    const alert = fixture("falco/terminal-shell-in-container__falco-docs.json");
    const trail = fixture("cloudtrail/records__create-key-pair__aws-docs.json");
    expect(await post("falco", alert, bearer("TOKEN_TEAM_A"), queue)).toBe(202);
    expect(await post("falco", alert, bearer("TOKEN_TEAM_B"), queue)).toBe(202);
    expect(await post("cloudtrail", trail, bearer("TOKEN_TEAM_B"), queue)).toBe(403); // team-b: falco, tetragon only
    expect(await post("cloudtrail", trail, signed("HMAC_TEAM_C", trail), queue)).toBe(202);
    expect(await post("cloudtrail", trail, signed("HMAC_TEAM_C_NEXT", trail), queue)).toBe(202); // rotation: both secrets sign
    const events = queue.events() as unknown as OcsfEvent[];
    const tenantOf = (e: OcsfEvent) => (e.metadata as { tenant_uid?: string }).tenant_uid;
    expect(events.map(tenantOf)).toEqual(["team-a", "team-b", "team-c", "team-c"]);
    const uids = events.map((e) => (e.metadata as { uid: string }).uid);
    expect(new Set(uids).size).toBe(3); // team-c's resend is one uid; team-a's and team-b's alert two

    const ctx = { env: vars, now: Date.parse("2026-12-06T12:00:00Z") };
    const pushes = await loki.encode(events, lokiConfig.parse(settings("loki")), ctx);
    const orgOf = (i: number) => pushes.find((p) => p.events.includes(i))!.headers["x-scope-orgid"];
    expect(events.map((_, i) => orgOf(i))).toEqual(events.map(tenantOf));
    for (const p of pushes) expect(new Set(p.events.map((i) => tenantOf(events[i]!)))).toEqual(new Set([p.headers["x-scope-orgid"]]));

    const [bulk] = await elasticsearch.encode(events, elasticsearchConfig.parse(settings("es")), ctx);
    const body = typeof bulk!.body === "string" ? bulk!.body : new TextDecoder().decode(bulk!.body);
    const indices = body
      .trim()
      .split("\n")
      .filter((_, k) => k % 2 === 0)
      .map((l) => (JSON.parse(l) as { create: { _index: string } }).create._index);
    expect(indices).toEqual(["ocsf-team-a-2004", "ocsf-team-b-2004", "ocsf-team-c-6003", "ocsf-team-c-6003"]);
  });
});
