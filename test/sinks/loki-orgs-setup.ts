// vitest globalSetup for the workers project (runs in Node): the fake multi-tenant Loki
// (test/support/siem-servers.ts, X-Scope-OrgID required) on 127.0.0.1, with orgs that can be taken down
// for a number of pushes (a 503 with Retry-After, as one Loki org over its limits or unavailable), and
// a control server that tests inside workerd drive over HTTP:
//   POST /<org>   body {"down": n}   the org's next n pushes are answered 503 "org <org> down"
//   GET  /<org>                      { refused, pushes, lines }: 503s given, pushes received, stored lines
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";
import { startLoki } from "../support/siem-servers";

declare module "vitest" {
  export interface ProvidedContext {
    /** The fake Loki's base URL. */
    lokiOrgs: string;
    /** Its control server (see the head of test/sinks/loki-orgs-setup.ts). */
    lokiOrgsControl: string;
  }
}

export interface LokiOrgState {
  refused: number;
  pushes: number;
  lines: string[];
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const downFor = new Map<string, number>();
  const refused = new Map<string, number>();
  const loki = await startLoki({
    requireTenant: true,
    down: (org) => {
      const n = downFor.get(org ?? "") ?? 0;
      if (n <= 0) return undefined;
      downFor.set(org!, n - 1);
      refused.set(org!, (refused.get(org!) ?? 0) + 1);
      return { status: 503, headers: { "retry-after": "20", "content-type": "text/plain" }, body: `org ${org} down\n` };
    },
  });
  const control = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const org = decodeURIComponent((req.url ?? "/").slice(1));
      if (req.method === "POST") downFor.set(org, (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { down: number }).down);
      const state: LokiOrgState = {
        refused: refused.get(org) ?? 0,
        pushes: loki.requests.filter((r) => r.headers["x-scope-orgid"] === org).length,
        lines: loki.entries.filter((e) => e.tenant === org).map((e) => e.line),
      };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(state));
    });
  });
  await new Promise<void>((r) => control.listen(0, "127.0.0.1", r));
  project.provide("lokiOrgs", loki.url);
  project.provide("lokiOrgsControl", `http://127.0.0.1:${(control.address() as AddressInfo).port}`);
  return async () => {
    control.closeAllConnections();
    await new Promise((r) => control.close(r));
    await loki.close();
  };
}
