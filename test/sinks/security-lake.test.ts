// Security Lake sink: Parquet files written to s3rver on 127.0.0.1, read back with hyparquet and
// checked row by row and column by column; the column sets checked against the OCSF 1.3.0 schema.
import { describe, it, expect, inject, beforeAll } from "vitest";
import { parquetMetadata, parquetReadObjects } from "hyparquet";
import { securityLakeDriver, securityLakeSchema, encodeParquet, EXTRA_KEY, type SecurityLakeConfig } from "../../src/sinks/security-lake";
import { OCSF_COLUMNS, type ColumnKind } from "../../src/sinks/ocsf-columns";
import { eventDay } from "../../src/sinks/objects";
import { unsentOutcomes, type SinkContext } from "../../src/sinks/types";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { fixtureEvents, plain, NOW } from "../support/siem-servers";
import { freshBucket, readBucket } from "../support/s3-read";
import { validateOcsf } from "../support/ocsf-validator";

const endpoint = inject("s3Endpoint");
const ctx: SinkContext = { env: { LAKE_SECRET: "S3RVER" }, now: NOW };
const ACCOUNT = "123456789012";

function config(bucket: string, sources: Record<string, string>): SecurityLakeConfig {
  return securityLakeSchema.parse({ bucket, region: "eu-west-1", endpoint, forcePathStyle: true, accessKeyId: "S3RVER", secretAccessKey: { env: "LAKE_SECRET" }, accountId: ACCOUNT, sources });
}

type Row = Record<string, unknown>;

async function readParquet(bytes: Uint8Array): Promise<Row[]> {
  const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  return (await parquetReadObjects({ file: buf })) as Row[];
}

/** What the column of `kind` holds for an event value (hyparquet reads INT64 as bigint). */
function expectedCell(kind: ColumnKind, v: unknown): unknown {
  if (v === undefined) return null;
  if (kind === "json") return JSON.stringify(v);
  if (kind === "i64") return BigInt(v as number);
  return v;
}

/** Compares every row of a file with the events it should hold (sorted by time). */
function checkRows(rows: Row[], events: OcsfEvent[], classUid: number): void {
  const cols = OCSF_COLUMNS[classUid]!;
  const sorted = [...events].map(plain).sort((a, b) => (a.time as number) - (b.time as number));
  expect(rows).toHaveLength(sorted.length);
  rows.forEach((row, r) => {
    const e = sorted[r]!;
    expect(Object.keys(row)).toEqual(cols.map(([n]) => n));
    for (const [name, kind] of cols) {
      if (name === "unmapped") continue;
      expect(row[name], `row ${r} column ${name}`).toEqual(expectedCell(kind, e[name]));
    }
    expect(row.unmapped === null ? undefined : JSON.parse(row.unmapped as string)).toEqual(e.unmapped);
    // nothing lost: every attribute of the event is a column of its class
    for (const k of Object.keys(e)) expect(cols.some(([n]) => n === k), `${k} has a column`).toBe(true);
  });
  for (let r = 1; r < rows.length; r++) expect((rows[r]!.time as bigint) >= (rows[r - 1]!.time as bigint)).toBe(true);
}

let events: OcsfEvent[];
let classes: number[];
beforeAll(() => {
  events = fixtureEvents();
  classes = [...new Set(events.map((e) => e.class_uid))].sort();
});

describe("security lake: column sets", () => {
  it("every column is an attribute of its OCSF 1.3.0 class, with the matching type", () => {
    const sample: Record<ColumnKind, unknown> = { i32: 1, i64: 1, f64: 1.5, bool: true, str: "x", json: {} };
    for (const [cls, cols] of Object.entries(OCSF_COLUMNS)) {
      for (const [name, kind] of cols) {
        const problems = validateOcsf({ class_uid: Number(cls), [name]: sample[kind] });
        expect(problems.filter((p) => p.includes(`unknown attribute '${name}'`)), `${cls}.${name}`).toEqual([]);
        if (kind !== "json") expect(problems.filter((p) => p.startsWith(`${name}:`) && /expected/.test(p)), `${cls}.${name} is ${kind}`).toEqual([]);
      }
    }
  });

  it("covers every class the normalizers produce from the fixtures", () => {
    for (const c of classes) expect(OCSF_COLUMNS[c], `class ${c}`).toBeDefined();
  });

  it("writes typed Parquet columns: INT32 ids, INT64 time and type_uid, UTF8 strings and JSON text", () => {
    const e = events.find((x) => x.class_uid === 2004)!;
    const buf = encodeParquet([e], 2004);
    const meta = parquetMetadata(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer);
    const byName = new Map(meta.schema.map((s) => [s.name, s]));
    expect(byName.get("class_uid")).toMatchObject({ type: "INT32" });
    expect(byName.get("severity_id")).toMatchObject({ type: "INT32" });
    expect(byName.get("time")).toMatchObject({ type: "INT64" });
    expect(byName.get("type_uid")).toMatchObject({ type: "INT64" });
    expect(byName.get("message")).toMatchObject({ type: "BYTE_ARRAY", converted_type: "UTF8" });
    expect(byName.get("metadata")).toMatchObject({ type: "BYTE_ARRAY", converted_type: "UTF8" });
    expect(byName.get("unmapped")).toMatchObject({ type: "BYTE_ARRAY", converted_type: "UTF8" });
    expect(meta.row_groups[0]!.columns[0]!.meta_data!.codec).toBe("SNAPPY");
    expect(meta.num_rows).toBe(1n);
  });

  it("keeps attributes that fit no column in unmapped.tributary_extra", async () => {
    const base = events.find((x) => x.class_uid === 2004)!;
    const odd: OcsfEvent = { ...base, not_ocsf: { a: 1 }, severity_id: "high" as unknown as number };
    const [row] = await readParquet(encodeParquet([odd], 2004));
    expect(row!.severity_id).toBeNull();
    expect(JSON.parse(row!.unmapped as string)).toEqual({ ...(base.unmapped ?? {}), [EXTRA_KEY]: { not_ocsf: { a: 1 }, severity_id: "high" } });
  });
});

describe("security lake: objects in s3rver", () => {
  it("one Parquet file per class and event day, under ext/{source}/region/accountId/eventDay, every row checked", async () => {
    const bucket = await freshBucket(endpoint, "lake");
    const sources = Object.fromEntries(classes.map((c) => [String(c), `tributary-${c}`]));
    const cfg = config(bucket, sources);
    const reqs = await securityLakeDriver.encode(events, cfg, ctx);
    expect(unsentOutcomes(securityLakeDriver, events, reqs, cfg, ctx).size).toBe(0);
    for (const req of reqs) {
      const res = await securityLakeDriver.send!(req, cfg, ctx);
      expect(securityLakeDriver.classify(res, req, cfg).outcome, res.body).toEqual({ kind: "delivered" });
    }
    const objects = await readBucket(endpoint, bucket, "", reqs.length);
    expect(objects.map((o) => o.key)).toEqual(reqs.map((r) => r.url).sort());
    let rows = 0;
    for (const o of objects) {
      const m = /^ext\/tributary-(\d+)\/region=eu-west-1\/accountId=123456789012\/eventDay=(\d{8})\/[0-9a-f]{28}\.parquet$/.exec(o.key);
      expect(m, o.key).not.toBeNull();
      const cls = Number(m![1]);
      const day = m![2]!;
      const expected = events.filter((e) => e.class_uid === cls && eventDay(e.time) === day);
      expect(o.contentType).toBe("application/vnd.apache.parquet");
      const got = await readParquet(o.bytes);
      checkRows(got, expected, cls);
      rows += got.length;
    }
    expect(rows).toBe(events.length);
  });

  it("uses the day of the events, not of the upload, and the same batch keeps its key", async () => {
    const e = events.find((x) => x.class_uid === 2004)!;
    const late = { ...e, time: Date.UTC(2023, 4, 25, 23, 59, 59), metadata: { ...e.metadata, uid: "late" } };
    const early = { ...e, time: Date.UTC(2023, 4, 26, 0, 0, 1), metadata: { ...e.metadata, uid: "early" } };
    const cfg = config("b-not-used", { "2004": "findings" });
    const reqs = await securityLakeDriver.encode([early, late], cfg, { ...ctx, now: Date.UTC(2031, 0, 1) });
    expect(reqs.map((r) => r.url.split("/").slice(0, 5).join("/")).sort()).toEqual([
      "ext/findings/region=eu-west-1/accountId=123456789012/eventDay=20230525",
      "ext/findings/region=eu-west-1/accountId=123456789012/eventDay=20230526",
    ]);
    const again = await securityLakeDriver.encode([late, early], cfg, ctx);
    expect(again.map((r) => r.url).sort()).toEqual(reqs.map((r) => r.url).sort());
  });

  it("rejects events of a class without a custom source (the reason names the class)", async () => {
    const cfg = config("b-not-used", { "2004": "findings" });
    const other = events.find((x) => x.class_uid !== 2004)!;
    const reqs = await securityLakeDriver.encode([other], cfg, ctx);
    expect(reqs).toEqual([]);
    const out = unsentOutcomes(securityLakeDriver, [other], reqs, cfg, ctx);
    expect(out.get(0)).toMatchObject({ kind: "reject", reason: expect.stringContaining(`class_uid ${other.class_uid}`) });
  });

  it("validates its config naming the field (one class per source, account id)", () => {
    const r = securityLakeSchema.safeParse({ bucket: "lake-bucket", accessKeyId: "a", secretAccessKey: "s", accountId: "12", sources: { "2004": "same", "1007": "same" } });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join("."));
    expect(paths).toContain("accountId");
    expect(paths.filter((p) => /^sources\.(1007|2004)$/.test(p))).toHaveLength(1);
  });
});
