// Structured logs: one JSON object per line, {ts, level, msg, requestId?, ...fields}, written with
// console.log/warn/error (Workers Logs and `wrangler tail` index these fields).
//
// Secrets are never written: a field whose key names a credential (token, secret, password,
// authorization, api key, cookie, signature...) is replaced by "[redacted]" at any depth; string
// values are scrubbed of `Bearer <x>`/`Basic <x>` credentials and of passwords in URLs
// (https://user:pass@host). Values are cut to MAX_STRING characters and nesting to MAX_DEPTH.
export type Level = "debug" | "info" | "warn" | "error";

export type Fields = Record<string, unknown>;

const SECRET_KEY = /(^|[^a-z])(token|secret|passw(or)?d|pwd|authori[sz]ation|api[-_]?key|apikey|access[-_]?key|private[-_]?key|cookie|credentials?|signature|session[-_]?id)($|[^a-z])|token$|secret$|password$|apikey$/i;
export const REDACTED = "[redacted]";
const MAX_STRING = 2_000;
const MAX_DEPTH = 6;
const MAX_KEYS = 100;

/** Whether a field name names a secret (its value is never logged). */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/**
 * Removes credentials that can hide inside free text (error messages, URLs, a server's echo of a request):
 * the exact `secrets` given (at least 6 characters), then `Bearer <x>`-style values, URL passwords and
 * secret query parameters. Not cut (see scrubText).
 */
export function scrubCredentials(s: string, secrets: readonly string[] = []): string {
  let out = s;
  for (const x of secrets) if (x.length >= 6 && out.includes(x)) out = out.split(x).join(REDACTED);
  return out
    .replace(/\b(Bearer|Basic|Splunk|ApiKey|Token)\s+[A-Za-z0-9._~+/=-]{6,}/gi, `$1 ${REDACTED}`)
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/[^\s/:@]+):[^\s/@]+@/gi, `$1:${REDACTED}@`)
    .replace(/([?&](?:token|api[-_]?key|apikey|secret|password|sig|signature|access_token|dd-api-key)=)[^&\s]+/gi, `$1${REDACTED}`);
}

/** Removes credentials that can hide inside free text (error messages, URLs); cut to MAX_STRING. */
export function scrubText(s: string): string {
  const out = scrubCredentials(s);
  return out.length > MAX_STRING ? out.slice(0, MAX_STRING) + "…" : out;
}

/** A copy of a value safe to log: secrets redacted, errors as {name, message}, bounded size. */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return scrubText(value);
  if (value === null || typeof value !== "object") {
    if (typeof value === "bigint") return value.toString();
    if (typeof value === "function" || typeof value === "symbol") return undefined;
    return value;
  }
  if (depth >= MAX_DEPTH) return "[nested]";
  if (value instanceof Error) return { name: value.name, message: scrubText(value.message) };
  if (value instanceof Headers) return redact(Object.fromEntries(value), depth);
  if (Array.isArray(value)) return value.slice(0, MAX_KEYS).map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const [k, v] of Object.entries(value)) {
    if (n++ >= MAX_KEYS) {
      out["…"] = "more keys left out";
      break;
    }
    out[k] = isSecretKey(k) && v !== undefined && v !== null && v !== "" ? REDACTED : redact(v, depth + 1);
  }
  return out;
}

/** The JSON line for a log entry (exported for tests). */
export function formatLog(level: Level, msg: string, fields: Fields = {}, now: number = Date.now()): string {
  const safe = redact(fields) as Fields;
  return JSON.stringify({ ts: new Date(now).toISOString(), level, msg: scrubText(msg), ...safe });
}

/** Writes one structured log line. Put the request id in `fields.requestId`. */
export function log(level: Level, msg: string, fields: Fields = {}): void {
  const line = formatLog(level, msg, fields);
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else if (level === "debug") console.debug(line);
  else console.log(line);
}

/** A logger whose lines all carry the same fields (e.g. the request id). */
export function logger(bound: Fields): (level: Level, msg: string, fields?: Fields) => void {
  return (level, msg, fields = {}) => log(level, msg, { ...bound, ...fields });
}

/** A sender's own `x-request-id` is kept when it looks like an id (no spaces, quotes or control characters). */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/**
 * The id of an HTTP request, carried in its log lines and answered in `x-request-id`: the sender's
 * own `x-request-id` when it is a plausible id, else Cloudflare's `cf-ray`, else a random UUID.
 */
export function requestIdFrom(headers: Headers): string {
  const own = headers.get("x-request-id");
  if (own !== null && CLIENT_REQUEST_ID.test(own)) return own;
  return headers.get("cf-ray") ?? crypto.randomUUID();
}
