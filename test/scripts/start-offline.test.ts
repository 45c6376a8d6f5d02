// README: `npm start` needs no Cloudflare account and, with the default config, no network; R2 and
// Durable Object state persist under .wrangler/state, the local Queues are in memory. This checks
// the `start` script sets what turns wrangler's network calls off, and that the pinned wrangler and
// miniflare still read those variables and still keep local queues in memory (a version bump that
// renames one fails here). Measured once with strace -e connect: with these variables wrangler dev
// only connects to 127.0.0.1; without them it resolved and reached outside hosts.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { parse as parseToml } from "smol-toml";
import { OFFLINE_ENV } from "../../bench/wrangler";

const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { scripts: Record<string, string> };
const wranglerCli = readFileSync("node_modules/wrangler/wrangler-dist/cli.js", "utf8");
const miniflare = readFileSync("node_modules/miniflare/dist/src/index.js", "utf8");

/** NAME=value words before the command, and the command's words. */
function split(script: string): { env: Record<string, string>; argv: string[] } {
  const words = script.split(/\s+/);
  const env: Record<string, string> = {};
  let i = 0;
  for (; i < words.length && /^[A-Z_]+=/.test(words[i]!); i++) {
    const [k, v] = words[i]!.split("=") as [string, string];
    env[k] = v;
  }
  return { env, argv: words.slice(i) };
}

describe("npm start runs offline", () => {
  const start = split(pkg.scripts.start!);

  it("sets the variables that stop usage metrics, the cf-object download and the update check, on 127.0.0.1:8787 in dev mode", () => {
    expect(start.env).toEqual({ WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" });
    expect(start.argv.join(" ")).toBe("wrangler dev --var TRIBUTARY_DEV:true");
    // the address is wrangler.toml's [dev] section, so `npm start -- --port 8797` overrides the port (a second
    // --port in the script would make wrangler refuse: "expects a single value")
    const toml = parseToml(readFileSync("wrangler.toml", "utf8")) as { dev?: { ip?: string; port?: number } };
    expect(toml.dev).toEqual({ ip: "127.0.0.1", port: 8787 });
    expect(OFFLINE_ENV).toEqual(start.env); // the benchmarks run wrangler dev the same way
  });

  it("the pinned wrangler and miniflare read those variables (and keep local queues in memory)", () => {
    // miniflare: CLOUDFLARE_CF_FETCH_ENABLED=false -> the built-in cf object, no fetch of workers.cloudflare.com/cf.json
    expect(miniflare).toContain('CF_FETCH_ENABLED_ENV_VAR = "CLOUDFLARE_CF_FETCH_ENABLED"');
    expect(miniflare).toMatch(/return envValue\.toLowerCase\(\) === "false";/);
    // wrangler: the banner is where `dev` checks the npm registry for a newer version
    expect(wranglerCli).toMatch(/async function printWranglerBanner\(performUpdateCheck = true\) \{\s+if \(getWranglerHideBanner\(\)\) \{\s+return;/);
    expect(wranglerCli).toMatch(/variableName: "WRANGLER_HIDE_BANNER"/);
    expect(wranglerCli).toMatch(/variableName: "WRANGLER_SEND_METRICS"/);
    // wrangler dev persists under .wrangler/state unless told otherwise; the queue broker does not persist
    expect(wranglerCli).toContain('".wrangler/state"');
    expect(miniflare).toMatch(/Queue broker is in-memory only[^\n]*\n\s+durableObjectStorage: \{ inMemory: kVoid \}/);
  });
});
