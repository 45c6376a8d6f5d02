import { SELF, env } from "cloudflare:test";
import { describe, it, expect } from "vitest";
import { fixture, fixturesIn } from "../support/fixtures";
import { readArchive, waitFor } from "../support/archive";
import { CaptureQueue, call, post, quarantined } from "./helpers";

// Falco syscall-source fixtures (one alert per POST, as http_output sends them; NDJSON files line by line).
const falco = fixturesIn("falco");

function alertsOf(text: string): string[] {
  const t = text.trim();
  return t.startsWith("{") && t.includes("\n{") ? t.split("\n").filter(Boolean) : [t];
}

describe("POST /v1/events: Falco http_output -> queue -> R2 archive", () => {
  it("round-trips every Falco fixture into OCSF Detection Findings in the archive", async () => {
    const expected: { uidHint: string; rule: string }[] = [];
    for (const f of falco) {
      for (const alert of alertsOf(f.text)) {
        const res = await SELF.fetch("http://tributary/v1/events", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: alert,
        });
        const body = (await res.json()) as { accepted: number; rejected: number; errors: unknown[] };
        expect(res.status, `${f.name}: ${JSON.stringify(body)}`).toBe(202);
        expect(body).toEqual({ accepted: 1, rejected: 0, errors: [] });
        expected.push({ uidHint: f.name, rule: (JSON.parse(alert) as { rule: string }).rule });
      }
    }
    expect(expected.length).toBe(12);
    const objects = await waitFor(async () => {
      const objs = await readArchive(env.ARCHIVE, "ocsf/class_uid=2004/");
      const n = objs.reduce((a, o) => a + o.events.length, 0);
      return n >= expected.length ? objs : undefined;
    });
    const events = objects.flatMap((o) => o.events);
    expect(events).toHaveLength(expected.length);
    for (const o of objects) expect(o.key).toMatch(/^ocsf\/class_uid=2004\/event_day=\d{8}\/[0-9a-f]{28}\.ndjson\.gz$/);
    for (const e of events) {
      expect(e.class_uid).toBe(2004);
      expect(e.type_uid).toBe(200401);
      expect(typeof e.time).toBe("number");
      expect((e.metadata as { version: string }).version).toBe("1.3.0");
    }
    expect(events.map((e) => (e.finding_info as { title: string }).title).sort()).toEqual(expected.map((x) => x.rule).sort());
    // the event's day, not the upload day, partitions the archive
    const shell = events.find((e) => (e.finding_info as { title: string }).title === "Terminal shell in container" && (e.device as { hostname?: string } | undefined)?.hostname === "falco-xczjd");
    expect(shell).toBeDefined();
    expect(objects.find((o) => o.events.includes(shell!))!.key).toContain("event_day=20230525/");
  });

  it("answers 400 with a reason for a body that is not JSON", async () => {
    const res = await SELF.fetch("http://tributary/v1/events", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"rule": "x", "output": ',
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { accepted: number; errors: { reason: string }[] };
    expect(body.accepted).toBe(0);
    expect(body.errors[0]!.reason).toMatch(/invalid JSON/);
  });

  it("answers 400 naming the record when JSON is not a known source", async () => {
    const res = await SELF.fetch("http://tributary/v1/events", { method: "POST", body: '{"hello":"world"}', headers: { "content-type": "application/json" } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: { index: number; reason: string }[] };
    expect(body.errors[0]).toMatchObject({ index: 0 });
    expect(body.errors[0]!.reason).toMatch(/unrecognised record/);
  });
});

describe("health endpoints", () => {
  it("GET /healthz, GET /ping, HEAD / and HEAD /v1/events answer 200", async () => {
    const h = await SELF.fetch("http://tributary/healthz");
    expect(h.status).toBe(200);
    expect(await h.json()).toEqual({ status: "ok" });
    const p = await SELF.fetch("http://tributary/ping");
    expect(p.status).toBe(200);
    expect((await p.text()).trim()).toBe("pong");
    expect((await SELF.fetch("http://tributary/", { method: "HEAD" })).status).toBe(200);
    expect((await SELF.fetch("http://tributary/v1/events", { method: "HEAD" })).status).toBe(200);
  });
});

describe("a rejected Kubernetes audit record with Secret values: quarantined redacted, and replayed from there", () => {
  const b64 = (x: string): string => btoa(x);
  const PASSWORD = "route-quarantine-SuperSecret"; // 28 bytes
  const secret = { kind: "Secret", apiVersion: "v1", metadata: { name: "db", namespace: "default" }, data: { password: b64(PASSWORD) }, type: "Opaque" };
  const created = JSON.parse(fixture("k8s-audit/falco-trace__create_secret.json")) as Record<string, unknown>;
  const full = { ...created, level: "RequestResponse", requestObject: secret, responseObject: secret };
  const { auditID, ...noAuditId } = full as Record<string, unknown>; // rejected: an audit Event has an auditID
  type Ev = { api: { request: { data: { data: unknown } } }; unmapped: { tributary: { redacted: string[] } } };

  it("no byte of the value is in the quarantine; its record, sent again once fixed, maps to the event the original gives", async () => {
    const id = `k8s-secret-${crypto.randomUUID()}`;
    const ndjson = { "content-type": "application/x-ndjson", "cf-ray": id };
    const r = await call(post("/v1/events/k8s-audit", `${fixture("k8s-audit/falco-trace__create_secret.json").trim()}\n${JSON.stringify(noAuditId)}\n`, ndjson), { queue: new CaptureQueue() });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ accepted: 1, rejected: 1, errors: [{ index: 1, path: "line 2", reason: expect.stringContaining("auditID") }] });
    const found = await quarantined(env.ARCHIVE, id);
    expect(found.map((f) => f.part)).toEqual(["1"]);
    const object = (await env.ARCHIVE.get(found[0]!.key))!;
    const text = await object.text();
    expect(JSON.stringify(object.customMetadata) + text).not.toContain(b64(PASSWORD));
    expect(text).not.toContain(PASSWORD);
    const entry = JSON.parse(text) as { raw?: string; redacted: string[]; record: Record<string, unknown> };
    expect(entry.raw).toBeUndefined();
    expect(entry.redacted).toEqual(["requestObject.data.password", "responseObject.data.password"]);

    // replay: the record from the quarantine, its auditID put back, posted as `npm run replay` posts a .json file
    const replayed = new CaptureQueue();
    const again = await call(post("/v1/events/k8s-audit", JSON.stringify({ ...entry.record, auditID }), { "content-type": "application/json" }), { queue: replayed });
    expect(again.body).toEqual({ accepted: 1, rejected: 0, errors: [] });
    const original = new CaptureQueue();
    await call(post("/v1/events/k8s-audit", JSON.stringify(full), { "content-type": "application/json" }), { queue: original });
    const [ev, orig] = [replayed.events()[0] as unknown as Ev, original.events()[0] as unknown as Ev];
    // the same size as the first redaction (not "[redacted: <bytes of the redacted text>]"), the same paths listed
    expect(ev.api.request.data.data).toEqual({ password: "[redacted: 28 bytes]" });
    expect(ev.api).toEqual(orig.api);
    expect(ev.unmapped.tributary.redacted).toEqual(orig.unmapped.tributary.redacted);
    expect(JSON.stringify(ev)).not.toContain(b64(PASSWORD));
  });
});
