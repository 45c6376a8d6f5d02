// `npm run normalize`: the script as the npm script runs it (tsx), on real fixtures of every source,
// and on a file that does not exist.
import { describe, expect, it } from "vitest";
import { runScript } from "../support/scripts";

const FALCO = "test/fixtures/falco/terminal-shell-in-container__falco-docs.json";
const TETRAGON = "test/fixtures/tetragon/process_exec.ndjson";
const K8S = "test/fixtures/k8s-audit/falco-trace__exec_pod.json";
const CLOUDTRAIL = "test/fixtures/cloudtrail/records__iam-create-user__aws-docs.json";

/** Each stdout line parsed as JSON (fails the test on a line that is not). */
function ndjson(stdout: string): Record<string, unknown>[] {
  expect(stdout.endsWith("\n")).toBe(true);
  return stdout
    .slice(0, -1)
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("npm run normalize", () => {
  it("prints one OCSF JSON line per record, with each source's class", async () => {
    const r = await runScript("scripts/normalize.ts", [FALCO, TETRAGON, K8S, CLOUDTRAIL]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const events = ndjson(r.stdout);
    const byProduct = (name: string) => events.filter((e) => (e.metadata as { product: { name: string } }).product.name === name);
    expect(events.map((e) => e.class_uid)).toEqual([2004, ...Array(8).fill(1007), 6003, 3001]);
    expect(byProduct("Falco").map((e) => e.type_uid)).toEqual([200401]);
    expect(byProduct("Tetragon")).toHaveLength(8);
    for (const e of events) expect(e).toMatchObject({ metadata: { version: "1.3.0" }, category_uid: expect.any(Number), time: expect.any(Number) });
  });

  it("--source forces the mapping: a Falco alert read as Tetragon is rejected with its reason, exit 1", async () => {
    const r = await runScript("scripts/normalize.ts", ["--source", "tetragon", FALCO]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(FALCO);
  });

  it("a missing file is an error naming it, exit 1, and the other files are still printed", async () => {
    const r = await runScript("scripts/normalize.ts", ["test/fixtures/falco/no-such-alert.json", FALCO, "test/fixtures/falco"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("normalize: cannot read test/fixtures/falco/no-such-alert.json: ENOENT");
    expect(r.stderr).toContain("normalize: cannot read test/fixtures/falco: EISDIR");
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(ndjson(r.stdout).map((e) => e.class_uid)).toEqual([2004]);
  });

  it("no file: usage, exit 2", async () => {
    const r = await runScript("scripts/normalize.ts", []);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("usage: npm run normalize");
  });
});
