// Splunk `host` and Datadog `hostname`: device.hostname; for a Kubernetes audit event (no device) the
// cluster name when the event carries it (the context enricher's k8s.cluster label); CloudTrail: none.
import { afterEach, describe, expect, it } from "vitest";
import { datadog } from "../../src/sinks/datadog";
import { splunkHec } from "../../src/sinks/splunk-hec";
import { hostOf } from "../../src/sinks/batch";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import type { SinkContext } from "../../src/sinks/types";
import { NOW, deliverAll, fixtureEvents, startDatadog, startSplunkHec, type FakeServer } from "../support/siem-servers";

const ctx: SinkContext = { env: {}, now: NOW };
const events = fixtureEvents();
const withCluster = (e: OcsfEvent, cluster: string): OcsfEvent => ({ ...e, metadata: { ...e.metadata, labels: [...(e.metadata.labels ?? []), `k8s.cluster:${cluster}`] } });
const audit = events.filter((e) => e.metadata.product.name === "Kubernetes");
const cloudtrail = events.filter((e) => e.metadata.product.name === "CloudTrail");
const withDevice = events.filter((e) => typeof (e.device as { hostname?: unknown } | undefined)?.hostname === "string");
// every event of each kind, Kubernetes audit ones with a cluster, CloudTrail ones with the label too (a shared tenant)
const batch = [...withDevice.map((e) => withCluster(e, "ignored")), ...audit.map((e) => withCluster(e, "prod-eu")), ...audit, ...cloudtrail.map((e) => withCluster(e, "prod-eu"))];
const expected = [
  ...withDevice.map((e) => (e.device as { hostname: string }).hostname),
  ...audit.map(() => "prod-eu"),
  ...audit.map(() => undefined),
  ...cloudtrail.map(() => undefined),
];

let server: FakeServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe("host of an event in Splunk and Datadog", () => {
  it("the fixtures have events of each kind, and none of the audit or CloudTrail ones has a device hostname", () => {
    expect([withDevice.length, audit.length, cloudtrail.length].every((n) => n > 0)).toBe(true);
    expect([...audit, ...cloudtrail].map(hostOf)).toEqual([...audit, ...cloudtrail].map(() => undefined));
    expect(batch.map(hostOf)).toEqual(expected);
  });

  it.each([
    {
      name: "splunk_hec envelope host",
      run: async () => {
        const hec = await startSplunkHec({ token: "t" });
        server = hec;
        const log = await deliverAll(splunkHec, batch, splunkHec.schema.parse({ url: hec.url, token: "t" }), ctx, 2);
        return { delivered: log.delivered.size, hosts: hec.indexed.map((x) => x.envelope.host) };
      },
    },
    {
      name: "datadog_logs entry hostname",
      run: async () => {
        const dd = await startDatadog({ apiKey: "k" });
        server = dd;
        const log = await deliverAll(datadog, batch, datadog.schema.parse({ url: dd.url, apiKey: "k" }), ctx, 2);
        return { delivered: log.delivered.size, hosts: dd.logs.map((x) => x.entry.hostname) };
      },
    },
  ])("$name", async ({ run }) => {
    expect(await run()).toEqual({ delivered: batch.length, hosts: expected });
  });
});
