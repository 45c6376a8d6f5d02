// The local archive: each consumer batch becomes gzip NDJSON objects in R2, one per OCSF class and
// event day: ocsf/class_uid=2004/event_day=20261122/<batch id>.ndjson.gz (the day of objects.fileTime: the
// event's time, or its receipt day when a wrong sensor clock put that before 2000 or over a day ahead). The batch id is derived
// from the queue message ids, so a retried batch overwrites its object instead of duplicating it.
// The objects are gzipped by the runtime's native CompressionStream (zlib, gzipText, shared with the
// S3 and R2 sinks), not in JavaScript: in wrangler dev, fflate's gzip was the largest part of the
// consumer's CPU.
import { stableHex } from "../normalize/uid";
import { groupByClassDay, hivePath } from "../sinks/objects";
import { gzipText } from "../sinks/batch";

export { eventDay } from "../sinks/objects";
export { gzipText } from "../sinks/batch";

export interface ArchiveLine {
  classUid: number;
  time: number;
  /** metadata.logged_time: the day when `time` is a wrong sensor clock (objects.fileTime). */
  loggedTime?: number | undefined;
  line: string;
}

/** Reads class_uid, time and metadata.logged_time from an NDJSON line. */
export function archiveLine(line: string): ArchiveLine {
  const e = JSON.parse(line) as { class_uid?: number; time?: number; metadata?: { logged_time?: number } };
  return { classUid: e.class_uid ?? 0, time: e.time ?? 0, loggedTime: e.metadata?.logged_time, line };
}

export interface ArchiveObject {
  key: string;
  /** The NDJSON text (one line per event, each ended by a newline), gzipped by writeArchive. */
  ndjson: string;
  count: number;
}

/** Where the consumer's archive objects are written (and a backfill reads them: ./backfill.ts). */
export const ARCHIVE_PREFIX = "ocsf/";

/** Groups lines by class and day; pure, so it is tested without a runtime. */
export function buildArchiveObjects(lines: ArchiveLine[], batchKey: string, prefix = ARCHIVE_PREFIX): ArchiveObject[] {
  return groupByClassDay(lines).map((g) => {
    const dir = hivePath(prefix, g.classUid, g.day);
    const id = stableHex(`${batchKey}|${dir}`);
    return { key: `${dir}/${id}.ndjson.gz`, ndjson: g.indices.map((i) => lines[i]!.line).join("\n") + "\n", count: g.indices.length };
  });
}

export async function writeArchive(bucket: R2Bucket, objects: ArchiveObject[]): Promise<void> {
  await Promise.all(
    objects.map(async (o) =>
      bucket.put(o.key, await gzipText(o.ndjson), {
        httpMetadata: { contentType: "application/gzip" },
        customMetadata: { events: String(o.count) },
      }),
    ),
  );
}
