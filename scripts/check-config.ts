// npm run check-config -- [--env-file .dev.vars] <config.json ...>
// Validates Tributary config files offline with the Worker's own zod schema: prints OK or every
// error with the field it names, the Worker secrets each config refers to (and, with --env-file,
// whether they are set), and warnings. Exit code: 0 all valid, 1 some invalid, 2 usage error.
// The file holds the JSON of TRIBUTARY_CONFIG (an object, or the JSON string wrangler [vars] holds).
import { readFileSync } from "node:fs";
import { checkConfigText, formatReport, parseEnvFile } from "../src/ops/check-config";

const USAGE = "usage: npm run check-config -- [--env-file .dev.vars] <config.json ...>";
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
  } else if (a === "-h" || a === "--help") {
    console.log(USAGE);
    process.exit(0);
  } else files.push(a);
}
if (files.length === 0) {
  console.error(USAGE);
  process.exit(2);
}
let bad = 0;
for (const file of files) {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    console.error(`${file}: cannot read: ${(e as Error).message}`);
    bad++;
    continue;
  }
  const r = checkConfigText(text, env);
  (r.ok ? process.stdout : process.stderr).write(formatReport(file, r));
  if (!r.ok) bad++;
}
process.exit(bad > 0 ? 1 : 0);
