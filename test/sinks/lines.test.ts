// The HTTP sinks write the delivered lines (SinkDriver.encode's `lines`: each event's JSON text as the
// queues carried it) instead of serializing the events again. Their requests must be exactly those
// made without `lines`, over every fixture event, and no event may reach JSON.stringify.
import { afterEach, describe, expect, it, vi } from "vitest";
import { gunzipSync, strFromU8 } from "fflate";
import { datadog } from "../../src/sinks/datadog";
import { elasticsearch } from "../../src/sinks/elasticsearch";
import { loki } from "../../src/sinks/loki";
import { splunkHec } from "../../src/sinks/splunk-hec";
import { webhook } from "../../src/sinks/webhook";
import { withLastMember } from "../../src/sinks/batch";
import type { SinkContext, SinkDriver, SinkRequest } from "../../src/sinks/types";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { NOW, fixtureEvents } from "../support/siem-servers";

const ctx: SinkContext = { env: {}, now: NOW };
const SECRET = `whsec_${btoa(String.fromCharCode(...new Array<number>(32).fill(7)))}`;

// every fixture event, plus a few without a uid (ES leaves out _id, the webhook id digests the text)
const source = fixtureEvents();
const withoutUid = source.slice(0, 5).map((e) => {
  const { uid: _, ...metadata } = e.metadata;
  return { ...e, metadata } as OcsfEvent;
});
// as the consumer holds them: the queue lines and the events parsed back from them
const lines = [...source, ...withoutUid].map((e) => JSON.stringify(e));
const events = lines.map((l) => JSON.parse(l) as OcsfEvent);

interface Case {
  name: string;
  driver: SinkDriver<unknown>;
  config: Record<string, unknown>;
}

const cases: Case[] = [
  { name: "elasticsearch", driver: elasticsearch as SinkDriver<unknown>, config: { url: "https://es.example:9200", maxEvents: 40 } },
  { name: "elasticsearch without @timestamp", driver: elasticsearch as SinkDriver<unknown>, config: { url: "https://es.example:9200", addTimestamp: false, maxEvents: 40 } },
  { name: "elasticsearch gzip", driver: elasticsearch as SinkDriver<unknown>, config: { url: "https://es.example:9200", compression: "gzip", maxEvents: 60 } },
  { name: "webhook batch", driver: webhook as SinkDriver<unknown>, config: { url: "https://hooks.example/ocsf", secret: SECRET, maxEvents: 30 } },
  { name: "webhook single", driver: webhook as SinkDriver<unknown>, config: { url: "https://hooks.example/ocsf", secret: SECRET, mode: "single" } },
  { name: "loki", driver: loki as SinkDriver<unknown>, config: { url: "https://loki.example:3100", maxBytes: 100_000 } },
  { name: "loki uncompressed", driver: loki as SinkDriver<unknown>, config: { url: "https://loki.example:3100", compression: "none", maxEvents: 60 } },
  { name: "datadog json", driver: datadog as SinkDriver<unknown>, config: { apiKey: "key", maxEvents: 50 } },
  { name: "datadog attributes", driver: datadog as SinkDriver<unknown>, config: { apiKey: "key", messageFormat: "attributes", compression: "none", tags: ["env:test"], maxEvents: 60 } },
  { name: "splunk_hec", driver: splunkHec as SinkDriver<unknown>, config: { url: "https://splunk.example:8088", token: "t", maxEvents: 25 } },
  { name: "splunk_hec index+fields gzip", driver: splunkHec as SinkDriver<unknown>, config: { url: "https://splunk.example:8088", token: "t", index: "ocsf", fields: { env: "test" }, compression: "gzip", maxEvents: 60 } },
];

/** The request with its body as text (gunzipped when it is gzip). */
function readable(r: SinkRequest): Omit<SinkRequest, "body"> & { body: string } {
  const body = typeof r.body === "string" ? r.body : strFromU8(r.headers["content-encoding"] === "gzip" ? gunzipSync(r.body) : r.body);
  return { ...r, body };
}

afterEach(() => vi.restoreAllMocks());

describe("http sinks write the delivered lines", () => {
  it.each(cases)("$name: the same requests with and without lines; no event serialized again", async ({ driver, config }) => {
    const cfg = driver.schema.parse(config);
    const bare = await driver.encode(events, cfg, ctx);
    const stringify = vi.spyOn(JSON, "stringify");
    const fed = await driver.encode(events, cfg, ctx, lines);
    const eventSet = new Set<unknown>(events);
    expect(stringify.mock.calls.filter((c) => eventSet.has(c[0])).length).toBe(0);
    stringify.mockRestore();
    expect(fed.length).toBeGreaterThan(1);
    expect(fed.flatMap((r) => r.events).sort((a, b) => a - b)).toEqual(events.map((_, i) => i));
    expect(fed.map(readable)).toEqual(bare.map(readable));
    // and each body holds the events' lines as they are (inside JSON strings for Loki and Datadog's message)
    for (const r of fed.map(readable)) {
      for (const i of r.events) {
        // Loki and Datadog's message: inside a JSON string; Elasticsearch: after the spliced-in @timestamp
        const text =
          config.messageFormat === undefined && (driver === loki || driver === datadog)
            ? JSON.stringify(lines[i]).slice(1, -1)
            : driver === elasticsearch && config.addTimestamp !== false
              ? `Z",${lines[i]!.slice(1)}`
              : lines[i]!;
        expect(r.body.includes(text)).toBe(true);
      }
    }
  });

  it("ignores lines that do not match the events one for one (serializes the events instead)", async () => {
    const cfg = elasticsearch.schema.parse({ url: "https://es.example:9200" });
    const bare = await elasticsearch.encode(events, cfg, ctx);
    expect(await elasticsearch.encode(events, cfg, ctx, lines.slice(1))).toEqual(bare);
  });
});

describe("withLastMember", () => {
  it("is JSON.stringify of the object with the value as its last member", () => {
    const value = { a: [1, "x\u2028"], b: { c: null } };
    expect(withLastMember({}, "event", JSON.stringify(value))).toBe(JSON.stringify({ event: value }));
    expect(withLastMember({ time: 1.5, host: 'h"1' }, "event", JSON.stringify(value))).toBe(JSON.stringify({ time: 1.5, host: 'h"1', event: value }));
    expect(withLastMember({ "quote\"d": 1 }, 'ke"y', "3")).toBe(JSON.stringify({ "quote\"d": 1, 'ke"y': 3 }));
  });
});
