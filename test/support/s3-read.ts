// Reads s3rver back with @aws-sdk/client-s3 (Node and workerd): buckets per test, every object's
// bytes, gzip NDJSON objects decoded into events.
import { S3Client, CreateBucketCommand, ListObjectsV2Command, GetObjectCommand } from "@aws-sdk/client-s3";
import { gunzipSync, strFromU8 } from "fflate";

export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

export function s3Client(endpoint: string): S3Client {
  return new S3Client({
    region: "us-east-1",
    endpoint,
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

let seq = 0;
/** Creates a fresh bucket with a unique, valid name. */
export async function freshBucket(client: S3Client, label: string): Promise<string> {
  const name = `${label}-${Date.now().toString(36)}-${(seq++).toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`.toLowerCase().slice(0, 63);
  await client.send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

export interface StoredObject {
  key: string;
  bytes: Uint8Array;
  contentType?: string;
}

export async function readBucket(client: S3Client, bucket: string, prefix = ""): Promise<StoredObject[]> {
  const out: StoredObject[] = [];
  let token: string | undefined;
  for (let page = 0; page < 100; page++) {
    const list = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of list.Contents ?? []) {
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }));
      out.push({ key: o.Key!, bytes: await got.Body!.transformToByteArray(), contentType: got.ContentType });
    }
    if (!list.IsTruncated) break;
    token = list.NextContinuationToken;
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
