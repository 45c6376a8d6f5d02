// npm run replay -- [--url http://127.0.0.1:8787] [--token T | --basic user:pass] [--source falco] <files or folders>
// Posts fixture files to a running Tributary and prints what was accepted and rejected.
// .ndjson files go as one NDJSON body (Vector newline_delimited); .json files as one JSON body.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, extname } from "node:path";
import { errorText } from "./cli";

const args = process.argv.slice(2);
let url = process.env.TRIBUTARY_URL ?? "http://127.0.0.1:8787";
let token: string | undefined;
let basic: string | undefined;
let source: string | undefined;
const paths: string[] = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  if (a === "--url") url = args[++i]!;
  else if (a === "--token") token = args[++i];
  else if (a === "--basic") basic = args[++i];
  else if (a === "--source") source = args[++i];
  else if (a === "-h" || a === "--help") {
    console.log("usage: npm run replay -- [--url URL] [--token T | --basic user:pass] [--source falco|tetragon|k8s-audit|cloudtrail] <files or folders>");
    process.exit(0);
  } else paths.push(a);
}
if (paths.length === 0) {
  console.error("replay: name at least one file or folder (e.g. test/fixtures/falco)");
  process.exit(2);
}

function walk(p: string): string[] {
  const st = statSync(p);
  if (st.isDirectory()) return readdirSync(p).sort().flatMap((n) => walk(join(p, n)));
  return [".json", ".ndjson", ".jsonl", ".log", ".txt"].includes(extname(p)) ? [p] : [];
}

// every path is checked before anything is sent: a typo is reported, not half a replay
const files: string[] = [];
for (const p of paths) {
  try {
    files.push(...walk(p));
  } catch (e) {
    console.error(`replay: cannot read ${p}: ${errorText(e)}`);
    process.exit(2);
  }
}
if (files.length === 0) {
  console.error(`replay: no .json, .ndjson, .jsonl, .log or .txt files in ${paths.join(", ")}`);
  process.exit(2);
}
let accepted = 0;
let rejected = 0;
let failed = 0;
let skipped = 0;

/**
 * Whether a file holds OCSF events rather than sensor records: its first record (a .json body or the first
 * line) has OCSF's class_uid and metadata.version, which no Falco, Tetragon, audit or CloudTrail record has.
 */
function isOcsf(body: Buffer): boolean {
  const text = body.subarray(0, 1 << 20).toString("utf8");
  const parse = (t: string): unknown => {
    try {
      return JSON.parse(t);
    } catch {
      return undefined;
    }
  };
  // a whole JSON body (an object, pretty-printed or not, or an array), else the first NDJSON line
  const v = parse(text) ?? parse(text.trimStart().split("\n", 1)[0]!);
  const rec = (Array.isArray(v) ? v[0] : v) as { class_uid?: unknown; metadata?: { version?: unknown } } | null;
  return typeof rec?.class_uid === "number" && typeof rec.metadata?.version === "string";
}
const endpoint = `${url.replace(/\/$/, "")}/v1/events${source ? `/${source}` : ""}`;
for (const file of files) {
  let body: Buffer;
  try {
    body = readFileSync(file);
  } catch (e) {
    failed++;
    console.log(`ERR ${file}: cannot read it: ${errorText(e)}`);
    continue;
  }
  if (isOcsf(body)) {
    skipped++;
    console.log(`SKIP ${file}: OCSF events (Tributary's own output, e.g. from archive:cat), not sensor records: ingest would reject every one into quarantine/. replay re-sends sensor records; the archive is not re-sent to a sink (docs/delivery.md#re-sending-archived-events)`);
    continue;
  }
  const ext = extname(file);
  const contentType = ext === ".ndjson" || ext === ".jsonl" ? "application/x-ndjson" : ext === ".json" ? "application/json" : "text/plain";
  const headers: Record<string, string> = { "content-type": contentType };
  if (token) headers.authorization = `Bearer ${token}`;
  if (basic) headers.authorization = `Basic ${Buffer.from(basic).toString("base64")}`;
  try {
    const res = await fetch(endpoint, { method: "POST", headers, body });
    const text = await res.text();
    let parsed: { accepted?: number; rejected?: number; errors?: { path?: string; reason: string }[] } = {};
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = { errors: [{ reason: text.slice(0, 200) }] };
    }
    accepted += parsed.accepted ?? 0;
    rejected += parsed.rejected ?? 0;
    const errs = (parsed.errors ?? []).map((e) => `\n    ${e.path ?? ""} ${e.reason}`).join("");
    console.log(`${res.status} ${file}: accepted ${parsed.accepted ?? 0}, rejected ${parsed.rejected ?? 0}${errs}`);
    if (res.status >= 300 && !parsed.accepted) failed++;
  } catch (e) {
    // the server is not there (or the URL is wrong): the other files would fail the same way
    console.error(`replay: cannot reach ${endpoint}: ${errorText(e)} (is \`npm start\` running at ${url}?)`);
    process.exit(1);
  }
}
console.log(`\n${files.length} files: ${accepted} accepted, ${rejected} rejected, ${failed} requests failed${skipped ? `, ${skipped} skipped (OCSF, not sensor records)` : ""}`);
// not process.exit: it would cut what is still being written to a pipe
process.exitCode = (failed > 0 || skipped > 0) && accepted === 0 ? 1 : 0;
