// Bundle size: `wrangler deploy --dry-run` (offline) into a temporary directory, then every output
// file's bytes raw and gzipped (zlib level 9 and default). Workers' limit: 3 MB (Free) / 10 MB (Paid)
// compressed. Also what wrangler itself reports ("Total Upload: ... / gzip: ...").
// Usage: npm run bench:bundle [-- --json out.json]
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { gzipSync, constants } from "node:zlib";
import { root, table, fmt, isMain, arg } from "./common";

export interface BundleFile {
  file: string;
  bytes: number;
  gzip: number;
  gzip9: number;
}

export interface BundleResult {
  files: BundleFile[];
  total: BundleFile;
  /** wrangler's own "Total Upload" line, when printed. */
  wrangler?: string;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

export function benchBundle(): BundleResult {
  const out = mkdtempSync(join(tmpdir(), "tributary-bundle-"));
  try {
    const r = spawnSync(join(root, "node_modules/.bin/wrangler"), ["deploy", "--dry-run", "--outdir", out], {
      cwd: root,
      encoding: "utf8",
      timeout: 180_000,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
    });
    if (r.status !== 0) throw new Error(`wrangler deploy --dry-run failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
    const files = walk(out)
      .filter((p) => !p.endsWith(".map") && !p.endsWith("README.md")) // source maps and wrangler's note are not uploaded as code
      .map((p) => {
        const bytes = readFileSync(p);
        return { file: relative(out, p), bytes: bytes.byteLength, gzip: gzipSync(bytes).byteLength, gzip9: gzipSync(bytes, { level: constants.Z_BEST_COMPRESSION }).byteLength };
      })
      .sort((a, b) => b.bytes - a.bytes);
    const total = files.reduce((t, f) => ({ file: "total", bytes: t.bytes + f.bytes, gzip: t.gzip + f.gzip, gzip9: t.gzip9 + f.gzip9 }), { file: "total", bytes: 0, gzip: 0, gzip9: 0 });
    const line = /Total Upload:[^\n]*/.exec(r.stdout + r.stderr)?.[0]?.trim();
    return { files, total, ...(line ? { wrangler: line } : {}) };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

export function formatBundle(b: BundleResult): string {
  const rows = [...b.files, b.total].map((f) => [f.file, fmt.kb(f.bytes), fmt.kb(f.gzip), fmt.kb(f.gzip9)]);
  const t = table(["file", "KiB", "gzip KiB (default level)", "gzip KiB (level 9)"], rows);
  return b.wrangler ? `${t}\n\nwrangler: \`${b.wrangler}\`` : t;
}

if (isMain(import.meta.url)) {
  const b = benchBundle();
  console.log(formatBundle(b));
  const o = arg("json");
  if (o) writeFileSync(o, JSON.stringify(b, null, 2));
}
