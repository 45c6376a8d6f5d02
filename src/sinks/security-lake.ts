// Amazon Security Lake custom sources: Parquet files (./parquet-write, snappy), one OCSF class per
// custom source, rows sorted by time, written with PutObject under
//   ext/{source}[/{version}]/region={region}/accountId={account}/eventDay={yyyyMMdd}/{deterministic id}.parquet
// (the source's location as Security Lake gives it, with its version segment when it has one) where eventDay is the UTC day of the events (not of the upload). Each class has one stable nested
// schema built from the OCSF 1.3.0 schema (./parquet-schema, ./ocsf-columns): objects are Parquet
// groups, arrays LISTs, scalars typed leaves (time fields INT64 epoch ms), free-form objects and
// objects past the depth bound JSON text, so Glue sees the same schema in every file.
import { z } from "zod";
import type { OcsfEvent } from "../normalize/ocsf";
import { isObject } from "../normalize/json";
import type { SinkDriver, SinkRequest } from "./types";
import { s3ConnectionShape, putObject, classifyS3 } from "./s3";
import { batchId, classDayOf, groupByClassDay, placed } from "./objects";
import { classFields, hasParquetSchema, supportedClasses } from "./parquet-schema";
import { writeClassParquet } from "./parquet-write";

/** Security Lake's sourceName: 1-64 of [\w\-\_\:\.] (API reference, CustomLogSourceResource); not only dots (a key segment). */
const SOURCE_NAME = /^(?!\.+$)[A-Za-z0-9_.:-]{1,64}$/;
/** Security Lake's sourceVersion: 1-32 of [A-Za-z0-9\-\.\_] (API reference, CustomLogSourceResource); not only dots. */
const SOURCE_VERSION = /^(?!\.+$)[A-Za-z0-9_.-]{1,32}$/;
/**
 * The location Security Lake prints for a custom source (CustomLogSourceProvider.location, or the
 * console): [s3://<bucket>/]ext/<name>/[<version>/]. The bucket pattern is the API's (s3, s3a or s3n).
 */
const LOCATION = /^(?:s3[an]?:\/\/([a-z0-9][.\-a-z0-9]{1,61}[a-z0-9])\/)?ext\/([^/]+)(?:\/([^/]+))?\/?$/;

/** Where a class's custom source writes: its name, the version segment when it has one, the bucket when a location named it. */
export interface SourceLocation {
  name: string;
  version?: string;
  bucket?: string;
}

const NAME_MESSAGE = "a custom source name (1-64 letters, digits, _, -, . and :)";
const VERSION_MESSAGE = "a custom source version (1-32 letters, digits, _, - and .)";

/** A `sources` entry: a name, { name, version }, or the location Security Lake prints (has a "/"). */
const sourceEntry = z
  .union([z.string(), z.object({ name: z.string(), version: z.string().optional() }).strict()])
  .superRefine((v, ctx) => {
    if (typeof v !== "string") {
      if (!SOURCE_NAME.test(v.name)) ctx.addIssue({ code: "custom", path: ["name"], message: NAME_MESSAGE });
      if (v.version !== undefined && !SOURCE_VERSION.test(v.version)) ctx.addIssue({ code: "custom", path: ["version"], message: VERSION_MESSAGE });
    } else if (!v.includes("/")) {
      if (!SOURCE_NAME.test(v)) ctx.addIssue({ code: "custom", message: NAME_MESSAGE });
    } else if (!parseLocation(v)) {
      ctx.addIssue({ code: "custom", message: `a custom source location as Security Lake gives it, s3://<bucket>/ext/<name>/<version>/ or ext/<name>/[<version>/] (${NAME_MESSAGE}; ${VERSION_MESSAGE})` });
    }
  });

type SourceEntry = z.infer<typeof sourceEntry>;

function parseLocation(s: string): SourceLocation | undefined {
  const m = LOCATION.exec(s);
  if (!m || !SOURCE_NAME.test(m[2]!) || (m[3] !== undefined && !SOURCE_VERSION.test(m[3]))) return undefined;
  return { name: m[2]!, ...(m[3] !== undefined ? { version: m[3] } : {}), ...(m[1] !== undefined ? { bucket: m[1] } : {}) };
}

/** The name, version and bucket of a `sources` entry (undefined for a location that does not parse). */
export function sourceLocation(entry: SourceEntry): SourceLocation | undefined {
  if (typeof entry !== "string") return entry.version === undefined ? { name: entry.name } : { name: entry.name, version: entry.version };
  return entry.includes("/") ? parseLocation(entry) : { name: entry };
}

export const securityLakeSchema = z
  .object({
    ...s3ConnectionShape,
    /** The account id in the key: a 12-digit AWS account, or "external" / "external_<id>". */
    accountId: z.string().regex(/^(\d{12}|external(_[A-Za-z0-9-]+)?)$/, "an AWS account id (12 digits) or external / external_<id>"),
    /**
     * class_uid -> the custom source registered in Security Lake (one class per source): its name, or
     * { name, version } / its location when Security Lake gave it a version segment (ext/{name}/{version}/).
     */
    sources: z
      .record(z.string().regex(/^\d+$/, "a class_uid"), sourceEntry)
      .superRefine((s, ctx) => {
        if (Object.keys(s).length === 0) ctx.addIssue({ code: "custom", message: "map at least one class_uid to a custom source" });
        const seen = new Map<string, string>();
        for (const [cls, entry] of Object.entries(s)) {
          const name = sourceLocation(entry)?.name;
          if (name === undefined) continue; // refused above
          const prev = seen.get(name);
          if (prev) ctx.addIssue({ code: "custom", path: [cls], message: `source "${name}" is already used by class_uid ${prev}: Security Lake takes one class per custom source` });
          seen.set(name, cls);
        }
      }),
    /** Security Lake's buckets expect the writer to hand ownership to the bucket owner. */
    acl: s3ConnectionShape.acl.default("bucket-owner-full-control"),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    for (const [cls, entry] of Object.entries(cfg.sources)) {
      const bucket = sourceLocation(entry)?.bucket;
      if (bucket !== undefined && bucket !== cfg.bucket)
        ctx.addIssue({ code: "custom", path: ["sources", cls], message: `this location is in bucket "${bucket}", not in the sink's bucket "${cfg.bucket}"` });
    }
  });

/** The key prefix of a class's custom source, ext/{name}[/{version}], or undefined when the class has none. */
export function sourcePrefix(cfg: SecurityLakeConfig, classUid: number): string | undefined {
  const entry = cfg.sources[String(classUid)];
  const loc = entry === undefined ? undefined : sourceLocation(entry);
  if (!loc) return undefined;
  const { name, version } = loc;
  return version === undefined ? `ext/${name}` : `ext/${name}/${version}`;
}

export type SecurityLakeConfig = z.infer<typeof securityLakeSchema>;

/** Attributes an event carries that its class's columns cannot hold are kept here, inside `unmapped`. */
export const EXTRA_KEY = "tributary_extra";

/** The top-level attribute names of each class (what is not one of them goes to `unmapped`). */
const knownNames = new Map<number, ReadonlySet<string>>();

function namesOf(classUid: number): ReadonlySet<string> {
  let n = knownNames.get(classUid);
  if (!n) knownNames.set(classUid, (n = new Set((classFields(classUid) ?? []).map((f) => f.name))));
  return n;
}

/**
 * The `unmapped` column of a row (JSON text, or null): the event's own `unmapped`, with its misfits and
 * its attributes outside `known` (the class's top-level names) under EXTRA_KEY. Adds those attributes to
 * `misfits`.
 */
export function unmappedText(e: Record<string, unknown>, misfits: Record<string, unknown>, known: ReadonlySet<string>): string | null {
  for (const k of Object.keys(e)) if (!known.has(k) && e[k] !== undefined) misfits[k] = e[k];
  let unmapped: unknown = e.unmapped;
  if (Object.keys(misfits).length > 0) {
    const own = e.unmapped;
    if (own === undefined || isObject(own)) unmapped = { ...(own ?? {}), [EXTRA_KEY]: misfits };
    else unmapped = { [EXTRA_KEY]: { ...misfits, unmapped: own } }; // an `unmapped` that is not an object
  }
  return unmapped === undefined ? null : JSON.stringify(unmapped);
}

/**
 * One Parquet file of events of one class, rows sorted by time, with the class's nested schema
 * (./parquet-schema, written by ./parquet-write). A value that does not fit its column (wrong type, an
 * attribute or member the class does not define) is kept in `unmapped.tributary_extra` under its path
 * ("a.b", "a[2].c"). Throws for a class without a schema.
 */
export function encodeParquet(events: readonly OcsfEvent[], classUid: number): Uint8Array {
  const known = namesOf(classUid);
  const out = writeClassParquet({
    classUid,
    rows: [...events].sort((a, b) => a.time - b.time),
    late: "unmapped",
    lateValue: (e, misfits) => unmappedText(e, misfits, known),
    createdBy: "tributary",
    kvMetadata: [{ key: "ocsf.class_uid", value: String(classUid) }],
  });
  if (!out) throw new Error(`no Parquet schema for class_uid ${classUid} (supported: ${supportedClasses()})`);
  return out;
}

export function encodeSecurityLake(events: readonly OcsfEvent[], cfg: SecurityLakeConfig): SinkRequest[] {
  const out: SinkRequest[] = [];
  for (const g of groupByClassDay(events.map(placed))) {
    const prefix = sourcePrefix(cfg, g.classUid);
    if (!prefix || !hasParquetSchema(g.classUid)) continue; // left out: settled by unsentOutcome
    const members = g.indices.map((i) => events[i]!);
    const dir = `${prefix}/region=${cfg.region}/accountId=${cfg.accountId}/eventDay=${g.day}`;
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

/** Why the sink cannot write an event (no custom source for its class, or no Parquet schema for it), else undefined. */
function unwritable(e: OcsfEvent, cfg: SecurityLakeConfig): string | undefined {
  if (!cfg.sources[String(e.class_uid)]) return `no Security Lake custom source for class_uid ${e.class_uid}: add it to this sink's "sources"`;
  if (!hasParquetSchema(e.class_uid)) return `class_uid ${e.class_uid} has no Parquet schema (supported: ${supportedClasses()})`;
  return undefined;
}

export const securityLakeDriver: SinkDriver<SecurityLakeConfig> = {
  type: "security_lake",
  schema: securityLakeSchema,
  encode: (events, cfg) => encodeSecurityLake(events, cfg),
  partition: classDayOf,
  send: (req, cfg, ctx) => putObject(req, cfg, ctx, "application/vnd.apache.parquet"),
  classify: (res) => classifyS3(res),
  unsentOutcome: (e, cfg) => ({ kind: "reject", reason: unwritable(e, cfg) ?? `security_lake did not encode this event` }),
  // a buffered sink rejects these at once instead of staging them for a compaction that would reject them
  unwritable,
};
