// Feed refresh and the R2 loader in Node: a real feed server on 127.0.0.1 (node:http), an in-memory
// stand-in for the R2 bucket (the workerd test runs the same path against real R2).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import stixBundle from "./samples/stix-bundle.json?raw";
import inventoryCsv from "./samples/inventory.csv?raw";
import { refreshFeeds, publicSource } from "../../src/enrich/refresh";
import { enricherFor, loadedState, feedKey, type EnrichBucket } from "../../src/enrich/load";
import { readCompiledHeader } from "../../src/enrich/compiled";
import { config, plainFixture } from "./helpers";
import type { OcsfEvent } from "../../src/normalize/ocsf";

class MemoryBucket implements EnrichBucket {
  readonly objects = new Map<string, { text: string; etag: string; customMetadata?: Record<string, string> }>();
  private n = 0;
  async head(key: string) {
    const o = this.objects.get(key);
    return o ? { etag: o.etag, customMetadata: o.customMetadata } : null;
  }
  async get(key: string) {
    const o = this.objects.get(key);
    return o ? { etag: o.etag, text: async () => o.text, body: new Blob([o.text]).stream() } : null;
  }
  async put(key: string, value: string, options?: { customMetadata?: Record<string, string> }) {
    this.objects.set(key, { text: value, etag: `e${++this.n}`, customMetadata: options?.customMetadata });
  }
}

interface Answer {
  status: number;
  body?: string;
  headers?: Record<string, string>;
  hang?: boolean;
  /** A body written piece by piece as it is generated (chunked transfer): never whole in the test. */
  pieces?: () => Generator<string>;
}

let server: Server;
let base = "";
const script: Answer[] = [];
const seen: { path: string; ifNoneMatch?: string; ifModifiedSince?: string; auth?: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const h = req.headers;
    seen.push({ path: req.url ?? "", ifNoneMatch: h["if-none-match"] as string | undefined, ifModifiedSince: h["if-modified-since"], auth: h.authorization });
    const a = script.shift() ?? { status: 404, body: "no script" };
    if (a.hang) return; // never answers; the client's time limit ends it
    if (!a.pieces) return void res.writeHead(a.status, a.headers ?? {}).end(a.body ?? "");
    res.writeHead(a.status, a.headers ?? {});
    const it = a.pieces();
    const pump = () => {
      for (let r = it.next(); !r.done; r = it.next()) if (!res.write(r.value)) return void res.once("drain", pump);
      res.end();
    };
    res.on("error", () => {}); // the client may stop reading (a refused feed)
    pump();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const connectEvent = (): OcsfEvent => structuredClone(plainFixture("tetragon/process_connect.ndjson")[0]!);
const hits = (e: OcsfEvent) => (e.enrichments ?? []).filter((x) => x.type === "threat_intel").map((x) => `${x.provider}:${String(x.data.indicator)}`);

describe("feed refresh (Cron) and reload", () => {
  it("stores a good feed, keeps it through 500s, garbage, empty lists and time-outs, then takes the next good one", async () => {
    const bucket = new MemoryBucket();
    const env = { ARCHIVE: bucket, FEED_TOKEN: "tok-123" };
    const cfg = config({
      enrich: {
        intel: {
          reloadSeconds: 1,
          feeds: [{ name: "c2", url: `${base}/feeds/c2.txt?apikey=SECRET`, headers: { authorization: { env: "FEED_TOKEN" } }, format: "plain", confidence: 90 }],
        },
      },
    });
    const opts = { timeoutMs: 300 };
    let now = 1_000_000;

    // 1. good data
    script.push({ status: 200, body: "# c2 list\n64.225.45.153\n203.0.113.0/24\n", headers: { etag: '"v1"' } });
    expect(await refreshFeeds(env, cfg, { ...opts, now })).toEqual([{ feed: "c2", ok: true, status: "updated", indicators: 2, invalid: 0 }]);
    expect(seen.at(-1)).toMatchObject({ path: "/feeds/c2.txt?apikey=SECRET", auth: "tok-123" });
    const stored = bucket.objects.get(feedKey("c2"))!;
    expect(readCompiledHeader(stored.text)).toMatchObject({ feed: "c2", source: `${base}/feeds/c2.txt`, count: 2 });
    expect(stored.text).not.toContain("SECRET");
    let enrich = await enricherFor(env, cfg, now);
    expect(hits(enrich(connectEvent()))).toEqual(["c2:64.225.45.153"]);

    // 2. the source answers 500, then garbage with 200, then an empty list, then never answers
    const failures: Answer[] = [
      { status: 500, body: "internal error" },
      { status: 200, body: "<!DOCTYPE html><html><body><h1>Maintenance</h1>\n<p>back soon</p></body></html>\n" },
      { status: 200, body: "# no entries today\n" },
      { status: 200, hang: true },
    ];
    const reasons: string[] = [];
    for (const f of failures) {
      script.push(f);
      now += 2000;
      const [r] = await refreshFeeds(env, cfg, { ...opts, now });
      expect(r!.ok).toBe(false);
      reasons.push(r!.status);
      expect(bucket.objects.get(feedKey("c2"))!.etag).toBe(stored.etag); // the last good set stays
      enrich = await enricherFor(env, cfg, now);
      expect(hits(enrich(connectEvent()))).toEqual(["c2:64.225.45.153"]);
    }
    expect(reasons[0]).toBe(`HTTP 500 from ${base}/feeds/c2.txt`);
    expect(reasons[1]).toMatch(/^not a usable plain feed: no indicators found|^not a usable plain feed: .* not indicators/);
    expect(reasons[2]).toMatch(/no indicators found/);
    expect(reasons[3]).toMatch(/timed out after 300 ms/);
    // conditional request with the source's ETag
    expect(seen.at(-1)!.ifNoneMatch).toBe('"v1"');

    // 3. not modified
    script.push({ status: 304 });
    expect((await refreshFeeds(env, cfg, { ...opts, now }))[0]!.status).toBe("not modified");

    // 4. the next good list replaces it; isolates pick it up after reloadSeconds
    script.push({ status: 200, body: "198.51.100.7\n", headers: { etag: '"v2"' } });
    now += 500;
    expect((await refreshFeeds(env, cfg, { ...opts, now }))[0]!.status).toBe("updated");
    enrich = await enricherFor(env, cfg, now); // checked 500 ms ago: not yet
    expect(hits(enrich(connectEvent()))).toEqual(["c2:64.225.45.153"]);
    now += 1000;
    enrich = await enricherFor(env, cfg, now);
    expect(hits(enrich(connectEvent()))).toEqual([]);
    expect(bucket.objects.get("intel/_refresh.json")!.text).toContain('"status": "updated"');
  });

  it("a source with Last-Modified and no ETag is asked with If-Modified-Since; 304 keeps the stored set unwritten", async () => {
    const bucket = new MemoryBucket();
    const cfg = config({ enrich: { intel: { feeds: [{ name: "lm", url: `${base}/lm.txt`, format: "plain" }] } } });
    const modified = "Wed, 21 Oct 2015 07:28:00 GMT";
    script.push({ status: 200, body: "64.225.45.153\n", headers: { "last-modified": modified } });
    expect((await refreshFeeds({ ARCHIVE: bucket }, cfg, { timeoutMs: 2000 }))[0]!.status).toBe("updated");
    expect(seen.at(-1)).toMatchObject({ path: "/lm.txt", ifNoneMatch: undefined, ifModifiedSince: undefined });
    const stored = bucket.objects.get(feedKey("lm"))!;
    expect(stored.customMetadata).toMatchObject({ source_last_modified: modified });
    expect(stored.customMetadata!.source_etag).toBeUndefined();

    script.push({ status: 304 });
    expect((await refreshFeeds({ ARCHIVE: bucket }, cfg, { timeoutMs: 2000 }))[0]).toEqual({ feed: "lm", ok: true, status: "not modified" });
    expect(seen.at(-1)).toMatchObject({ ifNoneMatch: undefined, ifModifiedSince: modified });
    expect(bucket.objects.get(feedKey("lm"))!.etag).toBe(stored.etag); // not rewritten

    // a newer file: stored with its own Last-Modified, asked with that one next time
    const newer = "Thu, 22 Oct 2015 07:28:00 GMT";
    script.push({ status: 200, body: "198.51.100.7\n", headers: { "last-modified": newer, etag: '"n1"' } });
    expect((await refreshFeeds({ ARCHIVE: bucket }, cfg, { timeoutMs: 2000 }))[0]!.status).toBe("updated");
    expect(bucket.objects.get(feedKey("lm"))!.customMetadata).toMatchObject({ source_last_modified: newer, source_etag: '"n1"' });
    script.push({ status: 304 });
    expect((await refreshFeeds({ ARCHIVE: bucket }, cfg, { timeoutMs: 2000 }))[0]!.status).toBe("not modified");
    expect(seen.at(-1)).toMatchObject({ ifNoneMatch: '"n1"', ifModifiedSince: newer });
  });

  it("refuses oversize downloads and unset secrets", async () => {
    const bucket = new MemoryBucket();
    const cfg = config({
      enrich: {
        intel: {
          maxFeedBytes: 64,
          feeds: [
            { name: "big", url: `${base}/big.txt`, format: "plain" },
            { name: "secret", url: `${base}/s.txt`, headers: { "x-api-key": { env: "MISSING" } } },
          ],
        },
      },
    });
    script.push({ status: 200, body: "203.0.113.1\n".repeat(20) });
    const r = await refreshFeeds({ ARCHIVE: bucket }, cfg, { timeoutMs: 2000 });
    expect(r[0]).toMatchObject({ feed: "big", ok: false });
    expect(r[0]!.status).toMatch(/more than maxFeedBytes 64/);
    expect(r[1]).toEqual({ feed: "secret", ok: false, status: "header x-api-key: secret not set" });
    expect(bucket.objects.has(feedKey("big"))).toBe(false);
  });

  it("keeps serving the last good set when the stored object itself is damaged", async () => {
    const bucket = new MemoryBucket();
    const cfg = config({ enrich: { intel: { reloadSeconds: 1, feeds: [{ name: "c2", url: `${base}/c2`, format: "plain" }] } } });
    script.push({ status: 200, body: "64.225.45.153\n" });
    await refreshFeeds({ ARCHIVE: bucket }, cfg, { now: 0 });
    expect(hits((await enricherFor({ ARCHIVE: bucket }, cfg, 0))(connectEvent()))).toHaveLength(1);
    await bucket.put(feedKey("c2"), "this is not a compiled feed");
    const enrich = await enricherFor({ ARCHIVE: bucket }, cfg, 5000);
    expect(hits(enrich(connectEvent()))).toHaveLength(1);
    expect(loadedState(cfg)!.errors[0]).toMatch(/feed c2: not a compiled intel file/);
  });

  it("loads raw feed files and the inventory from R2 keys, with inline indicators on top", async () => {
    const bucket = new MemoryBucket();
    await bucket.put("feeds/cti.json", stixBundle);
    await bucket.put("inventory/hosts.csv", inventoryCsv);
    const cfg = config({
      enrich: {
        inventory: { r2Key: "inventory/hosts.csv", inline: [{ match: "minikube", owner: "inline-owner" }] },
        intel: { feeds: [{ name: "cti", r2Key: "feeds/cti.json", format: "stix", indicators: ["64.225.45.153"] }] },
      },
    });
    const enrich = await enricherFor({ ARCHIVE: bucket }, cfg, 0);
    const e = enrich(connectEvent());
    expect(hits(e)).toEqual(["cti:64.225.45.153"]);
    expect(e.device).toMatchObject({ owner: { name: "inline-owner" } });
    const st = loadedState(cfg)!;
    expect(st.errors).toEqual([]);
    expect(st.data.intel!.feeds[0]!.set.counts).toMatchObject({ ipv4: 2, cidr4: 1, domain: 2, sha256: 1, url: 1 });
    expect(publicSource("https://u:p@feeds.example/a/b.csv?key=1#x")).toBe("https://feeds.example/a/b.csv");
  });

  it("loads inventory rows from KV, rebuilds when the value changes, keeps the last good rows on a bad value", async () => {
    const values = new Map<string, string>();
    let reads = 0;
    const kv = {
      async get(key: string) {
        reads++;
        return values.get(key) ?? null;
      },
    };
    const cfg = config({ enrich: { inventory: { kvKey: "hosts", format: "csv" }, intel: { reloadSeconds: 1, feeds: [] } } });
    const owner = (e: OcsfEvent) => (e.device as { owner?: { name: string } }).owner?.name;
    expect(owner((await enricherFor({ ENRICH_KV: kv }, cfg, 0))(connectEvent()))).toBeUndefined(); // no value yet
    values.set("hosts", "match,owner\nminikube,kv-one\n");
    expect(owner((await enricherFor({ ENRICH_KV: kv }, cfg, 1000))(connectEvent()))).toBe("kv-one");
    values.set("hosts", "match,owner\nminikube,kv-two\n");
    expect(owner((await enricherFor({ ENRICH_KV: kv }, cfg, 1500))(connectEvent()))).toBe("kv-one"); // not re-checked yet
    expect(owner((await enricherFor({ ENRICH_KV: kv }, cfg, 2000))(connectEvent()))).toBe("kv-two");
    values.set("hosts", "owner\nnobody\n"); // no match column
    expect(owner((await enricherFor({ ENRICH_KV: kv }, cfg, 3000))(connectEvent()))).toBe("kv-two");
    expect(loadedState(cfg)!.errors).toEqual(["inventory kv:hosts: inventory CSV needs a header with a match (or hostname) column"]);
    expect(reads).toBe(4);
    // configured without the binding: an error, ingest goes on without those rows
    const cfg2 = config({ enrich: { inventory: { kvKey: "hosts" } } });
    expect(owner((await enricherFor({}, cfg2, 0))(connectEvent()))).toBeUndefined();
    expect(loadedState(cfg2)!.errors).toEqual(["inventory kv:hosts: inventory.kvKey is set but the Worker has no ENRICH_KV binding"]);
  });

  it("refreshes a large STIX bundle streamed from the server (past the old 20,000,000-character cap), one object at a time; refuses an oversize object or bundle and keeps the set", async () => {
    const n = 100_000;
    const ipOf = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    /** A bundle of n indicators, in ~64 KB pieces; `big` puts one object of that many characters in the middle. */
    function* bundle(big = 0): Generator<string> {
      yield '{"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": [\n';
      let cur = "";
      for (let i = 0; i < n; i++) {
        const pad = big && i === n / 2 ? `, "description": "${"x".repeat(big)}"` : "";
        cur += `${i ? "," : ""}{"type":"indicator","spec_version":"2.1","id":"indicator--${String(i).padStart(12, "0")}","created":"2025-05-01T00:00:00.000Z","modified":"2025-05-01T00:00:00.000Z","name":"scanner [${i}] \\"quoted\\" }{","indicator_types":["malicious-activity"],"pattern":"[ipv4-addr:value = '${ipOf(i)}']","pattern_type":"stix","valid_from":"2025-05-01T00:00:00Z","confidence":85${pad}}\n`;
        if (cur.length >= 65536) {
          yield cur;
          cur = "";
        }
      }
      yield `${cur}]}\n`;
    }
    let chars = 0;
    for (const p of bundle()) chars += p.length;
    expect(chars).toBeGreaterThan(20_000_000);

    const bucket = new MemoryBucket();
    const cfg = config({ enrich: { intel: { reloadSeconds: 1, feeds: [{ name: "cti", url: `${base}/cti/bundle.json`, format: "stix" }] } } });
    script.push({ status: 200, pieces: () => bundle() });
    const [r] = await refreshFeeds({ ARCHIVE: bucket }, cfg, { timeoutMs: 60_000, now: 0 });
    expect(r).toEqual({ feed: "cti", ok: true, status: "updated", indicators: n, invalid: 0 });
    const stored = bucket.objects.get(feedKey("cti"))!;
    expect(readCompiledHeader(stored.text)).toMatchObject({ feed: "cti", format: "stix", count: n });
    expect(stored.text).toContain(`\nipv4 ${ipOf(n - 1)} 85\n`);
    const set = async (now: number) => {
      await enricherFor({ ARCHIVE: bucket }, cfg, now);
      return loadedState(cfg)!.data.intel!.feeds[0]!.set;
    };
    expect((await set(0)).counts).toMatchObject({ ipv4: n });
    expect((await set(0)).lookupIPv4(10 * 2 ** 24 + 12345)).toBeDefined();
    expect((await set(0)).lookupIPv4(10 * 2 ** 24 + n)).toBeUndefined();

    // one object over maxJsonElementChars (1,000,000), then a bundle over maxJsonFeedBytes: refused, the set stays
    script.push({ status: 200, pieces: () => bundle(1_000_001) });
    const [big] = await refreshFeeds({ ARCHIVE: bucket }, cfg, { timeoutMs: 60_000, now: 2000 });
    expect(big!.ok).toBe(false);
    expect(big!.status).toMatch(/^not a usable stix feed: STIX JSON: a value of more than \d+ characters is over the 1000000 allowed for one element$/);
    const small = config({ enrich: { intel: { maxJsonFeedBytes: 10_000_000, feeds: [{ name: "cti", url: `${base}/cti/bundle.json`, format: "stix" }] } } });
    script.push({ status: 200, pieces: () => bundle() });
    const [over] = await refreshFeeds({ ARCHIVE: bucket }, small, { timeoutMs: 60_000, now: 3000 });
    expect(over).toMatchObject({ ok: false, status: "download failed: feed is more than maxJsonFeedBytes 10000000" });
    expect(bucket.objects.get(feedKey("cti"))!.etag).toBe(stored.etag);
    expect((await set(5000)).counts).toMatchObject({ ipv4: n });

    // the same bundle as a raw R2 file (r2Key) is read as a stream too
    const raw = new MemoryBucket();
    await raw.put("feeds/cti.json", [...bundle()].join(""));
    const rawCfg = config({ enrich: { intel: { feeds: [{ name: "cti", r2Key: "feeds/cti.json", format: "stix" }] } } });
    await enricherFor({ ARCHIVE: raw }, rawCfg, 0);
    expect(loadedState(rawCfg)!.errors).toEqual([]);
    expect(loadedState(rawCfg)!.data.intel!.feeds[0]!.set.counts).toMatchObject({ ipv4: n });
  });
});
