// The Microsoft Sentinel sink (Logs Ingestion API) against fakes of Entra ID's token endpoint and of the ingestion
// endpoint on 127.0.0.1 (test/support/azure-fakes.ts): record shape, gzip, the token cache and its renewal, a
// refused token, refused credentials and RBAC (gone), 429, 400, splitting under the 1 MB call limit, and the
// delivery path through deliverToSink.
import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { gunzipSync, strFromU8 } from "fflate";
import { SENTINEL_COLUMNS, TOKEN_MARGIN_MS, clearSentinelTokens, sentinel, timeGenerated, type SentinelConfig } from "../../src/sinks/sentinel";
import { MissingSecretError } from "../../src/sinks/batch";
import { deliverToSink } from "../../src/deliver/deliver";
import { parseConfig } from "../../src/config/load";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import type { SinkContext } from "../../src/sinks/types";
import { memoryDeps } from "../support/memory-delivery";
import { NOW, deliverAll, fixtureEvents, header, manyEvents, plain, send } from "../support/siem-servers";
import { startEntra, startLogsIngestion, type EntraServer, type IngestionServer } from "../support/azure-fakes";
import { buildIncident } from "../../src/correlate/incident";
import { matchChains } from "../../src/correlate/chains";
import { groupByKey } from "../../src/correlate/feed";
import { CFG, execStory } from "../correlate/story";
import { checkConfigText } from "../../src/ops/check-config";
import { frame } from "../../src/routes/decode";
import { runPipeline } from "../../src/pipeline";
import { enrichAttack } from "../../src/enrich/attack";

const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT = "0b0c0d0e-1a2b-4c3d-8e9f-a0b1c2d3e4f5";
const SECRET = "Qx8Q~not-a-real-secret.value_0123456789";
const DCR = "dcr-000a00a000a00000a000000aa000a0aa";
const STREAM = "Custom-TributaryOCSF";
const events = fixtureEvents();

let entra: EntraServer;
let ingest: IngestionServer;
let roleOk = true;
beforeEach(async () => {
  clearSentinelTokens();
  roleOk = true;
  entra = await startEntra({ tenant: TENANT, clientId: CLIENT, secret: SECRET });
  ingest = await startLogsIngestion({ dcr: DCR, stream: STREAM, valid: (t) => entra.valid(t), role: () => roleOk });
});
afterEach(async () => {
  await entra.close();
  await ingest.close();
});

const raw = (extra: Record<string, unknown> = {}) => ({
  endpoint: ingest.url,
  dcrImmutableId: DCR,
  tenantId: TENANT,
  clientId: CLIENT,
  clientSecret: { env: "AZURE_CLIENT_SECRET" },
  authorityHost: entra.url,
  ...extra,
});
const config = (extra: Record<string, unknown> = {}): SentinelConfig => sentinel.schema.parse(raw(extra));
const ctxAt = (now: number): SinkContext => ({ env: { AZURE_CLIENT_SECRET: SECRET }, now });
const ctx = ctxAt(NOW);

describe("sentinel: records", () => {
  it("POSTs a gzip JSON array to the DCR stream; each record is the event with TimeGenerated; no token in the encoded request", async () => {
    const cfg = config();
    const reqs = await sentinel.encode(events, cfg, ctx);
    expect(reqs).toHaveLength(1);
    const req = reqs[0]!;
    expect(req.url).toBe(`${ingest.url}/dataCollectionRules/${DCR}/streams/${STREAM}?api-version=2023-01-01`);
    expect(req.headers).toEqual({ "content-type": "application/json", "content-encoding": "gzip" });
    const body = JSON.parse(strFromU8(gunzipSync(req.body as Uint8Array))) as Record<string, unknown>[];
    expect(body).toHaveLength(events.length);
    body.forEach((r, k) => {
      const { TimeGenerated, ...event } = r;
      expect(event).toEqual(plain(events[k]!));
      expect(TimeGenerated).toBe(new Date(timeGenerated(events[k]!, NOW)).toISOString());
    });
  });

  it("TimeGenerated: the event's time; its receipt for a wrong sensor clock; the delivery time without a plausible receipt", () => {
    const e = events[0]!;
    const logged = Date.UTC(2027, 0, 15, 11, 59);
    const at = (time: number, logged_time?: unknown) => timeGenerated({ time, metadata: { ...e.metadata, logged_time: logged_time as number } }, NOW); // a replayed line may carry anything
    expect(at(Date.UTC(2026, 5, 1), logged)).toBe(Date.UTC(2026, 5, 1));
    expect(at(0, logged)).toBe(logged); // a clock never set
    expect(at(Date.UTC(2038, 0, 19), logged)).toBe(logged); // far ahead of its receipt
    expect(at(Number.NaN, logged)).toBe(logged);
    expect(at(0, undefined)).toBe(NOW);
    expect(at(0, "yesterday")).toBe(NOW);
    expect(at(Date.UTC(2026, 5, 1), undefined)).toBe(Date.UTC(2026, 5, 1));
  });

  it("every fixture event's and an incident's top-level fields are declared columns, and docs/sinks.md's DCR and table declare exactly SENTINEL_COLUMNS", () => {
    const s = execStory();
    const [story] = [...groupByKey([s.audit, s.shell, s.exec, s.connect], CFG.correlate).values()].flatMap((l) => matchChains(l, CFG.correlate));
    const incident = buildIncident(story!, { activity: 1, ocsfVersion: "1.3.0", assigneeGroup: "soc" });
    const fields = new Set([...events, incident].flatMap((e) => Object.keys(e)));
    expect([...fields].filter((f) => !(f in SENTINEL_COLUMNS))).toEqual([]);
    const docs = readFileSync(new URL("../../docs/sinks.md", import.meta.url), "utf8");
    const blocks = [...docs.matchAll(/```json\n([\s\S]*?)\n```/g)].map((m) => m[1]!).filter((b) => b.includes('"streamDeclarations"') || b.includes('"schema"'));
    expect(blocks).toHaveLength(2);
    const dcr = JSON.parse(blocks.find((b) => b.includes("streamDeclarations"))!) as { properties: { streamDeclarations: Record<string, { columns: { name: string; type: string }[] }> } };
    const table = JSON.parse(blocks.find((b) => !b.includes("streamDeclarations"))!) as { properties: { schema: { columns: { name: string; type: string }[] } } };
    // Log Analytics takes the type names in any case (the table API's own spelling is "dateTime")
    const want = Object.entries(SENTINEL_COLUMNS).map(([name, type]) => ({ name, type }));
    const lower = (cols: { name: string; type: string }[]) => cols.map((c) => ({ name: c.name, type: c.type.toLowerCase() }));
    expect(lower(dcr.properties.streamDeclarations[STREAM]!.columns)).toEqual(want);
    expect(lower(table.properties.schema.columns)).toEqual(want);
  });

  it("top-level fields the fixtures lack are declared columns too: ATT&CK attacks (a Tetragon policy's MITRE tags), file_result (a symlink), auth_protocol (a SAML sign-in), privileges (a group's policy)", () => {
    const fixture = (path: string): Record<string, unknown> => JSON.parse(readFileSync(new URL(`../fixtures/${path}`, import.meta.url), "utf8")) as Record<string, unknown>;
    const kprobe = readFileSync(new URL("../fixtures/tetragon/process_kprobe.ndjson", import.meta.url), "utf8").split("\n").find((l) => l.includes('"policy_name"'))!;
    const tagged = JSON.parse(kprobe) as { process_kprobe: Record<string, unknown> };
    tagged.process_kprobe.tags = ["T1003.008", "mitre_credential_access"];
    const symlink = JSON.parse(kprobe) as { process_kprobe: Record<string, unknown> };
    Object.assign(symlink.process_kprobe, { function_name: "__x64_sys_symlinkat", args: [{ string_arg: "/etc/passwd" }, { int_arg: -100 }, { string_arg: "/tmp/passwd-link" }], action: "KPROBE_ACTION_POST" });
    const ct = fixture("cloudtrail/records__iam-add-user-to-group__aws-docs.json");
    const rec = (Array.isArray(ct.Records) ? ct.Records[0] : ct) as Record<string, unknown>;
    const saml = { ...rec, eventSource: "sts.amazonaws.com", eventName: "AssumeRoleWithSAML", eventID: "11111111-2222-3333-4444-555555555555", userIdentity: { type: "SAMLUser", principalId: "p:alice@example.com", userName: "alice@example.com", identityProvider: "p" }, requestParameters: { roleArn: "arn:aws:iam::123456789012:role/Admin", principalArn: "arn:aws:iam::123456789012:saml-provider/Okta" } };
    const attach = { ...rec, eventName: "AttachGroupPolicy", eventID: "21111111-2222-3333-4444-555555555555", requestParameters: { groupName: "Admins", policyArn: "arn:aws:iam::aws:policy/AdministratorAccess" }, responseElements: null };
    const framed = frame([tagged, symlink, saml, attach].map((r) => JSON.stringify(r)).join("\n"), "application/x-ndjson");
    const out = runPipeline(framed.values, framed.paths, framed.textLines, { ctx: { ocsfVersion: "1.3.0", receivedAt: NOW }, enrich: enrichAttack }).events.map((r) => r.event);
    const fields = new Set(out.flatMap((e) => Object.keys(e)));
    for (const f of ["attacks", "file_result", "auth_protocol", "auth_protocol_id", "privileges"]) expect(fields, f).toContain(f);
    expect([...fields].filter((f) => !(f in SENTINEL_COLUMNS))).toEqual([]);
  });

  it("config: https only (http to 127.0.0.1), the DCR id's form, a GUID client id; no client secret written into a reason", () => {
    expect(() => config({ endpoint: "http://dce.example.com" })).toThrow(/https/);
    expect(() => config({ authorityHost: "http://login.example.com" })).toThrow(/https/);
    expect(() => config({ dcrImmutableId: "my-dcr" })).toThrow(/immutable id/);
    expect(() => config({ clientId: "my-app" })).toThrow(/client\) id/);
    expect(() => config({ stream: "Custom-Tributary/OCSF" })).toThrow(/stream/);
    // the whole ingestion URL pasted as the endpoint would be sent to .../streams/X?api-version=.../dataCollectionRules/... (a 404 per event)
    const full = `https://dce-1.westeurope-1.ingest.monitor.azure.com/dataCollectionRules/${DCR}/streams/${STREAM}?api-version=2023-01-01`;
    expect(() => config({ endpoint: full })).toThrow(/endpoint alone.*without a path or query/);
    expect(() => config({ endpoint: "https://dce-1.westeurope-1.ingest.monitor.azure.com/?x=1" })).toThrow(/without a path or query/);
    const cfg = config({ endpoint: "https://dce-1.westeurope-1.ingest.monitor.azure.com/" });
    expect(cfg).toMatchObject({ endpoint: "https://dce-1.westeurope-1.ingest.monitor.azure.com", stream: STREAM, compression: "gzip", maxBytes: 1_000_000, scope: "https://monitor.azure.com//.default" });
    expect(() => config({ maxBytes: 2_000_000 })).toThrow();
  });

  it("check-config names the client secret's binding, warns when it is unset or written literally, and refuses a bad DCR id", () => {
    const text = (sink: Record<string, unknown>) => JSON.stringify({ sinks: { az: { type: "sentinel", ...raw(), ...sink } }, routes: [{ sinks: ["az"] }] });
    const ok = checkConfigText(text({}), { AZURE_CLIENT_SECRET: SECRET });
    expect(ok.errors).toEqual([]);
    expect(ok.secrets).toEqual([{ name: "AZURE_CLIENT_SECRET", path: "sinks.az.clientSecret", set: true }]);
    expect(checkConfigText(text({}), {}).warnings).toContain('sinks.az.clientSecret: the secret AZURE_CLIENT_SECRET is not set in the given environment: every event routed to sink "az" is rejected and dead-lettered (not retried) until it is set');
    expect(checkConfigText(text({ clientSecret: SECRET })).warnings).toContain('sinks.az.clientSecret: a secret written in the config: use {"env": "NAME"} and `wrangler secret put NAME`');
    expect(checkConfigText(text({ dcrImmutableId: "dcr-1" })).errors.join("\n")).toMatch(/sinks\.az\.dcrImmutableId: expected the DCR's immutable id/);
  });

  it("a missing secret fails the encode, naming the binding", async () => {
    await expect(sentinel.encode(events, config(), { env: {}, now: NOW })).rejects.toThrow(MissingSecretError);
    await expect(sentinel.encode(events, config(), { env: {}, now: NOW })).rejects.toThrow(/clientSecret is not set \(env binding AZURE_CLIENT_SECRET/);
  });
});

describe("sentinel: token and delivery", () => {
  it("delivers every event once; one token serves every request; records equal the events", async () => {
    const cfg = config({ maxBytes: 20_000, compression: "none" });
    const log = await deliverAll(sentinel, events, cfg, ctx);
    expect(log.delivered.size).toBe(events.length);
    expect(log.requests).toBeGreaterThan(3);
    expect(entra.requests).toHaveLength(1);
    expect(ingest.records.map(({ TimeGenerated: _, ...e }) => e)).toEqual(events.map(plain));
    for (const r of ingest.requests) expect(Buffer.byteLength(r.text)).toBeLessThanOrEqual(20_000);
  });

  it("splits a large batch under the 1 MB call limit (gzip); an event larger than maxBytes alone is rejected unsent", async () => {
    const many = manyEvents(3000);
    const huge: OcsfEvent = { ...events[0]!, metadata: { ...events[0]!.metadata, uid: "huge" }, raw_data: "x".repeat(1_100_000) };
    const cfg = config();
    const log = await deliverAll(sentinel, [...many, huge], cfg, ctx);
    expect(log.delivered.size).toBe(many.length);
    expect(log.rejected.get(many.length)).toMatch(/^record is \d+ bytes as a request, over the 1000000-byte limit/);
    expect(ingest.requests.length).toBeGreaterThan(1);
    for (const r of ingest.requests) {
      expect(header(r, "content-encoding")).toBe("gzip");
      expect(Buffer.byteLength(r.text)).toBeLessThanOrEqual(1_000_000);
    }
    expect(ingest.records).toHaveLength(many.length);
  });

  it("renews the token only once it is within 5 minutes of expiry", async () => {
    const cfg = config();
    const one = async (now: number) => {
      const [req] = await sentinel.encode(events.slice(0, 2), cfg, ctxAt(now));
      return sentinel.classify(await send(sentinel, req!, cfg, ctxAt(now)), req!, cfg).outcome.kind;
    };
    expect(await one(NOW)).toBe("delivered");
    expect(await one(NOW + 30 * 60_000)).toBe("delivered");
    expect(entra.requests).toHaveLength(1);
    expect(await one(NOW + 3599_000 - TOKEN_MARGIN_MS)).toBe("delivered"); // 3599 s tokens
    expect(entra.requests).toHaveLength(2);
    expect(ingest.requests.map((r) => r.headers.authorization)).toEqual([`Bearer ${entra.issued[0]}`, `Bearer ${entra.issued[0]}`, `Bearer ${entra.issued[1]}`]);
  });

  it("a 401 to a cached token: dropped, a new one, the request sent again at once; a 401 to a new token is retried later", async () => {
    const cfg = config();
    const one = async () => {
      const [req] = await sentinel.encode(events.slice(0, 3), cfg, ctx);
      return sentinel.classify(await send(sentinel, req!, cfg, ctx), req!, cfg).outcome;
    };
    expect((await one()).kind).toBe("delivered");
    entra.revoked.add(entra.issued[0]!);
    expect((await one()).kind).toBe("delivered");
    expect(entra.issued).toHaveLength(2);
    expect(ingest.requests.map((r) => r.headers.authorization)).toEqual([`Bearer ${entra.issued[0]}`, `Bearer ${entra.issued[0]}`, `Bearer ${entra.issued[1]}`]);
    // the service refuses every token: the new one once, then classify retries (no loop)
    ingest.script.push({ status: 401, body: '{"error":{"code":"InvalidToken","message":"The provided access token is invalid."}}' }, { status: 401, body: '{"error":{"code":"InvalidToken","message":"The provided access token is invalid."}}' });
    const o = await one();
    expect(o).toEqual({ kind: "retry", reason: "Logs Ingestion API 401: InvalidToken: The provided access token is invalid. (a newly issued token was refused)" });
    expect(entra.issued).toHaveLength(3);
    expect(ingest.requests).toHaveLength(5);
  });

  it("429 is retried after Retry-After; 503 retried; 400 rejected with the API's error; 413 rejected naming maxBytes", async () => {
    const cfg = config();
    const answer = async () => {
      const [req] = await sentinel.encode(events.slice(0, 1), cfg, ctx);
      return sentinel.classify(await send(sentinel, req!, cfg, ctx), req!, cfg).outcome;
    };
    ingest.script.push(
      { status: 429, headers: { "retry-after": "7" }, body: '{"error":{"code":"TooManyRequests","message":"Rate limit for the data collection rule exceeded."}}' },
      { status: 503, body: "" },
      { status: 400, headers: { "content-type": "application/json" }, body: JSON.stringify({ error: { code: "InvalidStream", message: "x".repeat(400) } }) },
      { status: 413, body: '{"error":{"code":"ContentLengthLimitExceeded","message":"Maximum request body size is 1 MB."}}' },
    );
    expect(await answer()).toEqual({ kind: "retry", afterMs: 7000, reason: "Logs Ingestion API 429: TooManyRequests: Rate limit for the data collection rule exceeded." });
    expect(await answer()).toMatchObject({ kind: "retry", reason: "Logs Ingestion API 503: " });
    expect(await answer()).toEqual({ kind: "reject", reason: `Logs Ingestion API 400: InvalidStream: ${"x".repeat(300 - "InvalidStream: ".length)}` });
    expect(await answer()).toEqual({ kind: "reject", reason: "Logs Ingestion API 413: ContentLengthLimitExceeded: Maximum request body size is 1 MB. (requests are packed under maxBytes: lower the sink's maxBytes)" });
    expect(entra.requests).toHaveLength(1);
  });

  it("a token endpoint 5xx is retried with its Retry-After, nothing sent to ingestion", async () => {
    const cfg = config();
    entra.script.push({ status: 503, headers: { "retry-after": "30" }, body: '{"error":"temporarily_unavailable","error_description":"AADSTS90033: A transient error has occurred.\\r\\nTrace ID: t"}' });
    const [req] = await sentinel.encode(events.slice(0, 1), cfg, ctx);
    const c = sentinel.classify(await send(sentinel, req!, cfg, ctx), req!, cfg);
    expect(c).toEqual({ outcome: { kind: "retry", afterMs: 30_000, reason: "Entra ID sign-in 503: temporarily_unavailable: AADSTS90033: A transient error has occurred." } });
    expect(ingest.requests).toHaveLength(0);
  });
});

// Refused credentials and a missing role assignment: the sink is gone (src/deliver/gone.ts), one dead letter per
// delivery naming the fix; through deliverToSink with an in-memory R2 and DELIVERIES.
describe("sentinel: gone", () => {
  const itemsOf = (list: OcsfEvent[]) => list.map((event) => ({ event, line: JSON.stringify(event) }));
  const sinkCfg = (extra: Record<string, unknown> = {}) => parseConfig({ sinks: { s: { type: "sentinel", ...raw(extra), batch: { maxEvents: 5 } } } });

  it("a wrong client secret (invalid_client, AADSTS7000215): the delivery is one dead letter naming the secret's binding; the next is not sent; a new secret sends again", async () => {
    const wrong = "Zz9~wrong-secret-value_0123456789abcd";
    const { deps, map, sent } = memoryDeps(sinkCfg(), { AZURE_CLIENT_SECRET: wrong }, NOW);
    const first = await deliverToSink({ sink: "s", items: itemsOf(events.slice(0, 12)), attempt: 1, firstAttemptAt: NOW }, deps);
    expect(first).toMatchObject({ requests: 1, delivered: 0, retried: 0, dead: 12 });
    expect(first.down?.gone).toBe(true);
    expect(first.deadReason).toBe(
      "Entra ID sign-in 401: invalid_client: AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.; " +
        `Entra ID did not take the client secret: set the secret's Value (not its Secret ID) of app ${CLIENT} in AZURE_CLIENT_SECRET, then replay: npm run dlq -- replay --sink s`,
    );
    expect(sent).toEqual([]);
    expect(ingest.requests).toHaveLength(0);
    for (const o of map.values()) expect(o.body).not.toContain(wrong);

    const next = await deliverToSink({ sink: "s", items: itemsOf(events.slice(12, 14)), attempt: 1, firstAttemptAt: NOW }, deps);
    expect(next).toMatchObject({ requests: 0, dead: 2 });
    expect(entra.requests).toHaveLength(1);

    const fixed = memoryDeps(sinkCfg(), { AZURE_CLIENT_SECRET: SECRET }, NOW).deps;
    expect(await deliverToSink({ sink: "s", items: itemsOf(events.slice(12, 14)), attempt: 1, firstAttemptAt: NOW }, fixed)).toMatchObject({ requests: 1, delivered: 2, dead: 0 });
    expect(ingest.records).toHaveLength(2);
  });

  it("an unknown app (AADSTS700016) names clientId and tenantId; the token is never in a dead letter", async () => {
    const { deps } = memoryDeps(sinkCfg({ clientId: "11111111-2222-3333-4444-555555555555" }), { AZURE_CLIENT_SECRET: SECRET }, NOW);
    const r = await deliverToSink({ sink: "s", items: itemsOf(events.slice(0, 2)), attempt: 1, firstAttemptAt: NOW }, deps);
    expect(r).toMatchObject({ requests: 1, dead: 2 });
    expect(r.deadReason).toMatch(/^Entra ID sign-in 400: unauthorized_client: AADSTS700016: .*; no application 11111111-2222-3333-4444-555555555555 in tenant 72f988bf-86f1-41af-91ab-2d7cd011db47: check the sink's clientId and tenantId, then replay/);
  });

  it("403 from ingestion (no Monitoring Metrics Publisher role on the DCR): one dead letter naming the role; no token in it", async () => {
    roleOk = false;
    const { deps, map } = memoryDeps(sinkCfg(), { AZURE_CLIENT_SECRET: SECRET }, NOW);
    const r = await deliverToSink({ sink: "s", items: itemsOf(events.slice(0, 12)), attempt: 1, firstAttemptAt: NOW }, deps);
    expect(r).toMatchObject({ requests: 1, delivered: 0, dead: 12 });
    expect(r.deadLetters).toHaveLength(1);
    expect(r.deadReason).toMatch(/^Logs Ingestion API 403: OperationFailed: .*; app 0b0c0d0e-1a2b-4c3d-8e9f-a0b1c2d3e4f5 may not send to DCR dcr-000a00a000a00000a000000aa000a0aa: assign it the "Monitoring Metrics Publisher" role on the data collection rule/);
    expect(entra.issued).toHaveLength(1);
    for (const o of map.values()) {
      expect(o.body).not.toContain(entra.issued[0]!);
      expect(o.body).not.toContain(SECRET);
    }
  });

  it("delivery path: a 429 is scheduled in DELIVERIES with its Retry-After; the rest of the attempt is held back unsent", async () => {
    const { deps, sent } = memoryDeps(sinkCfg(), { AZURE_CLIENT_SECRET: SECRET }, NOW);
    ingest.script.push({ status: 204 }, { status: 429, headers: { "retry-after": "12" }, body: '{"error":{"code":"TooManyRequests","message":"Rate limit exceeded."}}' });
    const r = await deliverToSink({ sink: "s", items: itemsOf(events.slice(0, 15)), attempt: 1, firstAttemptAt: NOW }, deps);
    expect(r).toMatchObject({ requests: 2, delivered: 5, retried: 10, dead: 0 });
    expect(sent.map((x) => x.body.count).reduce((a, b) => a + b, 0)).toBe(10);
    expect(Math.min(...sent.map((x) => x.delaySeconds ?? 0))).toBeGreaterThanOrEqual(12);
  });
});
