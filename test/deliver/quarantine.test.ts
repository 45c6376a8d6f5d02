// Quarantine layout (Node, pure part) and its writer.
import { describe, it, expect } from "vitest";
import { quarantineObjects, quarantineUniq, writeQuarantine, QUARANTINE_SINGLE_OBJECTS, type Rejected } from "../../src/deliver/quarantine";

const meta = { requestId: "8a1b2c3d4e5f6a7b-SJC", uniq: "0123456789ab", tenant: "team-a", receivedAt: Date.UTC(2026, 10, 22, 23, 59), route: "/v1/events" };

describe("quarantineObjects", () => {
  it("one object per rejected record under quarantine/<day>/<request id>-<uniq>-<index>.json", () => {
    const objs = quarantineObjects([{ index: 4, path: "line 5", reason: "invalid JSON: x", raw: "{nope" }], meta);
    expect(objs).toHaveLength(1);
    expect(objs[0]!.key).toBe("quarantine/20261122/8a1b2c3d4e5f6a7b-SJC-0123456789ab-4.json");
    expect(JSON.parse(objs[0]!.body)).toEqual({ reason: "invalid JSON: x", path: "line 5", index: 4, tenant: "team-a", request_id: meta.requestId, quarantine_id: "0123456789ab", route: "/v1/events", received_at: "2026-11-22T23:59:00.000Z", raw: "{nope" });
  });

  it("past the per-request cap, the rest share one NDJSON object; request ids are made key-safe", () => {
    const many: Rejected[] = Array.from({ length: QUARANTINE_SINGLE_OBJECTS + 5 }, (_, i) => ({ index: i, path: `[${i}]`, reason: "r", record: { i } }));
    const objs = quarantineObjects(many, { ...meta, requestId: "a/b c" });
    expect(objs).toHaveLength(QUARANTINE_SINGLE_OBJECTS + 1);
    expect(objs[0]!.key).toBe("quarantine/20261122/a_b_c-0123456789ab-0.json");
    const rest = objs.at(-1)!;
    expect(rest.key).toBe("quarantine/20261122/a_b_c-0123456789ab-rest.ndjson");
    expect(rest.body.trim().split("\n").map((l) => (JSON.parse(l) as { record: { i: number } }).record.i)).toEqual([25, 26, 27, 28, 29]);
  });

  it("two requests with the same request id get different keys (the uniq part), so neither overwrites the other", () => {
    const r: Rejected[] = [{ index: 0, path: "line 1", reason: "r", raw: "x" }];
    const a = quarantineObjects(r, { ...meta, uniq: quarantineUniq() });
    const b = quarantineObjects(r, { ...meta, uniq: quarantineUniq() });
    expect(a[0]!.key).toMatch(/^quarantine\/20261122\/8a1b2c3d4e5f6a7b-SJC-[0-9a-f]{12}-0\.json$/);
    expect(a[0]!.key).not.toBe(b[0]!.key);
  });

  it("keeps the reason when a record cannot be serialized", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 1_000_000; i++) deep = [deep];
    const [o] = quarantineObjects([{ index: 0, path: "(body)", reason: "too deep", record: deep as never }], meta);
    const b = JSON.parse(o!.body) as Record<string, unknown>;
    expect(b.reason).toBe("too deep");
    expect(b.record_error).toMatch(/could not be serialized/);
  });
});

describe("writeQuarantine", () => {
  it("writes every object and reports the first failure after trying them all", async () => {
    const keys: string[] = [];
    const many: Rejected[] = Array.from({ length: 8 }, (_, i) => ({ index: i, path: "", reason: "r", raw: "x" }));
    expect(await writeQuarantine({ put: async (k) => void keys.push(k) }, many, meta)).toBe(8);
    expect(keys).toHaveLength(8);
    let tried = 0;
    await expect(writeQuarantine({ put: async () => { tried++; throw new Error("down"); } }, many, meta)).rejects.toThrow("down");
    expect(tried).toBe(8);
  });

  it("gives each object the content type of its key: .json objects application/json, the rest .ndjson application/x-ndjson", async () => {
    const types = new Map<string, string | undefined>();
    const many: Rejected[] = Array.from({ length: QUARANTINE_SINGLE_OBJECTS + 2 }, (_, i) => ({ index: i, path: "", reason: "r", raw: "x" }));
    await writeQuarantine({ put: async (k, _v, o) => void types.set(k, o?.httpMetadata?.contentType) }, many, meta);
    expect(types.size).toBe(QUARANTINE_SINGLE_OBJECTS + 1);
    for (const [k, t] of types) expect(t).toBe(k.endsWith("-rest.ndjson") ? "application/x-ndjson" : "application/json");
    expect([...types.values()].filter((t) => t === "application/x-ndjson")).toHaveLength(1);
  });
});
