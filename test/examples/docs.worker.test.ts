// The snippets in the set-up docs stay true: every config JSON block validates with the config schema,
// every YAML/TOML block parses, and every Tributary URL in them (Falco http_output.url, Falcosidekick
// webhook.address, kubeconfig server, Vector http sink uri) names a route the Worker serves.
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { parse as parseToml } from "smol-toml";
import config from "../../docs/config.md?raw";
import falco from "../../docs/falco.md?raw";
import sidekick from "../../docs/falcosidekick.md?raw";
import vector from "../../docs/vector.md?raw";
import audit from "../../docs/k8s-audit-webhook.md?raw";
import cloudtrail from "../../docs/cloudtrail.md?raw";
import { configSchema } from "../../src/config/schema";
import { formatIssues } from "../../src/config/load";
import { call } from "../routes/helpers";

const DOCS: Record<string, string> = { "config.md": config, "falco.md": falco, "falcosidekick.md": sidekick, "vector.md": vector, "k8s-audit-webhook.md": audit, "cloudtrail.md": cloudtrail };

function blocks(text: string, lang: string): string[] {
  const out: string[] = [];
  const re = new RegExp("^( *)```" + lang + "\\n([\\s\\S]*?)^\\1```", "gm");
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m[2]!.replace(new RegExp(`^${m[1]}`, "gm"), ""));
  return out;
}

const CONFIG_KEYS = new Set(Object.keys(configSchema.shape));

/** Every string value that looks like a Tributary URL, anywhere in a parsed document. */
function urls(v: unknown, out: string[] = []): string[] {
  if (typeof v === "string" && /^https:\/\/([^@/]+@)?tributary\.example\.com\//.test(v)) out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => urls(x, out));
  else if (typeof v === "object" && v !== null) Object.values(v).forEach((x) => urls(x, out));
  return out;
}

async function served(url: string): Promise<number> {
  const u = new URL(url);
  return (await call(new Request(`http://tributary${u.pathname}`, { method: "HEAD" }), {})).status;
}

describe("docs snippets", () => {
  it("config JSON blocks validate with the config schema", () => {
    let checked = 0;
    for (const [name, text] of Object.entries(DOCS)) {
      for (const b of blocks(text, "json")) {
        const v = JSON.parse(b) as Record<string, unknown>;
        if (!Object.keys(v).every((k) => CONFIG_KEYS.has(k))) continue; // e.g. an EventBridge pattern
        const r = configSchema.safeParse(v);
        expect(r.success ? "" : `${name}: ${formatIssues(r.error)}`).toBe("");
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(6);
  });

  it("YAML and TOML blocks parse, and every Tributary URL in them is a route the Worker serves", async () => {
    const found: string[] = [];
    for (const text of Object.values(DOCS)) {
      for (const b of blocks(text, "yaml")) found.push(...urls(parseYaml(b)));
      for (const b of blocks(text, "toml")) found.push(...urls(parseToml(b)));
    }
    expect(found.length).toBeGreaterThanOrEqual(6);
    for (const u of new Set(found)) expect(`${u} -> ${await served(u)}`).toBe(`${u} -> 200`);
    // and a path that is not a route is told apart
    expect(await served("https://tributary.example.com/v1/nowhere")).toBe(404);
  });
});
