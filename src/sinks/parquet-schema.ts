// Nested Parquet schemas for OCSF classes (Security Lake), built at run time from the generated
// attribute tables (./ocsf-columns) and cached per class. OCSF objects become Parquet groups (structs),
// `is_array` attributes 3-level LISTs (name LIST / list REPEATED / element), so Athena reads
// `metadata.product.name` as a column. OCSF objects are recursive (process.parent_process, …), so the
// expansion is bounded: at most MAX_OBJECT_DEPTH nested object levels, and an object may appear at most
// twice on one path (one level of recursion: process.parent_process is a group, its parent_process is
// not). An object past either bound, and free-form objects (`unmapped`, json_t such as `data`,
// `xattributes`), are one UTF8 leaf holding the JSON text of the value.
import type { parquetWriteBuffer } from "hyparquet-writer";
import { OCSF_CLASSES, OCSF_OBJECTS } from "./ocsf-columns";

export type SchemaElement = NonNullable<Parameters<typeof parquetWriteBuffer>[0]["schema"]>[number];

/** i INT32, l INT64, t INT64 (epoch ms, no logical type: as AWS's own Security Lake tables), f DOUBLE, b BOOLEAN, s UTF8, j JSON text. */
export type Scalar = "i" | "l" | "t" | "f" | "b" | "s" | "j";

export interface Field {
  name: string;
  /** "." + name: the field's path segment as a member. */
  dot: string;
  list: boolean;
  /** The leaf type, for a leaf. */
  scalar?: Scalar;
  /** The members, for a group (an OCSF object). */
  fields?: Field[];
  /** The member names, for a group. */
  names?: ReadonlySet<string>;
}

/** Nested object levels under a top-level column (metadata.product is level 2, metadata.product.feature 3). */
export const MAX_OBJECT_DEPTH = 3;
/** How many times an object may appear on one path (2 = one level of recursion). */
export const MAX_SAME_OBJECT = 2;

const SCALARS = new Set<string>(["i", "l", "t", "f", "b", "s", "j"]);

function fieldsOf(line: string, depth: number, path: readonly string[]): Field[] {
  return line.split(" ").map((a) => {
    const colon = a.indexOf(":");
    const name = a.slice(0, colon);
    let type = a.slice(colon + 1);
    const list = type.endsWith("[]");
    if (list) type = type.slice(0, -2);
    const dot = `.${name}`;
    if (SCALARS.has(type)) return { name, dot, list, scalar: type as Scalar };
    const obj = type.slice(1);
    const def = OCSF_OBJECTS[obj];
    const repeats = path.filter((p) => p === obj).length;
    if (def === undefined || depth >= MAX_OBJECT_DEPTH || repeats + 1 > MAX_SAME_OBJECT) return { name, dot, list, scalar: "j" };
    const fields = fieldsOf(def, depth + 1, [...path, obj]);
    return { name, dot, list, fields, names: new Set(fields.map((c) => c.name)) };
  });
}

const fieldCache = new Map<number, Field[]>();
const schemaCache = new Map<number, SchemaElement[]>();

/** The top-level fields of a class, or undefined for a class the schema does not define. */
export function classFields(classUid: number): Field[] | undefined {
  let f = fieldCache.get(classUid);
  if (f) return f;
  const line = OCSF_CLASSES[classUid];
  if (line === undefined) return undefined;
  f = fieldsOf(line, 0, []);
  fieldCache.set(classUid, f);
  return f;
}

export function hasParquetSchema(classUid: number): boolean {
  return OCSF_CLASSES[classUid] !== undefined;
}

export function supportedClasses(): string {
  return Object.keys(OCSF_CLASSES).join(", ");
}

function leaf(name: string, s: Scalar): SchemaElement {
  switch (s) {
    case "i":
      return { name, type: "INT32", repetition_type: "OPTIONAL" };
    case "l":
    case "t":
      return { name, type: "INT64", repetition_type: "OPTIONAL" };
    case "f":
      return { name, type: "DOUBLE", repetition_type: "OPTIONAL" };
    case "b":
      return { name, type: "BOOLEAN", repetition_type: "OPTIONAL" };
    case "s":
    case "j":
      return { name, type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "OPTIONAL" };
  }
}

function elements(f: Field, name: string, out: SchemaElement[]): void {
  if (f.fields) {
    out.push({ name, repetition_type: "OPTIONAL", num_children: f.fields.length });
    for (const c of f.fields) fieldElements(c, out);
  } else out.push(leaf(name, f.scalar!));
}

function fieldElements(f: Field, out: SchemaElement[]): void {
  if (!f.list) return elements(f, f.name, out);
  out.push({ name: f.name, repetition_type: "OPTIONAL", converted_type: "LIST", num_children: 1 });
  out.push({ name: "list", repetition_type: "REPEATED", num_children: 1 });
  elements(f, "element", out);
}

/** The Parquet schema (flattened SchemaElement list, root first) of a class; cached. */
export function classSchema(classUid: number): SchemaElement[] | undefined {
  let s = schemaCache.get(classUid);
  if (s) return s;
  const fields = classFields(classUid);
  if (!fields) return undefined;
  s = [{ name: "root", num_children: fields.length }];
  for (const f of fields) fieldElements(f, s);
  schemaCache.set(classUid, s);
  return s;
}
