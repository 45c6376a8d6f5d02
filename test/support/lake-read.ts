// Reads Security Lake Parquet back into OCSF events: hyparquet rows, then each column restored by the
// class's nested schema (JSON-text leaves parsed, INT64 bigint (and any Date) back to
// numbers, absent members dropped) and the misfits kept in unmapped.tributary_extra put back at their
// paths, so a row can be compared with the event it was written from.
import { parquetReadObjects } from "hyparquet";
import { classFields, type Field } from "../../src/sinks/parquet-schema";
import { EXTRA_KEY } from "../../src/sinks/security-lake";

export type Row = Record<string, unknown>;

export function arrayBufferOf(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

export async function readParquet(bytes: Uint8Array): Promise<Row[]> {
  return (await parquetReadObjects({ file: arrayBufferOf(bytes) })) as Row[];
}

function restoreOne(f: Field, v: unknown): unknown {
  if (v === null || v === undefined) return undefined;
  if (f.fields) {
    const o: Row = {};
    for (const c of f.fields) {
      const r = restore(c, (v as Row)[c.name]);
      if (r !== undefined) o[c.name] = r;
    }
    return o;
  }
  switch (f.scalar) {
    case "j":
      return JSON.parse(v as string) as unknown;
    case "l":
      return Number(v as bigint);
    case "t":
      return v instanceof Date ? v.getTime() : Number(v);
    default:
      return v;
  }
}

function restore(f: Field, v: unknown): unknown {
  if (v === null || v === undefined) return undefined;
  if (!f.list) return restoreOne(f, v);
  return (v as unknown[]).map((x) => restoreOne(f, x) ?? null);
}

/** "a.b[2].c" -> ["a", "b", 2, "c"] */
function pathOf(p: string): (string | number)[] {
  return [...p.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : m[1]!));
}

function setAt(root: Row, path: (string | number)[], value: unknown): void {
  let cur = root as Record<string | number, unknown>;
  path.forEach((k, i) => {
    if (i === path.length - 1) {
      cur[k] = value;
      return;
    }
    cur[k] ??= typeof path[i + 1] === "number" ? [] : {};
    cur = cur[k] as Record<string | number, unknown>;
  });
}

/** The event a row holds (as after a JSON round trip), with the misfits back in place. */
export function restoreEvent(row: Row, classUid: number): Row {
  const fields = classFields(classUid)!;
  const out: Row = {};
  for (const f of fields) {
    const v = restore(f, row[f.name]);
    if (v !== undefined) out[f.name] = v;
  }
  const unmapped = out.unmapped as Row | undefined;
  const extra = unmapped?.[EXTRA_KEY] as Row | undefined;
  if (unmapped && extra) {
    delete unmapped[EXTRA_KEY];
    if (Object.keys(unmapped).length === 0) delete out.unmapped;
    for (const [p, v] of Object.entries(extra)) setAt(out, pathOf(p), v);
  }
  return out;
}
