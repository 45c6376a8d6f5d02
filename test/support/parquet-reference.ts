// The Security Lake Parquet encoder as it was before src/sinks/parquet-write.ts (kept for the
// equivalence test): rows built as nested objects (cellOf) and handed to hyparquet-writer's
// parquetWriteBuffer, which walks every row once per leaf column. A reference, not used by src; the
// values of leaves (scalarCell) and the `unmapped` text (unmappedText) are src's, unchanged.
import { parquetWriteBuffer } from "hyparquet-writer";
import { isObject } from "../../src/normalize/json";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { classFields, classSchema, type Field } from "../../src/sinks/parquet-schema";
import { scalarCell } from "../../src/sinks/parquet-write";
import { unmappedText } from "../../src/sinks/security-lake";

type Misfits = Record<string, unknown>;

// The path of the value being converted, as segments ("actor", ".process", "[2]"): joined only for a
// misfit, so converting a value that fits builds no path text.
const at: string[] = [];
let depth = 0;

function misfit(misfits: Misfits, v: unknown): null {
  let path = "";
  for (let k = 0; k < depth; k++) path += at[k];
  misfits[path] = v;
  return null;
}

function one(f: Field, v: unknown, misfits: Misfits): unknown {
  if (v === undefined || v === null) return null;
  const members = f.fields;
  if (members === undefined) {
    const cell = scalarCell(f.scalar!, v);
    return cell === undefined ? misfit(misfits, v) : cell;
  }
  if (!isObject(v)) return misfit(misfits, v);
  // Absent members are left out: the writer reads a missing member as null (the same file; no OCSF
  // attribute is named like an Object.prototype property, which `out` would otherwise answer with).
  const out: Record<string, unknown> = {};
  for (let k = 0; k < members.length; k++) {
    const c = members[k]!;
    const x = v[c.name];
    if (x === undefined || x === null) continue;
    at[depth++] = c.dot;
    out[c.name] = cell(c, x, misfits);
    depth--;
  }
  const names = f.names!;
  for (const k of Object.keys(v)) {
    if (v[k] === undefined || names.has(k)) continue;
    at[depth++] = `.${k}`;
    misfit(misfits, v[k]);
    depth--;
  }
  return out;
}

function cell(f: Field, v: unknown, misfits: Misfits): unknown {
  if (!f.list || v === undefined || v === null) return one(f, v, misfits);
  if (!Array.isArray(v)) return misfit(misfits, v);
  const out = new Array<unknown>(v.length);
  for (let i = 0; i < v.length; i++) {
    at[depth++] = `[${i}]`;
    out[i] = one(f, v[i], misfits);
    depth--;
  }
  return out;
}

/**
 * The value to write for field `f` (nested objects with only the schema's members, bigint for INT64),
 * null when absent. What does not fit (a wrong type, an unknown member, a list that is not an array)
 * is left out of the cell and recorded in `misfits` under its path, `path` being the field's own.
 */
function cellOf(f: Field, v: unknown, path: string, misfits: Misfits): unknown {
  at[0] = path;
  depth = 1;
  try {
    return cell(f, v, misfits);
  } finally {
    depth = 0;
  }
}
/** encodeParquet of src/sinks/security-lake.ts before parquet-write.ts: the same file, made the slow way. */
export function referenceParquet(events: readonly OcsfEvent[], classUid: number): Uint8Array {
  const fields = classFields(classUid)!;
  const schema = classSchema(classUid)!;
  const unmappedAt = fields.findIndex((f) => f.name === "unmapped");
  const known = new Set(fields.map((f) => f.name));
  const sorted = [...events].sort((a, b) => a.time - b.time);
  const data: unknown[][] = fields.map(() => new Array<unknown>(sorted.length));
  for (let row = 0; row < sorted.length; row++) {
    const e = sorted[row]!;
    const misfits: Misfits = {};
    for (let c = 0; c < fields.length; c++) {
      const f = fields[c]!;
      if (c !== unmappedAt) data[c]![row] = cellOf(f, e[f.name], f.name, misfits);
    }
    data[unmappedAt]![row] = unmappedText(e, misfits, known);
  }
  const buf = parquetWriteBuffer({
    columnData: fields.map((f, c) => ({ name: f.name, data: data[c]! })),
    schema,
    codec: "SNAPPY",
    createdBy: "tributary",
    kvMetadata: [{ key: "ocsf.class_uid", value: String(classUid) }],
  });
  return new Uint8Array(buf);
}
