// The Worker as `npm start` runs it (wrangler's dev server: workerd, the local queues and R2, the
// Durable Objects), started in this process through wrangler's unstable_startWorker on a free
// 127.0.0.1 port, with its state in a temporary folder. Unlike `wrangler dev` it does not watch the
// sources: an edit made while a test runs would rebuild the Worker and drop the in-memory queues.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unstable_startWorker } from "wrangler";
import { freePort } from "../../bench/wrangler";

export interface LocalWorker {
  url: string;
  stop(): Promise<void>;
}

/** Starts the Worker with TRIBUTARY_DEV=true plus `vars` (e.g. TRIBUTARY_CONFIG), and waits (bounded) until /healthz answers. */
export async function startLocalWorker(vars: Record<string, string> = {}): Promise<LocalWorker> {
  const persist = mkdtempSync(join(tmpdir(), "tributary-local-"));
  const bindings = Object.fromEntries(Object.entries({ TRIBUTARY_DEV: "true", ...vars }).map(([k, v]) => [k, { type: "plain_text" as const, value: v }]));
  const worker = await unstable_startWorker({
    config: "wrangler.toml",
    bindings,
    sendMetrics: false,
    dev: { server: { hostname: "127.0.0.1", port: await freePort() }, inspector: false, persist, watch: false, liveReload: false, logLevel: "warn" },
  });
  const stop = async () => {
    await worker.dispose();
    rmSync(persist, { recursive: true, force: true });
  };
  try {
    const url = (await worker.url).origin;
    for (let i = 0; ; i++) {
      const ok = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5_000) }).then((r) => r.ok, () => false);
      if (ok) return { url, stop };
      if (i >= 60) throw new Error(`the local Worker at ${url} did not answer /healthz`);
      await new Promise((r) => setTimeout(r, 500));
    }
  } catch (e) {
    await stop();
    throw e;
  }
}
