// Reads the local archive (R2) back: lists objects and decodes their gzip NDJSON.
import { gunzipSync, strFromU8 } from "fflate";

export async function readArchive(bucket: R2Bucket, prefix = "ocsf/"): Promise<{ key: string; events: Record<string, unknown>[] }[]> {
  const out: { key: string; events: Record<string, unknown>[] }[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 100; page++) {
    const list = await bucket.list({ prefix, cursor });
    for (const o of list.objects) {
      const obj = await bucket.get(o.key);
      if (!obj) continue;
      const text = strFromU8(gunzipSync(new Uint8Array(await obj.arrayBuffer())));
      out.push({ key: o.key, events: text.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) });
    }
    if (!list.truncated) break;
    cursor = list.cursor;
  }
  return out;
}

/** Polls until `check` returns a value (bounded: at most `tries` polls, `delayMs` apart). */
export async function waitFor<T>(check: () => Promise<T | undefined>, tries = 100, delayMs = 100): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await check();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, delayMs));
  }
  throw new Error(`condition not met after ${tries} polls`);
}
