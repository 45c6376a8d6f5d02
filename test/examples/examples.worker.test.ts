// Every file in examples/ is parsed, and what it makes its client send is sent to the Worker (inside
// workerd) at the URL and path it names, with the credentials it carries, under examples/routing.json:
// Falco's http_output (Basic credentials in the URL), Falcosidekick's webhook output, Vector's http
// sinks (NDJSON and JSON arrays, gzip, healthcheck), the kube-apiserver audit webhook kubeconfig.
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { parse as parseToml } from "smol-toml";
import falcoYaml from "../../examples/falco.yaml?raw";
import sidekickYaml from "../../examples/falcosidekick.yaml?raw";
import vectorToml from "../../examples/vector.toml?raw";
import kubeconfigYaml from "../../examples/audit-webhook.kubeconfig?raw";
import routingJson from "../../examples/routing.json?raw";
import { checkConfigText } from "../../src/ops/check-config";
import { call, CaptureQueue, gzip, linesOf, type Answer } from "../routes/helpers";
import { fixture } from "../support/fixtures";
import { ALERT_AT, AUDIT_AT, SHELL_AT, STORY_NS, falcoShellRecord, k8sExecRecord, tetragonShellExecRecord } from "../correlate/story";

const routing = JSON.parse(routingJson) as Record<string, unknown>;
/** A value for every secret the routing example refers to; tests overwrite the ones they use. */
const secrets: Record<string, string> = Object.fromEntries(checkConfigText(routingJson).secrets.map((s) => [s.name, `test-${s.name.toLowerCase()}`]));

async function send(url: URL, init: { method?: string; headers?: Record<string, string>; body?: BodyInit | null }, vars: Record<string, string>, queue = new CaptureQueue()): Promise<Answer & { queue: CaptureQueue }> {
  const req = new Request(`http://tributary${url.pathname}${url.search}`, { method: init.method ?? "POST", headers: init.headers, body: init.body ?? null });
  const a = await call(req, { config: routing, dev: false, queue, vars: { ...secrets, ...vars } });
  return { ...a, queue };
}

const basic = (user: string, pass: string) => `Basic ${btoa(`${user}:${pass}`)}`;
const tenants = (q: CaptureQueue) => [...new Set(q.events().map((e) => (e.metadata as { tenant_uid?: string }).tenant_uid))];

describe("examples/routing.json", () => {
  it("is a valid config with no warnings, naming the secrets it needs", () => {
    const r = checkConfigText(routingJson);
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.secrets.map((s) => s.name)).toContain("SPLUNK_HEC_TOKEN");
    const sinks = new Set(["archive", ...Object.keys(r.config!.sinks)]);
    for (const route of r.config!.routes) for (const s of route.sinks) expect(sinks.has(s)).toBe(true);
  });

  it("one tenant per cluster: prod-eu-1's audit webhook, Falco and Tetragon (Vector) credentials get one kubectl exec story one correlation_uid", async () => {
    // each sensor with its own credential, at the URL its example names (docs/correlation.md "Tenants")
    const pod = "web-0-example-3b1d";
    const tokens = { AUDIT_WEBHOOK_TOKEN: "audit-tok", FALCO_PASSWORD: "falco-pass", TOKEN_PROD_EU_1: "vector-tok" };
    const json = { "content-type": "application/json" };
    const sent = [
      await send(new URL("https://t/v1/events/k8s-audit"), { headers: { ...json, authorization: "Bearer audit-tok" }, body: JSON.stringify(k8sExecRecord({ pod, at: AUDIT_AT })) }, tokens),
      await send(new URL("https://t/v1/events/falco"), { headers: { ...json, authorization: basic("falco", "falco-pass") }, body: JSON.stringify(falcoShellRecord({ pod, at: ALERT_AT })) }, tokens),
      await send(new URL("https://t/v1/events/tetragon"), { headers: { ...json, authorization: "Bearer vector-tok" }, body: JSON.stringify(tetragonShellExecRecord({ ns: STORY_NS, pod, at: SHELL_AT })) }, tokens),
    ];
    const events = sent.flatMap((r) => {
      expect(r.status).toBe(202);
      return r.queue.events();
    });
    expect(events.map((e) => (e.metadata as { tenant_uid?: string }).tenant_uid)).toEqual(["prod-eu-1", "prod-eu-1", "prod-eu-1"]);
    // the example has a second tenant (aws-org), so keys are scoped by tenant: the three share tenant and cluster, so one key
    const keys = events.map((e) => ((e.unmapped as { tributary: { correlation: { key: string } } }).tributary.correlation.key));
    expect(keys).toEqual(Array(3).fill(`tenant:prod-eu-1/pod:prod-eu-1/${STORY_NS}/${pod}`));
    expect(new Set(events.map((e) => (e.metadata as { correlation_uid?: string }).correlation_uid)).size).toBe(1);
  });
});

describe("examples/falco.yaml", () => {
  it("http_output: the URL's path and Basic credentials get an alert accepted and routed", async () => {
    const cfg = parseYaml(falcoYaml) as { json_output: boolean; http_output: { enabled: boolean; url: string; insecure: boolean } };
    expect(cfg.json_output).toBe(true);
    expect(cfg.http_output).toMatchObject({ enabled: true, insecure: false });
    const url = new URL(cfg.http_output.url);
    expect(url.protocol).toBe("https:");
    const user = decodeURIComponent(url.username);
    const pass = decodeURIComponent(url.password);
    // Falco (libcurl) turns the URL's user:password into an Authorization: Basic header
    const r = await send(url, { headers: { "content-type": "application/json", authorization: basic(user, pass) }, body: fixture("falco/terminal-shell-in-container__falco-docs.json") }, { FALCO_PASSWORD: pass });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ accepted: 1, rejected: 0 });
    expect(tenants(r.queue)).toEqual(["prod-eu-1"]);
    expect(r.queue.messages[0]!.sinks).toContain("lake");
    // the same path without the credentials is refused
    expect((await send(url, { headers: { "content-type": "application/json" }, body: "{}" }, {})).status).toBe(401);
  });
});

describe("examples/falcosidekick.yaml", () => {
  it("webhook output: its address and custom Authorization header get Falcosidekick's payload accepted", async () => {
    const cfg = parseYaml(sidekickYaml) as { webhook: { address: string; method: string; customheaders: Record<string, string> } };
    expect(cfg.webhook.method).toBe("POST");
    const url = new URL(cfg.webhook.address);
    const authz = cfg.webhook.customheaders.Authorization!;
    const r = await send(url, { headers: { "content-type": "application/json", authorization: authz }, body: fixture("falco/falcosidekick-test-event__falcosidekick-test.json") }, { FALCOSIDEKICK_TOKEN: authz.replace(/^Bearer /, "") });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ accepted: 1, rejected: 0 });
    expect(tenants(r.queue)).toEqual(["prod-eu-1"]);
  });
});

interface VectorHttpSink {
  type: string;
  inputs: string[];
  uri: string;
  method: string;
  compression: string;
  encoding: { codec: string };
  framing?: { method: string };
  auth: { strategy: string; token: string };
  batch: { max_bytes: number; timeout_secs?: number };
  healthcheck?: { enabled?: boolean; uri?: string };
}

describe("examples/vector.toml", () => {
  const cfg = parseToml(vectorToml) as unknown as { sources: Record<string, { type: string; include: string[] }>; transforms: Record<string, { type: string; source: string; inputs: string[] }>; sinks: Record<string, VectorHttpSink> };
  const token = "vector-token";

  it("parses: file sources -> remap parse_json -> http sinks with gzip and bearer auth, batches under the body limit", () => {
    expect(cfg.sources.tetragon!.include).toEqual(["/var/run/cilium/tetragon/tetragon.log"]);
    for (const t of Object.values(cfg.transforms)) expect(t.source).toContain("parse_json!");
    for (const s of Object.values(cfg.sinks)) {
      expect(s).toMatchObject({ type: "http", method: "post", compression: "gzip", encoding: { codec: "json" }, auth: { strategy: "bearer", token: "${TRIBUTARY_TOKEN}" } });
      expect(s.batch.max_bytes).toBeLessThanOrEqual(16_000_000);
      expect(Object.keys(cfg.transforms)).toContain(s.inputs[0]);
      // docs/vector.md: batches of at most one request per 10 s per node, and a healthcheck only where uri is set
      expect(s.batch.timeout_secs).toBeGreaterThanOrEqual(10);
      expect(s.healthcheck?.uri).toBe(s.uri);
    }
  });

  it("Tetragon sink: the healthcheck (HEAD uri) answers 200 and a gzipped NDJSON batch of export lines is accepted", async () => {
    const sink = cfg.sinks.tributary_tetragon!;
    expect(sink.framing?.method).toBe("newline_delimited");
    const url = new URL(sink.uri);
    expect((await send(url, { method: "HEAD" }, {})).status).toBe(200);
    const lines = linesOf("tetragon");
    const body = await gzip(lines.join("\n"));
    // what Vector sends for codec json + newline_delimited framing + gzip
    const r = await send(url, { headers: { "content-type": "application/x-ndjson", "content-encoding": "gzip", authorization: `Bearer ${token}` }, body }, { TOKEN_PROD_EU_1: token });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ accepted: lines.length, rejected: 0 });
    expect(tenants(r.queue)).toEqual(["prod-eu-1"]);
  });

  it("audit-log sink: a gzipped JSON array (Vector's default json framing) is accepted", async () => {
    const sink = cfg.sinks.tributary_audit!;
    expect(sink.framing).toBeUndefined();
    const url = new URL(sink.uri);
    const events = linesOf("k8s-audit", (n) => !n.includes("negative")).map((l) => JSON.parse(l) as unknown);
    const body = await gzip(JSON.stringify(events));
    const r = await send(url, { headers: { "content-type": "application/json", "content-encoding": "gzip", authorization: `Bearer ${token}` }, body }, { TOKEN_PROD_EU_1: token });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ accepted: events.length, rejected: 0 });
  });
});

describe("examples/audit-webhook.kubeconfig", () => {
  it("the current context's server and token get an audit.k8s.io/v1 EventList accepted", async () => {
    type Named<T> = { name: string } & T;
    const kc = parseYaml(kubeconfigYaml) as {
      kind: string;
      "current-context": string;
      contexts: Named<{ context: { cluster: string; user: string } }>[];
      clusters: Named<{ cluster: { server: string } }>[];
      users: Named<{ user: { token: string } }>[];
    };
    expect(kc.kind).toBe("Config");
    const ctx = kc.contexts.find((c) => c.name === kc["current-context"])!.context;
    const server = kc.clusters.find((c) => c.name === ctx.cluster)!.cluster.server;
    const token = kc.users.find((u) => u.name === ctx.user)!.user.token;
    const items = linesOf("k8s-audit", (n) => n.includes("audit2rbac")).map((l) => JSON.parse(l) as unknown);
    const eventList = { kind: "EventList", apiVersion: "audit.k8s.io/v1", metadata: {}, items };
    const r = await send(new URL(server), { headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify(eventList) }, { AUDIT_WEBHOOK_TOKEN: token });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ accepted: items.length, rejected: 0 });
    expect(tenants(r.queue)).toEqual(["prod-eu-1"]);
  });
});
