// The `metrics` section of the Tributary config (docs/operate.md): who may read GET /metrics, an
// opt-in tenant label, and how often an isolate sends its counters to the Metrics Durable Object.
import { z } from "zod";
import { secretRef } from "./secret";

export const metricsSchema = z
  .object({
    /** Bearer token Prometheus sends (`authorization: { credentials: ... }`); `{ "env": "NAME" }`. */
    token: secretRef.optional(),
    /** Serve /metrics without a token (e.g. behind Cloudflare Access or on a private route). */
    public: z.boolean().default(false),
    /** Add a `tenant` label (the ingest credential's tenant) to the records_* counters. */
    tenantLabels: z.boolean().default(false),
    /** An isolate sends its counters to the store at most this often (0: on every request). */
    flushSeconds: z.number().int().min(0).max(300).default(10),
  })
  .strict();

export type MetricsConfig = z.infer<typeof metricsSchema>;
