// `npm run archive:cat -- <prefix>` as the npm script runs it (tsx), against a stand-in for the dev server's
// archive browser on 127.0.0.1: an object the server cannot read (a corrupt gzip answers 500) is named on
// stderr and skipped, the other objects under the prefix are still printed whole, and the exit status is 1.
import { afterEach, describe, expect, it } from "vitest";
import { listen, type FakeServer } from "../support/siem-servers";
import { runScript } from "../support/scripts";

let server: FakeServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const dir = "ocsf/class_uid=2004/event_day=20261203";
const objects: Record<string, string | undefined> = {
  [`${dir}/00corrupt.ndjson.gz`]: undefined,
  [`${dir}/aa.ndjson.gz`]: '{"class_uid":2004,"metadata":{"uid":"a"}}\n',
  // large enough (4 MB) that exiting before the pipe has taken it all would cut it
  [`${dir}/bb.ndjson.gz`]: Array.from({ length: 40_000 }, (_, i) => `{"class_uid":2004,"metadata":{"uid":"b${i}"},"message":"${"x".repeat(60)}"}\n`).join(""),
};

async function archive(): Promise<string> {
  server = await listen((r) => {
    if (r.path === "/v1/archive/list") {
      const prefix = r.query.get("prefix") ?? "";
      const listed = Object.keys(objects).filter((k) => k.startsWith(prefix)).map((key) => ({ key, size: 10 }));
      return { status: 200, headers: { "content-type": "application/json" }, body: JSON.stringify({ objects: listed }) };
    }
    const key = decodeURIComponent(r.path.slice("/v1/archive/object/".length));
    if (!(key in objects)) return { status: 404, body: JSON.stringify({ error: `no object ${key}` }) };
    const text = objects[key];
    return text === undefined
      ? { status: 500, headers: { "content-type": "application/json" }, body: '{"error":"internal error",\n"requestId":"r-1"}' }
      : { status: 200, headers: { "content-type": "application/x-ndjson" }, body: text };
  });
  return server.url;
}

const cat = (url: string, ...args: string[]) =>
  runScript("scripts/archive.ts", ["cat", ...args], { env: { TRIBUTARY_URL: url, TRIBUTARY_ADMIN_TOKEN: "" }, timeoutMs: 60_000 });

describe("npm run archive:cat", () => {
  it("skips an object it cannot read, naming it, prints the others and exits 1", async () => {
    const r = await cat(await archive(), `${dir}/`);
    expect(r.stdout.length).toBe(objects[`${dir}/aa.ndjson.gz`]!.length + objects[`${dir}/bb.ndjson.gz`]!.length);
    expect(r.stdout).toBe(objects[`${dir}/aa.ndjson.gz`]! + objects[`${dir}/bb.ndjson.gz`]!);
    expect(r.stderr.trim().split("\n")).toEqual([
      `archive: ${dir}/00corrupt.ndjson.gz: not printed: 500 {"error":"internal error", "requestId":"r-1"}`,
      "archive: 1 of 3 objects could not be read (named above); the other 2 were printed",
    ]);
    expect(r.status).toBe(1);
  });

  it("prints every object under the prefix and exits 0 when all are readable", async () => {
    const r = await cat(await archive(), `${dir}/b`);
    expect([r.stdout, r.stderr, r.status]).toEqual([objects[`${dir}/bb.ndjson.gz`], "", 0]);
  });
});
