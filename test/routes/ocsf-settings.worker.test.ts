// The `ocsf` config settings end to end in workerd: `ocsf.version` is stamped in metadata.version and
// `ocsf.rawData` keeps each record in raw_data, on the events put on the queue and on those the queue
// consumer writes to the R2 archive; by default 1.3.0 and no raw_data.
import { env } from "cloudflare:test";
import { describe, it, expect } from "vitest";
import { fixture } from "../support/fixtures";
import { readArchive, waitFor } from "../support/archive";
import { parseJson } from "../../src/normalize/json";
import { CaptureQueue, call, post } from "./helpers";

const run = Math.random().toString(36).slice(2, 8);
const alert = fixture("falco/terminal-shell-in-container__falco-docs.json");

/** Posts the Falco fixture under its own tenant and config; returns the queued events. */
async function ingest(tenant: string, ocsf: Record<string, unknown> | undefined): Promise<Record<string, unknown>[]> {
  const token = `tok-${tenant}`;
  const config = { auth: { tokens: [{ tenant, token }] }, ...(ocsf ? { ocsf } : {}) };
  const queue = new CaptureQueue({ forward: env.EVENTS });
  const r = await call(post("/v1/events", alert, { "content-type": "application/json", authorization: `Bearer ${token}` }), { config, dev: false, queue });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  expect(r.body).toEqual({ accepted: 1, rejected: 0, errors: [] });
  return queue.events();
}

/** The tenant's events in the archive, once the consumer has written them (bounded wait). */
function archived(tenant: string): Promise<Record<string, unknown>[]> {
  return waitFor(async () => {
    const events = (await readArchive(env.ARCHIVE, "ocsf/class_uid=2004/")).flatMap((o) => o.events);
    const mine = events.filter((e) => (e.metadata as { tenant_uid?: string }).tenant_uid === tenant);
    return mine.length ? mine : undefined;
  });
}

const versionOf = (e: Record<string, unknown>) => (e.metadata as { version: string }).version;

describe("ocsf settings through ingest, queue and archive", () => {
  it("ocsf.version and ocsf.rawData: the configured version is stamped and the record kept in raw_data", async () => {
    const tenant = `ocsf-set-${run}`;
    const queued = await ingest(tenant, { version: "1.4.0", rawData: true });
    expect(queued).toHaveLength(1);
    const stored = await archived(tenant);
    expect(stored).toHaveLength(1);
    for (const e of [queued[0]!, stored[0]!]) {
      expect(versionOf(e)).toBe("1.4.0");
      expect(typeof e.raw_data).toBe("string");
      // raw_data is the record (as parsed: Falco's nanosecond evt.time, beyond 2^53, travels as its exact digits)
      expect(JSON.parse(e.raw_data as string)).toEqual(parseJson(alert));
      expect(e.raw_data as string).toContain("1685022245478445995");
      expect((e.finding_info as { title: string }).title).toBe("Terminal shell in container");
    }
  });

  it("defaults: metadata.version 1.3.0 and no raw_data", async () => {
    const tenant = `ocsf-default-${run}`;
    const queued = await ingest(tenant, undefined);
    const stored = await archived(tenant);
    expect(stored).toHaveLength(1);
    for (const e of [queued[0]!, stored[0]!]) {
      expect(versionOf(e)).toBe("1.3.0");
      expect(e).not.toHaveProperty("raw_data");
    }
    // rawData alone (version left at its default)
    const onlyRaw = await ingest(`ocsf-raw-${run}`, { rawData: true });
    expect(versionOf(onlyRaw[0]!)).toBe("1.3.0");
    expect(typeof onlyRaw[0]!.raw_data).toBe("string");
  });

  it("an ocsf.version that is not x.y.z is refused at config load (500 naming the setting, nothing queued)", async () => {
    const queue = new CaptureQueue();
    const r = await call(post("/v1/events", alert), { config: { ocsf: { version: "1.4" } }, queue });
    expect(r.status).toBe(500);
    expect((r.body as unknown as { error: string }).error).toMatch(/^invalid config: .*ocsf\.version/);
    expect(queue.count()).toBe(0);
  });
});
