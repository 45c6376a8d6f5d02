// A buffered storage sink with a projection, inside workerd with the real ARCHIVE bucket: its events are staged
// whole (stage/<sink>/...), and the compaction, which writes them through the delivery layer's attempt, writes
// the projected events (here an r2 sink on the ARCHIVE binding under its own prefix).
import { env } from "cloudflare:test";
import { describe, it, expect } from "vitest";
import { parseConfig } from "../../src/config/load";
import { compactAll, COMPACT_SCHEDULED } from "../../src/deliver/compact";
import { resolveSinks } from "../../src/deliver/sinks";
import { stageItems, stagePrefix } from "../../src/deliver/stage";
import { uniqueFixtureEvents } from "../support/delivery";

const run = Date.now().toString(36);
const sink = `proj${run}`;
const prefix = `lean${run}`;

async function textOf(key: string, gzip: boolean): Promise<string> {
  const obj = (await env.ARCHIVE.get(key))!;
  const body = gzip ? obj.body.pipeThrough(new DecompressionStream("gzip")) : obj.body;
  return new Response(body).text();
}

describe("a buffered storage sink's projection", () => {
  it("stages whole events; the compaction writes the projected ones", async () => {
    const items = uniqueFixtureEvents()
      .filter((e) => e.unmapped !== undefined && Object.keys(e.unmapped).length > 0)
      .slice(0, 6)
      .map((event) => ({ event, line: JSON.stringify(event) }));
    expect(items.length).toBeGreaterThanOrEqual(3);
    const cfg = parseConfig({ sinks: { [sink]: { type: "r2", binding: "ARCHIVE", prefix, buffer: { seconds: 60 }, projection: { exclude: ["unmapped", "raw_data"] } } }, routes: [{ sinks: [sink] }] });
    const now = Date.now();
    const staged = await stageItems(resolveSinks(cfg).get(sink)!, items, env.ARCHIVE, now);
    expect(staged.staged).toHaveLength(items.length);
    const stagedKeys = (await env.ARCHIVE.list({ prefix: stagePrefix(sink) })).objects.map((o) => o.key);
    const stagedLines = (await Promise.all(stagedKeys.map((k) => textOf(k, false)))).flatMap((t) => t.split("\n").filter(Boolean));
    expect(stagedLines.sort()).toEqual(items.map((it) => it.line).sort());

    const [result] = await compactAll(cfg, { archive: env.ARCHIVE, env: { ARCHIVE: env.ARCHIVE }, now: () => now + 120_000 }, COMPACT_SCHEDULED);
    expect(result).toMatchObject({ sink, delivered: items.length, dead: 0, retried: 0 });
    const written = (await env.ARCHIVE.list({ prefix: `${prefix}/` })).objects.map((o) => o.key);
    expect(written.length).toBeGreaterThan(0);
    const out = (await Promise.all(written.map((k) => textOf(k, true)))).flatMap((t) => t.split("\n").filter(Boolean)).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(out.map((e) => (e.metadata as { uid: string }).uid).sort()).toEqual(items.map((it) => it.event.metadata.uid).sort());
    for (const e of out) {
      expect(e).not.toHaveProperty("unmapped");
      expect(e).toHaveProperty("class_uid");
    }
  });
});
