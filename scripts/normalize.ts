// npm run normalize -- [--source falco|tetragon|k8s-audit|cloudtrail] [--raw] <file...>
// Prints the OCSF NDJSON for input files, without a server (like `falco --validate` for mappings).
// Rejected records are reported on stderr with their reason, and so is a file that cannot be read
// (the other files are still printed); the exit code is 1 if any record was rejected or any file unreadable.
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { frame } from "../src/routes/decode";
import { runPipeline } from "../src/pipeline";
import type { SourceKind } from "../src/normalize/ocsf";
import { errorText } from "./cli";

const KINDS: Record<string, SourceKind> = { falco: "falco", tetragon: "tetragon", "k8s-audit": "k8s_audit", cloudtrail: "cloudtrail" };
const args = process.argv.slice(2);
let kind: SourceKind | undefined;
let raw = false;
const files: string[] = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  if (a === "--source") {
    kind = KINDS[args[++i] ?? ""];
    if (!kind) {
      console.error(`normalize: unknown source; use one of ${Object.keys(KINDS).join(", ")}`);
      process.exit(2);
    }
  } else if (a === "--raw") raw = true;
  else files.push(a);
}
if (files.length === 0) {
  console.error("usage: npm run normalize -- [--source falco|tetragon|k8s-audit|cloudtrail] [--raw] <file...>");
  process.exit(2);
}
let bad = 0;
for (const file of files) {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    bad++;
    console.error(`normalize: cannot read ${file}: ${errorText(e)}`);
    continue;
  }
  const ct = extname(file) === ".ndjson" ? "application/x-ndjson" : extname(file) === ".json" ? "application/json" : "text/plain";
  const framed = frame(text, ct, { texts: raw });
  const res = runPipeline(framed.values, framed.paths, framed.textLines, { kind, ctx: { ocsfVersion: "1.3.0", receivedAt: Date.now(), rawData: raw } }, framed.texts);
  for (const e of res.events) process.stdout.write(JSON.stringify(e.event) + "\n");
  for (const e of [...framed.errors, ...res.errors]) {
    bad++;
    console.error(`${file} ${e.path}: ${e.reason}`);
  }
}
process.exit(bad > 0 ? 1 : 0);
