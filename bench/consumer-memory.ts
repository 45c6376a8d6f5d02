// "consumer batch, 10 sinks" (bench/memory.ts): the sink deliveries of one full EVENTS batch
// (about 10 MB of queue lines, every source's fixtures cycled with uids of their own) to 10 sinks of
// every HTTP and storage type but Slack (a request per event), all answered by one local server on 127.0.0.1 (200 after 20 ms, bodies
// read and dropped). Run in a child process (bench/memory.ts) in two modes:
//   - before: no request slots and Security Lake at the storage default (one object per class and
//     day: 100,000 events / 50 MB), as the consumer was before src/deliver/slots.ts;
//   - after: the consumer's slots (SINK_SLOTS) and Security Lake's own default batch;
//   - batch only: no delivery, the floor the other two add to.
// The items (the consumer's parsed batch) are built before the baseline: the numbers are what the
// deliveries add on top of them. Heap is sampled at every request the server gets and after each
// sink's delivery (a lower bound of the true peak); bench/memory.ts also bisects the heap limit.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { parseConfig } from "../src/config/load";
import type { OcsfEvent } from "../src/normalize/ocsf";
import { stableHex } from "../src/normalize/uid";
import { attemptDelivery, type Item } from "../src/deliver/attempt";
import { resolveSinks } from "../src/deliver/sinks";
import { Slots } from "../src/deliver/slots";
import { SOURCES, fixtureLines, ndjson } from "./common";
import { asDelivered, ocsfEvents } from "./pipeline";
import { defaultSteps } from "./pipeline-steps";

export interface ConsumerMemResult {
  events: number;
  lineBytes: number;
  requests: number;
  /** Requests per sink. */
  perSink: Record<string, number>;
  delivered: number;
  peakHeap: number;
}

const LIVE = Date.UTC(2026, 11, 6, 3, 0, 0);

/**
 * Queue lines as the consumer holds them (line + parsed event), of `sources` (default all) and only the
 * events `keep` takes, each with a uid of its own, of one day (a live stream). Made a few hundred input
 * lines at a time, so that making them costs less heap than what the benchmarks do with them (a bisected
 * heap limit is the peak of the whole run). Ends after 10,000 rounds of input.
 */
export function* deliveredItems(sources?: readonly string[], keep: (e: OcsfEvent) => boolean = () => true): Generator<Item> {
  const { enrich, route } = defaultSteps();
  const lines = SOURCES.filter(([name]) => sources === undefined || sources.includes(name)).flatMap(([, dirs]) => fixtureLines(...dirs));
  let k = 0;
  for (let round = 0; round < 10_000; round++) {
    for (const e of ocsfEvents(ndjson(lines, 200), enrich, route)) {
      if (!keep(e)) continue;
      e.metadata.uid = stableHex(`${e.metadata.uid}/${k}`);
      e.time = LIVE + k; // one day: a batch's events are one object per class
      k++;
      yield asDelivered(e);
    }
  }
}

/** About `bytes` of queue lines (./deliveredItems). */
function batchItems(bytes: number, source?: string): Item[] {
  const items: Item[] = [];
  let n = 0;
  for (const item of deliveredItems(source === undefined ? undefined : [source])) {
    if (n >= bytes) break;
    n += item.line.length + 1;
    items.push(item);
  }
  return items;
}

/** `source`: one source's fixtures only (e.g. "falco": a Falco DaemonSet's stream, one Parquet object of it all before). */
export async function consumerBatch(mode: "batch only" | "before" | "after", bytes = 10_000_000, source?: string): Promise<ConsumerMemResult> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const items = batchItems(bytes, source);
  let peakHeap = 0;
  let h0 = 0;
  const sample = () => (peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed - h0));
  const { url, s3, close } = await sinkServer(sample);
  try {
    const classes = [...new Set(items.map((i) => i.event.class_uid))];
    // buffer: false: the consumer builds the Parquet itself (the buffered path stages lines; compact.ts builds it in the cron)
    const lake = { ...s3, type: "security_lake", buffer: false, accountId: "external", sources: Object.fromEntries(classes.map((c) => [String(c), `tributary_${c}`])) };
    const sinks: Record<string, Record<string, unknown>> = {
      s3: { type: "s3", ...s3 },
      s3_raw: { type: "s3", ...s3, prefix: "raw" },
      lake: mode === "before" ? { ...lake, batch: { maxEvents: 100_000, maxBytes: 50_000_000 } } : lake,
      splunk: { type: "splunk_hec", url, token: "token" },
      elastic: { type: "elasticsearch", url },
      opensearch: { type: "opensearch", url },
      datadog: { type: "datadog_logs", url, apiKey: "key" },
      loki: { type: "loki", url },
      webhook: { type: "webhook", url: `${url}/hook`, secret: `whsec_${Buffer.alloc(32, 7).toString("base64")}` },
      webhook_b: { type: "webhook", url: `${url}/hook-b`, secret: `whsec_${Buffer.alloc(32, 8).toString("base64")}` },
    };
    // "batch only": the parsed batch and the loaded modules, no delivery (what the others add to)
    const resolved = mode === "batch only" ? [] : [...resolveSinks(parseConfig({ sinks })).values()];
    const slots = mode === "after" ? new Slots() : undefined;
    gc?.();
    h0 = process.memoryUsage().heapUsed;
    const reports = await Promise.all(
      resolved.map(async (s) => {
        const r = await attemptDelivery(s, items, { env: {}, now: Date.now(), ...(slots ? { slots } : {}) });
        sample();
        return r;
      }),
    );
    return {
      events: items.length,
      lineBytes: items.reduce((n, i) => n + i.line.length + 1, 0),
      requests: reports.reduce((n, r) => n + r.requests, 0),
      perSink: Object.fromEntries(resolved.map((s, i) => [s.name, reports[i]!.requests])),
      delivered: reports.reduce((n, r) => n + r.delivered.length, 0),
      peakHeap,
    };
  } finally {
    await close();
  }
}

/**
 * The sinks' far end: one HTTP server on 127.0.0.1 that calls `onRequest` as each request arrives, reads
 * and drops the body and answers 200 after 20 ms (a body every HTTP sink and S3 take). `s3`: the fields
 * of an s3 / security_lake sink that writes to it. `bodyBytes`: the request bytes it read.
 */
export async function sinkServer(onRequest: () => void) {
  let bodyBytes = 0;
  const server = createServer((req, res) => {
    onRequest();
    req.on("data", (c: Buffer) => (bodyBytes += c.byteLength));
    req.on("end", () => setTimeout(() => res.writeHead(200, { "content-type": "application/json" }).end('{"text":"Success","code":0,"errors":false,"items":[]}'), 20));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    s3: { endpoint: url, forcePathStyle: true, bucket: "bench", accessKeyId: "AKIABENCH", secretAccessKey: "secret" },
    bodyBytes: () => bodyBytes,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
