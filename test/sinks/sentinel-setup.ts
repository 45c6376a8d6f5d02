// vitest globalSetup for the workers project (runs in Node): the fake Entra ID token endpoint and the fake Logs
// Ingestion API (test/support/azure-fakes.ts) on 127.0.0.1 for test/sinks/sentinel.worker.test.ts, and a control
// server that the tests inside workerd drive over HTTP:
//   GET  /        { tokens, requests, records }: token requests, ingestion requests (status, gzip), records stored
//   POST /revoke  every token issued so far is refused from now on (the next ingestion answers 401)
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";
import { startEntra, startLogsIngestion } from "../support/azure-fakes";

declare module "vitest" {
  export interface ProvidedContext {
    /** The fake Entra ID's base URL (the sink's authorityHost). */
    sentinelEntra: string;
    /** The fake ingestion endpoint's base URL. */
    sentinelIngest: string;
    /** Its control server (see the head of test/sinks/sentinel-setup.ts). */
    sentinelControl: string;
    /** What the fakes take: tenant, client id, secret, DCR immutable id, stream. */
    sentinelFake: typeof SENTINEL_FAKE;
  }
}

const SENTINEL_FAKE = {
  tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47",
  clientId: "0b0c0d0e-1a2b-4c3d-8e9f-a0b1c2d3e4f5",
  secret: "Qx8Q~workerd-test-secret.value_0123456789",
  dcr: "dcr-000a00a000a00000a000000aa000a0aa",
  stream: "Custom-TributaryOCSF",
} as const;

export interface SentinelFakeState {
  tokens: number;
  requests: { gzip: boolean; bytes: number }[];
  records: Record<string, unknown>[];
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const entra = await startEntra({ tenant: SENTINEL_FAKE.tenant, clientId: SENTINEL_FAKE.clientId, secret: SENTINEL_FAKE.secret });
  const ingest = await startLogsIngestion({ dcr: SENTINEL_FAKE.dcr, stream: SENTINEL_FAKE.stream, valid: (t) => entra.valid(t) });
  const control = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      if (req.method === "POST" && req.url === "/revoke") for (const t of entra.issued) entra.revoked.add(t);
      const state: SentinelFakeState = {
        tokens: entra.requests.length,
        requests: ingest.requests.map((r) => ({ gzip: r.headers["content-encoding"] === "gzip", bytes: Buffer.byteLength(r.text) })),
        records: ingest.records,
      };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(state));
    });
  });
  await new Promise<void>((r) => control.listen(0, "127.0.0.1", r));
  project.provide("sentinelEntra", entra.url);
  project.provide("sentinelIngest", ingest.url);
  project.provide("sentinelFake", SENTINEL_FAKE);
  project.provide("sentinelControl", `http://127.0.0.1:${(control.address() as AddressInfo).port}`);
  return async () => {
    control.closeAllConnections();
    await new Promise((r) => control.close(r));
    await entra.close();
    await ingest.close();
  };
}
