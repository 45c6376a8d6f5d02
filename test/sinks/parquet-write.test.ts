// Security Lake Parquet writer (src/sinks/parquet-write.ts): the files encodeParquet writes are the
// files the encoder before it wrote (rows as nested objects handed to hyparquet-writer's
// parquetWriteBuffer, kept in test/support/parquet-reference.ts), byte for byte, and read back with
// hyparquet to the same rows: for every fixture event of every class, deterministically mutated copies
// (wrong types, unknown members, lists that are not, empty lists, null elements, `unmapped` that is not
// an object), and files with two row groups and a column past one page.
import { describe, it, expect, beforeAll } from "vitest";
import { parquetMetadata } from "hyparquet";
import { encodeParquet } from "../../src/sinks/security-lake";
import { parquetWriterCaches } from "../../src/sinks/parquet-write";
import { classSchema } from "../../src/sinks/parquet-schema";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { fixtureEvents, plain } from "../support/siem-servers";
import { arrayBufferOf, readParquet, type Row } from "../support/lake-read";
import { referenceParquet } from "../support/parquet-reference";

let events: OcsfEvent[];
let classes: number[];
beforeAll(() => {
  events = fixtureEvents();
  classes = [...new Set(events.map((e) => e.class_uid))].sort((a, b) => a - b);
});

/** Both encoders on the same events: the same bytes, the same rows read back. */
async function same(of: OcsfEvent[], cls: number): Promise<Row[]> {
  const now = encodeParquet(of, cls);
  const before = referenceParquet(of, cls);
  expect(Buffer.from(now).equals(Buffer.from(before)), `class ${cls}: ${of.length} events, ${now.byteLength} vs ${before.byteLength} bytes`).toBe(true);
  const rows = await readParquet(now);
  expect(rows).toHaveLength(of.length);
  expect(rows).toEqual(await readParquet(before));
  return rows;
}

/**
 * A copy of an event with some values made not to fit, chosen by `seed`: a string becomes a number, a
 * number a string, a list an object or empty or gets a null element, an object a member it does not
 * define or a string. Deterministic; every value is visited at most once.
 */
function mutate(e: OcsfEvent, seed: number): OcsfEvent {
  let k = 0;
  const visit = (v: unknown): unknown => {
    const pick = (k++ * 7 + seed) % 13;
    if (typeof v === "string") return pick === 0 ? 12345 : v;
    if (typeof v === "number") return pick === 1 ? "not-a-number" : pick === 2 ? v + 0.5 : v;
    if (Array.isArray(v)) {
      if (pick === 3) return { not: "a list" };
      if (pick === 4) return [];
      const items = v.map(visit);
      return pick === 5 ? [null, ...items] : items;
    }
    if (v !== null && typeof v === "object") {
      if (pick === 6) return "not-an-object";
      const o: Record<string, unknown> = {};
      for (const [key, x] of Object.entries(v)) o[key] = visit(x);
      if (pick === 7) o.zz_unknown = { seed };
      return o;
    }
    return v;
  };
  const out = visit(plain(e)) as Row;
  // keep what the writer groups by, and vary `unmapped` (absent, an object, not an object)
  return { ...out, class_uid: e.class_uid, time: e.time + seed, unmapped: seed % 3 === 0 ? ["free", seed] : out.unmapped } as unknown as OcsfEvent;
}

describe("parquet writer: the same files as parquetWriteBuffer", () => {
  it("every class of the fixtures, as they are and mutated: same bytes, same rows", async () => {
    let files = 0;
    for (const cls of classes) {
      const of = events.filter((e) => e.class_uid === cls);
      await same(of, cls);
      const odd = of.flatMap((e, i) => [1, 2, 3].map((s) => mutate(e, i * 3 + s)));
      const rows = await same([...of, ...odd], cls);
      expect(rows.some((r) => typeof r.unmapped === "string" && r.unmapped.includes("tributary_extra")), `class ${cls}: misfits kept`).toBe(true);
      files += 2;
    }
    expect(files).toBe(classes.length * 2);
  });

  it("typed leaves of every kind, booleans past 16 rows, doubles, empty lists and null list elements", async () => {
    const base = plain(events.find((x) => x.class_uid === 2004)!) as Row;
    const of = Array.from({ length: 20 }, (_, i) => ({
      ...base,
      time: (base.time as number) + i,
      count: i,
      duration: 2 ** 40 + i,
      actor: { session: { is_mfa: i % 2 === 0, is_remote: i % 3 === 0 ? null : true, count: i } },
      device: { hostname: `h${i}`, location: { lat: i / 3, long: -i / 7, coordinates: i % 4 === 0 ? [] : [i / 2, null, 1.25] } },
      observables: i % 5 === 0 ? [] : [{ name: `o${i}`, type_id: i % 4 }, null],
    })) as unknown as OcsfEvent[];
    const rows = await same(of, 2004);
    expect(rows.map((r) => ((r.actor as Row).session as Row).is_mfa)).toEqual(of.map((_, i) => i % 2 === 0));
  });

  it("1,001 rows (two row groups) with a column past one page (1 MB): same bytes, same rows", async () => {
    const base = plain(events.find((x) => x.class_uid === 1007)!) as Row;
    const of = Array.from({ length: 1001 }, (_, i) => ({ ...base, time: (base.time as number) + i, raw_data: `${i}:${"x".repeat(1100)}` })) as unknown as OcsfEvent[];
    await same(of, 1007);
    const meta = parquetMetadata(arrayBufferOf(encodeParquet(of, 1007)));
    expect(meta.row_groups.map((g) => Number(g.num_rows))).toEqual([1000, 1]);
    const raw = meta.row_groups[0]!.columns.find((c) => c.meta_data?.path_in_schema.join(".") === "raw_data")!;
    expect(raw.offset_index_offset).toBeDefined(); // more than one page
  });

  it("no events: the same empty file", () => {
    expect(Buffer.from(encodeParquet([], 2004)).equals(Buffer.from(referenceParquet([], 2004)))).toBe(true);
  });
});

describe("parquet writer: what it keeps between files", () => {
  const leafCount = (cls: number) => classSchema(cls)!.filter((el) => el.num_children === undefined).length;

  it("per class only its layout: no leaf levels, values or column encoders left, leaf objects as many as the widest class", () => {
    for (const cls of classes) encodeParquet(events.filter((e) => e.class_uid === cls), cls);
    const c = parquetWriterCaches();
    expect(c.classes).toBe(classes.length);
    expect(c.leaves).toBe(classes.reduce((n, cls) => n + leafCount(cls), 0));
    expect(c.pooled).toBe(Math.max(...classes.map(leafCount)));
    expect(c.encoders).toBe(0);
    expect(c.levels).toBe(0);
    expect(c.nullTails).toBeLessThanOrEqual(4); // PLAIN or RLE, floating point or not
  });

  it("null pages stay bounded over files of many row counts", () => {
    const of = events.filter((e) => e.class_uid === 1007);
    const sizes: number[] = [];
    for (let rows = 1; rows <= 150; rows++) {
      encodeParquet(Array.from({ length: rows }, (_, i) => of[i % of.length]!), 1007);
      sizes.push(parquetWriterCaches().nullPages);
    }
    const kept = parquetWriterCaches().nullPagesKept;
    expect(Math.max(...sizes)).toBeLessThanOrEqual(kept);
    expect(sizes.some((n, i) => i > 0 && n < sizes[i - 1]!), "the cache was full and dropped at least once").toBe(true);
  });
});
