// Structured logs end to end (issue 8): requests through the Worker's fetch handler inside workerd,
// with and without the sender's x-request-id; every line the Worker writes is captured from the
// console. The answer's x-request-id is the id in the request's log lines; no line holds the bearer
// token, the Basic password or the base64 of the Basic credentials.
import { afterEach, describe, expect, it, vi } from "vitest";
import { fixture } from "../support/fixtures";
import { CaptureQueue, call, post } from "../routes/helpers";

const alert = JSON.parse(fixture("falco/terminal-shell-in-container__falco-docs.json")) as Record<string, unknown>;
const TOKEN = "log-test-bearer-7f3a9c21e5";
const PASS = "log-test-pass-b81d04";
const config = {
  auth: {
    tokens: [
      { tenant: "sensors", token: { env: "LOG_TEST_TOKEN" } },
      { tenant: "falco-edge", basic: { username: "falco", password: { env: "LOG_TEST_PASS" } } },
    ],
  },
};
const vars = { LOG_TEST_TOKEN: TOKEN, LOG_TEST_PASS: PASS };
const BASIC = `Basic ${btoa(`falco:${PASS}`)}`;
const SECRETS = [TOKEN, PASS, BASIC.slice("Basic ".length)];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Line {
  ts: string;
  level: string;
  msg: string;
  requestId?: string;
  [k: string]: unknown;
}

/** Captures every console line the Worker writes; each must be one JSON object. */
function captureConsole(): { raw: string[]; lines: () => Line[] } {
  const raw: string[] = [];
  for (const m of ["log", "info", "warn", "error", "debug"] as const) vi.spyOn(console, m).mockImplementation((...a: unknown[]) => void raw.push(a.map(String).join(" ")));
  return { raw, lines: () => raw.map((l) => JSON.parse(l) as Line) };
}

/** One good alert and one record that is not JSON: 202 with one rejection, logged as "records rejected". */
const mixed = `${JSON.stringify(alert)}\n{"output": "cut off`;

async function send(headers: Record<string, string>) {
  return call(post("/v1/events", mixed, { "content-type": "application/x-ndjson", ...headers }), { config, dev: false, queue: new CaptureQueue(), vars });
}

afterEach(() => vi.restoreAllMocks());

describe("request ids and structured logs, through the Worker", () => {
  it("keeps the sender's x-request-id: answered in the header, carried by the request's JSON log lines; the bearer token is in none", async () => {
    const con = captureConsole();
    const r = await send({ authorization: `Bearer ${TOKEN}`, "x-request-id": "vector-batch-0042" });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ accepted: 1, rejected: 1 });
    expect(r.headers.get("x-request-id")).toBe("vector-batch-0042");
    const lines = con.lines();
    const rejected = lines.filter((l) => l.msg === "records rejected");
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ level: "warn", requestId: "vector-batch-0042", tenant: "sensors", accepted: 1, rejected: 1 });
    expect(new Date(rejected[0]!.ts).toISOString()).toBe(rejected[0]!.ts);
    for (const s of SECRETS) expect(con.raw.join("\n")).not.toContain(s);
  });

  it("with the config's redact, the logged first reason is masked as the quarantine keeps it (a reason may quote the record)", async () => {
    const con = captureConsole();
    // a rule matching the reason's text: the JSON error's kind and position
    const redacting = { ...config, redact: { rules: [{ pattern: "invalid JSON: (\\w+)" }] } };
    const r = await call(post("/v1/events", mixed, { "content-type": "application/x-ndjson", authorization: `Bearer ${TOKEN}` }), { config: redacting, dev: false, queue: new CaptureQueue(), vars });
    expect(r.status).toBe(202);
    const answered = (r.body as { errors: { reason: string }[] }).errors[0]!.reason;
    expect(answered).toMatch(/^invalid JSON: \w+/);
    const rejected = con.lines().filter((l) => l.msg === "records rejected");
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.first).toBe(answered.replace(/^invalid JSON: \w+/, "invalid JSON: *****"));
  });

  it("without x-request-id (HTTP Basic, as Falco sends it): a generated UUID, the same in the answer and the log line; the password is in none", async () => {
    const con = captureConsole();
    const r = await send({ authorization: BASIC });
    expect(r.status).toBe(202);
    const id = r.headers.get("x-request-id");
    expect(id).toMatch(UUID);
    const rejected = con.lines().filter((l) => l.msg === "records rejected");
    expect(rejected.map((l) => [l.requestId, l.tenant])).toEqual([[id, "falco-edge"]]);
    for (const s of SECRETS) expect(con.raw.join("\n")).not.toContain(s);
  });

  it("a refused credential is logged with the request id and the reason, never with what was sent", async () => {
    const con = captureConsole();
    const wrongBearer = await send({ authorization: `Bearer ${TOKEN}x`, "x-request-id": "try-1" });
    const wrongBasic = await send({ authorization: `Basic ${btoa(`falco:${PASS}x`)}`, "x-request-id": "try-2" });
    const bareToken = await send({ authorization: TOKEN, "x-request-id": "try-3" });
    expect([wrongBearer.status, wrongBasic.status, bareToken.status]).toEqual([403, 403, 401]);
    expect([wrongBearer, wrongBasic, bareToken].map((r) => r.headers.get("x-request-id"))).toEqual(["try-1", "try-2", "try-3"]);
    const refused = con.lines().filter((l) => l.msg === "auth refused");
    expect(refused.map((l) => [l.requestId, l.status, l.level])).toEqual([
      ["try-1", 403, "warn"],
      ["try-2", 403, "warn"],
      ["try-3", 401, "warn"],
    ]);
    for (const l of refused) expect(typeof l.reason).toBe("string");
    const all = con.raw.join("\n");
    for (const s of [...SECRETS, btoa(`falco:${PASS}x`)]) expect(all).not.toContain(s);
  });

  it("an x-request-id that is not an id (spaces, over 128 characters) is replaced by a generated one", async () => {
    const con = captureConsole();
    const spaced = await send({ authorization: `Bearer ${TOKEN}`, "x-request-id": "id with spaces" });
    const long = await send({ authorization: `Bearer ${TOKEN}`, "x-request-id": "a".repeat(129) });
    const ids = [spaced, long].map((r) => r.headers.get("x-request-id"));
    for (const id of ids) expect(id).toMatch(UUID);
    expect(con.lines().filter((l) => l.msg === "records rejected").map((l) => l.requestId)).toEqual(ids);
  });

  it("every answer carries the id, also without a log line (GET /healthz)", async () => {
    const con = captureConsole();
    const r = await call(new Request("http://tributary/healthz", { headers: { "x-request-id": "probe-7" } }));
    expect(r.status).toBe(200);
    expect(r.headers.get("x-request-id")).toBe("probe-7");
    for (const l of con.lines()) expect(l.level).toMatch(/^(debug|info|warn|error)$/);
  });
});
