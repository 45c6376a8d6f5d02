// Sink credentials never reach a dead letter, a retry message, a delivery result or a log line, even
// when the failure quotes them: a fetch error naming a Slack webhook URL (the URL is the credential),
// or an endpoint on 127.0.0.1 that echoes the request (Authorization: Splunk <token>, DD-API-KEY,
// basic auth) in its error answer.
import { afterEach, describe, expect, it, vi } from "vitest";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { parseConfig } from "../../src/config/load";
import { deliverToSink } from "../../src/deliver/deliver";
import { sinkSecrets } from "../../src/deliver/attempt";
import { logResult } from "../../src/deliver/consumer";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { fixtureEvents } from "../support/siem-servers";
import { memoryDeps } from "../support/memory-delivery";

const HEC_TOKEN = "hec-0b1c2d3e-4f5a-6b7c-8d9e-secret";
const DD_KEY = "dd0123456789abcdef0123456789abcd";
const ES_PASSWORD = "es-pässword-secret";
const SLACK_URL = "hooks.slack.invalid/services/T00000000/B00000000/slacksecretXXXXXXXXXXXX";
/** The shortest beginning of a secret that must not survive a cut (attempt.ts redacts from 4 characters). */
const MIN_PREFIX = 4;
const SECRETS = [HEC_TOKEN, DD_KEY, ES_PASSWORD, "slacksecretXXXXXXXXXXXX", Buffer.from(`elastic:${ES_PASSWORD}`).toString("base64")];

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

/** A server on 127.0.0.1 that answers 400 (a permanent failure), once the request is read, with `answer`'s headers and body; its URL. */
function answering400(answer: (req: IncomingMessage) => { headers: Record<string, string>; body: string }): Promise<string> {
  server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const a = answer(req);
      res.writeHead(400, a.headers);
      res.end(a.body);
    });
  });
  return new Promise((resolve) => server!.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server!.address() as AddressInfo).port}`)));
}

/** Answers 400 (a permanent failure) with the request's URL and headers in the body and a header. */
function echoServer(): Promise<string> {
  return answering400((req) => ({
    headers: { "content-type": "application/json", "x-request-id": String(req.headers.authorization ?? req.headers["dd-api-key"] ?? "") },
    body: JSON.stringify({ error: "bad request", url: req.url, headers: req.headers }),
  }));
}

describe("sink secrets in failures", () => {
  it("are absent from dead letters, retry messages, results and log lines", async () => {
    const url = await echoServer();
    const once = { retry: { maxAttempts: 1 } };
    const cfg = parseConfig({
      sinks: {
        hec: { type: "splunk_hec", url, token: { env: "HEC_TOKEN" }, ...once },
        dd: { type: "datadog_logs", url, apiKey: { env: "DD_KEY" }, compression: "none", ...once },
        es: { type: "elasticsearch", url, auth: { username: "elastic", password: { env: "ES_PASSWORD" } }, ...once },
        slack: { type: "slack", url: { env: "SLACK_URL" }, minSeverityId: 0, ...once },
        slack2: { type: "slack", url: { env: "SLACK_URL" }, minSeverityId: 0 },
      },
    });
    const env = { HEC_TOKEN, DD_KEY, ES_PASSWORD, SLACK_URL };
    const { deps, map, sent } = memoryDeps(cfg, env, Date.UTC(2027, 0, 15));
    const events: OcsfEvent[] = fixtureEvents().slice(0, 3);
    const items = events.map((event) => ({ event, line: JSON.stringify(event) }));
    const lines: string[] = [];
    const spy = vi.spyOn(console, "warn").mockImplementation((l: string) => void lines.push(l));
    try {
      for (const sink of ["hec", "dd", "es", "slack", "slack2"]) {
        const r = await deliverToSink({ sink, items, attempt: 1, firstAttemptAt: Date.UTC(2027, 0, 15) }, deps);
        expect(r.delivered).toBe(0);
        // the consumer's own "delivery" log line for it
        logResult(r, "events");
        lines.push(JSON.stringify(r));
      }
    } finally {
      spy.mockRestore();
    }
    // one "delivery" warn line a sink (they failed), read back as the log wrote it
    expect(lines.filter((l) => l.startsWith("{") && (JSON.parse(l) as { msg?: string }).msg === "delivery")).toHaveLength(5);
    const dead = [...map.values()].map((o) => o.body);
    expect(dead.length).toBeGreaterThanOrEqual(4);
    // the failures did quote them: the echo and the fetch error are there, with the secrets taken out
    expect(dead.join("\n")).toContain("[redacted]");
    expect(dead.some((d) => d.includes("Failed to parse URL"))).toBe(true);
    expect(sent.length).toBeGreaterThan(0); // slack2 retries
    const everything = [...dead, ...sent.map((s) => JSON.stringify(s)), ...lines].join("\n");
    for (const s of SECRETS) expect(everything).not.toContain(s);
  });

  it("a secret the 4 KB cut of an answer goes through leaves no beginning of it in the dead letter", async () => {
    // the answer quotes the token so that the cut (4,096 characters) falls 10 characters into it
    const url = await answering400(() => ({ headers: { "content-type": "text/plain" }, body: "x".repeat(4086) + HEC_TOKEN + " and more" }));
    const cfg = parseConfig({ sinks: { hec: { type: "splunk_hec", url, token: { env: "HEC_TOKEN" }, retry: { maxAttempts: 1 } } } });
    const { deps, map } = memoryDeps(cfg, { HEC_TOKEN }, Date.UTC(2027, 0, 15));
    const event = fixtureEvents()[0]!;
    const r = await deliverToSink({ sink: "hec", items: [{ event, line: JSON.stringify(event) }], attempt: 1, firstAttemptAt: Date.UTC(2027, 0, 15) }, deps);
    expect(r.delivered).toBe(0);
    const dead = [...map.values()].map((o) => o.body).join("\n");
    expect(dead).toContain("x".repeat(100) + "[redacted]…");
    expect(dead).not.toContain(HEC_TOKEN.slice(0, MIN_PREFIX));
  });

  it("sinkSecrets: env values, literal secret-named values and a Slack URL", () => {
    const env = { T: "tok-123456", U: "https://hooks.slack.com/services/T/B/abcdef" };
    expect(sinkSecrets({ type: "splunk_hec", config: { url: "https://x", token: { env: "T" }, auth: { password: "literal-pw" } } }, env).sort()).toEqual(["literal-pw", "tok-123456"]);
    expect(sinkSecrets({ type: "slack", config: { url: { env: "U" } } }, env)).toContain("https://hooks.slack.com/services/T/B/abcdef");
    expect(sinkSecrets({ type: "slack", config: { url: "https://hooks.slack.com/services/T/B/lit" } }, env)).toEqual(["https://hooks.slack.com/services/T/B/lit"]);
  });
});

describe("a sink secret that is not set", () => {
  it("is logged by its binding's name once per sink and binding (never a value); the dead letter says why", async () => {
    // nothing is sent (encode needs the secret first), so the URL is never reached
    const url = "http://127.0.0.1:9";
    const cfg = parseConfig({
      sinks: {
        lokiA: { type: "loki", url, auth: { username: "12345", password: { env: "LOKI_TOKEN_UNSET" } } },
        lokiB: { type: "loki", url, auth: { username: "12345", password: { env: "LOKI_TOKEN_UNSET" } } },
        hec: { type: "splunk_hec", url, token: { env: "HEC_TOKEN_EMPTY" } },
      },
    });
    const { deps, map } = memoryDeps(cfg, { HEC_TOKEN_EMPTY: "" }, Date.UTC(2027, 0, 15));
    const items = fixtureEvents()
      .slice(0, 3)
      .map((event) => ({ event, line: JSON.stringify(event) }));
    const lines: string[] = [];
    const spy = vi.spyOn(console, "error").mockImplementation((l: string) => void lines.push(l));
    try {
      // two deliveries to each sink: the second finds the secret still unset and logs nothing more
      for (const sink of ["lokiA", "lokiA", "lokiB", "hec", "hec"]) {
        const r = await deliverToSink({ sink, items, attempt: 1, firstAttemptAt: Date.UTC(2027, 0, 15) }, deps);
        expect(r).toMatchObject({ delivered: 0, dead: 3, requests: 0 });
      }
    } finally {
      spy.mockRestore();
    }
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const msg = "sink secret not set; its sends are dead-lettered";
    expect(logged).toEqual([
      expect.objectContaining({ level: "error", msg, sink: "lokiA", type: "loki", setting: "auth.password", binding: "LOKI_TOKEN_UNSET" }),
      expect.objectContaining({ level: "error", msg, sink: "lokiB", type: "loki", setting: "auth.password", binding: "LOKI_TOKEN_UNSET" }),
      expect.objectContaining({ level: "error", msg, sink: "hec", type: "splunk_hec", setting: "token", binding: "HEC_TOKEN_EMPTY" }),
    ]);
    const dead = [...map.values()].map((o) => JSON.parse(o.body) as { reason: string });
    expect(dead.map((d) => d.reason)).toContain("loki could not encode these events: loki: auth.password is not set (env binding LOKI_TOKEN_UNSET is missing or empty)");
  });
});
