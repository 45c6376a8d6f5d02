// Reliability (issue 9): a soak of 200,000 events through ingest -> queue -> archive inside workerd.
// 200 requests of 1000 NDJSON Falco alerts (a real alert, each copy with its own uuid and time) go
// through worker.fetch with the real bindings: the local queue takes every message and its consumer
// (the Worker's queue handler, run by the local queue) writes the archive to the local R2. The archive
// is then read back and every uid counted: each of the 200,000 must be there exactly once.
// Bounded: the wait for the consumer polls at most MAX_POLLS times; no wall-clock assertion.
import { env } from "cloudflare:test";
import { it, expect } from "vitest";
import { gunzipSync, strFromU8 } from "fflate";
import { fixture } from "../support/fixtures";
import { call, post } from "../routes/helpers";

const REQUESTS = 200;
const PER_REQUEST = 1000;
const TOTAL = REQUESTS * PER_REQUEST;
const MAX_POLLS = 900; // one a second at most: 15 minutes
/**
 * Every alert of this run happens on this day, so its archive objects sit under their own prefix. A past day: an
 * event more than 24 h ahead of its arrival is filed under the day it arrived (src/sinks/file-time.ts).
 */
const T0 = Date.UTC(2003, 2, 3);
const PREFIX = "ocsf/class_uid=2004/event_day=20030303/";

async function listAll(prefix: string): Promise<R2Object[]> {
  const out: R2Object[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const l = await env.ARCHIVE.list({ prefix, cursor, include: ["customMetadata"] });
    out.push(...l.objects);
    if (!l.truncated) break;
    cursor = l.cursor;
  }
  return out;
}

it(
  `${TOTAL.toLocaleString("en")} events through ingest -> queue -> archive: every uid exactly once`,
  async () => {
    const run = crypto.randomUUID().slice(0, 8);
    const uuid = (i: number) => `${run}-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;
    const alert = JSON.parse(fixture("falco/terminal-shell-in-container__falco-docs.json")) as Record<string, unknown>;

    for (let r = 0; r < REQUESTS; r++) {
      const lines: string[] = [];
      for (let k = 0; k < PER_REQUEST; k++) {
        const i = r * PER_REQUEST + k;
        lines.push(JSON.stringify({ ...alert, uuid: uuid(i), time: new Date(T0 + i).toISOString() }));
      }
      const res = await call(post("/v1/events", lines.join("\n") + "\n", { "content-type": "application/x-ndjson" }));
      expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(202);
      expect(res.body.accepted).toBe(PER_REQUEST);
    }

    // the consumer writes one object per class and day per queue batch, with its event count
    let archived = 0;
    for (let poll = 0; poll < MAX_POLLS && archived < TOTAL; poll++) {
      archived = (await listAll(PREFIX)).reduce((n, o) => n + Number(o.customMetadata?.events ?? 0), 0);
      if (archived < TOTAL) await new Promise((res) => setTimeout(res, 1000));
    }
    expect(archived).toBeGreaterThanOrEqual(TOTAL);

    // read every object back and count the uids
    const seen = new Map<string, number>();
    let foreign = 0;
    for (const o of await listAll(PREFIX)) {
      const obj = await env.ARCHIVE.get(o.key);
      expect(obj, o.key).not.toBeNull();
      const text = strFromU8(gunzipSync(new Uint8Array(await obj!.arrayBuffer())));
      for (const line of text.split("\n")) {
        if (!line) continue;
        const uid = (JSON.parse(line) as { metadata: { uid: string } }).metadata.uid;
        if (!uid.startsWith(run)) {
          foreign++;
          continue;
        }
        seen.set(uid, (seen.get(uid) ?? 0) + 1);
      }
    }
    expect(foreign).toBe(0);
    const duplicated = [...seen].filter(([, n]) => n !== 1).slice(0, 10);
    expect(duplicated).toEqual([]);
    expect(seen.size).toBe(TOTAL);
    for (let i = 0; i < TOTAL; i += 997) expect(seen.get(uuid(i)), uuid(i)).toBe(1);
    expect(seen.get(uuid(TOTAL - 1))).toBe(1);
  },
  30 * 60_000,
);
