// The HTTP sinks that can gzip (Datadog and Loki by default, Elasticsearch/OpenSearch and Splunk HEC when
// asked) gzip with the runtime's CompressionStream (encodeBody -> gzipText): every gzip body must
// decompress to exactly the bytes of the body sent uncompressed, over every fixture event.
import { describe, expect, it } from "vitest";
import { gunzipSync, strToU8 } from "fflate";
import { datadog } from "../../src/sinks/datadog";
import { elasticsearch } from "../../src/sinks/elasticsearch";
import { loki } from "../../src/sinks/loki";
import { splunkHec } from "../../src/sinks/splunk-hec";
import { encodeBody } from "../../src/sinks/batch";
import type { SinkContext, SinkDriver } from "../../src/sinks/types";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { NOW, fixtureEvents } from "../support/siem-servers";

const ctx: SinkContext = { env: {}, now: NOW };
const lines = fixtureEvents().map((e) => JSON.stringify(e));
const events = lines.map((l) => JSON.parse(l) as OcsfEvent);

const cases: { name: string; driver: SinkDriver<unknown>; config: Record<string, unknown> }[] = [
  { name: "datadog_logs", driver: datadog as SinkDriver<unknown>, config: { apiKey: "key", maxEvents: 40 } },
  { name: "loki", driver: loki as SinkDriver<unknown>, config: { url: "https://loki.example:3100", maxEvents: 40 } },
  { name: "elasticsearch", driver: elasticsearch as SinkDriver<unknown>, config: { url: "https://es.example:9200", maxEvents: 40 } },
  { name: "splunk_hec", driver: splunkHec as SinkDriver<unknown>, config: { url: "https://splunk.example:8088", token: "t", maxEvents: 40 } },
];

describe("gzip request bodies", () => {
  it.each(cases)("$name: each gzip body decompresses to the bytes of the uncompressed body", async ({ driver, config }) => {
    const gz = await driver.encode(events, driver.schema.parse({ ...config, compression: "gzip" }), ctx, lines);
    const plain = await driver.encode(events, driver.schema.parse({ ...config, compression: "none" }), ctx, lines);
    expect(gz.length).toBeGreaterThan(1);
    expect(gz.map((r) => r.events)).toEqual(plain.map((r) => r.events));
    gz.forEach((r, k) => {
      const p = plain[k]!;
      expect(typeof p.body).toBe("string");
      expect(p.headers["content-encoding"]).toBeUndefined();
      expect(r.headers).toEqual({ ...p.headers, "content-encoding": "gzip" });
      const bytes = r.body as Uint8Array;
      expect([bytes[0], bytes[1]]).toEqual([0x1f, 0x8b]);
      expect(gunzipSync(bytes)).toEqual(strToU8(p.body as string));
    });
  });

  it("encodeBody: the text as it is without compression; gzip of its UTF-8 bytes with the header set at once", async () => {
    const text = `{"a":"é ✓ 😀"}\n`.repeat(3000);
    const none: Record<string, string> = {};
    expect(await encodeBody(text, "none", none)).toBe(text);
    expect(none).toEqual({});
    const h: Record<string, string> = {};
    const pending = encodeBody(text, "gzip", h);
    expect(h["content-encoding"]).toBe("gzip");
    const body = (await pending) as Uint8Array;
    expect(body.byteLength).toBeLessThan(text.length / 10);
    expect(gunzipSync(body)).toEqual(strToU8(text));
  });
});
