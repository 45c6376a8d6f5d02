// Host inventory loaded from R2 (CSV and JSON objects in the ARCHIVE bucket) and from KV (the ENRICH_KV
// namespace) inside workerd: worker.fetch ingests a real Falco alert and the queued event carries the
// owner/environment/criticality of a row that exists only in the stored file, not in the inline config.
import { env, createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, it, expect } from "vitest";
import worker from "../../src/index";
import { fixture } from "../support/fixtures";
import { captureQueue } from "../support/queue-capture";
import type { OcsfEvent } from "../../src/normalize/ocsf";

const run = Date.now().toString(36);
/** The optional KV binding (declared in vitest.config.ts, not in wrangler.toml, so not in Env's type). */
const kv = (env as unknown as { ENRICH_KV: KVNamespace }).ENRICH_KV;
/** Inline rows: none of them names the fixture's host (falco-xczjd). */
const inline = [{ match: "inline-only-host", owner: "inline-owner", environment: "inline-env" }];

async function ingestFalco(inventory: Record<string, unknown>): Promise<OcsfEvent> {
  const events = captureQueue();
  const cfg = { enrich: { inventory: { inline, ...inventory } } };
  const testEnv = { ...env, TRIBUTARY_CONFIG: JSON.stringify(cfg), EVENTS: events } as unknown as Env;
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request("http://tributary/v1/events/falco", { method: "POST", headers: { "content-type": "application/json" }, body: fixture("falco/terminal-shell-in-container__falco-docs.json") }),
    testEnv,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  expect(res.status).toBe(202);
  expect(events.sent).toHaveLength(1);
  const lines = events.sent[0]!.ndjson.split("\n").filter((l) => l !== "");
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]!) as OcsfEvent;
}

function expectStoredRow(e: OcsfEvent, owner: string, environment: string, criticality: string): void {
  expect(e.device).toMatchObject({ hostname: "falco-xczjd", owner: { name: owner }, groups: expect.arrayContaining([{ name: environment, type: "environment" }]) });
  expect(e.metadata.labels).toEqual(expect.arrayContaining([`environment:${environment}`, `criticality:${criticality}`]));
  const inv = (e.enrichments ?? []).filter((x) => x.type === "asset_inventory");
  expect(inv).toEqual([expect.objectContaining({ name: "device.hostname", value: "falco-xczjd", data: expect.objectContaining({ matched: "falco-*", owner, environment, criticality }) })]);
}

describe("host inventory loaded from R2 and KV in workerd", () => {
  it("a CSV object in the ARCHIVE bucket (format from the .csv key)", async () => {
    const key = `inventory/${run}/hosts.csv`;
    await env.ARCHIVE.put(key, "match,owner,team,environment,criticality,region\nfalco-*,r2-csv-owner,sec,r2-csv-prod,critical,eu-west-3\n");
    const e = await ingestFalco({ r2Key: key });
    expectStoredRow(e, "r2-csv-owner", "r2-csv-prod", "critical");
    expect(e.device).toMatchObject({ region: "eu-west-3", groups: expect.arrayContaining([{ name: "sec", type: "team" }]) });
  });

  it("a JSON object in the ARCHIVE bucket", async () => {
    const key = `inventory/${run}/hosts.json`;
    await env.ARCHIVE.put(key, JSON.stringify([{ match: ["other-host", "falco-*"], owner: "r2-json-owner", environment: "r2-json-stage", criticality: "medium", labels: { rack: "r7" } }]));
    const e = await ingestFalco({ r2Key: key });
    expectStoredRow(e, "r2-json-owner", "r2-json-stage", "medium");
    expect(e.metadata.labels).toContain("rack:r7");
  });

  it("a value in the ENRICH_KV namespace (CSV by format, JSON by default)", async () => {
    const csvKey = `inventory-${run}-csv`;
    await kv.put(csvKey, "hostname,owner,env,criticality\nfalco-*,kv-csv-owner,kv-prod,high\n");
    expectStoredRow(await ingestFalco({ kvKey: csvKey, format: "csv" }), "kv-csv-owner", "kv-prod", "high");
    const jsonKey = `inventory-${run}-json`;
    await kv.put(jsonKey, JSON.stringify([{ match: "falco-*", owner: "kv-json-owner", environment: "kv-dev", criticality: "low" }]));
    expectStoredRow(await ingestFalco({ kvKey: jsonKey }), "kv-json-owner", "kv-dev", "low");
  });

  it("an absent R2 object leaves the inline rows only (the host is not enriched, ingest still succeeds)", async () => {
    const e = await ingestFalco({ r2Key: `inventory/${run}/missing.csv` });
    expect((e.enrichments ?? []).filter((x) => x.type === "asset_inventory")).toEqual([]);
    expect((e.device as { owner?: unknown }).owner).toBeUndefined();
  });
});
