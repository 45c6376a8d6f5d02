// MISP and STIX feed files in real R2 (the ARCHIVE bucket, r2Key) loaded inside workerd: the isolate
// reads the object's body stream one JSON element at a time (src/enrich/json-stream.ts); a file with an
// element over intel.maxJsonElementChars, or over intel.maxJsonFeedBytes, is refused with the reason
// and the last good set keeps serving.
import { env } from "cloudflare:test";
import { describe, it, expect } from "vitest";
import { enricherFor, loadedState } from "../../src/enrich/load";
import { parseConfig } from "../../src/config/load";

const run = Date.now().toString(36);
const n = 20_000;
const ipOf = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

function stixBundle(pad = 0): string {
  const objects = Array.from({ length: n }, (_, i) => {
    const extra = pad && i === n / 2 ? `,"description":"${"x".repeat(pad)}"` : "";
    return `{"type":"indicator","id":"indicator--${i}","name":"é [${i}] \\"q\\" }{","pattern":"[ipv4-addr:value = '${ipOf(i)}']","pattern_type":"stix","confidence":90${extra}}`;
  });
  return `{"type":"bundle","id":"bundle--1","objects":[\n${objects.join(",\n")}\n]}`;
}

describe("MISP / STIX r2Key files streamed in workerd", () => {
  it("loads a STIX bundle and a MISP event from R2, refuses an oversize element or file and keeps the last good set", async () => {
    const stixKey = `feeds/${run}/cti.json`;
    const mispKey = `feeds/${run}/misp.json`;
    await env.ARCHIVE.put(stixKey, stixBundle());
    const attrs = Array.from({ length: n }, (_, i) => ({ type: "domain", to_ids: true, value: `d${i}.evil.example`, comment: "]}\"{" }));
    await env.ARCHIVE.put(mispKey, JSON.stringify({ Event: { info: "ünïcode", Attribute: attrs, Object: [{ name: "file", Attribute: [{ type: "sha256", to_ids: true, value: "a".repeat(64) }] }] } }, null, 1));
    const cfg = parseConfig({
      enrich: {
        intel: {
          reloadSeconds: 1,
          maxJsonFeedBytes: 10_000_000,
          feeds: [
            { name: "cti", r2Key: stixKey, format: "stix" },
            { name: "misp", r2Key: mispKey, format: "misp" },
          ],
        },
      },
    });
    const counts = () => loadedState(cfg)!.data.intel!.feeds.map((f) => [f.name, f.set.counts] as const);
    await enricherFor(env, cfg, 0);
    expect(loadedState(cfg)!.errors).toEqual([]);
    expect(counts()).toEqual([
      ["cti", expect.objectContaining({ ipv4: n })],
      ["misp", expect.objectContaining({ domain: n, sha256: 1 })],
    ]);

    // an object over 1,000,000 characters, then a file over maxJsonFeedBytes: both refused, sets unchanged
    await env.ARCHIVE.put(stixKey, stixBundle(1_000_001));
    await enricherFor(env, cfg, 2000);
    expect(loadedState(cfg)!.errors).toEqual([expect.stringMatching(/^feed cti: STIX JSON: a value of more than \d+ characters is over the 1000000 allowed for one element$/)]);
    await env.ARCHIVE.put(stixKey, `${stixBundle()}${" ".repeat(10_000_000)}`);
    await enricherFor(env, cfg, 4000);
    expect(loadedState(cfg)!.errors).toEqual(["feed cti: feed is more than maxJsonFeedBytes 10000000"]);
    expect(counts()[0]).toEqual(["cti", expect.objectContaining({ ipv4: n })]);
  });
});
