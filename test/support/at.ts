// The value at a dotted path ("evidences.0.process.name") in a parsed event; undefined where the path breaks.
export function at(ev: unknown, path: string): unknown {
  let cur: unknown = ev;
  for (const k of path.split(".")) {
    if (typeof cur !== "object" || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}
