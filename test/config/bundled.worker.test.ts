// The bundled config file (tributary.config.json, a JSON module imported by src/config/load.ts) is the
// config the Worker runs with when TRIBUTARY_CONFIG is empty; a set TRIBUTARY_CONFIG wins. Inside
// workerd: the module is replaced with vi.mock (the committed file is {}), then GET /metrics, whose
// config gauges show which config answered.
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { parsePrometheus, sampleValue } from "../ops/prom";

vi.mock("../../tributary.config.json", () => ({
  default: {
    metrics: { public: true },
    sinks: { hook: { type: "splunk_hec", url: "https://splunk.example.com:8088", token: { env: "HEC_TOKEN" } } },
    routes: [{ match: { source: "falco" }, sinks: ["hook"] }, { match: { source: "tetragon" }, sinks: ["hook"] }],
  },
}));

async function metrics(config: string): Promise<{ status: number; text: string }> {
  const e = { ...env, TRIBUTARY_CONFIG: config, TRIBUTARY_DEV: "false" } as unknown as Env;
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request("http://tributary/metrics"), e, ctx);
  await waitOnExecutionContext(ctx);
  return { status: res.status, text: await res.text() };
}

describe("the bundled tributary.config.json", () => {
  it("is the Worker's config when TRIBUTARY_CONFIG is empty", async () => {
    const res = await metrics("");
    expect(res.status, res.text).toBe(200); // metrics.public comes from the file
    const prom = parsePrometheus(res.text);
    expect(sampleValue(prom, "tributary_routes_configured")).toBe(2);
    expect(sampleValue(prom, "tributary_sinks_configured")).toBe(2);
  });

  it("gives way to a set TRIBUTARY_CONFIG", async () => {
    const own = await metrics(JSON.stringify({ metrics: { public: true } }));
    expect(own.status).toBe(200);
    const prom = parsePrometheus(own.text);
    expect(sampleValue(prom, "tributary_routes_configured")).toBe(0);
    expect(sampleValue(prom, "tributary_sinks_configured")).toBe(1);
    // "{}" is set too: defaults (metrics closed outside development), not the file
    expect((await metrics("{}")).status).toBe(403);
  });
});
