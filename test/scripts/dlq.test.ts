// `npm run dlq -- list` as the npm script runs it (tsx), against an admin API stand-in on 127.0.0.1:
// one row per dead letter, tab-separated, even when a field holds line breaks or tabs (a reason
// written before reasons were made one line).
import { afterEach, describe, expect, it } from "vitest";
import type { DeadLetterInfo } from "../../src/deliver/dlq";
import { listen, type FakeServer } from "../support/siem-servers";
import { runScript } from "../support/scripts";

let server: FakeServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function admin(dead: DeadLetterInfo[]): Promise<string> {
  server = await listen((r) =>
    r.path === "/v1/dlq" && r.query.toString() === ""
      ? { status: 200, headers: { "content-type": "application/json" }, body: JSON.stringify({ dead, records: dead.length, events: dead.reduce((n, d) => n + d.count, 0) }) }
      : { status: 404, headers: { "content-type": "application/json" }, body: "{}" },
  );
  return server.url;
}

/** Runs the script (asynchronously: the stand-in server answers from this process). */
const dlq = (url: string, ...args: string[]) => runScript("scripts/dlq.ts", args, { env: { TRIBUTARY_URL: url, TRIBUTARY_ADMIN_TOKEN: "" }, timeoutMs: 60_000 });

describe("npm run dlq -- list", () => {
  it("prints one tab-separated row per dead letter, line breaks and tabs in a field folded to a space, a bulk item's status beside the answer's", async () => {
    const base = { count: 12, attempts: 1, size: 100, uploaded: "2027-01-15T00:00:00.000Z" };
    const url = await admin([
      { ...base, key: "dlq/loki/20270115/aa.json", sink: "loki", status: 400, reason: "Loki HTTP 400: entry has timestamp too old\n; Loki stored the push's other entries" },
      { ...base, key: "dlq/hook/20270115/bb.json", sink: "hook", status: 400, reason: "webhook HTTP 400: bad\r\n\tpayload" },
      { ...base, key: "dlq/es/20270115/cc.json", sink: "es", status: 200, itemStatus: 400, reason: "item 400: mapper_parsing_exception: failed to parse" },
    ]);
    const r = await dlq(url, "list");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout.split("\n")).toEqual([
      "dlq/loki/20270115/aa.json\tloki\t12 events\t1 attempts\t400\tLoki HTTP 400: entry has timestamp too old ; Loki stored the push's other entries",
      "dlq/hook/20270115/bb.json\thook\t12 events\t1 attempts\t400\twebhook HTTP 400: bad payload",
      "dlq/es/20270115/cc.json\tes\t12 events\t1 attempts\t200 (item 400)\titem 400: mapper_parsing_exception: failed to parse",
      "3 dead letters, 36 events",
      "",
    ]);
  });
});
