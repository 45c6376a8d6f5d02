import { defineConfig } from "vitest/config";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";

// Two projects:
// - "unit": the pure core (normalize, enrich, route, sink encoders) and protocol tests in Node;
// - "workers": *.worker.test.ts run inside workerd (HTTP -> queue -> R2 round trips).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          environment: "node",
          include: ["test/**/*.test.ts"],
          exclude: ["test/**/*.worker.test.ts", "node_modules/**"],
          // s3rver + fault-injecting gates on 127.0.0.1 (endpoints via inject())
          globalSetup: ["./test/support/s3rver.ts"],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            main: "./src/index.ts",
            miniflare: {
              bindings: { TRIBUTARY_DEV: "true" },
              // optional binding (not in wrangler.toml): inventory.kvKey reads it (src/enrich/load.ts)
              kvNamespaces: ["ENRICH_KV"],
            },
          }),
        ],
        test: {
          name: "workers",
          include: ["test/**/*.worker.test.ts"],
          globalSetup: ["./test/support/s3rver.ts", "./test/noise/webhook-setup.ts", "./test/sinks/loki-orgs-setup.ts", "./test/sinks/sentinel-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
