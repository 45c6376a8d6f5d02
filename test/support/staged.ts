// What a buffered storage sink left in the ARCHIVE bucket (inside workerd): staged objects, leases and
// dead letters by key, and the uids of events or Parquet rows. Shared by test/deliver/buffer.worker.test.ts
// and the reliability suite's buffered outage (test/reliability/security-lake-buffered-outage.worker.test.ts).
import { env } from "cloudflare:test";
import type { DeadLetter } from "../../src/deliver/dlq";
import { parseConfig } from "../../src/config/load";
import { compactAll, COMPACT_SCHEDULED, type CompactResult } from "../../src/deliver/compact";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { classDayOf } from "../../src/sinks/objects";
import { hasParquetSchema } from "../../src/sinks/parquet-schema";
import { stubDeliveries, uniqueFixtureEvents } from "./delivery";

/**
 * The Worker's env for a config (DELIVERIES a stub that records what the consumer schedules, the S3
 * secret "S3RVER") and the every-minute compaction run at a chosen `now` (of `cfg`, or of `other`: the
 * same sinks configured otherwise).
 */
export function bufferedEnv(cfg: unknown) {
  const deliveries = stubDeliveries();
  const e = { ...env, TRIBUTARY_CONFIG: JSON.stringify(cfg), DELIVERIES: deliveries, S3_SECRET: "S3RVER" } as unknown as Env;
  const compact = (now: number, other: unknown = cfg): Promise<CompactResult[]> =>
    compactAll(parseConfig(other), { archive: env.ARCHIVE, env: e as unknown as Record<string, unknown>, now: () => now }, COMPACT_SCHEDULED);
  return { e, deliveries, compact };
}

/** The fixture events of the largest class and event day that has a Parquet schema (one partition: one file). */
export function largestLakePartition(): OcsfEvent[] {
  const by = new Map<string, OcsfEvent[]>();
  for (const e of uniqueFixtureEvents()) {
    if (!hasParquetSchema(e.class_uid)) continue;
    const k = classDayOf(e);
    by.set(k, [...(by.get(k) ?? []), e]);
  }
  return [...by.values()].sort((a, b) => b.length - a.length)[0]!;
}

/** A security_lake sink entry writing to s3rver at `endpoint` (or the fault gate before it), region us-east-2, with `fields`. */
export function lakeEntry(bucket: string, endpoint: string, fields: Record<string, unknown>): Record<string, unknown> {
  return { type: "security_lake", bucket, endpoint, forcePathStyle: true, accessKeyId: "S3RVER", secretAccessKey: { env: "S3_SECRET" }, region: "us-east-2", ...fields };
}

/**
 * A config of one buffered security_lake sink routed every event, with a custom source for the class of
 * `part` (the account "external"; `fields` add to or replace the entry's), its env and compaction (bufferedEnv).
 */
export function lakeForPartition(sink: string, bucket: string, endpoint: string, part: readonly OcsfEvent[], fields: Record<string, unknown> = {}) {
  const classUid = part[0]!.class_uid;
  const cfg = { sinks: { [sink]: lakeEntry(bucket, endpoint, { accountId: "external", sources: { [String(classUid)]: `tributary-${classUid}` }, ...fields }) }, routes: [{ sinks: [sink] }] };
  return { sink, cfg, ...bufferedEnv(cfg) };
}

/** The ARCHIVE keys under `prefix`, sorted (one list page: the tests stay under 1,000). */
export async function keys(prefix: string): Promise<string[]> {
  const list = await env.ARCHIVE.list({ prefix });
  return list.objects.map((o) => o.key).sort();
}

/** A sink's dead letters (dlq/<sink>/), parsed. */
export async function deadLetters(sink: string): Promise<DeadLetter[]> {
  const out: DeadLetter[] = [];
  for (const k of await keys(`dlq/${sink}/`)) out.push((await (await env.ARCHIVE.get(k))!.json()) as DeadLetter);
  return out;
}

/** The metadata.uid of each event (or Parquet row), sorted. */
export const uids = (list: readonly { metadata?: unknown }[]): string[] => list.map((x) => (x.metadata as { uid: string }).uid).sort();
