import { SELF, env } from "cloudflare:test";
import { describe, it, expect } from "vitest";
import { fixturesIn } from "../support/fixtures";
import { readArchive, waitFor } from "../support/archive";

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
