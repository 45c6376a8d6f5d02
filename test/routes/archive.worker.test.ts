// GET /v1/archive/list and /v1/archive/object/<key> (what `npm run archive:ls` / `archive:cat`
// read): served in local development (TRIBUTARY_DEV=true, as `npm start` sets it) from the real R2
// binding, and 403 everywhere else, without a byte of the archive.
import { env, createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it, beforeAll } from "vitest";
import worker from "../../src/index";
import { call, gzip } from "./helpers";

const PREFIX = `ocsf/class_uid=2004/event_day=20261122/archive-route-${crypto.randomUUID()}`;
const GZ_KEY = `${PREFIX}/batch-1.ndjson.gz`;
const PLAIN_KEY = `${PREFIX}/odd key #1.ndjson`;
const EVENTS = [
  { class_uid: 2004, finding_info: { uid: "route-test-1", title: "Terminal shell in container" } },
  { class_uid: 2004, finding_info: { uid: "route-test-2", title: "Read sensitive file untrusted" } },
];
const NDJSON = EVENTS.map((e) => JSON.stringify(e)).join("\n") + "\n";

interface Listed {
  objects: { key: string; size: number; events?: string; uploaded: string }[];
}

const get = (path: string) => new Request(`http://tributary${path}`);

/** The Worker with an env of our own (TRIBUTARY_DEV removed when `dev` is undefined). */
async function fetchWith(path: string, dev: string | undefined): Promise<Response> {
  const e: Record<string, unknown> = { ...env, TRIBUTARY_DEV: dev };
  if (dev === undefined) delete e.TRIBUTARY_DEV;
  const ctx = createExecutionContext();
  const res = await worker.fetch(get(path), e as unknown as Env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

beforeAll(async () => {
  await env.ARCHIVE.put(GZ_KEY, await gzip(NDJSON), { customMetadata: { events: "2" } });
  await env.ARCHIVE.put(PLAIN_KEY, NDJSON);
});

describe("archive routes in local development (TRIBUTARY_DEV=true)", () => {
  it("list: 200, every object under the prefix with its size and event count", async () => {
    const r = await call(get(`/v1/archive/list?prefix=${encodeURIComponent(PREFIX)}`), { dev: true });
    expect(r.status).toBe(200);
    const objects = (r.body as unknown as Listed).objects;
    expect(objects.map((o) => o.key).sort()).toEqual([GZ_KEY, PLAIN_KEY].sort());
    const gz = objects.find((o) => o.key === GZ_KEY)!;
    expect(gz.events).toBe("2");
    expect(gz.size).toBe((await env.ARCHIVE.head(GZ_KEY))!.size);
    expect(Number.isNaN(Date.parse(gz.uploaded))).toBe(false);
  });

  it("list says what each object holds: events, and for quarantine objects their rejected records", async () => {
    const requestId = `archive-holds-${crypto.randomUUID().slice(0, 8)}`;
    // 27 bad lines: 25 single-record objects and one -rest.ndjson with the other 2
    const bad = Array.from({ length: 27 }, (_, i) => `{"not": "a record", "i": ${i}}`).join("\n");
    const ing = await call(new Request("http://tributary/v1/events", { method: "POST", body: bad, headers: { "content-type": "application/x-ndjson", "x-request-id": requestId } }), { dev: true });
    expect(ing.body.rejected).toBe(27);
    const day = new Date().toISOString().slice(0, 10).replace(/-/g, "");
    const r = await call(get(`/v1/archive/list?prefix=${encodeURIComponent(`quarantine/${day}/${requestId}-`)}`), { dev: true });
    const objects = (r.body as unknown as { objects: { key: string; holds: string }[] }).objects;
    expect(objects).toHaveLength(26);
    for (const o of objects) expect(o.holds, o.key).toBe(o.key.endsWith("-rest.ndjson") ? "2 rejected records" : "1 rejected record");
    const batches = await call(get(`/v1/archive/list?prefix=${encodeURIComponent(PREFIX)}`), { dev: true });
    const gz = (batches.body as unknown as { objects: { key: string; holds: string }[] }).objects.find((o) => o.key === GZ_KEY)!;
    expect(gz.holds).toBe("2 events");
  });

  it("object: 200, the NDJSON of a gzip object decompressed, and of a plain one (key URL-encoded)", async () => {
    for (const key of [GZ_KEY, PLAIN_KEY]) {
      const res = await fetchWith(`/v1/archive/object/${encodeURIComponent(key)}`, "true");
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("application/x-ndjson");
      expect(await res.text()).toBe(NDJSON);
    }
  });

  it("object: 422 naming a cut or corrupt gzip object and why (not a bare 500)", async () => {
    const key = `${PREFIX}/cut.ndjson.gz`;
    const whole = await gzip(NDJSON);
    for (const bytes of [whole.slice(0, Math.floor(whole.length / 2)), new TextEncoder().encode("not gzip at all")]) {
      await env.ARCHIVE.put(key, bytes);
      const res = await fetchWith(`/v1/archive/object/${encodeURIComponent(key)}`, "true");
      expect(res.status).toBe(422);
      const error = ((await res.json()) as { error: string }).error;
      expect(error).toContain(`object ${key} cannot be read: `);
      expect(error.length).toBeGreaterThan(`object ${key} cannot be read: `.length);
    }
    await env.ARCHIVE.delete(key);
  });

  it("object: 404 naming a key that is not there", async () => {
    const res = await fetchWith(`/v1/archive/object/${encodeURIComponent(`${PREFIX}/missing.ndjson.gz`)}`, "true");
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toContain("missing.ndjson.gz");
  });
});

describe("archive routes in local development with delivery.adminToken configured", () => {
  const config = { delivery: { adminToken: { env: "ADMIN" } } };
  const vars = { ADMIN: "s3cret-admin" };
  it("401 without the token, 403 with a wrong one (nothing of the archive shown), 200 with it", async () => {
    for (const path of [`/v1/archive/list?prefix=${encodeURIComponent(PREFIX)}`, `/v1/archive/object/${encodeURIComponent(GZ_KEY)}`]) {
      const none = await call(get(path), { dev: true, config, vars });
      expect(none.status, path).toBe(401);
      const wrong = await call(new Request(`http://tributary${path}`, { headers: { authorization: "Bearer wrong" } }), { dev: true, config, vars });
      expect(wrong.status, path).toBe(403);
      expect(JSON.stringify(wrong.body)).not.toContain("route-test");
      const ok = await call(new Request(`http://tributary${path}`, { headers: { authorization: "Bearer s3cret-admin" } }), { dev: true, config, vars });
      expect(ok.status, path).toBe(200);
    }
  });
});

describe("archive routes outside local development", () => {
  for (const dev of ["false", undefined, "1", "TRUE"]) {
    it(`TRIBUTARY_DEV=${String(dev)}: list and object answer 403 and show nothing of the archive`, async () => {
      for (const path of [`/v1/archive/list?prefix=${encodeURIComponent(PREFIX)}`, "/v1/archive/list", `/v1/archive/object/${encodeURIComponent(GZ_KEY)}`]) {
        const res = await fetchWith(path, dev);
        expect(res.status, path).toBe(403);
        const text = await res.text();
        expect(JSON.parse(text)).toEqual({ error: "the archive browser is only served in local development (TRIBUTARY_DEV=true)" });
        expect(text).not.toContain("route-test");
      }
    });
  }
});
