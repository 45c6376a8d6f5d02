// Structured logs: one JSON line with ts/level/msg/requestId, secrets never written.
import { afterEach, describe, expect, it, vi } from "vitest";
import { formatLog, isSecretKey, log, logger, redact, scrubText } from "../../src/ops/log";

afterEach(() => vi.restoreAllMocks());

describe("log", () => {
  it("prints one JSON line with ts, level, msg, requestId and the fields, on the console method of its level", () => {
    const lines: [string, string][] = [];
    for (const m of ["log", "warn", "error"] as const) vi.spyOn(console, m).mockImplementation((s: unknown) => void lines.push([m, String(s)]));
    log("info", "delivery", { requestId: "r-1", sink: "siem", delivered: 3 });
    log("warn", "records rejected", { requestId: "r-2" });
    logger({ requestId: "r-3" })("error", "queue refused", { queued: 0 });
    expect(lines.map(([m]) => m)).toEqual(["log", "warn", "error"]);
    const first = JSON.parse(lines[0]![1]) as Record<string, unknown>;
    expect(first).toMatchObject({ level: "info", msg: "delivery", requestId: "r-1", sink: "siem", delivered: 3 });
    expect(new Date(first.ts as string).toISOString()).toBe(first.ts);
    expect(JSON.parse(lines[2]![1])).toMatchObject({ level: "error", requestId: "r-3", queued: 0 });
    for (const [, l] of lines) expect(l.includes("\n")).toBe(false);
  });

  it("redacts fields named like credentials, at any depth, and never their values", () => {
    const line = formatLog("info", "config", {
      requestId: "r",
      token: "tok-SECRET-1",
      auth: { tokens: [{ tenant: "a", token: "tok-SECRET-2" }], hmac: { secret: "tok-SECRET-3" } },
      headers: { Authorization: "Bearer tok-SECRET-4", "x-api-key": "tok-SECRET-5", "content-type": "application/json" },
      sinks: { siem: { apiKey: "tok-SECRET-6", password: "tok-SECRET-7", hecToken: "tok-SECRET-8", url: "https://siem.example" } },
      cookie: "sid=tok-SECRET-9",
    });
    expect(line).not.toMatch(/tok-SECRET/);
    const o = JSON.parse(line) as { auth: unknown; headers: Record<string, string>; sinks: { siem: Record<string, string> } };
    expect(o.auth).toEqual({ tokens: [{ tenant: "a", token: "[redacted]" }], hmac: { secret: "[redacted]" } });
    expect(o.headers["content-type"]).toBe("application/json");
    expect(o.sinks.siem.url).toBe("https://siem.example");
  });

  it("scrubs credentials out of free text: Bearer/Basic/Splunk values, URL passwords, key query parameters", () => {
    const s = scrubText("fetch https://falco:hunter2-pass@tributary.example/v1/events failed; sent Authorization: Bearer abcdef123456 and Splunk 0000-cafe-1234 to https://x/?api_key=k-123&dd-api-key=zz&ok=1");
    expect(s).not.toMatch(/hunter2|abcdef123456|0000-cafe-1234|k-123|=zz/);
    expect(s).toContain("https://falco:[redacted]@tributary.example/v1/events");
    expect(s).toContain("ok=1");
  });

  it("logs errors as name and scrubbed message; bounds strings and depth; drops functions", () => {
    const e = new TypeError("connect to https://u:p4ss@db failed");
    const deep: Record<string, unknown> = {};
    let cur = deep;
    for (let i = 0; i < 10; i++) cur = cur.next = {} as Record<string, unknown>;
    const out = redact({ error: e, long: "x".repeat(5000), deep, fn: () => 1 }) as Record<string, unknown>;
    expect(out.error).toEqual({ name: "TypeError", message: "connect to https://u:[redacted]@db failed" });
    expect((out.long as string).length).toBeLessThan(2100);
    expect(JSON.stringify(out.deep)).toContain("[nested]");
    expect(out.fn).toBeUndefined();
  });

  it("knows which keys are secrets", () => {
    for (const k of ["token", "Authorization", "api_key", "apiKey", "x-api-key", "password", "secret", "webhookSecret", "hecToken", "client_secret", "private_key", "signature", "cookie"]) expect(isSecretKey(k), k).toBe(true);
    for (const k of ["requestId", "tenant", "sink", "msg", "reason", "tokenizer_version", "status", "keys"]) expect(isSecretKey(k), k).toBe(false);
  });
});
