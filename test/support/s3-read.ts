// Reads s3rver back over plain HTTP (path-style, anonymous, ListObjectsV2 XML read with a regex), so
// the check does not go through the SDK under test and runs the same in Node and workerd (where
// the SDK cannot parse XML: there is no DOMParser). Buckets per test; gzip NDJSON decoded.
import { gunzipSync, strFromU8 } from "fflate";

let seq = 0;
/** Creates a fresh bucket with a unique, valid name. */
export async function freshBucket(endpoint: string, label: string): Promise<string> {
  const name = `${label}-${Date.now().toString(36)}-${(seq++).toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`.toLowerCase().slice(0, 63);
  const res = await fetch(`${endpoint}/${name}`, { method: "PUT" });
  if (!res.ok) throw new Error(`create bucket ${name}: ${res.status} ${await res.text()}`);
  return name;
}

export interface StoredObject {
  key: string;
  bytes: Uint8Array;
  contentType?: string;
}

const unxml = (s: string) => s.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
const keyPath = (key: string) => key.split("/").map(encodeURIComponent).join("/");

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function listKeys(endpoint: string, bucket: string, prefix: string): Promise<{ key: string; size: number }[]> {
  const out: { key: string; size: number }[] = [];
  let token: string | undefined;
  for (let page = 0; page < 100; page++) {
    const q = new URLSearchParams({ "list-type": "2", prefix, ...(token ? { "continuation-token": token } : {}) });
    const res = await fetch(`${endpoint}/${bucket}?${q}`);
    const xml = await res.text();
    if (!res.ok) throw new Error(`list ${bucket}: ${res.status} ${xml}`);
    for (const m of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
      out.push({ key: unxml(/<Key>([^<]*)<\/Key>/.exec(m[1]!)?.[1] ?? ""), size: Number(/<Size>(\d+)<\/Size>/.exec(m[1]!)?.[1] ?? -1) });
    }
    if (!/<IsTruncated>true<\/IsTruncated>/.test(xml)) break;
    token = unxml(/<NextContinuationToken>([^<]*)</.exec(xml)?.[1] ?? "");
  }
  return out;
}

/**
 * Every object in the bucket, read back. s3rver answers a PUT before its file is fully on disk, so
 * this waits (bounded: 50 polls, 100 ms apart) until at least `expect` objects are listed and each
 * object's bytes are as long as the listing says.
 */
export async function readBucket(endpoint: string, bucket: string, prefix = "", expect = 0): Promise<StoredObject[]> {
  let listed = await listKeys(endpoint, bucket, prefix);
  for (let i = 0; i < 50 && listed.length < expect; i++) {
    await pause(100);
    listed = await listKeys(endpoint, bucket, prefix);
  }
  const out: StoredObject[] = [];
  for (const { key, size } of listed) {
    let obj: StoredObject | undefined;
    for (let i = 0; i < 50; i++) {
      const got = await fetch(`${endpoint}/${bucket}/${keyPath(key)}`);
      if (!got.ok) throw new Error(`get ${key}: ${got.status}`);
      obj = { key, bytes: new Uint8Array(await got.arrayBuffer()), contentType: got.headers.get("content-type") ?? undefined };
      if (obj.bytes.length === size) break;
      await pause(100);
    }
    out.push(obj!);
  }
  return out.sort((a, b) => a.key.localeCompare(b.key));
}

export function ndjsonEvents(bytes: Uint8Array): Record<string, unknown>[] {
  return strFromU8(gunzipSync(bytes))
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export function uidOfPlain(e: Record<string, unknown>): string {
  return String((e.metadata as { uid?: string } | undefined)?.uid);
}

/** The gzip NDJSON objects of a bucket and their events, waiting (bounded) until `expect` events are there. */
export async function readEvents(endpoint: string, bucket: string, expect: number): Promise<{ objects: StoredObject[]; events: Record<string, unknown>[] }> {
  let objects: StoredObject[] = [];
  let events: Record<string, unknown>[] = [];
  for (let i = 0; i < 50; i++) {
    objects = await readBucket(endpoint, bucket);
    events = objects.flatMap((o) => ndjsonEvents(o.bytes));
    if (events.length >= expect) break;
    await pause(100);
  }
  return { objects, events };
}

