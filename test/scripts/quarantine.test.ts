// `npm run quarantine -- ls|reasons|reingest`: its arguments, and the script as npm runs it (tsx) against an admin
// API stand-in on 127.0.0.1: pages followed by their cursor, counts printed, exit 1 when records stay rejected.
import { afterEach, describe, expect, it } from "vitest";
import { parseArgs } from "../../scripts/quarantine";
import { listen, type FakeServer, type Received } from "../support/siem-servers";
import { runScript } from "../support/scripts";

let server: FakeServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe("npm run quarantine: arguments", () => {
  it("reads the day (yyyymmdd or yyyy-mm-dd), the filters, --dry-run and keys", () => {
    expect(parseArgs(["ls", "--day", "2026-11-22", "--tenant=team-a"])).toEqual({ cmd: "ls", day: "20261122", tenant: "team-a", reason: undefined, dryRun: false, keys: [] });
    expect(parseArgs(["reingest", "--day", "20261122", "--reason", "maxRecordBytes", "--dry-run"])).toMatchObject({ cmd: "reingest", reason: "maxRecordBytes", dryRun: true, keys: [] });
    expect(parseArgs(["reingest", "quarantine/20261122/a-1.json", "quarantine/20261122/b-rest.ndjson"])).toMatchObject({ day: undefined, keys: ["quarantine/20261122/a-1.json", "quarantine/20261122/b-rest.ndjson"] });
  });

  it("refuses what it would otherwise ignore or guess", () => {
    expect(parseArgs(["ls"])).toMatch(/needs --day/);
    expect(parseArgs(["reasons", "--day", "yesterday"])).toMatch(/--day: expected yyyymmdd/);
    expect(parseArgs(["reingest", "--day", "2026-13-45"])).toBe('--day: no such day "2026-13-45"');
    expect(parseArgs(["ls", "--day", "20260230"])).toBe('--day: no such day "20260230"');
    expect(parseArgs(["ls", "--day", "20280229"])).toMatchObject({ day: "20280229" });
    expect(parseArgs(["ls", "--day", "20261122", "--dry-run"])).toBe("ls takes no --dry-run");
    expect(parseArgs(["ls", "--day", "20261122", "quarantine/x.json"])).toMatch(/takes no keys/);
    expect(parseArgs(["reingest", "--day", "20261122", "--sink", "x"])).toMatch(/takes no --sink/);
    expect(parseArgs(["replay"])).toMatch(/^usage:/);
  });
});

const quarantine = (url: string, ...args: string[]) => runScript("scripts/quarantine.ts", args, { env: { TRIBUTARY_URL: url, TRIBUTARY_ADMIN_TOKEN: "" }, timeoutMs: 60_000 });

describe("npm run quarantine: against the admin API", () => {
  it("ls follows the cursor over the pages; reingest loops until no more, prints the still rejected and exits 1", async () => {
    const json = (b: unknown) => ({ status: 200, headers: { "content-type": "application/json" }, body: JSON.stringify(b) });
    server = await listen((r: Received) => {
      if (r.method === "GET" && r.path === "/v1/quarantine") {
        const first = !r.query.get("cursor");
        const entries = first ? [{ key: "quarantine/20261122/a-1.json", index: 1, tenant: "t", route: "/v1/events", reason: "record is 5000 bytes" }] : [{ key: "quarantine/20261122/b-2.json", index: 2, tenant: "t", route: "/v1/events/falco", reason: "bad\ttime" }];
        return json({ entries, reasons: [{ reason: entries[0]!.reason, count: 1 }], more: first, ...(first ? { cursor: "quarantine/20261122/a-1.json" } : {}) });
      }
      if (r.method === "POST" && r.path === "/v1/quarantine/reingest") {
        const body = JSON.parse(r.text) as { cursor?: string };
        return json(body.cursor ? { reingested: 1, events: 1, still_rejected: [{ key: "quarantine/20261122/b-2.json", index: 2, reason: "bad time" }], more: false } : { reingested: 2, events: 3, still_rejected: [], more: true, cursor: "quarantine/20261122/a-1.json" });
      }
      return { status: 404, body: "{}" };
    });
    const ls = await quarantine(server.url, "ls", "--day", "2026-11-22");
    expect([ls.status, ls.stderr]).toEqual([0, ""]);
    expect(ls.stdout.split("\n")).toEqual([
      "quarantine/20261122/a-1.json\t1\tt\t/v1/events\trecord is 5000 bytes",
      "quarantine/20261122/b-2.json\t2\tt\t/v1/events/falco\tbad time",
      "2 quarantined records on 20261122",
      "",
    ]);
    expect(server.requests.map((q) => q.query.get("cursor"))).toEqual([null, "quarantine/20261122/a-1.json"]);

    const re = await quarantine(server.url, "reingest", "--day", "20261122", "--tenant", "t");
    expect(re.status).toBe(1);
    expect(re.stdout).toBe("3 records re-ingested (4 events), 1 still rejected\n");
    expect(re.stderr).toBe("still rejected\tquarantine/20261122/b-2.json\t2\tbad time\n");
    const posts = server.requests.filter((q) => q.method === "POST").map((q) => JSON.parse(q.text) as unknown);
    expect(posts).toEqual([{ day: "20261122", tenant: "t" }, { day: "20261122", tenant: "t", cursor: "quarantine/20261122/a-1.json" }]);
  });
});
