// The log fields of a delivery (resultFields): one shape for the consumer's "delivery" line and the noise
// window's "noise window delivered" line, which logged the raw result (down scopes as an object keyed by tenant
// name, reasons uncut) until both used it.
import { describe, it, expect } from "vitest";
import { resultFields, type DeliverResult } from "../../src/deliver/deliver";

describe("resultFields", () => {
  it("down scopes as a list (a tenant name is never a field name), reasons cut, no parked keys, the first dead letter", () => {
    const long = "x".repeat(400);
    const r: DeliverResult = {
      sink: "loki",
      delivered: 3,
      retried: 2,
      dead: 1,
      requests: 3,
      downScopes: { "secret-team\nb": { reason: long, afterMs: 20_000 } },
      parked: ["deliveries/p1"],
      deadLetters: ["dlq/loki/1.json", "dlq/loki/2.json"],
      deadReason: long,
    };
    const f = resultFields(r);
    expect(f).toEqual({
      sink: "loki",
      delivered: 3,
      retried: 2,
      dead: 1,
      requests: 3,
      down: undefined,
      downAfterMs: undefined,
      downScopes: [{ scope: "secret-team b", reason: `${"x".repeat(300)}…`, afterMs: 20_000 }],
      reason: `${"x".repeat(300)}…`,
      dlq: "dlq/loki/1.json",
      dlqObjects: 2,
    });
    expect(Object.keys(f)).not.toContain("parked");
  });

  it("a plain delivery: counts only", () => {
    const f = resultFields({ sink: "s", delivered: 5, retried: 0, dead: 0, requests: 1, parked: [], deadLetters: [], down: { reason: "HTTP 503", afterMs: 5000 } });
    expect(f).toEqual({ sink: "s", delivered: 5, retried: 0, dead: 0, requests: 1, down: "HTTP 503", downAfterMs: 5000 });
  });

  it("a gone sink: its reason, the dead letter's, logged once (as `reason`, with gone: true); a down reason that differs stays", () => {
    const gone = "Slack 404: channel_not_found; webhook revoked or channel archived/deleted: set a new SLACK_WEBHOOK_URL (a new incoming webhook), then replay: npm run dlq -- replay --sink alerts";
    const counts = { sink: "alerts", delivered: 0, retried: 0, dead: 4, requests: 1 };
    const base = { ...counts, parked: [], deadLetters: ["dlq/alerts/1.json"] };
    const f = resultFields({ ...base, down: { reason: gone, gone: true }, deadReason: gone });
    expect(f).toEqual({ ...counts, gone: true, reason: gone, dlq: "dlq/alerts/1.json" });
    expect(Object.keys(f)).not.toContain("down");
    // an event rejected on its own before the gone answer: the first dead letter's reason is that one, so both are logged
    const first = "HTTP 400: bad event";
    expect(resultFields({ ...base, down: { reason: gone, gone: true }, deadReason: first })).toMatchObject({ down: gone, reason: first });
  });
});
