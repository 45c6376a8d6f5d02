// Feed refresh inside workerd: the Worker's scheduled() handler (Cron Trigger) downloads a feed from a
// server on 127.0.0.1 (the test gate, answering scripted responses), stores it in R2, and ingest
// enriches with it; failed refreshes (500, garbage) leave the last good set serving.
import { env, createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { describe, it, expect, inject } from "vitest";
import worker from "../../src/index";
import { fixture } from "../support/fixtures";
import { gateControl } from "../support/gate-client";
import { captureQueue } from "../support/queue-capture";
import type { OcsfEvent } from "../../src/normalize/ocsf";

const gate = inject("s3Gate");
const key = `intel-feed-${Date.now().toString(36)}`;

describe("Cron feed refresh in workerd", () => {
  it("refreshes into R2, enriches ingest with it, and keeps the last good set through 500 and garbage", async () => {
    const cfg = {
      enrich: {
        intel: {
          reloadSeconds: 1,
          feeds: [{ name: "c2", url: `${gate}/${key}/c2.txt?token=abc`, format: "plain", confidence: 95, severityRaise: 2 }],
        },
      },
    };
    const events = captureQueue();
    const testEnv = { ...env, TRIBUTARY_CONFIG: JSON.stringify(cfg), EVENTS: events } as unknown as Env;
    const cron = async () => {
      await worker.scheduled(createScheduledController({ cron: "17 * * * *", scheduledTime: Date.now() }), testEnv);
      const status = await env.ARCHIVE.get("intel/_refresh.json");
      return (JSON.parse(await status!.text()) as { feeds: { ok: boolean; status: string }[] }).feeds[0]!;
    };
    const ingest = async (): Promise<OcsfEvent> => {
      const ctx = createExecutionContext();
      const res = await worker.fetch(
        new Request("http://tributary/v1/events/tetragon", { method: "POST", headers: { "content-type": "application/x-ndjson" }, body: fixture("tetragon/process_connect.ndjson") }),
        testEnv,
        ctx,
      );
      await waitOnExecutionContext(ctx);
      expect(res.status).toBe(202);
      const m = events.sent.pop()!;
      return JSON.parse(m.ndjson.split("\n")[0]!) as OcsfEvent;
    };
    const intel = (e: OcsfEvent) => (e.enrichments ?? []).filter((x) => x.type === "threat_intel");

    // good feed
    await gateControl.script(gate, key, [{ status: 200, body: "# c2\n64.225.45.153\n", headers: { etag: '"a"' } }]);
    expect(await cron()).toMatchObject({ ok: true, status: "updated" });
    const stored = await env.ARCHIVE.head("intel/c2.txt");
    expect(stored?.customMetadata).toMatchObject({ feed: "c2", indicators: "1", source: `${gate}/${key}/c2.txt` });
    let e = await ingest();
    expect(intel(e)).toEqual([expect.objectContaining({ provider: "c2", name: "dst_endpoint.ip", value: "64.225.45.153" })]);
    expect(e.severity_id).toBe(3);

    // the source fails: 500, then an HTML page with 200
    await gateControl.script(gate, key, [{ status: 500, body: "boom" }]);
    expect(await cron()).toMatchObject({ ok: false, status: `HTTP 500 from ${gate}/${key}/c2.txt` });
    await gateControl.script(gate, key, [{ status: 200, body: "<html><body>Service Unavailable</body></html>" }]);
    expect((await cron()).status).toMatch(/^not a usable plain feed/);
    expect((await env.ARCHIVE.head("intel/c2.txt"))?.etag).toBe(stored!.etag);
    await new Promise((r) => setTimeout(r, 1100)); // past reloadSeconds: the isolate re-checks R2
    e = await ingest();
    expect(intel(e)).toHaveLength(1);

    // a new good list replaces it
    await gateControl.script(gate, key, [{ status: 200, body: "198.51.100.7\n" }]);
    expect((await cron()).status).toBe("updated");
    await new Promise((r) => setTimeout(r, 1100));
    e = await ingest();
    expect(intel(e)).toEqual([]);
    expect(e.severity_id).toBe(1);
    const log = await gateControl.state(gate, key);
    expect(log.log.map((l) => l.status)).toEqual([200, 500, 200, 200]);
  });
});
