// npm run check-config -- [--env-file .dev.vars] [config.json ...]
// Validates Tributary config files offline with the Worker's own zod schema: prints OK or every
// error with the field it names, the Worker secrets each config refers to (and, with --env-file,
// whether they are set, and an error for a value a sink would refuse, e.g. a webhook secret that is
// not whsec_ + base64; never printing it), and warnings. Without a file it checks the bundled tributary.config.json.
// A file holds the config JSON (an object, or the JSON string wrangler [vars] holds).
// A TRIBUTARY_CONFIG value set in wrangler.toml [vars] or the --env-file is checked too (it wins over
// the bundled file), and is an error when over the 5 KB a Worker variable or secret may hold; a named
// file that big gets a warning (it can only be the bundled file). A binding the config needs (an r2
// sink's bucket, ENRICH_KV) that wrangler.toml does not declare is an error.
// Exit code: 0 all valid, 1 some invalid, 2 usage error.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse as parseToml } from "smol-toml";
import { CONFIG_FILE } from "../src/config/load";
import { checkConfigText, formatReport, parseEnvFile, varSizeError, type DeclaredBindings } from "../src/ops/check-config";

const USAGE = "usage: npm run check-config -- [--env-file .dev.vars] [config.json ...]   (default: tributary.config.json)";
const root = (name: string) => fileURLToPath(new URL(`../${name}`, import.meta.url));
let envFile = "";
const args = process.argv.slice(2);
let env: Record<string, string> | undefined;
const files: string[] = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  if (a === "--env-file") {
    const f = args[++i];
    if (!f) {
      console.error(USAGE);
      process.exit(2);
    }
    env = parseEnvFile(readFileSync(f, "utf8"));
    envFile = f;
  } else if (a === "-h" || a === "--help") {
    console.log(USAGE);
    process.exit(0);
  } else files.push(a);
}
let bad = 0;

interface WranglerToml {
  vars?: Record<string, unknown>;
  r2_buckets?: Array<{ binding?: unknown }>;
  kv_namespaces?: Array<{ binding?: unknown }>;
}

/** The repo's wrangler.toml, parsed (undefined when missing or unreadable: then bindings go unchecked). */
function readWrangler(): WranglerToml | undefined {
  const toml = root("wrangler.toml");
  if (!existsSync(toml)) return undefined;
  try {
    return parseToml(readFileSync(toml, "utf8")) as WranglerToml;
  } catch (e) {
    console.error(`wrangler.toml: cannot read it: ${(e as Error).message}`);
    bad++;
    return undefined;
  }
}
const wrangler = readWrangler();
const names = (t: Array<{ binding?: unknown }> | undefined) => new Set((t ?? []).map((b) => String(b.binding)));
const declared: DeclaredBindings | undefined = wrangler && { r2_buckets: names(wrangler.r2_buckets), kv_namespaces: names(wrangler.kv_namespaces) };

/** TRIBUTARY_CONFIG values that would win over the bundled file: wrangler.toml [vars], the env file. */
function varValues(): Array<{ where: string; text: string }> {
  const out: Array<{ where: string; text: string }> = [];
  const v0 = wrangler?.vars?.TRIBUTARY_CONFIG;
  if (v0 !== undefined && v0 !== "") out.push({ where: "TRIBUTARY_CONFIG in wrangler.toml [vars]", text: typeof v0 === "string" ? v0 : JSON.stringify(v0) });
  const v = env?.TRIBUTARY_CONFIG;
  if (v !== undefined && v.trim() !== "") out.push({ where: `TRIBUTARY_CONFIG in ${envFile}`, text: v });
  return out;
}

function check(name: string, text: string): void {
  const r = checkConfigText(text, env, declared);
  (r.ok ? process.stdout : process.stderr).write(formatReport(name, r));
  if (!r.ok) bad++;
}

const vars = varValues();
for (const { where, text } of vars) {
  const tooBig = varSizeError(text, where);
  if (tooBig) {
    console.error(`error: ${tooBig}`);
    bad++;
  } else check(where, text);
}
if (files.length === 0) {
  if (vars.length) console.log(`note: ${vars.map((v) => v.where).join(" and ")} is set: the Worker uses it, not ${CONFIG_FILE}`);
  files.push(CONFIG_FILE);
}
for (const file of files) {
  let text: string;
  try {
    text = readFileSync(file === CONFIG_FILE && !existsSync(file) ? root(CONFIG_FILE) : file, "utf8");
  } catch (e) {
    console.error(`${file}: cannot read: ${(e as Error).message}`);
    bad++;
    continue;
  }
  check(file, text);
  const tooBig = file.endsWith(CONFIG_FILE) ? undefined : varSizeError(text, file);
  if (tooBig) console.log(`  warning: ${tooBig}`);
}
process.exit(bad > 0 ? 1 : 0);
