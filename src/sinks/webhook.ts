// Generic webhook signed per Standard Webhooks 1.0: POST {url} with
// {"type":"ocsf.events","timestamp":<ISO time of the newest event (1970 when none has a valid time)>,"data":{"events":[...]}} and the
// headers webhook-id (msg_ + a digest of the events' uids: stable across retries of the same
// events), webhook-timestamp (unix seconds of the attempt, ctx.now) and webhook-signature
// "v1,<base64 HMAC-SHA256 of `${id}.${timestamp}.${body}`>" keyed by the whsec_ secret.
// mode "batch" (default) packs events up to maxBytes/maxEvents; "single" sends one event per request.
// Responses: 2xx delivered; 3xx rejected (the delivery layer's fetch does not follow redirects; fix the URL);
// 408, 429 and 5xx (not 501) retried honouring Retry-After; other 4xx rejected. The sink is gone
// (Classification.gone: the rest of the delivery is dead-lettered with that request, later deliveries unsent
// for a while, ../deliver/gone) on 410 (Standard Webhooks 1.0 "Delivery success and failure": the receiver no
// longer wants these webhooks, the sender should disable the endpoint) and on 401/403 (the receiver refused the
// signature or the configured credentials: every request is signed with the same secret). A 404 stays an
// ordinary reject: the spec names it among ordinary failures, and a receiver being redeployed answers it for a moment.
import { z } from "zod";
import { strToU8 } from "fflate";
import { secretRef } from "../config/secret";
import { stableHex } from "../normalize/uid";
import type { OcsfEvent } from "../normalize/ocsf";
import { classifyHttpStatus, goneReject, secretWhere, type SinkDriver, type SinkRequest } from "./types";
import { base64, eventUid, fromBase64, headersSchema, isoTime, jsonTextOf, mergeHeaders, pack, secretValue, utf8Length } from "./batch";

const SECRET_FORMAT = 'a Standard Webhooks secret: "whsec_" (optional) followed by base64';

export const webhookConfig = z
  .object({
    url: z.url(),
    /**
     * Signing secret, "whsec_" + base64 of 24-64 random bytes. Written literally it is checked here
     * (a bad one would otherwise fail every encode and dead-letter every event); never echoed.
     */
    secret: secretRef.superRefine((v, ctx) => {
      if (typeof v === "string" && !webhookSecretOk(v)) ctx.addIssue({ code: "custom", message: `expected ${SECRET_FORMAT}, or {"env": "NAME"}` });
    }),
    mode: z.enum(["batch", "single"]).default("batch"),
    /** The payload's `type`. */
    eventType: z.string().min(1).default("ocsf.events"),
    headers: headersSchema,
    maxBytes: z.number().int().positive().default(1_000_000),
    maxEvents: z.number().int().positive().default(1000),
  })
  .strict();

export type WebhookConfig = z.infer<typeof webhookConfig>;

/** True when the secret is "whsec_" (optional) + base64 of at least one byte. */
export function webhookSecretOk(secret: string): boolean {
  try {
    return webhookKey(secret).length > 0;
  } catch {
    return false;
  }
}

/** The HMAC key of a Standard Webhooks secret ("whsec_" prefix optional). */
export function webhookKey(secret: string): Uint8Array {
  const b64 = secret.startsWith("whsec_") ? secret.slice(6) : secret;
  try {
    return fromBase64(b64);
  } catch {
    throw new Error("webhook: secret is not whsec_ followed by base64");
  }
}

/** "v1,<base64 HMAC-SHA256 of `${id}.${timestamp}.${body}`>" */
export async function signWebhook(key: CryptoKey, id: string, timestamp: number, body: string): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", key, strToU8(`${id}.${timestamp}.${body}`));
  return `v1,${base64(new Uint8Array(mac))}`;
}

export function importWebhookKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", webhookKey(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
}

/** The event's uid, else a digest of its JSON text. */
function uidOf(e: OcsfEvent, text: string): string {
  return eventUid(e) ?? stableHex(text);
}

export const webhook: SinkDriver<WebhookConfig> = {
  type: "webhook",
  schema: webhookConfig,
  secretFormats: { secret: { ok: webhookSecretOk, expected: SECRET_FORMAT } },

  async encode(events, cfg, ctx, lines) {
    const key = await importWebhookKey(secretValue(cfg.secret, ctx.env, "webhook", "secret"));
    const timestamp = Math.floor(ctx.now / 1000);
    const json = jsonTextOf(events, lines);
    const items = events.map((e, i) => {
      const text = json(i);
      return { i, e, text, bytes: utf8Length(text) };
    });
    // {"type":"...","timestamp":"2026-01-01T00:00:00.000Z","data":{"events":[]}}
    const overhead = 60 + utf8Length(JSON.stringify(cfg.eventType));
    const limits = cfg.mode === "single" ? { maxBytes: cfg.maxBytes, maxEvents: 1 } : { ...cfg, overhead, separator: 1 };
    const out: SinkRequest[] = [];
    for (const run of pack(items, (x) => x.bytes, limits)) {
      // a time no Date holds (1e300, NaN: a replayed event's) does not count: toISOString would throw
      const newest = run.reduce((t, x) => (isoTime(x.e.time) === undefined ? t : Math.max(t, x.e.time)), 0);
      const body = `{"type":${JSON.stringify(cfg.eventType)},"timestamp":${JSON.stringify(isoTime(newest)!)},"data":{"events":[${run.map((x) => x.text).join(",")}]}}`;
      const id = `msg_${stableHex(run.map((x) => uidOf(x.e, x.text)).join(","))}`;
      const headers = {
        "content-type": "application/json",
        "webhook-id": id,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": await signWebhook(key, id, timestamp, body),
      };
      out.push({ events: run.map((x) => x.i), url: cfg.url, method: "POST", headers: mergeHeaders(headers, cfg.headers), body });
    }
    return out;
  },

  classify(res, _req, cfg) {
    const s = res.status;
    if (s >= 300 && s < 400) {
      return { outcome: { kind: "reject", reason: `webhook ${s}: redirect to ${res.headers.location ?? "(no location)"} not followed; update the URL` } };
    }
    const o = classifyHttpStatus(res);
    if (o.kind === "delivered") return { outcome: o };
    const answer = `webhook ${o.reason}`;
    if (s === 410) return goneReject(answer, "endpoint gone: the receiver asks for no more webhooks (Standard Webhooks: disable the endpoint): point the sink's url at a live endpoint or remove the sink");
    if (s === 401 || s === 403) {
      const headers = cfg.headers === undefined ? "" : " and the sink's headers";
      return goneReject(answer, `the receiver refused the signature or credentials: set the signing secret it verifies with in ${secretWhere(cfg.secret, "secret")}${headers}`);
    }
    return { outcome: { ...o, reason: answer } };
  },
};
