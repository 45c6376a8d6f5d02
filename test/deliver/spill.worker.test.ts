// Events too large for a queue message are spilled to R2 at ingest; the consumer must read them
// back so they reach the archive (and sinks) like any other event: ingest -> real queue -> archive.
import { SELF, env } from "cloudflare:test";
import { describe, it, expect } from "vitest";
import { fixture } from "../support/fixtures";
import { readArchive, waitFor } from "../support/archive";

describe("spilled events through the real queue", () => {
  it("a 300 KB Kubernetes audit event and its small neighbour both land in the archive", async () => {
    const ev = JSON.parse(fixture("k8s-audit/falco-trace__create_secret.json")) as Record<string, unknown>;
    ev.auditID = "5a4c9f2e-spill-test-0000-000000000001";
    ev.requestObject = { kind: "ConfigMap", apiVersion: "v1", data: { blob: "q".repeat(300_000) } };
    const small = JSON.parse(fixture("k8s-audit/falco-trace__delete_namespace_foo.json")) as Record<string, unknown>;
    small.auditID = "5a4c9f2e-spill-test-0000-000000000002";
    const res = await SELF.fetch("http://tributary/v1/events/k8s-audit", {
      method: "POST",
      headers: { "content-type": "application/x-ndjson" },
      body: `${JSON.stringify(ev)}\n${JSON.stringify(small)}`,
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: 2, rejected: 0, errors: [] });
    const found = await waitFor(async () => {
      const events = (await readArchive(env.ARCHIVE, "ocsf/class_uid=6003/")).flatMap((o) => o.events);
      const ours = events.filter((e) => JSON.stringify((e.api as { request?: unknown } | undefined)?.request ?? "").includes("spill-test"));
      return ours.length >= 2 ? ours : undefined;
    }, 150, 100);
    expect(found).toHaveLength(2);
    const big = found.find((e) => JSON.stringify(e).includes("q".repeat(1000)));
    expect(big).toBeDefined();
    expect(JSON.stringify(big).length).toBeGreaterThan(300_000);
  });
});
