// Reasons built from a sink's answer are one line, for every sink: a trailing newline (Loki's answers
// end in one) or a multi-line body quoted in a reason would split a log line, a retry message and a
// row of `npm run dlq -- list`. Real HTTP sinks against an endpoint on 127.0.0.1 that answers with
// line breaks; the dead letters' reasons are read back.
import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load";
import { deliverToSink } from "../../src/deliver/deliver";
import { oneLine } from "../../src/deliver/attempt";
import type { DeadLetter } from "../../src/deliver/dlq";
import { PARTIAL_NOTE } from "../../src/sinks/loki";
import { fixtureEvents, listen, type FakeServer } from "../support/siem-servers";
import { memoryDeps } from "../support/memory-delivery";

let server: FakeServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Answers every request with `status` and `body`. */
async function answering(status: number, body: string, type = "text/plain"): Promise<string> {
  server = await listen(() => ({ status, headers: { "content-type": type }, body }));
  return server.url;
}

const NOW = Date.UTC(2027, 0, 15);
const WHSEC = `whsec_${Buffer.from("0123456789abcdef01234567").toString("base64")}`;

async function deadReasons(sinkCfg: Record<string, unknown>): Promise<string[]> {
  const cfg = parseConfig({ sinks: { s: { ...sinkCfg, retry: { maxAttempts: 1 } } } });
  const { deps, map } = memoryDeps(cfg, { WHSEC }, NOW);
  const items = fixtureEvents()
    .slice(0, 2)
    .map((event) => ({ event, line: JSON.stringify(event) }));
  const r = await deliverToSink({ sink: "s", items, attempt: 1, firstAttemptAt: NOW }, deps);
  expect(r.dead).toBe(2);
  return [...map.values()].map((o) => (JSON.parse(o.body) as DeadLetter).reason);
}

describe("reasons from a sink's answer", () => {
  it("Loki's 400 (its answer ends in a newline) gives a one-line reason with the partial-push note", async () => {
    const url = await answering(400, 'entry for stream \'{job="tributary"}\' has timestamp too old: 2027-01-01T00:00:00Z\n');
    const reasons = await deadReasons({ type: "loki", url, compression: "none" });
    expect(reasons).toEqual([`Loki HTTP 400: entry for stream '{job="tributary"}' has timestamp too old: 2027-01-01T00:00:00Z; ${PARTIAL_NOTE}`]);
  });

  it("every sink's reason is one line, with its text kept (webhook, Splunk HEC, Elasticsearch, Datadog, OTLP, Loki; rejected and retried)", async () => {
    const sinks: Record<string, unknown>[] = [
      { type: "webhook", url: "URL/hook", secret: { env: "WHSEC" } },
      { type: "splunk_hec", url: "URL", token: "literal-hec-token" },
      { type: "elasticsearch", url: "URL" },
      { type: "datadog_logs", url: "URL", apiKey: "literal-dd-key", compression: "none" },
      { type: "otlp_logs", endpoint: "URL", compression: "none" },
      { type: "loki", url: "URL", compression: "none" },
    ];
    for (const status of [400, 503]) {
      const url = await answering(status, "first line\r\n\tsecond\tline\n\n");
      for (const s of sinks) {
        const reasons = await deadReasons(Object.fromEntries(Object.entries(s).map(([k, v]) => [k, typeof v === "string" ? v.replace("URL", url) : v])));
        expect(reasons.length).toBeGreaterThan(0);
        for (const r of reasons) {
          expect(r).toMatch(/first line second line$/);
          expect(r).toBe(oneLine(r));
        }
      }
      await server!.close();
      server = undefined;
    }
  });

  it("oneLine folds white space runs and trims", () => {
    expect(oneLine("  HTTP 400: a\n b\r\n\tc  \n")).toBe("HTTP 400: a b c");
  });
});
