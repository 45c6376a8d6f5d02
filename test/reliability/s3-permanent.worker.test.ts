// Reliability (issue 6): a permanent S3 error in the middle of an outage. Inside workerd, for the s3
// and the security_lake sink (both PutObject through the SDK): the first delivery gets 503 SlowDown
// (retried on DELIVERIES), then the store answers 403 AccessDenied the way AWS does (XML with
// RequestId and HostId, an x-amz-request-id header). Every event must then be dead-lettered once, at
// attempt 2, with the store's response (status, error code and message, request id), nothing
// rescheduled again and nothing stored.
import { env } from "cloudflare:test";
import { describe, it, expect, beforeAll, inject } from "vitest";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import type { DeadLetter } from "../../src/deliver/dlq";
import { freshBucket, readBucket } from "../support/s3-read";
import { gateControl, s3Error, type GateStep } from "../support/gate-client";
import { uniqueFixtureEvents, eventsMessages, stubDeliveries, runBatch, EVENTS_QUEUE, DELIVERIES_QUEUE } from "../support/delivery";

const s3Endpoint = inject("s3Endpoint");
const s3Gate = inject("s3Gate");

const REQUEST_ID = "4442587FB7D0A2F9";
const accessDenied: GateStep = {
  status: 403,
  headers: { "content-type": "application/xml", "x-amz-request-id": REQUEST_ID },
  body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>${REQUEST_ID}</RequestId><HostId>ZjmdVbNh1mr9C5lzGPdnt2QwsFzQ9hNdKM9fP/mXrS0=</HostId></Error>`,
};

let events: OcsfEvent[];
beforeAll(() => {
  events = uniqueFixtureEvents();
});

const connection = (bucket: string) => ({ bucket, endpoint: s3Gate, forcePathStyle: true, accessKeyId: "S3RVER", secretAccessKey: { env: "S3_SECRET" }, batch: { maxEvents: 25 } });

describe("403 AccessDenied after a 503: dead-lettered with the store's answer", () => {
  for (const type of ["s3", "security_lake"] as const) {
    it(`${type}: every event dead-lettered once at attempt 2 with status, code, message and request id; nothing stored`, async () => {
      const bucket = await freshBucket(s3Endpoint, `denied-${type.replace("_", "")}`);
      const sink = `denied${type.replace("_", "")}${Date.now().toString(36)}`;
      const lake = { region: "us-east-2", accountId: "external", buffer: false, sources: Object.fromEntries([...new Set(events.map((x) => String(x.class_uid)))].map((c) => [c, `tributary-${c}`])) };
      const cfg = { sinks: { [sink]: { type, ...connection(bucket), ...(type === "security_lake" ? lake : {}) } }, routes: [{ sinks: [sink] }] };
      const deliveries = stubDeliveries();
      const e = { ...env, TRIBUTARY_CONFIG: JSON.stringify(cfg), DELIVERIES: deliveries, S3_SECRET: "S3RVER" } as unknown as Env;

      await gateControl.script(s3Gate, bucket, [s3Error(503, "SlowDown"), ...Array.from({ length: 100 }, () => accessDenied)]);
      await runBatch(EVENTS_QUEUE, eventsMessages(cfg, events), e);
      const retries = deliveries.sent.splice(0);
      expect(retries.reduce((n, c) => n + c.body.count, 0)).toBe(events.length);
      const res = await runBatch(DELIVERIES_QUEUE, retries.map((c) => c.body), e);
      expect(res.retried).toEqual([]);
      expect(deliveries.sent).toEqual([]); // a permanent error is not retried

      const dead: DeadLetter[] = [];
      for (const o of (await env.ARCHIVE.list({ prefix: `dlq/${sink}/` })).objects) dead.push((await (await env.ARCHIVE.get(o.key))!.json()) as DeadLetter);
      // one dead letter per object the store refused (every request of the round was sent: 403 is not "down")
      const log = (await gateControl.state(s3Gate, bucket)).log;
      expect(log.slice(1).every((l) => l.status === 403)).toBe(true);
      expect(dead).toHaveLength(log.length - 1);
      for (const d of dead) {
        expect(d).toMatchObject({ sink, type, attempts: 2, response: { status: 403, headers: { "x-amz-request-id": REQUEST_ID }, body: "AccessDenied: Access Denied" } });
        expect(d.reason).toBe("HTTP 403: AccessDenied: Access Denied");
        expect(d.count).toBe(d.events.length);
      }
      const uids = dead.flatMap((d) => d.events.map((x) => x.metadata.uid!)).sort();
      expect(uids).toEqual(events.map((x) => x.metadata.uid!).sort());
      expect(await readBucket(s3Endpoint, bucket)).toEqual([]);
    });
  }
});
