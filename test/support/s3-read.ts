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

export async function readBucket(endpoint: string, bucket: string, prefix = ""): Promise<StoredObject[]> {
  const out: StoredObject[] = [];
  let token: string | undefined;
  for (let page = 0; page < 100; page++) {
    const q = new URLSearchParams({ "list-type": "2", prefix, ...(token ? { "continuation-token": token } : {}) });
    const res = await fetch(`${endpoint}/${bucket}?${q}`);
    const xml = await res.text();
    if (!res.ok) throw new Error(`list ${bucket}: ${res.status} ${xml}`);
    for (const m of xml.matchAll(/<Key>([^<]*)<\/Key>/g)) {
      const key = unxml(m[1]!);
      const got = await fetch(`${endpoint}/${bucket}/${keyPath(key)}`);
      if (!got.ok) throw new Error(`get ${key}: ${got.status}`);
      out.push({ key, bytes: new Uint8Array(await got.arrayBuffer()), contentType: got.headers.get("content-type") ?? undefined });
    }
    if (!/<IsTruncated>true<\/IsTruncated>/.test(xml)) break;
    token = unxml(/<NextContinuationToken>([^<]*)</.exec(xml)?.[1] ?? "");
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
