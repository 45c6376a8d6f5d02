// Every fenced example in docs/*.md and README.md stays true, so an operator can paste it:
// - JSON (and JSONC) blocks parse, and each is classified: a whole config (top-level keys of the config
//   schema) loads with parseConfig (drivers' own schemas included); a fragment is validated with the
//   schema it belongs to (a sink entry, a routing rule, an enrich section); an input sample is accepted
//   by the Worker; an EventBridge pattern matches what the CloudTrail route takes. A block that is none of
//   these fails until it is classified, or listed in NOT_CONFIG (doc#index, with a reason);
// - YAML and TOML blocks parse and are recognized (Falco, Falcosidekick, kubeconfig, Vector, wrangler,
//   Prometheus, OpenTelemetry Collector), and every Tributary URL in them is a route the Worker serves;
//   a TRIBUTARY_CONFIG inside wrangler [vars] loads as a config;
// - shell blocks: every curl to a Tributary URL names a route the Worker serves for its method, every
//   `npm run X` a script in package.json, every `npx wrangler` command a bucket, queue or secret the
//   deployment has, and every repo path (a fixture, an example) exists; a sample answer shown under a
//   curl (`# HTTP/2 202`, `# {...}`) is what the Worker answers that request;
// - PromQL blocks name metrics (and labels) the Worker exports; any other language fails until known.
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { parse as parseToml } from "smol-toml";
import type { ZodError } from "zod";
import { configSchema } from "../../src/config/schema";
import { issueLines, parseConfig } from "../../src/config/load";
import { sinksSchema } from "../../src/config/sinks";
import { routeSchema } from "../../src/config/routing";
import { enrichSchema } from "../../src/config/enrich";
import { detectKind } from "../../src/normalize/detect";
import { get, isObject, type JsonObject } from "../../src/normalize/json";
import { ALL_METRICS } from "../../src/ops/metrics";
import { SENTINEL_COLUMNS } from "../../src/sinks/sentinel";
import pkg from "../../package.json";
import wranglerToml from "../../wrangler.toml?raw";
import { call } from "../routes/helpers";
import { fixture } from "../support/fixtures";

/** A glob key (relative to this file) as a repo path ("test/fixtures/...", "README.md"). */
const repoPath = (key: string): string => new URL(key, "file:///repo/test/examples/").pathname.slice("/repo/".length);
/** Repo files a shell example may name (keys only: nothing is loaded). */
const REPO_FILES = new Set(Object.keys(import.meta.glob(["../../test/fixtures/**/*", "../../examples/**/*", "../../scripts/**/*", "../../docs/**/*"])).map(repoPath));
const RAW = import.meta.glob(["../../docs/*.md", "../../README.md"], { query: "?raw", import: "default", eager: true }) as Record<string, string>;
/** Every doc by its repo path ("docs/config.md", "README.md"). */
const DOCS: Record<string, string> = Object.fromEntries(Object.entries(RAW).map(([k, v]) => [repoPath(k), v]));

interface Block {
  doc: string;
  /** Position among all fenced blocks of the doc, from 0. */
  index: number;
  lang: string;
  body: string;
}

/** Every fenced block of a doc (indented ones too, e.g. inside a list), with the indentation removed. */
function fences(doc: string, text: string): Block[] {
  const out: Block[] = [];
  const re = /^( *)```(\S*)\n([\s\S]*?)^\1```/gm;
  for (let m = re.exec(text), i = 0; m; m = re.exec(text), i++) {
    out.push({ doc, index: i, lang: m[2]!, body: m[3]!.replace(new RegExp(`^${m[1]}`, "gm"), "") });
  }
  return out;
}

const ALL: Block[] = Object.entries(DOCS).flatMap(([doc, text]) => fences(doc, text));
const where = (b: Block): string => `${b.doc}#${b.index}`;
const of = (lang: string | string[]): Block[] => ALL.filter((b) => ([] as string[]).concat(lang).includes(b.lang));

/**
 * JSON blocks that are intentionally not config, input or a fragment of either: what Tributary writes
 * or answers. Keyed by doc#index; `starts` pins the block, so a block moved or inserted before it fails.
 */
const NOT_CONFIG: Record<string, { starts: string; reason: string }> = {
  "docs/ingest.md#3": { starts: '{"reason": "invalid JSON', reason: "a quarantine object line Tributary writes (src/deliver/quarantine.ts), not something to paste" },
  "docs/operate.md#2": { starts: '{"ts":', reason: "a structured log line the Worker prints" },
  "docs/operate.md#4": { starts: '{\n  "ok": false', reason: "the answer of POST /v1/test (an HTTP answer shape)" },
  "docs/routing.md#0": { starts: '{\n  "sinks": {\n    "<name>"', reason: "the outline of the routing keys, with <placeholders> and comments" },
};

/** JSONC: comments outside strings removed. */
function stripComments(text: string): string {
  return text.replace(/("(?:\\.|[^"\\])*")|\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, (_m, s: string | undefined) => s ?? "");
}

const CONFIG_KEYS = new Set(Object.keys(configSchema.shape));
const ENRICH_KEYS = new Set(Object.keys(enrichSchema.shape));

type Check = (v: JsonObject) => Promise<string[]> | string[];

function zodErrors(r: { error?: ZodError }): string[] {
  return r.error ? issueLines(r.error) : [];
}

function loads(v: unknown): string[] {
  try {
    parseConfig(v);
    return [];
  } catch (e) {
    return [(e as Error).message];
  }
}

/** POSTs a body to the Worker (local development: no credentials needed) and says what it refused. */
async function accepted(path: string, body: unknown): Promise<string[]> {
  const r = await call(new Request(`http://tributary${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }), {});
  if (r.status !== 202 || r.body.rejected !== 0 || r.body.accepted < 1) return [`POST ${path} -> ${r.status} ${JSON.stringify(r.body)}`];
  return [];
}

/** An EventBridge rule pattern for CloudTrail: each detail-type it lets through is accepted by /v1/events/cloudtrail. */
const eventBridgePattern: Check = async (v) => {
  const out: string[] = [];
  const sample = JSON.parse(fixture("cloudtrail/eventbridge__s3-createbucket__aws-cwe-docs.json")) as Record<string, unknown>;
  const types = v["detail-type"] as unknown[];
  if (!types.includes(sample["detail-type"])) out.push(`the pattern lets no ${String(sample["detail-type"])} event through`);
  for (const t of types) out.push(...(await accepted("/v1/events/cloudtrail", { ...sample, "detail-type": t })));
  return out;
};

/** What a JSON block is, by its shape, and how it is checked. The first that fits wins. */
const JSON_KINDS: { kind: string; fits: (v: JsonObject) => boolean; check: Check }[] = [
  { kind: "config", fits: (v) => Object.keys(v).every((k) => CONFIG_KEYS.has(k)), check: loads },
  { kind: "sink", fits: (v) => typeof v.type === "string", check: (v) => zodErrors(sinksSchema.safeParse({ doc: v })) },
  { kind: "route", fits: (v) => Array.isArray(v.sinks), check: (v) => zodErrors(routeSchema.safeParse(v)) },
  { kind: "enrich section", fits: (v) => Object.keys(v).every((k) => ENRICH_KEYS.has(k)), check: (v) => zodErrors(enrichSchema.safeParse(v)) },
  { kind: "EventBridge pattern", fits: (v) => Array.isArray(v["detail-type"]), check: eventBridgePattern },
  { kind: "input sample", fits: (v) => detectKind(v) !== undefined || Array.isArray(v.Records) || Array.isArray(v.items), check: (v) => accepted("/v1/events", v) },
  // the Sentinel sink's custom table and data collection rule (docs/sinks.md): they declare the columns its records fill
  { kind: "Log Analytics table", fits: (v) => isObject(get(v, "properties", "schema")), check: (v) => sentinelColumns(get(v, "properties", "schema", "columns")) },
  { kind: "data collection rule", fits: (v) => isObject(get(v, "properties", "streamDeclarations")), check: (v) => Object.values(get(v, "properties", "streamDeclarations") as JsonObject).flatMap((s) => sentinelColumns(get(s, "columns"))) },
];

/** Problems of a table's or stream's column list against SENTINEL_COLUMNS (type names in any case, as Azure takes them). */
function sentinelColumns(cols: unknown): string[] {
  const got = Array.isArray(cols) ? cols.map((c) => `${String(get(c, "name"))}:${String(get(c, "type")).toLowerCase()}`) : [];
  const want = Object.entries(SENTINEL_COLUMNS).map(([n, t]) => `${n}:${t}`);
  return got.join(" ") === want.join(" ") ? [] : ["its columns are not SENTINEL_COLUMNS (src/sinks/sentinel.ts), in order"];
}

/** Every string value that looks like a Tributary URL, anywhere in a parsed document. */
function urls(v: unknown, out: string[] = []): string[] {
  if (typeof v === "string" && TRIBUTARY_URL.test(v)) out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => urls(x, out));
  else if (isObject(v)) Object.values(v).forEach((x) => urls(x, out));
  return out;
}
/** The production example host (credentials allowed, as Falco's URL has them) or `npm start`'s address. */
const TRIBUTARY_URL = /^https?:\/\/(([^@/\s]+@)?tributary\.example\.com|127\.0\.0\.1:8787)(\/|$)/;

/** Status of HEAD <url>'s path on the Worker: 200 for a route it serves. */
async function served(url: string): Promise<number> {
  const u = new URL(url);
  return (await call(new Request(`http://tributary${u.pathname}`, { method: "HEAD" }), {})).status;
}

/** What a YAML or TOML block configures, recognized by its shape; `check` says what is wrong with it. */
const FILE_KINDS: { kind: string; fits: (v: JsonObject) => boolean; check: Check }[] = [
  { kind: "Falco", fits: (v) => isObject(v.http_output) || isObject(get(v, "falco", "http_output")), check: (v) => ((isObject(v.falco) ? v.falco : v).json_output === true ? [] : ["json_output must be true"]) },
  { kind: "Falcosidekick", fits: (v) => isObject(v.webhook), check: (v) => (urls(get(v, "webhook", "address")).length === 1 ? [] : ["webhook.address is not a Tributary URL"]) },
  { kind: "kubeconfig", fits: (v) => v.kind === "Config", check: (v) => ((v.clusters as unknown[]).length > 0 && urls(v.clusters).length === (v.clusters as unknown[]).length ? [] : ["a cluster server is not a Tributary URL"]) },
  { kind: "Vector", fits: (v) => isObject(v.sinks) && isObject(v.sources), check: (v) => Object.entries(v.sinks as Record<string, Record<string, unknown>>).flatMap(([n, s]) => (s.type === "http" && urls(s.uri).length === 1 ? [] : [`sinks.${n}: not an http sink to Tributary`])) },
  { kind: "wrangler [vars]", fits: (v) => isObject(v.vars), check: (v) => loads(get(v, "vars", "TRIBUTARY_CONFIG")) },
  {
    kind: "Prometheus",
    fits: (v) => Array.isArray(v.scrape_configs),
    check: async (v) => {
      const out: string[] = [];
      for (const job of v.scrape_configs as Record<string, unknown>[]) {
        const targets = (job.static_configs as { targets: string[] }[]).flatMap((s) => s.targets);
        for (const t of targets) {
          const url = `${String(job.scheme ?? "http")}://${t}${String(job.metrics_path ?? "/metrics")}`;
          if (!TRIBUTARY_URL.test(url) || (await served(url)) !== 200) out.push(`${url} is not Tributary's metrics endpoint`);
        }
      }
      return out;
    },
  },
  {
    kind: "OpenTelemetry Collector",
    fits: (v) => isObject(v.receivers) && isObject(v.exporters),
    // the otlp_logs sink sends OTLP/HTTP logs: the collector needs an otlp receiver with http in a logs pipeline
    check: (v) => (isObject(get(v, "receivers", "otlp", "protocols", "http")) && (get(v, "service", "pipelines", "logs", "receivers") as unknown[] | undefined)?.includes("otlp") ? [] : ["no otlp http receiver in a logs pipeline"]),
  },
];

async function classify(b: Block, v: unknown, kinds: typeof JSON_KINDS): Promise<string[]> {
  if (!isObject(v)) return [`${where(b)}: not an object`];
  const k = kinds.find((x) => x.fits(v));
  if (!k) return [`${where(b)}: unclassified ${b.lang} block: make it a config, sink, route or input sample, teach this test its kind, or list it in NOT_CONFIG with a reason`];
  return (await k.check(v)).map((e) => `${where(b)} (${k.kind}): ${e}`);
}

describe("docs: every JSON, YAML and TOML example", () => {
  it("JSON and JSONC blocks parse and are a valid config, a valid fragment of one, an accepted input, or listed as not config", async () => {
    const problems: string[] = [];
    const kinds = new Map<string, number>();
    const listed = new Set<string>();
    for (const b of of(["json", "jsonc"])) {
      const text = b.lang === "jsonc" ? stripComments(b.body) : b.body;
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch (e) {
        problems.push(`${where(b)}: not JSON: ${(e as Error).message}`);
        continue;
      }
      const nc = NOT_CONFIG[where(b)];
      if (nc) {
        listed.add(where(b));
        if (!b.body.startsWith(nc.starts)) problems.push(`${where(b)}: NOT_CONFIG expects a block starting ${JSON.stringify(nc.starts)}`);
        continue;
      }
      problems.push(...(await classify(b, v, JSON_KINDS)));
      const k = isObject(v) ? JSON_KINDS.find((x) => x.fits(v))?.kind : undefined;
      if (k) kinds.set(k, (kinds.get(k) ?? 0) + 1);
    }
    for (const k of Object.keys(NOT_CONFIG)) if (!listed.has(k)) problems.push(`NOT_CONFIG lists ${k}, which is no JSON block`);
    expect(problems).toEqual([]);
    expect(kinds.get("config")).toBeGreaterThanOrEqual(20);
    expect(kinds.get("EventBridge pattern")).toBe(1);
  });

  it("YAML and TOML blocks parse, are recognized, and every Tributary URL in them is a route the Worker serves", async () => {
    const problems: string[] = [];
    const found: string[] = [];
    const blocks = of(["yaml", "toml"]);
    for (const b of blocks) {
      let v: unknown;
      try {
        v = b.lang === "yaml" ? parseYaml(b.body) : parseToml(b.body);
      } catch (e) {
        problems.push(`${where(b)}: not ${b.lang}: ${(e as Error).message}`);
        continue;
      }
      problems.push(...(await classify(b, v, FILE_KINDS)));
      found.push(...urls(v));
    }
    expect(problems).toEqual([]);
    expect(blocks.length).toBeGreaterThanOrEqual(10);
    expect(found.length).toBeGreaterThanOrEqual(7);
    for (const u of new Set(found)) expect(`${u} -> ${await served(u)}`).toBe(`${u} -> 200`);
    // and a path that is not a route is told apart
    expect(await served("https://tributary.example.com/v1/nowhere")).toBe(404);
  });

  it("a block the test does not know fails: an unknown JSON shape, JSON that does not load, an unknown YAML file", async () => {
    const b = { doc: "docs/x.md", index: 0, lang: "json", body: "" };
    expect(await classify(b, { status: "ok" }, JSON_KINDS)).toEqual([expect.stringContaining("docs/x.md#0: unclassified json block")]);
    expect(await classify(b, { routes: [{ sinks: ["nowhere"] }] }, JSON_KINDS)).toEqual([expect.stringContaining('unknown sink "nowhere"')]);
    expect(await classify(b, { type: "splunk_hec", "...": "..." }, JSON_KINDS)).toEqual(expect.arrayContaining([expect.stringContaining("docs/x.md#0 (sink): doc.url")]));
    expect(await classify({ ...b, lang: "yaml" }, { apiVersion: "v1", kind: "Pod" }, FILE_KINDS)).toEqual([expect.stringContaining("unclassified yaml block")]);
    expect(stripComments('{ "a": "http://x//y", /* c */ "b": 1 // d\n}')).toBe('{ "a": "http://x//y",  "b": 1 \n}');
  });
});

/** The simple commands of a shell block (continuations joined, comments dropped, split at | & ; and newlines), as unquoted words. */
function commands(body: string): string[][] {
  const text = body.replace(/\\\n/g, " ");
  const out: string[][] = [];
  let cmd: string[] = [];
  let word = "";
  let inWord = false;
  let quote: string | undefined;
  const endWord = () => {
    if (inWord) cmd.push(word);
    word = "";
    inWord = false;
  };
  const endCmd = () => {
    endWord();
    if (cmd.length) out.push(cmd);
    cmd = [];
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === "#" && !inWord) {
      i = text.indexOf("\n", i);
      if (i < 0) i = text.length;
      endCmd();
    } else if ("\n;|&".includes(c)) endCmd();
    else if (c === " " || c === "\t") endWord();
    else {
      word += c;
      inWord = true;
    }
  }
  endCmd();
  return out;
}

/** The Tributary URLs in a command's words (`--flag=URL`, `NAME=URL` included). */
const urlsIn = (words: string[]): string[] => words.flatMap((w) => w.match(/https?:\/\/\S+/g) ?? []).filter((u) => TRIBUTARY_URL.test(u));

/** The method a curl command uses. */
function curlMethod(words: string[]): string {
  const x = words.findIndex((w) => w === "-X" || w === "--request");
  if (x >= 0) return words[x + 1]!;
  if (words.some((w) => w === "-I" || w === "--head")) return "HEAD";
  return words.some((w) => /^(-d|-F|--data(-binary|-raw|-urlencode)?|--form)$/.test(w)) ? "POST" : "GET";
}

/** Whether the Worker serves a method on a URL's path: GET/HEAD answer 200; a POST route answers 401 without credentials. */
async function servesMethod(method: string, url: string): Promise<string[]> {
  if (method === "GET" || method === "HEAD") {
    const s = await served(url);
    return s === 200 ? [] : [`${method} ${url} -> ${s}`];
  }
  const u = new URL(url);
  const r = await call(new Request(`http://tributary${u.pathname}${u.search}`, { method, headers: { "content-type": "application/json" }, body: "{}" }), { dev: false });
  return r.status === 401 ? [] : [`${method} ${url} without credentials -> ${r.status}, not 401: no such route`];
}

const wrangler = parseToml(wranglerToml) as { r2_buckets: { bucket_name: string }[]; queues: { producers: { queue: string }[]; consumers: { queue: string; dead_letter_queue?: string }[] }; vars: Record<string, string> };
const BUCKETS = new Set(wrangler.r2_buckets.map((b) => b.bucket_name));
const QUEUES = new Set([...wrangler.queues.producers.map((q) => q.queue), ...wrangler.queues.consumers.flatMap((q) => [q.queue, q.dead_letter_queue ?? q.queue])]);
/** Secrets and variables a deployment may set: those the docs' configs refer to ({"env": "NAME"}), wrangler's [vars], and the placeholder NAME. */
const SECRETS = new Set(["NAME", ...Object.keys(wrangler.vars), ...Object.values(DOCS).flatMap((t) => [...t.matchAll(/"env":\s*"([A-Za-z0-9_]+)"/g)].map((m) => m[1]!))]);
const SCRIPTS: Record<string, string> = pkg.scripts;
const SCRIPT_SOURCES = Object.fromEntries(Object.entries(import.meta.glob("../../scripts/*.ts", { query: "?raw", import: "default", eager: true }) as Record<string, string>).map(([k, v]) => [repoPath(k), v]));

/** What is wrong with `npm run <name> -- <args>`: the script must exist; its own flags and subcommand must be ones its source reads. */
function npmRunProblems(name: string | undefined, args: string[]): string[] {
  if (!name || !(name in SCRIPTS)) return [`npm run ${name}: no such script in package.json`];
  const file = /\b(scripts\/[\w-]+\.ts)\b/.exec(SCRIPTS[name]!)?.[1];
  const source = file ? SCRIPT_SOURCES[file] : undefined;
  if (source === undefined || args[0] !== "--") return [];
  const out: string[] = [];
  const words = args.slice(1).map((w) => w.replace(/^\[|\]$/g, ""));
  for (const w of words) if (/^--[a-z-]+$/.test(w) && !source.includes(`"${w}"`)) out.push(`npm run ${name}: ${file} reads no ${w}`);
  const sub = words.find((w) => !w.startsWith("-"));
  if (sub && /^[a-z]+$/.test(sub) && !source.includes(`"${sub}"`)) out.push(`npm run ${name}: ${file} has no subcommand ${sub}`);
  return out;
}

/** What is wrong with the wrangler command `npx wrangler <args>`. */
function wranglerProblems(args: string[]): string[] {
  const [a, b, c, d] = args;
  if (a === "deploy" || a === "tail" || a === "types" || a === "dev") return [];
  if (a === "secret" && b === "put") return c && SECRETS.has(c) ? [] : [`secret ${c}: no config in the docs refers to it`];
  if (a === "r2" && b === "bucket" && c === "create") return d && BUCKETS.has(d) ? [] : [`bucket ${d} is not in wrangler.toml`];
  if (a === "queues" && b === "create") return c && QUEUES.has(c) ? [] : [`queue ${c} is not in wrangler.toml`];
  return [`unknown wrangler command: ${args.join(" ")}`];
}

/** What is wrong with one shell command of a doc. */
async function shellProblems(words: string[]): Promise<string[]> {
  const out: string[] = [];
  const [cmd, sub, arg] = words;
  if (cmd === "npm") {
    if (sub === "run") out.push(...npmRunProblems(arg, words.slice(3)));
    else if (sub !== "ci" && !(sub && sub in SCRIPTS)) out.push(`npm ${sub}: no such script`);
  }
  if (cmd === "npx") {
    if (sub === "wrangler") out.push(...wranglerProblems(words.slice(2)));
    else out.push(`npx ${sub}: not a tool of the project`);
  }
  const method = cmd === "curl" ? curlMethod(words) : "HEAD";
  for (const u of urlsIn(words)) out.push(...(await servesMethod(method, u)));
  for (const w of words) {
    const path = w.replace(/^@/, "").replace(/\/$/, "");
    if (/^(test|examples|scripts|docs)\//.test(path) && !REPO_FILES.has(path) && ![...REPO_FILES].some((f) => f.startsWith(`${path}/`))) out.push(`${w}: no such file in the repo`);
  }
  return out;
}

interface SampleAnswer {
  where: string;
  command: string[];
  status?: number;
  body?: unknown;
}

/** curl commands followed by the answer they show (`# HTTP/2 202` and a `# {...}` line, or a `# {...}` comment on the command's last line). */
function sampleAnswers(b: Block): SampleAnswer[] {
  const out: SampleAnswer[] = [];
  const lines = b.body.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith("curl ")) continue;
    let text = lines[i]!;
    while (text.endsWith("\\") && i + 1 < lines.length) text += `\n${lines[++i]!}`;
    const a: SampleAnswer = { where: where(b), command: commands(text)[0]! };
    const inline = /#\s*(\{.*\})\s*$/.exec(text);
    if (inline) a.body = JSON.parse(inline[1]!);
    for (; i + 1 < lines.length && lines[i + 1]!.startsWith("# "); i++) {
      const next = lines[i + 1]!;
      const status = /^# HTTP\/[\d.]+ (\d{3})/.exec(next);
      if (status) a.status = Number(status[1]);
      else if (/^# \{/.test(next)) a.body = JSON.parse(next.slice(2));
    }
    if (a.status !== undefined || a.body !== undefined) out.push(a);
  }
  return out;
}

/** What the Worker answers the sample's curl in local development (no credentials; the examples test checks those). */
async function answer(words: string[]): Promise<{ status: number; body: unknown }> {
  const url = new URL(urlsIn(words)[0]!);
  const headers: Record<string, string> = {};
  for (let i = 0; i < words.length; i++) {
    if (words[i] !== "-H") continue;
    const [k, ...v] = words[i + 1]!.split(":");
    if (k!.toLowerCase() !== "authorization") headers[k!.toLowerCase()] = v.join(":").trim();
  }
  const data = words.findIndex((w) => w === "--data" || w === "-d" || w === "--data-binary");
  const body = data >= 0 ? fixture(words[data + 1]!.replace(/^@test\/fixtures\//, "")) : null;
  const r = await call(new Request(`http://tributary${url.pathname}`, { method: curlMethod(words), headers, body }), {});
  return { status: r.status, body: r.body };
}

/** Metric families by every series name they expose (a histogram's _bucket, _sum and _count too). */
const SERIES = new Map(ALL_METRICS.flatMap((m) => (m.type === "histogram" ? ["_bucket", "_sum", "_count"] : [""]).map((s) => [`${m.name}${s}`, m] as const)));

/** What is wrong with a PromQL block: metrics the Worker does not export, selector labels they do not have. */
function promqlProblems(body: string): string[] {
  const out: string[] = [];
  for (const line of body.split("\n").filter((l) => !l.trim().startsWith("#"))) {
    for (const m of line.matchAll(/\b(tributary_[a-z0-9_]+)(\{([^}]*)\})?/g)) {
      const def = SERIES.get(m[1]!);
      if (!def) {
        out.push(`${m[1]}: not a metric the Worker exports`);
        continue;
      }
      const labels = [...(m[3] ?? "").matchAll(/([a-z_]+)\s*[=!~]/g)].map((x) => x[1]!);
      for (const l of labels) if (!(def.labels as readonly string[]).includes(l) && l !== "le") out.push(`${m[1]}{${l}}: no such label`);
    }
  }
  return out;
}

/**
 * Configs that are wrong the ways the docs' sample error messages show: every "invalid config: ..." line
 * in a text block must be made of issues these produce, in the runtime's own words.
 */
const BAD_CONFIGS: unknown[] = [
  { sinks: { siem: { type: "splunk_hec", url: "not a url", token: "t" } }, routes: [{ sinks: ["siem", "nowhere"] }] },
  {
    sinks: { lake: { type: "s3", bucket: "bucket", region: "eu-west-1", accessKeyId: "a", secretAccessKey: "s" }, siem: { type: "splunk_hec", url: "https://splunk.example.com", token: "t" } },
    routes: [{ match: { severity_at_least: "urgent", source: "Falco", tags: ["shell"], not: { rule: "x", not: { rule: "y" } } }, sinks: ["siem"] }, { sinks: ["splunk"] }],
  },
  { sinks: { lake: { type: "security_lake", bucket: "aws-security-data-lake-eu-west-1-abc", region: "eu-west-1", accountId: "123456789012", accessKeyId: "a", secretAccessKey: "s", sources: { "2004": "findings", "1007": "findings" } } } },
];
const PREFIX = "invalid config: ";
const ISSUES = new Set(BAD_CONFIGS.flatMap((c) => loads(c).flatMap((m) => m.slice(PREFIX.length).split("; "))));

/** Languages of fenced blocks no test reads further: the text must not be a JSON example left unlabelled. */
const TEXT_LANGS: Record<string, string> = {
  "": "diagrams, key layouts, error messages, flags",
  ini: "Splunk props.conf",
  spl: "Splunk searches (docs/correlation.md), not run",
  esql: "Elasticsearch ES|QL queries, not run",
  sql: "Athena (Security Lake) queries, not run",
  kusto: "KQL queries for Microsoft Sentinel (docs/sinks.md), not run",
};

describe("docs: every shell, PromQL and other block", () => {
  it("shell blocks: curl URLs are served routes, npm scripts exist, wrangler commands name what wrangler.toml and the docs' configs have, repo paths exist", async () => {
    const problems: string[] = [];
    let curls = 0;
    const blocks = of(["sh", "bash", "shell"]);
    for (const b of blocks) {
      for (const words of commands(b.body)) {
        if (words[0] === "curl" && urlsIn(words).length) curls++;
        problems.push(...(await shellProblems(words)).map((p) => `${where(b)}: ${p}`));
      }
    }
    expect(problems).toEqual([]);
    expect(blocks.length).toBeGreaterThanOrEqual(24);
    expect(curls).toBeGreaterThanOrEqual(10);
  });

  it("a curl example's sample answer is what the Worker answers that request", async () => {
    const samples = of(["sh", "bash", "shell"]).flatMap(sampleAnswers);
    for (const s of samples) {
      const got = await answer(s.command);
      const want = { status: s.status ?? got.status, body: s.body ?? got.body };
      expect({ where: s.where, ...got }).toEqual({ where: s.where, ...want });
    }
    expect(samples.length).toBeGreaterThanOrEqual(4);
  });

  it("the shell checks tell a wrong example apart", async () => {
    expect(commands("curl -i -H 'a: b' \\\n  --data @x.json https://h/p # note\n# HTTP/2 202\nnpm ci && npm test")).toEqual([["curl", "-i", "-H", "a: b", "--data", "@x.json", "https://h/p"], ["npm", "ci"], ["npm", "test"]]);
    expect(await shellProblems(["curl", "-d", "@test/fixtures/nope.json", "https://tributary.example.com/v1/events/nowhere"])).toEqual([
      "POST https://tributary.example.com/v1/events/nowhere without credentials -> 404, not 401: no such route",
      "@test/fixtures/nope.json: no such file in the repo",
    ]);
    expect(await shellProblems(["curl", "https://tributary.example.com/v1/tset"])).toEqual(["GET https://tributary.example.com/v1/tset -> 404"]);
    expect(await shellProblems(["npm", "run", "lint"])).toEqual(["npm run lint: no such script in package.json"]);
    expect(await shellProblems(["npm", "run", "dlq", "--", "lst", "[--snk", "siem]"])).toEqual(["npm run dlq: scripts/dlq.ts reads no --snk", "npm run dlq: scripts/dlq.ts has no subcommand lst"]);
    expect(await shellProblems(["npm", "run", "dlq", "--", "replay", "[--sink", "siem]", "[key", "...]"])).toEqual([]);
    expect(await shellProblems(["npx", "wrangler", "queues", "create", "tributary-evnts"])).toEqual(["queue tributary-evnts is not in wrangler.toml"]);
    expect(await shellProblems(["npx", "wrangler", "secret", "put", "SPLUNK_TOKEN"])).toEqual(["secret SPLUNK_TOKEN: no config in the docs refers to it"]);
    const body = 'curl -i -H "content-type: application/json" --data @test/fixtures/falco/terminal-shell-in-container__falco-docs.json \\\n  https://tributary.example.com/v1/events/falco\n# HTTP/2 200\n# {"accepted":2}';
    const [s] = sampleAnswers({ doc: "docs/x.md", index: 0, lang: "sh", body });
    expect(s).toMatchObject({ status: 200, body: { accepted: 2 } });
    expect(await answer(s!.command)).toMatchObject({ status: 202, body: { accepted: 1, rejected: 0 } });
    expect(promqlProblems('sum(rate(tributary_sink_events_total{outcom="x"}[5m]))\nrate(tributary_nope_total[1m])')).toEqual(["tributary_sink_events_total{outcom}: no such label", "tributary_nope_total: not a metric the Worker exports"]);
  });

  it("PromQL blocks name exported metrics; other blocks are of a known language, no unlabelled JSON, and their config errors are the Worker's words", () => {
    const problems: string[] = [];
    const known = new Set(["json", "jsonc", "yaml", "toml", "sh", "bash", "shell", "promql", ...Object.keys(TEXT_LANGS)]);
    for (const b of ALL) {
      if (!known.has(b.lang)) problems.push(`${where(b)}: a \`\`\`${b.lang} block: no check knows this language`);
      if (b.lang === "promql") problems.push(...promqlProblems(b.body).map((p) => `${where(b)}: ${p}`));
      if (b.lang in TEXT_LANGS) {
        try {
          JSON.parse(b.body);
          problems.push(`${where(b)}: JSON in a \`\`\`${b.lang || "(unlabelled)"} block: label it json so it is checked`);
        } catch {
          // not JSON: text
        }
        for (const line of b.body.split("\n").filter((l) => l.startsWith(PREFIX))) {
          for (const issue of line.slice(PREFIX.length).split("; ")) if (!ISSUES.has(issue)) problems.push(`${where(b)}: the Worker does not say "${issue}" (it says one of ${JSON.stringify([...ISSUES])})`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(of("promql").length).toBeGreaterThanOrEqual(1);
    expect(ISSUES.size).toBeGreaterThanOrEqual(5);
  });
});
