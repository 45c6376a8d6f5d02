// S3 sink (AWS S3, R2's S3 API, MinIO, any S3-compatible store) via @aws-sdk/client-s3 PutObject:
// gzip NDJSON objects partitioned Hive-style by class and event day,
//   <prefix>/class_uid=<c>/event_day=<yyyyMMdd>/<deterministic batch id>.ndjson.gz
// (see ./objects). Also exports the client plumbing the Security Lake sink shares.
import { z } from "zod";
import { S3Client, PutObjectCommand, type ObjectCannedACL } from "@aws-sdk/client-s3";
import { secretRef } from "../config/secret";
import { secretValue } from "./batch";
import { classifyHttpStatus, type Classification, type SinkContext, type SinkDriver, type SinkRequest, type SinkResponse } from "./types";
import { classDayOf, encodeNdjsonObjects, normalizePrefix } from "./objects";

/** The delivery layer passes the per-request timeout along with the context. */
export interface TimedContext extends SinkContext {
  timeoutMs?: number;
}

const CANNED_ACLS = ["private", "public-read", "public-read-write", "authenticated-read", "aws-exec-read", "bucket-owner-read", "bucket-owner-full-control"] as const;

/** Connection settings shared by the S3 and Security Lake sinks. */
export const s3ConnectionShape = {
  bucket: z.string().min(3).max(63),
  region: z.string().min(1).default("us-east-1"),
  /** Custom endpoint: R2 (https://<account>.r2.cloudflarestorage.com), MinIO, a local test server. */
  endpoint: z.url().optional(),
  /** Path-style addressing (https://host/bucket/key); needed by MinIO and most local servers. */
  forcePathStyle: z.boolean().default(false),
  accessKeyId: secretRef,
  secretAccessKey: secretRef,
  sessionToken: secretRef.optional(),
  /**
   * "when_required" (default) sends no flexible checksums unless an operation needs them, which
   * R2, MinIO and older S3-compatible stores expect; "when_supported" is the SDK's AWS default.
   */
  checksums: z.enum(["when_required", "when_supported"]).default("when_required"),
  acl: z.enum(CANNED_ACLS).optional(),
  storageClass: z.string().min(1).optional(),
};

export const s3Schema = z
  .object({
    ...s3ConnectionShape,
    /** Key prefix before the Hive partitions (default "ocsf"; "" for none). */
    prefix: z.string().default("ocsf").transform(normalizePrefix),
  })
  .strict();

export type S3Connection = z.infer<z.ZodObject<typeof s3ConnectionShape>>;
export type S3Config = z.infer<typeof s3Schema>;

// One client per config object and key id (clients keep connections; configs live as long as the isolate).
const clients = new WeakMap<object, Map<string, S3Client>>();

function clientFor(cfg: S3Connection, creds: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }): S3Client {
  let byKey = clients.get(cfg);
  if (!byKey) clients.set(cfg, (byKey = new Map()));
  const k = `${creds.accessKeyId}\u0000${creds.sessionToken ?? ""}`;
  let c = byKey.get(k);
  if (!c) {
    const checks = cfg.checksums === "when_required" ? "WHEN_REQUIRED" : "WHEN_SUPPORTED";
    c = new S3Client({
      region: cfg.region,
      endpoint: cfg.endpoint,
      forcePathStyle: cfg.forcePathStyle,
      credentials: creds,
      // the delivery layer owns retries (queue + backoff), so the SDK tries once
      maxAttempts: 1,
      requestChecksumCalculation: checks,
      responseChecksumValidation: checks,
    });
    byKey.set(k, c);
  }
  return c;
}

interface SdkError {
  name?: string;
  message?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number; headers?: Record<string, string>; body?: unknown };
}

/**
 * "Code: Message" of an S3 error answer. Read from the XML text itself when the SDK could not parse
 * it: its browser build (the one bundled for Workers) parses XML with DOMParser, which workerd lacks.
 */
function errorText(err: SdkError): string {
  const xml = typeof err.$response?.body === "string" ? err.$response.body : "";
  const tag = (t: string) => new RegExp(`<${t}>([^<]*)</${t}>`).exec(xml)?.[1];
  const parsed = err.name !== "ReferenceError" && err.name !== "TypeError";
  const code = tag("Code") ?? err.Code ?? (parsed ? err.name : undefined) ?? "Error";
  const message = tag("Message") ?? (parsed ? err.message : undefined) ?? "";
  return `${code}: ${message}`;
}

/**
 * PutObject of one request (url = object key). An answer from the store, even an error, becomes a
 * SinkResponse with its HTTP status; a network error or timeout throws, so the delivery layer retries.
 */
export async function putObject(req: SinkRequest, cfg: S3Connection, ctx: TimedContext, contentType: string): Promise<SinkResponse> {
  let creds: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  try {
    creds = { accessKeyId: secretValue(cfg.accessKeyId, ctx.env, "s3", "accessKeyId"), secretAccessKey: secretValue(cfg.secretAccessKey, ctx.env, "s3", "secretAccessKey") };
    if (cfg.sessionToken) creds.sessionToken = secretValue(cfg.sessionToken, ctx.env, "s3", "sessionToken");
  } catch (e) {
    // a configuration error: retrying will not help, so answer like S3 would (403) and let classify reject it
    return { status: 403, headers: {}, body: `MissingCredentials: ${(e as Error).message}` };
  }
  const client = clientFor(cfg, creds);
  const body = typeof req.body === "string" ? new TextEncoder().encode(req.body) : req.body;
  try {
    const out = await client.send(
      new PutObjectCommand({
        Bucket: cfg.bucket,
        Key: req.url,
        Body: body,
        ContentLength: body.byteLength,
        ContentType: contentType,
        ACL: cfg.acl as ObjectCannedACL | undefined,
        StorageClass: cfg.storageClass as PutObjectCommand["input"]["StorageClass"],
      }),
      { abortSignal: AbortSignal.timeout(ctx.timeoutMs ?? 30_000) },
    );
    return { status: out.$metadata.httpStatusCode ?? 200, headers: out.ETag ? { etag: out.ETag } : {}, body: "" };
  } catch (e) {
    const err = e as SdkError;
    const status = err.$metadata?.httpStatusCode ?? err.$response?.statusCode;
    if (status === undefined) throw e; // no answer: network error, timeout
    const headers: Record<string, string> = {};
    const h = err.$response?.headers ?? {};
    for (const [k, v] of Object.entries(h)) if (/^(retry-after|x-amz-retry-after|x-amz-request-id)$/i.test(k)) headers[k.toLowerCase()] = v;
    return { status, headers, body: errorText(err) };
  }
}

const RETRYABLE_CODES = /^(RequestTimeout|RequestTimeTooSkewed|RequestExpired|SlowDown|Throttling|ThrottlingException|InternalError|ServiceUnavailable)\b/;

/** S3's retry rule (Vector's): 408, 429, 5xx but 501, and throttling/timeout error codes in any 4xx. */
export function classifyS3(res: SinkResponse, now = Date.now()): Classification {
  const o = classifyHttpStatus(res, now);
  if (o.kind === "reject" && RETRYABLE_CODES.test(res.body)) return { outcome: { kind: "retry", reason: o.reason } };
  return { outcome: o };
}

export const s3Driver: SinkDriver<S3Config> = {
  type: "s3",
  schema: s3Schema,
  encode: (events, cfg, _ctx, lines) => encodeNdjsonObjects(events, cfg.prefix, lines),
  partition: classDayOf,
  send: (req, cfg, ctx) => putObject(req, cfg, ctx, "application/gzip"),
  classify: (res) => classifyS3(res),
};
