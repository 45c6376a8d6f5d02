// The `ocsf` config settings end to end in workerd: `ocsf.version` is stamped in metadata.version and
// `ocsf.rawData` keeps each record in raw_data, on the events put on the queue and on those the queue
// consumer writes to the R2 archive; by default 1.3.0 and no raw_data. raw_data is the record's exact
// original text (after decompression): the body, the NDJSON line, the array element's or container item's slice.
import { env } from "cloudflare:test";
import { describe, it, expect } from "vitest";
import { fixture } from "../support/fixtures";
import { readArchive, waitFor } from "../support/archive";
import { parseJson } from "../../src/normalize/json";
import { CaptureQueue, call, gzip, post } from "./helpers";
import { parseConfig } from "../../src/config/load";

const run = Math.random().toString(36).slice(2, 8);
const alert = fixture("falco/terminal-shell-in-container__falco-docs.json");

/** Posts a body (by default the Falco fixture) under its own tenant and config; returns the queued events. */
async function ingest(
  tenant: string,
  ocsf: Record<string, unknown> | undefined,
  body: BodyInit = alert,
  headers: Record<string, string> = { "content-type": "application/json" },
  count = 1,
): Promise<Record<string, unknown>[]> {
  const token = `tok-${tenant}`;
  const config = { auth: { tokens: [{ tenant, token }] }, ...(ocsf ? { ocsf } : {}) };
  const queue = new CaptureQueue({ forward: env.EVENTS });
  const r = await call(post("/v1/events", body, { ...headers, authorization: `Bearer ${token}` }), { config, dev: false, queue });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  expect(r.body).toEqual({ accepted: count, rejected: 0, errors: [] });
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
      // raw_data is the record's own text: Falco's nanosecond evt.time (beyond 2^53) stays a bare number
      expect(e.raw_data).toBe(alert.trim());
      expect(e.raw_data as string).toContain('"evt.time":1685022245478445995,');
      expect(JSON.parse(e.raw_data as string)).toEqual(JSON.parse(alert));
      expect(parseJson(e.raw_data as string)).toEqual(parseJson(alert));
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

  /** Each event's raw_data is exactly the expected text, and JSON.parse of it is the record as JSON.parse of the whole body has it. */
  function expectRaw(events: Record<string, unknown>[], texts: string[], records: unknown[]): void {
    expect(events.map((e) => e.raw_data)).toEqual(texts);
    expect(events.map((e) => JSON.parse(e.raw_data as string) as unknown)).toEqual(records);
  }

  it("rawData on an NDJSON body (gzip): raw_data is each line as sent, long integers bare", async () => {
    const lines = fixture("falco/open_from_cat__falco-regression-test.ndjson").split("\n").filter((l) => l.trim() !== "");
    // spacing Falco does not send, to tell the original text from a re-serialization
    const sent = [lines[0]!.replace('"output_fields": {', '"output_fields" :  {'), lines[1]!, lines[2]!];
    const body = await gzip(sent.join("\r\n") + "\n");
    const queued = await ingest(`ocsf-nd-${run}`, { rawData: true }, body, { "content-type": "application/x-ndjson", "content-encoding": "gzip" }, 3);
    expectRaw(queued, sent, sent.map((l) => JSON.parse(l) as unknown));
    expect(queued[0]!.raw_data as string).toContain('"evt.time.iso8601":1470327477881781397,');
  });

  it("rawData on a JSON array: raw_data is each element's exact slice (strings with brackets, escapes, Unicode); uids as with rawData off", async () => {
    const weird = alert
      .trim()
      .replace('"rule":"Terminal shell in container"', '"rule" : "Terminal shell in container ]},{[ \\"quoted\\" \\\\ ünï 😀 \\u00e9"');
    const parts = [alert.trim(), `{\n    ${weird.slice(1, -1).replace(', "output_fields"', ',\n    "output_fields"')}\n  }`];
    const body = `[\n  ${parts.join(" ,\n\t")}\n]\n`;
    const on = await ingest(`ocsf-arr-${run}`, { rawData: true }, body, undefined, 2);
    expectRaw(on, parts, JSON.parse(body) as unknown[]);
    expect(on.map((e) => parseJson(e.raw_data as string))).toEqual(parseJson(body));
    expect((on[1]!.finding_info as { title: string }).title).toBe('Terminal shell in container ]},{[ "quoted" \\ ünï 😀 é');
    const off = await ingest(`ocsf-arr-off-${run}`, undefined, body, undefined, 2);
    expect(off.map((e) => (e.metadata as { uid: string }).uid)).toEqual(on.map((e) => (e.metadata as { uid: string }).uid));
    expect(off.every((e) => !("raw_data" in e))).toBe(true);
  });

  it("rawData on a Kubernetes EventList: raw_data is each item's text as it stands in the list", async () => {
    const items = ["k8s-audit/falco-trace__attach_pod.json", "k8s-audit/falco-trace__create_secret.json"].map((f) => fixture(f).trim());
    items.push(JSON.stringify(JSON.parse(items[0]!), null, 2).replace(/\n/g, "\n    ").replace('"Event"', '"Event" ')); // pretty-printed, indented
    const body = `{"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {},\n  "items": [\n    ${items.join(",\n    ")}\n  ]\n}`;
    const queued = await ingest(`ocsf-k8s-${run}`, { rawData: true }, body, undefined, 3);
    expectRaw(queued, items, (JSON.parse(body) as { items: unknown[] }).items);
  });

  it("an ocsf.version before 1.3.0 or of another major is refused at config load (the events are 1.3.0's shape)", async () => {
    for (const version of ["1.1.0", "1.2.0", "0.9.0", "2.0.0"]) {
      const queue = new CaptureQueue();
      const r = await call(post("/v1/events", alert), { config: { ocsf: { version } }, queue });
      expect(r.status).toBe(503);
      expect((r.body as unknown as { error: string }).error).toBe("the server's config is invalid: ocsf.version (see its error log)");
      // what is wrong is said in the error log (and by check-config), not in the answer
      expect(() => parseConfig({ ocsf: { version } })).toThrow(/^invalid config: .*ocsf\.version.*1\.3\.0's shape/);
      expect(queue.count()).toBe(0);
    }
  });

  it("an ocsf.version that is not x.y.z is refused at config load (503 naming the setting, nothing queued)", async () => {
    const queue = new CaptureQueue();
    const r = await call(post("/v1/events", alert), { config: { ocsf: { version: "1.4" } }, queue });
    expect(r.status).toBe(503);
    expect((r.body as unknown as { error: string }).error).toMatch(/^the server's config is invalid: ocsf\.version /);
    expect(queue.count()).toBe(0);
  });
});
