// Amazon Security Lake custom sources: Parquet files (hyparquet-writer, snappy), one OCSF class per
// custom source, rows sorted by time, written with PutObject under
//   ext/{source}/region={region}/accountId={account}/eventDay={yyyyMMdd}/{deterministic id}.parquet
// where eventDay is the UTC day of the events (not of the upload). Each class has one stable column
// set, generated from the OCSF 1.3.0 schema (./ocsf-columns): top-level scalars are typed columns,
// objects and arrays are JSON text, so Glue sees the same schema in every file.
import { z } from "zod";
import { parquetWriteBuffer } from "hyparquet-writer";
import type { OcsfEvent } from "../normalize/ocsf";
import type { SinkDriver, SinkRequest } from "./types";
import { s3ConnectionShape, putObject, classifyS3 } from "./s3";
import { batchId, classDayOf, groupByClassDay } from "./objects";
import { OCSF_COLUMNS, type ColumnKind } from "./ocsf-columns";

const SOURCE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export const securityLakeSchema = z
  .object({
    ...s3ConnectionShape,
    /** The account id in the key: a 12-digit AWS account, or "external" / "external_<id>". */
    accountId: z.string().regex(/^(\d{12}|external(_[A-Za-z0-9-]+)?)$/, "an AWS account id (12 digits) or external / external_<id>"),
    /** class_uid -> custom source name registered in Security Lake (one class per source). */
    sources: z
      .record(z.string().regex(/^\d+$/, "a class_uid"), z.string().regex(SOURCE_NAME, "a custom source name (letters, digits, _ and -)"))
      .superRefine((s, ctx) => {
        if (Object.keys(s).length === 0) ctx.addIssue({ code: "custom", message: "map at least one class_uid to a custom source" });
        const seen = new Map<string, string>();
        for (const [cls, name] of Object.entries(s)) {
          const prev = seen.get(name);
          if (prev) ctx.addIssue({ code: "custom", path: [cls], message: `source "${name}" is already used by class_uid ${prev}: Security Lake takes one class per custom source` });
          seen.set(name, cls);
        }
      }),
    /** Security Lake's buckets expect the writer to hand ownership to the bucket owner. */
    acl: s3ConnectionShape.acl.default("bucket-owner-full-control"),
  })
  .strict();

export type SecurityLakeConfig = z.infer<typeof securityLakeSchema>;

type Cell = string | number | bigint | boolean | null;

/** A value for a typed column, or undefined when it does not fit (the value then goes to `unmapped`). */
function cell(kind: ColumnKind, v: unknown): Cell | undefined {
  if (v === undefined || v === null) return null;
  switch (kind) {
    case "i32":
      return typeof v === "number" && Number.isInteger(v) && v >= -2147483648 && v <= 2147483647 ? v : undefined;
    case "i64":
      return typeof v === "number" && Number.isSafeInteger(v) ? BigInt(v) : undefined;
    case "f64":
      return typeof v === "number" && Number.isFinite(v) ? v : undefined;
    case "bool":
      return typeof v === "boolean" ? v : undefined;
    case "str":
      return typeof v === "string" ? v : undefined;
    case "json":
      return JSON.stringify(v);
  }
}

const PARQUET_TYPE: Record<ColumnKind, "INT32" | "INT64" | "DOUBLE" | "BOOLEAN" | "STRING"> = {
  i32: "INT32",
  i64: "INT64",
  f64: "DOUBLE",
  bool: "BOOLEAN",
  str: "STRING",
  json: "STRING",
};

/** Attributes an event carries that its class's columns cannot hold are kept here, inside `unmapped`. */
export const EXTRA_KEY = "tributary_extra";

/** One Parquet file of events of one class, rows sorted by time. Throws for a class without columns. */
export function encodeParquet(events: readonly OcsfEvent[], classUid: number): Uint8Array {
  const cols = OCSF_COLUMNS[classUid];
  if (!cols) throw new Error(`no Parquet column set for class_uid ${classUid} (supported: ${Object.keys(OCSF_COLUMNS).join(", ")})`);
  const sorted = [...events].sort((a, b) => a.time - b.time);
  const known = new Set(cols.map(([n]) => n));
  const data: Cell[][] = cols.map(() => new Array<Cell>(sorted.length));
  const unmappedAt = cols.findIndex(([n]) => n === "unmapped");
  sorted.forEach((e, row) => {
    let extra: Record<string, unknown> | undefined;
    cols.forEach(([name, kind], c) => {
      if (c === unmappedAt) return;
      const v = cell(kind, e[name]);
      if (v === undefined) (extra ??= {})[name] = e[name];
      data[c]![row] = v ?? null;
    });
    for (const k of Object.keys(e)) if (!known.has(k) && e[k] !== undefined) (extra ??= {})[k] = e[k];
    const unmapped = extra ? { ...(e.unmapped ?? {}), [EXTRA_KEY]: extra } : e.unmapped;
    data[unmappedAt]![row] = unmapped === undefined ? null : JSON.stringify(unmapped);
  });
  const buf = parquetWriteBuffer({
    columnData: cols.map(([name, kind], c) => ({ name, data: data[c]!, type: PARQUET_TYPE[kind], nullable: true })),
    codec: "SNAPPY",
    createdBy: "tributary",
    kvMetadata: [{ key: "ocsf.class_uid", value: String(classUid) }],
  });
  return new Uint8Array(buf);
}

export function encodeSecurityLake(events: readonly OcsfEvent[], cfg: SecurityLakeConfig): SinkRequest[] {
  const out: SinkRequest[] = [];
  for (const g of groupByClassDay(events.map((e) => ({ classUid: e.class_uid, time: e.time })))) {
    const source = cfg.sources[String(g.classUid)];
    if (!source || !OCSF_COLUMNS[g.classUid]) continue; // left out: settled by unsentOutcome
    const members = g.indices.map((i) => events[i]!);
    const dir = `ext/${source}/region=${cfg.region}/accountId=${cfg.accountId}/eventDay=${g.day}`;
    out.push({
      events: g.indices,
      url: `${dir}/${batchId(dir, members)}.parquet`,
      method: "PUT",
      headers: { "content-type": "application/vnd.apache.parquet" },
      body: encodeParquet(members, g.classUid),
    });
  }
  return out;
}

export const securityLakeDriver: SinkDriver<SecurityLakeConfig> = {
  type: "security_lake",
  schema: securityLakeSchema,
  encode: (events, cfg) => encodeSecurityLake(events, cfg),
  partition: classDayOf,
  send: (req, cfg, ctx) => putObject(req, cfg, ctx, "application/vnd.apache.parquet"),
  classify: (res) => classifyS3(res),
  unsentOutcome: (e, cfg) => {
    if (!cfg.sources[String(e.class_uid)]) return { kind: "reject", reason: `no Security Lake custom source for class_uid ${e.class_uid}: add it to this sink's "sources"` };
    return { kind: "reject", reason: `class_uid ${e.class_uid} has no Parquet column set (supported: ${Object.keys(OCSF_COLUMNS).join(", ")})` };
  },
};
