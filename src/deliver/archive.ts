// The local archive: each consumer batch becomes gzip NDJSON objects in R2, one per OCSF class and
// event day: ocsf/class_uid=2004/event_day=20261122/<batch id>.ndjson.gz. The batch id is derived
// from the queue message ids, so a retried batch overwrites its object instead of duplicating it.
import { gzipSync, strToU8 } from "fflate";
import { stableHex } from "../normalize/uid";

export interface ArchiveLine {
  classUid: number;
  time: number;
  line: string;
}

export function eventDay(ms: number): string {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  const m = String(d.getUTCMonth() + 1).padStart(2, "0");
  const day = String(d.getUTCDate()).padStart(2, "0");
  return `${y}${m}${day}`;
}

/** Reads class_uid and time from an NDJSON line without a full parse when possible. */
export function archiveLine(line: string): ArchiveLine {
  const e = JSON.parse(line) as { class_uid?: number; time?: number };
  return { classUid: e.class_uid ?? 0, time: e.time ?? 0, line };
}

export interface ArchiveObject {
  key: string;
  body: Uint8Array;
  count: number;
}

/** Groups lines by class and day; pure, so it is tested without a runtime. */
export function buildArchiveObjects(lines: ArchiveLine[], batchKey: string, prefix = "ocsf"): ArchiveObject[] {
  const groups = new Map<string, string[]>();
  for (const l of lines) {
    const k = `${prefix}/class_uid=${l.classUid}/event_day=${eventDay(l.time)}`;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(l.line);
  }
  const out: ArchiveObject[] = [];
  for (const [k, ls] of groups) {
    const id = stableHex(`${batchKey}|${k}`);
    out.push({ key: `${k}/${id}.ndjson.gz`, body: gzipSync(strToU8(ls.join("\n") + "\n"), { level: 6, mtime: 0 }), count: ls.length });
  }
  return out;
}

export async function writeArchive(bucket: R2Bucket, objects: ArchiveObject[]): Promise<void> {
  await Promise.all(
    objects.map((o) =>
      bucket.put(o.key, o.body, {
        httpMetadata: { contentType: "application/gzip" },
        customMetadata: { events: String(o.count) },
      }),
    ),
  );
}
