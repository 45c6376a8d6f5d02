// `npm run replay -- <files>` as the npm script runs it (tsx), against an ingest stand-in on 127.0.0.1:
// a file of OCSF events (archive:cat's output) is not posted, since ingest would reject every line into
// quarantine/; it is skipped with a line saying why, and sensor records in the other files still go.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { listen, type FakeServer, type Received } from "../support/siem-servers";
import { runScript } from "../support/scripts";

let server: FakeServer | undefined;
let dir: string | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

const ocsfLine = JSON.stringify({ class_uid: 2004, time: 1, metadata: { version: "1.3.0", uid: "u-1", product: { name: "Falco" } } });
const falcoAlert = '{"output":"x","priority":"Warning","rule":"r","time":"2026-12-03T10:00:00Z","output_fields":{}}';

async function ingest(posted: Received[]): Promise<string> {
  server = await listen((r) => {
    posted.push(r);
    return { status: 202, headers: { "content-type": "application/json" }, body: '{"accepted":1,"rejected":0,"errors":[]}' };
  });
  return server.url;
}

function files(named: Record<string, string>): string[] {
  dir = mkdtempSync(join(tmpdir(), "replay-"));
  return Object.entries(named).map(([n, text]) => {
    writeFileSync(join(dir!, n), text);
    return join(dir!, n);
  });
}

const replay = (url: string, paths: string[]) => runScript("scripts/replay.ts", ["--url", url, ...paths], { timeoutMs: 60_000 });

describe("npm run replay", () => {
  it("skips files of OCSF events (NDJSON or a pretty-printed .json), posts the sensor records", async () => {
    const posted: Received[] = [];
    const [day, one, alert] = files({
      "day.ndjson": `${ocsfLine}\n${ocsfLine}\n`,
      "one.json": JSON.stringify(JSON.parse(ocsfLine), null, 2),
      "alert.json": falcoAlert,
    });
    const r = await replay(await ingest(posted), [day!, one!, alert!]);
    expect(posted.map((p) => [p.path, p.text])).toEqual([["/v1/events", falcoAlert]]);
    const out = r.stdout.split("\n");
    expect(out.filter((l) => l.startsWith("SKIP "))).toEqual(
      [day, one].map((f) => expect.stringMatching(new RegExp(`^SKIP ${f}: OCSF events .*not sensor records.*docs/delivery\\.md#re-sending-archived-events`))),
    );
    expect(out).toContain(`202 ${alert}: accepted 1, rejected 0`);
    expect(out).toContain("3 files: 1 accepted, 0 rejected, 0 requests failed, 2 skipped (OCSF, not sensor records)");
    expect([r.stderr, r.status]).toEqual(["", 0]);
  });

  it("exits 1 when every file was skipped, having posted nothing", async () => {
    const posted: Received[] = [];
    const r = await replay(await ingest(posted), files({ "day.ndjson": `${ocsfLine}\n` }));
    expect(posted).toEqual([]);
    expect(r.stdout).toContain("1 files: 0 accepted, 0 rejected, 0 requests failed, 1 skipped (OCSF, not sensor records)");
    expect(r.status).toBe(1);
  });
});
