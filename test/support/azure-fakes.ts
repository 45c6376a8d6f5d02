// Fakes of the two Azure services the Sentinel sink talks to, on 127.0.0.1 (node:http, port 0), answering the way
// the real ones do:
//   - Entra ID's token endpoint, POST /{tenant}/oauth2/v2.0/token with the client credentials form
//     (https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow): a wrong secret
//     401 invalid_client AADSTS7000215, an unknown app 400 unauthorized_client AADSTS700016, an unknown tenant 400
//     invalid_request AADSTS90002; else a fresh opaque token with expires_in.
//   - the Logs Ingestion API, POST /dataCollectionRules/{dcr}/streams/{stream}?api-version=2023-01-01
//     (https://learn.microsoft.com/en-us/azure/azure-monitor/logs/logs-ingestion-api-overview#rest-api-call):
//     Bearer token checked against the tokens the fake Entra issued and did not revoke (401), a role check (403),
//     1 MB per call compressed and uncompressed (413), a JSON array of objects with TimeGenerated (400), 204.
// Both record every request (FakeServer.requests) and take scripted replies first (FakeServer.script).
import { listen, header, type FakeServer, type Reply } from "./siem-servers";

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Reply => ({ status, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

export interface EntraOptions {
  tenant: string;
  clientId: string;
  secret: string;
  /** expires_in of the tokens issued (seconds); default 3599, as Entra answers. */
  expiresIn?: number;
}

export interface EntraServer extends FakeServer {
  /** The tokens issued, in order. */
  issued: string[];
  /** Tokens no longer accepted by the ingestion fake. */
  revoked: Set<string>;
  /** Whether the ingestion fake takes this token. */
  valid(token: string): boolean;
}

export async function startEntra(opts: EntraOptions): Promise<EntraServer> {
  const issued: string[] = [];
  const revoked = new Set<string>();
  const err = (status: number, error: string, aadsts: string) =>
    json(status, { error, error_description: `${aadsts}\r\nTrace ID: 00000000-0000-0000-0000-000000000000\r\nTimestamp: 2027-01-15 12:00:00Z`, error_codes: [Number(aadsts.slice(6, aadsts.indexOf(":")))] });
  const s = await listen((r) => {
    if (r.method !== "POST") return json(405, { error: "invalid_request" });
    const m = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(r.path);
    if (!m) return json(404, { error: "not_found" });
    if (decodeURIComponent(m[1]!) !== opts.tenant) return err(400, "invalid_request", `AADSTS90002: Tenant '${m[1]}' not found.`);
    if (!(header(r, "content-type") ?? "").startsWith("application/x-www-form-urlencoded")) return err(400, "invalid_request", "AADSTS900144: The request body must contain the following parameter: 'grant_type'.");
    const form = new URLSearchParams(r.text);
    if (form.get("grant_type") !== "client_credentials") return err(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.");
    if (!(form.get("scope") ?? "").endsWith("/.default")) return err(400, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid.");
    if (form.get("client_id") !== opts.clientId) return err(400, "unauthorized_client", `AADSTS700016: Application with identifier '${form.get("client_id")}' was not found in the directory.`);
    if (form.get("client_secret") !== opts.secret) return err(401, "invalid_client", "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.");
    const token = `eyJ0eXAi.fake-${issued.length + 1}.${form.get("scope")}`;
    issued.push(token);
    return json(200, { token_type: "Bearer", expires_in: opts.expiresIn ?? 3599, ext_expires_in: opts.expiresIn ?? 3599, access_token: token });
  });
  return Object.assign(s, { issued, revoked, valid: (t: string) => issued.includes(t) && !revoked.has(t) });
}

export interface IngestionOptions {
  dcr: string;
  stream: string;
  /** Whether a bearer token is taken (the fake Entra's `valid`). */
  valid(token: string): boolean;
  /** Whether the token's app holds Monitoring Metrics Publisher on the DCR; default yes. */
  role?: () => boolean;
}

export interface IngestionServer extends FakeServer {
  /** Every record accepted, in order. */
  records: Record<string, unknown>[];
}

/** The Logs Ingestion API's largest call, compressed and uncompressed (service limits). */
export const MAX_CALL = 1_048_576;

export async function startLogsIngestion(opts: IngestionOptions): Promise<IngestionServer> {
  const records: Record<string, unknown>[] = [];
  const error = (status: number, code: string, message: string) => json(status, { error: { code, message } });
  const s = await listen((r) => {
    if (r.method !== "POST") return error(405, "MethodNotAllowed", "only POST");
    if (r.path !== `/dataCollectionRules/${opts.dcr}/streams/${opts.stream}`) return error(404, "NotFound", `no stream ${r.path}`);
    if (r.query.get("api-version") !== "2023-01-01") return error(400, "InvalidApiVersion", "The api-version query parameter is missing or not supported.");
    const auth = /^Bearer (\S+)$/.exec(header(r, "authorization") ?? "");
    if (!auth || !opts.valid(auth[1]!)) return error(401, "InvalidToken", "The provided access token is invalid or expired.");
    if (opts.role && !opts.role()) return error(403, "OperationFailed", "The authentication token provided does not have access to ingest data for the data collection rule with immutable Id.");
    if (r.raw.length > MAX_CALL || Buffer.byteLength(r.text) > MAX_CALL) return error(413, "ContentLengthLimitExceeded", "Maximum request body size is 1 MB.");
    if (r.badGzip) return error(400, "InvalidContentEncoding", "The request body could not be decompressed.");
    if (!(header(r, "content-type") ?? "").startsWith("application/json")) return error(415, "UnsupportedMediaType", "Content-Type must be application/json.");
    let body: unknown;
    try {
      body = JSON.parse(r.text);
    } catch {
      return error(400, "InvalidPayload", "The payload is not valid JSON.");
    }
    if (!Array.isArray(body) || body.length === 0) return error(400, "InvalidPayload", "The payload must be a non-empty JSON array.");
    for (const x of body) {
      if (typeof x !== "object" || x === null || Array.isArray(x)) return error(400, "InvalidPayload", "Every item must be a JSON object.");
      const t = (x as { TimeGenerated?: unknown }).TimeGenerated;
      if (typeof t !== "string" || Number.isNaN(Date.parse(t))) return error(400, "InvalidPayload", "TimeGenerated is missing or not a datetime.");
    }
    records.push(...(body as Record<string, unknown>[]));
    return { status: 204 };
  });
  return Object.assign(s, { records });
}
