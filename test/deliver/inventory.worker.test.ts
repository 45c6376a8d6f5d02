// `npm run dlq -- staged|unreadable` through the admin routes inside workerd: a buffered sink's objects
// staged by stageItems, a sink no longer configured whose staged object the cron will not write, a staged
// object that is not NDJSON set aside by a real compaction run, and a spool object set aside.
import { env } from "cloudflare:test";
import { describe, it, expect } from "vitest";
import { parseConfig } from "../../src/config/load";
import { compactAll, COMPACT_SCHEDULED, STAGE_UNREADABLE_PREFIX } from "../../src/deliver/compact";
import type { StagedSummary, UnreadableInfo } from "../../src/deliver/inventory";
import { resolveSinks } from "../../src/deliver/sinks";
import { SPOOL_UNREADABLE_PREFIX } from "../../src/deliver/spool";
import { stageItems, stagePrefix } from "../../src/deliver/stage";
import { callWorker, uniqueFixtureEvents } from "../support/delivery";

const run = Date.now().toString(36);
const s3 = (seconds: number) => ({
  type: "s3",
  bucket: "never-sent",
  endpoint: "http://127.0.0.1:9",
  forcePathStyle: true,
  accessKeyId: "K",
  secretAccessKey: { env: "S3_SECRET" },
  buffer: { seconds },
});
// `kept` waits a day (never due here); `garbled` is due at once; `gone` is not configured
const [kept, garbled, gone] = ["kept", "garbled", "gone"].map((n) => `inv${n}${run}`) as [string, string, string];
const cfg = { sinks: { [kept]: s3(86_400), [garbled]: s3(60) }, routes: [{ sinks: [kept] }] };
const e = (config: unknown = cfg) => ({ ...env, TRIBUTARY_CONFIG: JSON.stringify(config), S3_SECRET: "x" }) as unknown as Env;

type Staged = { staged: (StagedSummary & { compacted?: boolean })[]; more: boolean; objects: number; events: number };

async function keysUnder(prefix: string): Promise<{ key: string; size: number }[]> {
  return (await env.ARCHIVE.list({ prefix })).objects.map((o) => ({ key: o.key, size: o.size }));
}

describe("GET /v1/dlq/staged", () => {
  it("sums each sink's staged objects (objects, events from metadata, bytes, oldest) and says which the cron compacts", async () => {
    const sink = resolveSinks(parseConfig(cfg)).get(kept)!;
    const items = uniqueFixtureEvents()
      .slice(0, 5)
      .map((event) => ({ event, line: JSON.stringify(event) }));
    const t1 = Date.now() - 3_600_000;
    const first = await stageItems(sink, items.slice(0, 3), env.ARCHIVE, t1);
    const second = await stageItems(sink, items.slice(3), env.ARCHIVE, t1 + 60_000);
    expect([first.staged, second.staged]).toEqual([[0, 1, 2], [0, 1]]);
    const stagedKeys = await keysUnder(stagePrefix(kept));
    await env.ARCHIVE.put(`${stagePrefix(gone)}4001/20270115/orphan.ndjson`, "{}\n{}\n", { customMetadata: { events: "2", staged: String(t1 + 120_000) } });

    const one = (await (await callWorker(e(), `/v1/dlq/staged?sink=${kept}`)).json()) as Staged;
    expect(one).toMatchObject({ more: false, objects: stagedKeys.length, events: 5 });
    expect(one.staged).toHaveLength(1);
    expect(one.staged[0]).toMatchObject({ sink: kept, objects: stagedKeys.length, events: 5, bytes: stagedKeys.reduce((n, k) => n + k.size, 0), oldest: new Date(t1).toISOString(), compacted: true });
    expect(one.staged[0]!.oldestAgeSeconds).toBeGreaterThanOrEqual(3600);

    // all sinks: the one not configured is listed too, and not compacted (the cron never writes it)
    const all = (await (await callWorker(e(), "/v1/dlq/staged")).json()) as Staged;
    const mine = all.staged.filter((s) => s.sink === kept || s.sink === gone);
    // (in name order: "invgone…" before "invkept…")
    expect(mine.map((s) => [s.sink, s.objects, s.events, s.compacted])).toEqual([
      [gone, 1, 2, false],
      [kept, stagedKeys.length, 5, true],
    ]);
    expect(mine.find((s) => s.sink === gone)!.oldest).toBe(new Date(t1 + 120_000).toISOString());
  });

  it("needs the admin token when one is configured", async () => {
    const guarded = { ...cfg, delivery: { adminToken: "inventory-admin-token-0123456789" } };
    expect((await callWorker(e(guarded), "/v1/dlq/staged")).status).toBe(401);
    expect((await callWorker(e(guarded), "/v1/dlq/unreadable")).status).toBe(401);
    const ok = await callWorker(e(guarded), `/v1/dlq/staged?sink=${gone}`, { headers: { authorization: "Bearer inventory-admin-token-0123456789" } });
    expect(ok.status).toBe(200);
  });
});

describe("GET /v1/dlq/unreadable", () => {
  it("lists what compaction and the spool set aside: key, store, size, when, why", async () => {
    const staged = `${stagePrefix(garbled)}4001/20270115/garbage.ndjson`;
    await env.ARCHIVE.put(staged, "not json at all\n", { customMetadata: { events: "1", staged: String(Date.now() - 3_600_000) } });
    const results = await compactAll(parseConfig(cfg), { archive: env.ARCHIVE, env: {}, now: () => Date.now() }, COMPACT_SCHEDULED);
    expect(results.find((r) => r.sink === garbled)).toMatchObject({ delivered: 0, dead: 0 });
    expect(await keysUnder(stagePrefix(garbled))).toEqual([]);
    // (a spool drain drains the whole spool, so this one is put where the drain sets such an object aside)
    const spooled = `${SPOOL_UNREADABLE_PREFIX}spool/20270115/inv-${run}.json`;
    await env.ARCHIVE.put(spooled, "\u0000\u0001", { customMetadata: { unreadable: "not UTF-8 JSON" } });

    const r = (await (await callWorker(e(), "/v1/dlq/unreadable")).json()) as { unreadable: UnreadableInfo[]; objects: number; more: boolean };
    expect(r.more).toBe(false);
    expect(r.objects).toBe(r.unreadable.length);
    const byKey = new Map(r.unreadable.map((u) => [u.key, u]));
    expect(byKey.get(`${STAGE_UNREADABLE_PREFIX}${staged}`)).toMatchObject({ from: "stage", size: "not json at all\n".length, reason: expect.stringMatching(/^not NDJSON: /) });
    expect(byKey.get(spooled)).toMatchObject({ from: "spool", size: 2, reason: "not UTF-8 JSON" });
    for (const u of [byKey.get(spooled)!, byKey.get(`${STAGE_UNREADABLE_PREFIX}${staged}`)!]) expect(Number.isFinite(Date.parse(u.uploaded))).toBe(true);
  });
});
