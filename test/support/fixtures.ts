// Fixture files bundled by Vite (works in Node and inside workerd, where there is no fs).
const raw = import.meta.glob("../fixtures/**/*.{json,ndjson}", { query: "?raw", import: "default", eager: true }) as Record<string, string>;

export interface Fixture {
  /** Path relative to test/fixtures, e.g. "falco/terminal-shell-in-container__falco-docs.json". */
  name: string;
  dir: string;
  text: string;
}

export const fixtures: Fixture[] = Object.entries(raw)
  .map(([p, text]) => {
    const name = p.replace(/^\.\.\/fixtures\//, "");
    return { name, dir: name.split("/")[0]!, text };
  })
  .sort((a, b) => a.name.localeCompare(b.name));

export function fixturesIn(dir: string): Fixture[] {
  return fixtures.filter((f) => f.dir === dir);
}

export function fixture(name: string): string {
  const f = fixtures.find((x) => x.name === name);
  if (!f) throw new Error(`no fixture ${name}`);
  return f.text;
}
