// Queue consumer: turns a batch of EventsMessages into deliveries. The archive (R2) keeps every
// event; other sinks are delivered per sink (see ../sinks).
import type { EventsMessage } from "./enqueue";
import { archiveLine, buildArchiveObjects, writeArchive, type ArchiveLine } from "./archive";
import { stableHex } from "../normalize/uid";

export interface ConsumerEnv {
  ARCHIVE: R2Bucket;
}

export async function consumeEvents(batch: MessageBatch<EventsMessage>, env: ConsumerEnv): Promise<void> {
  const lines: ArchiveLine[] = [];
  const ids: string[] = [];
  for (const msg of batch.messages) {
    const body = msg.body;
    ids.push(msg.id);
    if (!body || body.v !== 1 || typeof body.ndjson !== "string") {
      // not ours: keep it for inspection rather than retrying forever
      await env.ARCHIVE.put(`quarantine/queue/${msg.id}.json`, JSON.stringify({ reason: "unknown message format", body: body ?? null }));
      continue;
    }
    if (!body.sinks.includes("archive")) continue;
    for (const line of body.ndjson.split("\n")) if (line) lines.push(archiveLine(line));
  }
  try {
    const batchKey = stableHex(ids.sort().join(","));
    await writeArchive(env.ARCHIVE, buildArchiveObjects(lines, batchKey));
    batch.ackAll();
  } catch (e) {
    console.error(JSON.stringify({ level: "error", msg: "archive write failed", error: (e as Error).message }));
    batch.retryAll({ delaySeconds: 5 });
  }
}
