// GET /metrics inside workerd: ingest requests (good and bad records, a refused request), a consumer
// batch delivering to fake Splunk HEC sinks (one delivers, one rejects, one is down), then /metrics
// read through the Metrics Durable Object, parsed strictly line by line. Also: access control,
// the series cap of the store, and counters surviving in its SQLite storage.
import { describe, expect, it, inject } from "vitest";
import { env, createExecutionContext, createMessageBatch, getQueueResult, runInDurableObject } from "cloudflare:test";
import worker from "../../src/index";
import { MAX_SERIES, type MetricsStore } from "../../src/ops/metrics-do";
import { INCIDENT_ACTIVITIES, INGEST_CODES, NOISE_ACTIONS, NOISE_KINDS, REASONS, REINGEST_RESULTS, OUTCOMES, QUEUES } from "../../src/ops/metrics";
import { SOURCES } from "../../src/config/routing";
import { call, post, CaptureQueue, linesOf, quarantined, spoolFailing } from "../routes/helpers";
import { archiveLine, buildArchiveObjects, writeArchive } from "../../src/deliver/archive";
import { callWorker, stubDeliveries, uniqueFixtureEvents } from "../support/delivery";
import { gateControl } from "../support/gate-client";
import { parsePrometheus, sampleValue, type Family } from "./prom";
import { consume, falcoCopies, hookRequests, ingest, noiseConfig } from "../noise/helpers";

/** The fake HEC's token (test/support/s3rver.ts). */
const HEC_TOKEN = "00000000-0000-4000-8000-00000000cafe";
const run = Math.random().toString(36).slice(2, 8);
const tenant = `mt-${run}`;
const TOKEN = `metrics-test-token-${run}`;

function config(gate: string) {
  return {
    auth: { tokens: [{ tenant, token: { env: "INGEST_TOKEN" } }] },
    metrics: { tenantLabels: true, token: { env: "METRICS_TOKEN" } },
    sinks: {
      [`ok-${run}`]: { type: "splunk_hec", url: `${gate}/ok-${run}`, token: { env: "HEC_TOKEN" } },
      [`bad-${run}`]: { type: "splunk_hec", url: `${gate}/bad-${run}`, token: "not-the-token" },
      [`down-${run}`]: { type: "splunk_hec", url: `${gate}/down-${run}`, token: { env: "HEC_TOKEN" } },
    },
    routes: [{ match: { source: "falco" }, sinks: [`ok-${run}`, `bad-${run}`, `down-${run}`] }],
  };
}

const vars = { INGEST_TOKEN: TOKEN, METRICS_TOKEN: "prom-secret", HEC_TOKEN };

async function scrape(cfg: unknown, auth: string | null = "Bearer prom-secret", dev = false): Promise<{ status: number; text: string; type: string | null }> {
  const e = { ...env, TRIBUTARY_CONFIG: JSON.stringify(cfg), TRIBUTARY_DEV: dev ? "true" : "false", ...vars } as unknown as Env;
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request("http://tributary/metrics", { headers: auth ? { authorization: auth } : {} }), e, ctx);
  return { status: res.status, text: await res.text(), type: res.headers.get("content-type") };
}

const ALLOWED_LABELS = new Set(["source", "reason", "tenant", "code", "queue", "sink", "outcome", "le", "ocsf_version", "policy", "action", "expires", "kind", "chain", "activity", "result"]);

function checkBounded(fams: Map<string, Family>): void {
  for (const f of fams.values()) {
    for (const s of f.samples) {
      for (const [k, v] of Object.entries(s.labels)) {
        expect(ALLOWED_LABELS.has(k), `${s.name} label ${k}`).toBe(true);
        if (k === "source") expect([...SOURCES, "unknown"]).toContain(v);
        // the allow-list gauge's reason is the entry's text from the config; the counters' is a fixed REASON
        if (k === "reason" && s.name !== "tributary_noise_suppression_active") expect(REASONS).toContain(v);
        if (k === "outcome") expect([...OUTCOMES, "other"]).toContain(v);
        if (k === "queue") expect([...QUEUES, "other"]).toContain(v);
      }
    }
  }
}

describe("GET /metrics", () => {
  it("counts ingest, queue and delivery across the Worker and renders valid Prometheus text with bounded labels", async () => {
    const gate = inject("hecGate");
    const cfg = config(gate);
    const before = parsePrometheus((await scrape(cfg)).text);
    const base = (name: string, labels: Record<string, string> = {}) => sampleValue(before, name, labels);

    // 1. ingest: 2 Falco alerts + 1 broken line + 1 unknown record; then a request without credentials
    const falco = linesOf("falco", (n) => n.includes("terminal-shell-in-container__falco-docs") || n.includes("write-below-binary-dir"));
    expect(falco).toHaveLength(2);
    const body = [...falco, '{"rule": broken', '{"hello":"world"}'].join("\n");
    const queue = new CaptureQueue();
    const auth = { "content-type": "application/x-ndjson", authorization: `Bearer ${TOKEN}` };
    const r = await call(post("/v1/events", body, auth), { config: cfg, dev: false, queue, vars });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ accepted: 2, rejected: 2 });
    const denied = await call(post("/v1/events", body, { "content-type": "application/x-ndjson" }), { config: cfg, dev: false, queue, vars });
    expect(denied.status).toBe(401);

    // 2. the consumer gets what ingest queued (enqueued 90 s ago) and delivers to the three sinks
    await gateControl.script(gate, `down-${run}`, [{ status: 503, body: '{"text":"Server is busy","code":9}' }]);
    const retries: unknown[] = [];
    const consumerEnv = { ...env, TRIBUTARY_CONFIG: JSON.stringify(cfg), ...vars, DELIVERIES: { send: async (m: unknown) => void retries.push(m) } } as unknown as Env;
    const enqueued = Date.now() - 90_000;
    const batch = createMessageBatch("tributary-events", queue.messages.map((body, i) => ({ id: `mt-${run}-${i}`, timestamp: new Date(enqueued), attempts: 1, body })));
    const ctx = createExecutionContext();
    await worker.queue(batch, consumerEnv);
    const qr = await getQueueResult(batch, ctx);
    expect(qr.explicitAcks).toHaveLength(queue.messages.length);
    expect(retries).toHaveLength(1); // the down sink's events were rescheduled

    // 3. scrape
    const res = await scrape(cfg);
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const fams = parsePrometheus(res.text);
    checkBounded(fams);
    const delta = (name: string, labels: Record<string, string> = {}) => sampleValue(fams, name, labels) - base(name, labels);

    expect(delta("tributary_records_received_total", { source: "falco", tenant })).toBe(2);
    expect(delta("tributary_records_accepted_total", { source: "falco", tenant })).toBe(2);
    expect(delta("tributary_records_received_total", { source: "unknown", tenant })).toBe(2);
    expect(delta("tributary_records_rejected_total", { source: "unknown", reason: "invalid_json", tenant })).toBe(1);
    expect(delta("tributary_records_rejected_total", { source: "unknown", reason: "unrecognised", tenant })).toBe(1);
    expect(delta("tributary_ingest_requests_total", { code: "202" })).toBeGreaterThanOrEqual(1);
    expect(delta("tributary_ingest_requests_total", { code: "401" })).toBeGreaterThanOrEqual(1);
    expect(delta("tributary_ingest_duration_seconds_count")).toBeGreaterThanOrEqual(2);
    expect(delta("tributary_queue_messages_sent_total", { queue: "events" })).toBeGreaterThanOrEqual(queue.messages.length);
    expect(delta("tributary_queue_messages_received_total", { queue: "events" })).toBeGreaterThanOrEqual(queue.messages.length);
    expect(delta("tributary_queue_message_age_seconds_bucket", { queue: "events", le: "120" })).toBeGreaterThanOrEqual(queue.messages.length);
    expect(sampleValue(fams, "tributary_queue_oldest_message_age_seconds", { queue: "events" })).toBeGreaterThanOrEqual(0);
    expect(sampleValue(fams, "tributary_queue_last_consumed_timestamp_seconds", { queue: "events" })).toBeGreaterThan(1_700_000_000);

    expect(delta("tributary_sink_events_total", { sink: `ok-${run}`, outcome: "delivered" })).toBe(2);
    expect(delta("tributary_sink_events_total", { sink: `bad-${run}`, outcome: "reject" })).toBe(2);
    expect(delta("tributary_sink_events_total", { sink: `down-${run}`, outcome: "retry" })).toBe(2);
    expect(delta("tributary_sink_requests_total", { sink: `ok-${run}` })).toBe(1);
    expect(delta("tributary_queue_messages_sent_total", { queue: "deliveries" })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(fams, "tributary_sinks_configured")).toBe(4);
    expect(sampleValue(fams, "tributary_build_info", { ocsf_version: "1.3.0" })).toBe(1);
    // no label carries a rule, host, pod or record value
    expect(res.text).not.toMatch(/Terminal shell|hostname|k8s_pod|rule=/);
  });

  it("counts an intel hit at ingest and dead letters (a permanent 400, and out of attempts) from the consumer", async () => {
    const gate = inject("hecGate");
    const rej = `rej400-${run}`;
    const spent = `spent-${run}`;
    const cfg = {
      ...config(gate),
      // an inline indicator: the destination of the Tetragon process_connect fixture
      enrich: { intel: { feeds: [{ name: `c2-${run}`, indicators: ["64.225.45.153"], confidence: 90 }] } },
      sinks: {
        [rej]: { type: "splunk_hec", url: `${gate}/${rej}`, token: { env: "HEC_TOKEN" } },
        [spent]: { type: "splunk_hec", url: `${gate}/${spent}`, token: { env: "HEC_TOKEN" }, retry: { maxAttempts: 1 } },
      },
      routes: [{ match: { source: "tetragon" }, sinks: [rej, spent] }],
    };
    const before = parsePrometheus((await scrape(cfg)).text);

    // ingest: the connect event (a hit) and an exec event (no hit)
    const connect = linesOf("tetragon", (n) => n.endsWith("process_connect.ndjson"));
    const exec = linesOf("tetragon", (n) => n.endsWith("process_exec.ndjson")).slice(0, 1);
    const queue = new CaptureQueue();
    const r = await call(post("/v1/events", [...connect, ...exec].join("\n"), { "content-type": "application/x-ndjson", authorization: `Bearer ${TOKEN}` }), { config: cfg, dev: false, queue, vars });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ accepted: 2, rejected: 0 });
    const hits = queue.events().filter((e) => (e.enrichments as { type: string }[] | undefined)?.some((x) => x.type === "threat_intel"));
    expect(hits).toHaveLength(1);

    // the consumer: one sink answers a permanent 400, the other 503 on its only attempt
    await gateControl.script(gate, rej, [{ status: 400, body: '{"text":"Incorrect index","code":7}' }]);
    await gateControl.script(gate, spent, [{ status: 503, body: '{"text":"Server is busy","code":9}' }]);
    const consumerEnv = { ...env, TRIBUTARY_CONFIG: JSON.stringify(cfg), ...vars, DELIVERIES: { send: async () => expect.unreachable("nothing is retried") } } as unknown as Env;
    const batch = createMessageBatch("tributary-events", queue.messages.map((body, i) => ({ id: `dl-${run}-${i}`, timestamp: new Date(), attempts: 1, body })));
    const ctx = createExecutionContext();
    await worker.queue(batch, consumerEnv);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toHaveLength(queue.messages.length);
    // both sinks' events are in the dead-letter store
    for (const sink of [rej, spent]) {
      const listed = await env.ARCHIVE.list({ prefix: `dlq/${sink}/`, include: ["customMetadata"] });
      expect(listed.objects.map((o) => Number(o.customMetadata?.count)), sink).toEqual([2]);
    }

    const fams = parsePrometheus((await scrape(cfg)).text);
    const delta = (name: string, labels: Record<string, string>) => sampleValue(fams, name, labels) - sampleValue(before, name, labels);
    expect(delta("tributary_intel_hits_total", { source: "tetragon" })).toBe(1);
    expect(delta("tributary_records_accepted_total", { source: "tetragon", tenant })).toBe(2);
    expect(delta("tributary_sink_events_total", { sink: rej, outcome: "reject" })).toBe(2);
    expect(delta("tributary_sink_events_total", { sink: rej, outcome: "dead_letter" })).toBe(0);
    expect(delta("tributary_sink_events_total", { sink: spent, outcome: "dead_letter" })).toBe(2);
    expect(delta("tributary_sink_events_total", { sink: spent, outcome: "retry" })).toBe(0);
    expect(delta("tributary_sink_requests_total", { sink: rej })).toBe(1);
    expect(delta("tributary_sink_requests_total", { sink: spent })).toBe(1);
  });

  it("needs the metrics token unless metrics.public or local development", async () => {
    const cfg = config(inject("hecGate"));
    expect((await scrape(cfg, null)).status).toBe(401);
    expect((await scrape(cfg, "Bearer wrong")).status).toBe(403);
    expect((await scrape(cfg, `Basic ${btoa("prometheus:prom-secret")}`)).status).toBe(200);
    const closed = await scrape({}, null);
    expect(closed.status).toBe(403);
    expect(closed.text).toContain("metrics.token");
    expect(closed.text).toMatch(/tributary\.config\.json.*TRIBUTARY_CONFIG/);
    const open = await scrape(
      {
        metrics: { public: true },
        sinks: { hook: { type: "splunk_hec", url: "https://splunk.example:8088", token: "t" } },
        noise: {
          suppress: [
            { name: "weekly scanner", match: { source: "falco" }, reason: 'pentest "red team", ticket SEC-1', expires: "2099-01-01", sinks: ["hook"] },
            { match: { source: "tetragon" }, reason: "old", expires: "2001-01-01", sinks: ["hook"] },
          ],
        },
      },
      null,
    );
    expect(open.status).toBe(200);
    const fams = parsePrometheus(open.text);
    expect(sampleValue(fams, "tributary_noise_suppression_active", { policy: "weekly scanner", expires: "2099-01-01", reason: 'pentest "red team", ticket SEC-1' })).toBe(1);
    expect(sampleValue(fams, "tributary_noise_suppression_active", { policy: "suppress[1]", expires: "2001-01-01", reason: "old" })).toBe(0);
    expect((await scrape({}, null, true)).status).toBe(200);
    const unset = await scrape({ metrics: { token: { env: "NOT_SET_ANYWHERE" } } }, "Bearer x");
    expect(unset.status).toBe(503);
    expect(unset.text).toContain("NOT_SET_ANYWHERE");
  });

  it("shows a configured sink's outcomes and the unlabelled counters at 0 before they count, so increase() sees the first dead letters", async () => {
    const fresh = `fresh-${run}`;
    const r = await scrape({ metrics: { public: true }, sinks: { [fresh]: { type: "splunk_hec", url: "https://splunk.example:8088", token: "t" } }, routes: [{ sinks: [fresh] }] }, null);
    expect(r.status).toBe(200);
    expect(() => parsePrometheus(r.text)).not.toThrow();
    for (const outcome of OUTCOMES) expect(r.text).toContain(`\ntributary_sink_events_total{sink="${fresh}",outcome="${outcome}"} 0\n`);
    expect(r.text).toContain(`\ntributary_sink_requests_total{sink="${fresh}"} 0\n`);
    expect(r.text).toMatch(/\ntributary_spool_events_spooled_total \d+\n/);
  });

  it("shows tributary_sink_staged_events_total at 0 for each sink whose resolved buffer is on, and for no other", async () => {
    const s3 = { type: "s3", bucket: "staged-bucket", accessKeyId: "a", secretAccessKey: "s" };
    const lake = { type: "security_lake", bucket: "lake-bucket", accessKeyId: "a", secretAccessKey: "s", accountId: "external", sources: { "2004": "findings" } };
    const [dflt, asked, off, plain] = ["lake", "s3buf", "lakeoff", "s3"].map((n) => `staged-${n}-${run}`) as [string, string, string, string];
    const sinks = { [dflt]: lake, [asked]: { ...s3, buffer: { seconds: 60 } }, [off]: { ...lake, buffer: false }, [plain]: s3 };
    const r = await scrape({ metrics: { public: true }, sinks, routes: [{ sinks: Object.keys(sinks) }] }, null);
    expect(r.status).toBe(200);
    expect(() => parsePrometheus(r.text)).not.toThrow();
    for (const sink of [dflt, asked]) expect(r.text).toContain(`\ntributary_sink_staged_events_total{sink="${sink}"} 0\n`);
    for (const sink of [off, plain]) expect(r.text).not.toContain(`tributary_sink_staged_events_total{sink="${sink}"}`);
    // every configured sink still has its outcomes and requests
    for (const sink of Object.keys(sinks)) expect(r.text).toContain(`\ntributary_sink_requests_total{sink="${sink}"} 0\n`);
  });

  it("shows the finite label sets of the other counters at 0 before they count: fixed sets and the config's tenants, policies and chains", async () => {
    const t = `zero-tenant-${run}`;
    const cfg = {
      auth: { tokens: [{ tenant: t, token: "zero-token" }], hmac: { secret: "s", tenant: `zero-hmac-${run}` } },
      metrics: { public: true, tenantLabels: true },
      sinks: { [`zero-${run}`]: { type: "splunk_hec", url: "https://splunk.example:8088", token: "t" } },
      routes: [{ sinks: [`zero-${run}`] }],
      noise: { suppress: [{ name: `zero allow ${run}`, match: { rule: "x" }, reason: "r", expires: "2999-01-01" }], sample: [{ name: `zero-sample-${run}`, rate: 0.5 }] },
      correlate: { chains: { aws_credential_new_ip: { enabled: false } } },
    };
    const r = await scrape(cfg, null);
    expect(r.status).toBe(200);
    const fams = parsePrometheus(r.text);
    checkBounded(fams);
    const want = (labels: Record<string, string>) => JSON.stringify(Object.entries(labels).sort());
    /** The sample's value; undefined when /metrics has no such series (sampleValue would read 0). */
    const at = (name: string, labels: Record<string, string>) => [...fams.values()].flatMap((f) => f.samples).find((x) => x.name === name && want(x.labels) === want(labels))?.value;
    // label values of this config only: nothing has counted them, so exactly 0
    for (const tenant of [t, `zero-hmac-${run}`]) {
      for (const source of [...SOURCES, "unknown"]) {
        for (const reason of REASONS) expect(at("tributary_records_rejected_total", { source, reason, tenant }), `${source} ${reason} ${tenant}`).toBe(0);
        expect(at("tributary_records_received_total", { source, tenant })).toBe(0);
      }
      for (const source of SOURCES) expect(at("tributary_records_accepted_total", { source, tenant })).toBe(0);
    }
    expect(at("tributary_noise_suppressed_total", { policy: `zero allow ${run}` })).toBe(0);
    expect(at("tributary_noise_sampled_out_total", { policy: `zero-sample-${run}` })).toBe(0);
    // fixed label sets: present (other tests in this file may have counted some)
    const present = (name: string, labels: Record<string, string>) => expect(at(name, labels), `${name} ${JSON.stringify(labels)}`).toBeGreaterThanOrEqual(0);
    for (const code of INGEST_CODES) present("tributary_ingest_requests_total", { code });
    for (const queue of QUEUES) for (const n of ["sent", "received", "redelivered"]) present(`tributary_queue_messages_${n}_total`, { queue });
    for (const action of NOISE_ACTIONS) present("tributary_noise_events_total", { action });
    for (const kind of NOISE_KINDS) present("tributary_noise_summaries_total", { kind });
    for (const source of SOURCES) present("tributary_intel_hits_total", { source });
    for (const chain of ["k8s_exec", "enforcement_alert"]) for (const activity of INCIDENT_ACTIVITIES) present("tributary_correlate_incidents_total", { chain, activity });
    for (const result of REINGEST_RESULTS) present("tributary_quarantine_reingested_total", { result });
    expect(at("tributary_backfill_events_total", { sink: `zero-${run}` })).toBe(0);
    // a disabled chain emits no incidents: not shown
    expect(r.text).not.toContain('chain="aws_credential_new_ip"');
  });
});

describe("re-ingest and backfill in GET /metrics", () => {
  const ADMIN = `metrics-admin-${run}`;
  const sink = `bf-${run}`;
  const idle = `bf-idle-${run}`;
  /** Records over 4,000 bytes are rejected before the fix, up to 7,000 accepted after it. */
  const cfgOf = (maxRecordBytes: number) => ({
    auth: { tokens: [{ tenant, token: { env: "INGEST_TOKEN" } }] },
    delivery: { adminToken: ADMIN },
    metrics: { public: true },
    limits: { maxRecordBytes },
    sinks: { [sink]: { type: "splunk_hec", url: "https://splunk.example:8088", token: "t" }, [idle]: { type: "splunk_hec", url: "https://splunk.example:8088", token: "t" } },
    routes: [],
  });
  const admin = { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" };
  /** A Falco alert padded to about `bytes` bytes. */
  const bigFalco = (bytes: number) => JSON.stringify({ ...(JSON.parse(linesOf("falco")[0]!) as object), output: `padded ${"x".repeat(bytes)}` });

  it("counts re-ingested quarantine records by result (not a dry run, not a 503, not in the records counters) and the events a backfill page handed to delivery, by sink", async () => {
    const requestId = `mreingest-${run}`;
    const lines = [bigFalco(5000), bigFalco(9000)];
    const sent = await call(post("/v1/events", lines.join("\n"), { "content-type": "application/x-ndjson", authorization: `Bearer ${TOKEN}`, "x-request-id": requestId }), { config: cfgOf(4000), dev: false, queue: new CaptureQueue(), vars });
    expect(sent.body).toMatchObject({ accepted: 0, rejected: 2 });
    const keys = (await quarantined(env.ARCHIVE, requestId)).map((p) => p.key);
    expect(keys).toHaveLength(2);
    const fixed = cfgOf(7000);
    const before = parsePrometheus((await scrape(fixed, null)).text);
    const reingest = (body: unknown, o: { queue?: CaptureQueue; archive?: R2Bucket } = {}) =>
      call(post("/v1/quarantine/reingest", JSON.stringify(body), admin), { config: fixed, dev: false, queue: o.queue ?? new CaptureQueue(), vars, ...(o.archive ? { archive: o.archive } : {}) });

    // a dry run and a call the queue and the spool both refused (503) count nothing
    expect((await reingest({ keys, dryRun: true })).body).toMatchObject({ reingested: 1, dryRun: true });
    expect((await reingest({ keys }, { queue: new CaptureQueue({ failOnCall: 1 }), archive: spoolFailing() })).status).toBe(503);
    // now one record is accepted, one still rejected; a key that is not there is answered but is no record
    const missing = `${keys[0]!.slice(0, keys[0]!.lastIndexOf("/"))}/gone-${run}.json`;
    const r = await reingest({ keys: [...keys, missing] });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ reingested: 1, events: 1 });
    expect(r.body.still_rejected).toHaveLength(2);

    // a backfill page: this test's own archived events on an event day of its own
    const first = Date.UTC(2037, 7, 13);
    const events = uniqueFixtureEvents().slice(0, 5).map((e, i) => ({ ...e, time: first + i * 1000, metadata: { ...e.metadata, uid: `mbf-${run}-${i}`, logged_time: first + i * 1000 } }));
    await writeArchive(env.ARCHIVE, buildArchiveObjects(events.map((e) => archiveLine(JSON.stringify(e))), `mbf-${run}`));
    const deliveries = stubDeliveries();
    const e = { ...env, TRIBUTARY_CONFIG: JSON.stringify(fixed), TRIBUTARY_DEV: "false", ...vars, DELIVERIES: deliveries } as unknown as Env;
    const page = await callWorker(e, "/v1/backfill", { method: "POST", headers: admin, body: JSON.stringify({ sink, from: "2037-08-13", to: "2037-08-13" }) });
    expect(page.status).toBe(200);
    expect(((await page.json()) as { events: { sent: number } }).events.sent).toBe(events.length);
    expect(deliveries.sent.length).toBeGreaterThan(0);

    const fams = parsePrometheus((await scrape(fixed, null)).text);
    checkBounded(fams);
    const delta = (name: string, labels: Record<string, string> = {}) => sampleValue(fams, name, labels) - sampleValue(before, name, labels);
    expect(delta("tributary_quarantine_reingested_total", { result: "accepted" })).toBe(1);
    expect(delta("tributary_quarantine_reingested_total", { result: "rejected" })).toBe(1);
    for (const n of ["received", "accepted"]) expect(delta(`tributary_records_${n}_total`, { source: "falco" })).toBe(0);
    for (const reason of REASONS) expect(delta("tributary_records_rejected_total", { source: "falco", reason })).toBe(0);
    expect(delta("tributary_backfill_events_total", { sink })).toBe(events.length);
    expect(delta("tributary_backfill_events_total", { sink: idle })).toBe(0);
  });
});

describe("noise suppression in GET /metrics", () => {
  it("counts the events a noise.suppress entry kept from a sink in the consumer, by entry, next to the entry's gauge", async () => {
    const key = `metrics-suppress-${run}`;
    const policy = `ci shells ${run}`;
    const cfg = {
      ...noiseConfig(key, {
        suppress: [{ name: policy, match: { fields: { "device.hostname": `ci-${run}` } }, reason: "CI opens shells", expires: "2999-01-01T00:00:00Z", sinks: ["hook"] }],
      }),
      metrics: { public: true },
    };
    const before = parsePrometheus((await scrape(cfg, null)).text);
    const msgs = await ingest(cfg, [falcoCopies(3, `ci-${run}`, key).ndjson, falcoCopies(2, `node-${run}`, key).ndjson].join("\n"));
    expect((await consume(cfg, msgs, key)).retried).toEqual([]);
    // the two events of the other host reached the webhook, the three suppressed ones did not
    expect((await hookRequests(key)).flatMap((r) => r.events).map((e) => (e.device as { hostname: string }).hostname)).toEqual([`node-${run}`, `node-${run}`]);

    const res = await scrape(cfg, null);
    expect(res.status).toBe(200);
    const fams = parsePrometheus(res.text);
    expect(sampleValue(fams, "tributary_noise_suppressed_total", { policy }) - sampleValue(before, "tributary_noise_suppressed_total", { policy })).toBe(3);
    expect(sampleValue(fams, "tributary_noise_suppression_active", { policy, expires: "2999-01-01T00:00:00Z", reason: "CI opens shells" })).toBe(1);
  });
});

describe("MetricsStore (Durable Object)", () => {
  it("adds deltas in SQLite, keeps the newest gauge, and caps the number of series", async () => {
    const ns = env.METRICS as DurableObjectNamespace<MetricsStore>;
    const stub = ns.get(ns.idFromName(`cap-test-${run}`));
    await stub.add({ counters: { a_total: 2 }, gauges: { g: { value: 5, at: 10 } } });
    await stub.add({ counters: { a_total: 3 }, gauges: { g: { value: 1, at: 9 } } });
    expect(await stub.snapshot()).toEqual({ counters: { a_total: 5 }, gauges: { g: { value: 5, at: 10 } } });
    // stored in the object's SQLite database
    const rows = await runInDurableObject(stub, (_o: MetricsStore, state) => state.storage.sql.exec("SELECT series, value FROM counters").toArray());
    expect(rows).toEqual([{ series: "a_total", value: 5 }]);

    const many: Record<string, number> = {};
    for (let i = 0; i < MAX_SERIES + 10; i++) many[`s_total{i="${i}"}`] = 1;
    const r = await stub.add({ counters: many, gauges: {} });
    expect(r.dropped).toBe(12); // 2 series existed already
    const snap = await stub.snapshot();
    expect(snap.counters["tributary_metrics_series_dropped_total"]).toBe(12);
    expect(Object.keys(snap.counters).length + Object.keys(snap.gauges).length).toBe(MAX_SERIES + 1);
    // existing series still count after the cap
    await stub.add({ counters: { a_total: 1, 'never_total{x="1"}': 1 }, gauges: {} });
    const after = await stub.snapshot();
    expect(after.counters.a_total).toBe(6);
    expect(after.counters['never_total{x="1"}']).toBeUndefined();
  });
});
