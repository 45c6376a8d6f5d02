// `npm run backfill` as the npm script runs it (tsx), against an admin API stand-in on 127.0.0.1: it pages
// POST /v1/backfill with each answer's cursor until there is none, prints each page and the totals, waits
// out 429/503 (keeping what a 503 page did), stops at --max-pages with the --resume command to go on.
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import type { BackfillResult } from "../../src/deliver/backfill";
import { listen, type FakeServer, type Reply } from "../support/siem-servers";
import { runScript } from "../support/scripts";

let server: FakeServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const K = (n: number) => `ocsf/class_uid=2004/event_day=20261201/k${n}.ndjson.gz`;
const json = (status: number, body: unknown, headers: Record<string, string> = {}): Reply => ({ status, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
const page = (objects: number, sent: number, cursor?: string, skipped: BackfillResult["skipped"] = []): BackfillResult => ({
  objects,
  events: { read: sent + 1, matched: sent, sent },
  skipped,
  ...(cursor ? { cursor } : {}),
});

/** A stand-in answering the scripted replies in order (then 404); the request bodies it got. */
async function serving(replies: Reply[]): Promise<{ url: string; bodies: () => Record<string, unknown>[] }> {
  await server?.close();
  server = await listen(() => ({ status: 404, body: "{}" }));
  server.script.push(...replies);
  const s = server;
  return { url: s.url, bodies: () => s.requests.map((r) => JSON.parse(r.text) as Record<string, unknown>) };
}

const backfill = (url: string, ...args: string[]) => runScript("scripts/backfill.ts", args, { env: { TRIBUTARY_URL: url, TRIBUTARY_ADMIN_TOKEN: "" }, timeoutMs: 60_000 });
const base = ["--sink", "siem", "--from", "2026-12-01", "--to", "2026-12-03", "--pause-ms", "0"];

describe("npm run backfill", () => {
  it("pages with each cursor until none, sends the filters, prints each page and the totals; a skipped object is named and exits 1", async () => {
    const s = await serving([json(200, page(20, 40, K(20))), json(200, page(20, 30, K(40), [{ key: K(33), reason: "not gzip NDJSON: invalid gzip data" }])), json(200, page(3, 5))]);
    const r = await backfill(s.url, ...base, "--class", "2004", "--tenant=team a", "--source", "falco,tetragon");
    expect(s.bodies()).toEqual([
      { sink: "siem", from: "2026-12-01", to: "2026-12-03", class_uid: 2004, tenant: "team a", source: ["falco", "tetragon"] },
      { sink: "siem", from: "2026-12-01", to: "2026-12-03", class_uid: 2004, tenant: "team a", source: ["falco", "tetragon"], cursor: K(20) },
      { sink: "siem", from: "2026-12-01", to: "2026-12-03", class_uid: 2004, tenant: "team a", source: ["falco", "tetragon"], cursor: K(40) },
    ]);
    expect(r.stdout.split("\n")).toEqual([
      `page 1: 20 objects, 41 read, 40 matched, 40 sent; next ${K(20)}`,
      `page 2: 20 objects, 31 read, 30 matched, 30 sent; next ${K(40)}`,
      "page 3: 3 objects, 6 read, 5 matched, 5 sent",
      "backfill to siem: 43 objects, 78 events read, 75 matched, 75 sent, 1 skipped",
      "",
    ]);
    expect(r.stderr).toBe(`skipped\t${K(33)}\tnot gzip NDJSON: invalid gzip data\n1 object (or lines of them) could not be read (named above): those events were not sent\n`);
    expect(r.status).toBe(1);
  });

  it("waits out a 429 and a 503 (Retry-After), counting what the 503 page sent and going on from its cursor", async () => {
    const refused = { ...page(2, 4, K(2)), error: "Queue send failed: Too Many Requests" };
    const s = await serving([json(429, { error: "slow down" }, { "retry-after": "1" }), json(503, refused, { "retry-after": "1" }), json(200, page(1, 1))]);
    const r = await backfill(s.url, ...base);
    expect(s.bodies().map((b) => b.cursor)).toEqual([undefined, undefined, K(2)]);
    expect(r.stderr).toMatch(/^429: .*slow down.*; waiting 1 s\n503: Queue send failed: Too Many Requests; waiting 1 s\n$/);
    expect(r.stdout.split("\n").slice(-2)).toEqual(["backfill to siem: 3 objects, 7 events read, 5 matched, 5 sent, 0 skipped", ""]);
    expect(r.status).toBe(0);
  });

  it("--resume starts at the cursor; --max-pages stops and prints the command to go on (exit 1)", async () => {
    const s = await serving([json(200, page(20, 1, K(40))), json(200, page(20, 1, K(60)))]);
    const r = await backfill(s.url, ...base, "--resume", K(20), "--max-pages", "2");
    expect(s.bodies().map((b) => b.cursor)).toEqual([K(20), K(40)]);
    expect(r.stdout.split("\n").slice(-2)).toEqual(["backfill to siem (not finished): 40 objects, 4 events read, 2 matched, 2 sent, 0 skipped", ""]);
    expect(r.stderr).toBe(`stopped after --max-pages 2; resume with: npm run backfill -- --sink siem --from 2026-12-01 --to 2026-12-03 --pause-ms 0 --max-pages 2 --resume ${K(60)}\n`);
    expect(r.status).toBe(1);
  });

  it("a refusal (401) is printed with its hint and the cursor reached; a missing option prints the usage (exit 2)", async () => {
    const s = await serving([json(200, page(20, 1, K(20))), json(401, { error: "send Authorization" })]);
    const r = await backfill(s.url, ...base);
    expect(r.stderr.split("\n")).toEqual([
      'backfill: 401 {"error":"send Authorization"} (set TRIBUTARY_ADMIN_TOKEN to the server\'s delivery.adminToken)',
      "so far: 20 objects, 2 events read, 1 matched, 1 sent, 0 skipped",
      `resume with: npm run backfill -- ${base.join(" ")} --resume ${K(20)}`,
      "",
    ]);
    expect(r.status).toBe(1);
    const s2 = await serving([]);
    const u = await backfill(s2.url, "--sink", "siem", "--from", "2026-12-01");
    expect([u.status, u.stderr]).toEqual([2, expect.stringMatching(/^usage: npm run backfill -- --sink <name> --from/)]);
    expect(s2.bodies()).toEqual([]);
  });

  it("--resume with a cursor of another backfill (the server's 400 cursor refusal) exits 2 naming what differs; no resume hint", async () => {
    const error = 'cursor: it belongs to another backfill: tenant "team-a" (this call: none); resume with the sink, range and filters of the call that answered it, or send no cursor to start over';
    const s = await serving([json(400, { error })]);
    const r = await backfill(s.url, ...base, "--resume", `${K(20)}@e30`);
    expect(s.bodies().map((b) => b.cursor)).toEqual([`${K(20)}@e30`]);
    expect([r.status, r.stdout, r.stderr]).toEqual([2, "", `--resume: ${error.slice("cursor: ".length)}\n`]);
  });

  it("Ctrl-C during a page: that page is counted, no other is asked for, and the --resume command is printed (exit 130)", async () => {
    // the stand-in holds its answer until the script says it is stopping (so the signal surely came first)
    let stderr = "";
    let requests = 0;
    let hold: (() => void) | undefined;
    const http: Server = createServer((req, res) => {
      requests++;
      req.resume().on("end", () => {
        hold = () => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(page(20, 3, K(20))));
        child.kill("SIGINT");
      });
    });
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    const port = (http.address() as { port: number }).port;
    const child = spawn(process.execPath, ["node_modules/tsx/dist/cli.mjs", "scripts/backfill.ts", ...base], {
      env: { ...process.env, TRIBUTARY_URL: `http://127.0.0.1:${port}`, TRIBUTARY_ADMIN_TOKEN: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
      if (!stderr.includes("stopping after the page in flight")) return;
      const answer = hold; // once
      hold = undefined;
      answer?.();
    });
    try {
      const status = await new Promise<number | null>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no exit within 60 s: ${stdout} ${stderr}`)), 60_000);
        child.on("close", (code) => {
          clearTimeout(timer);
          resolve(code);
        });
      });
      expect(requests).toBe(1);
      expect(stdout.split("\n")).toEqual([`page 1: 20 objects, 4 read, 3 matched, 3 sent; next ${K(20)}`, "backfill to siem (not finished): 20 objects, 4 events read, 3 matched, 3 sent, 0 skipped", ""]);
      expect(stderr).toBe(`stopping after the page in flight (Ctrl-C again to quit now)\ninterrupted; resume with: npm run backfill -- ${base.join(" ")} --resume ${K(20)}\n`);
      expect(status).toBe(130);
    } finally {
      child.kill("SIGKILL");
      await new Promise((r) => http.close(r));
    }
  });
});
