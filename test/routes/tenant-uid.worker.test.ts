// With several tenants, the same record sent by two tenants is queued with two metadata.uids (each stable on
// resend), so one tenant's copy cannot stand in for another's where sinks deduplicate; one tenant: unchanged.
import { describe, it, expect } from "vitest";
import { fixture } from "../support/fixtures";
import { CaptureQueue, call, post } from "./helpers";
import { frame } from "../../src/routes/decode";
import { runPipeline } from "../../src/pipeline";
import type { JsonObject } from "../../src/normalize/json";

const alert = fixture("falco/terminal-shell-in-container__falco-docs.json");
const vars = { TOK_A: "tok-a-uid-5e1c2b", TOK_B: "tok-b-uid-90af3d" };
const twoTenants = { auth: { tokens: [{ tenant: "team-a", token: { env: "TOK_A" } }, { tenant: "team-b", token: { env: "TOK_B" } }] } };
const oneTenant = { auth: { tokens: [{ tenant: "team-a", token: { env: "TOK_A" } }] } };

async function uidOf(token: string, config: Record<string, unknown>, body = alert): Promise<string> {
  const queue = new CaptureQueue();
  const r = await call(post("/v1/events", body, { "content-type": "application/json", authorization: `Bearer ${token}` }), { config, dev: false, queue, vars });
  expect(r.status).toBe(202);
  const events = queue.events();
  expect(events).toHaveLength(1);
  return String((events[0]!.metadata as { uid: string }).uid);
}

describe("metadata.uid per tenant", () => {
  it("two tenants sending one record: two uids, each the same when re-sent", async () => {
    const a = await uidOf(vars.TOK_A, twoTenants);
    const b = await uidOf(vars.TOK_B, twoTenants);
    expect(a).not.toBe(b);
    expect(await uidOf(vars.TOK_A, twoTenants)).toBe(a);
    expect(await uidOf(vars.TOK_B, twoTenants)).toBe(b);
  });

  it("a sender's Falco uuid is no longer another tenant's metadata.uid, and stays finding_info.uid", async () => {
    const rec = { ...(JSON.parse(alert) as JsonObject), uuid: "0f8c9e5e-3a1b-4c1d-9e55-6d1b7f0c2a11" };
    const queue = new CaptureQueue();
    const r = await call(post("/v1/events", JSON.stringify(rec), { "content-type": "application/json", authorization: `Bearer ${vars.TOK_B}` }), { config: twoTenants, dev: false, queue, vars });
    expect(r.status).toBe(202);
    const ev = queue.events()[0]!;
    expect((ev.metadata as { uid: string }).uid).not.toBe(rec.uuid);
    expect((ev.finding_info as { uid: string }).uid).toBe(rec.uuid);
  });

  it("one tenant: the uid is the record's own, as the normalizer gives it without tenants", async () => {
    // parsed as the ingest route parses it (long integers kept exactly), normalized without tenants
    const framed = frame(alert, "application/json");
    const expected = runPipeline(framed.values, framed.paths, [], { ctx: { ocsfVersion: "1.3.0", receivedAt: 0 } }).events[0]!.event.metadata.uid;
    expect(await uidOf(vars.TOK_A, oneTenant)).toBe(expected);
  });
});
