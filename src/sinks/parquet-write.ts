// Parquet files of one OCSF class (Security Lake), written leaf column by leaf column, byte for byte
// the files hyparquet-writer's parquetWriteBuffer made of the same rows (its defaults: SNAPPY, one
// DATA_PAGE_V2 per MB, row groups of 1,000 then 100,000 rows, statistics, dictionaries where they pay).
//
// Why not parquetWriteBuffer: a class's schema has 1,300-2,300 leaf columns (./parquet-schema), of
// which an event fills a few dozen, and it walked every row once per leaf (Dremel levels), then
// sampled a dictionary, took statistics and allocated page buffers for every leaf, filled or not, and
// serialized the footer (a column chunk per leaf) through a generic Thrift writer: ~0.5 ms of CPU per
// event. Here one walk of each event gives every leaf its definition and repetition levels and its
// values (a leaf only null at one level keeps a count, not arrays); a leaf holding a value goes to
// hyparquet-writer's own writeColumn (the same pages, dictionary and statistics), a leaf holding none
// (most) gets the chunk writeColumn writes for all-null values (one page of levels, made once per shape
// and copied); the footer is written here with each leaf's path serialized once per class, the schema
// by hyparquet-writer's writeMetadata once per class. What a class keeps between files is small (its
// field tree and typed arrays per leaf, ~0.2 MB); the leaves' levels live in a pool of leaf objects and
// hyparquet-writer's column descriptions are made only for leaves a page is written for.
import { ByteWriter } from "hyparquet-writer";
import { writeColumn } from "hyparquet-writer/src/column.js";
import { writeDataPageV2 } from "hyparquet-writer/src/datapage.js";
import { writeIndexes } from "hyparquet-writer/src/indexes.js";
import { writeMetadata } from "hyparquet-writer/src/metadata.js";
import { snappyCompress } from "hyparquet-writer/src/snappy.js";
import { serializeTCompactProtocol } from "hyparquet-writer/src/thrift.js";
import { unconvertStatistics } from "hyparquet-writer/src/unconvert.js";
import { isObject } from "../normalize/json";
import { classFields, classSchema, type Field, type Scalar, type SchemaElement } from "./parquet-schema";

type ColumnEncoder = Parameters<typeof writeColumn>[0]["column"];
type ColumnResult = ReturnType<typeof writeColumn>;
type ColumnChunk = ColumnResult["chunk"];
type Encoding = Parameters<typeof writeDataPageV2>[0]["encoding"];

/** Where values that do not fit their column go: JSON paths ("a.b", "a[2].c") to the original value. */
export type Misfits = Record<string, unknown>;

/** hyparquet-writer's defaults (parquetWrite), kept so the files stay as they were. */
const ROW_GROUP_SIZE = [1000, 100000];
const PAGE_SIZE = 1048576;
const COMPRESSORS = { SNAPPY: snappyCompress };
const PAR1 = 0x31524150;

// Parquet's Thrift enums (parquet.thrift) and the compact protocol's types.
const TYPES = ["BOOLEAN", "INT32", "INT64", "INT96", "FLOAT", "DOUBLE", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"];
const BOOLEAN = 0;
const FLOAT = 4;
const DOUBLE = 5;
const ENCODINGS = ["PLAIN", "GROUP_VAR_INT", "PLAIN_DICTIONARY", "RLE", "BIT_PACKED", "DELTA_BINARY_PACKED", "DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY", "RLE_DICTIONARY", "BYTE_STREAM_SPLIT"];
const CODECS = ["UNCOMPRESSED", "SNAPPY", "GZIP", "LZO", "BROTLI", "LZ4", "ZSTD", "LZ4_RAW"];
const PAGE_TYPES = ["DATA_PAGE", "INDEX_PAGE", "DICTIONARY_PAGE", "DATA_PAGE_V2"];
const STOP = 0;
const I32 = 5;
const I64 = 6;
const BINARY = 8;
const LIST = 9;
const STRUCT = 12;

/**
 * A leaf column while a file is written: its levels and values of the row group being written. The
 * objects are pooled (as many as the widest class has leaves) and set up from the class's Layout for
 * each file; what a class keeps between files is its Layout alone.
 */
interface Leaf {
  /** The leaf's index in its class (schema order). */
  k: number;
  maxDef: number;
  maxRep: number;
  /** Its physical type (index in TYPES). */
  type: number;
  /** hyparquet-writer's description of the column, made only for a leaf a page is written for (most copy a ready null page). */
  encoder: ColumnEncoder | undefined;
  /** Entries (levels) in the row group. */
  n: number;
  /** While every entry is null at one level (d0, r0), only `n` counts them; else the arrays hold them. */
  uniform: boolean;
  d0: number;
  r0: number;
  /**
   * Levels of the entries so far (the first n; room to grow). One byte each: a row group of a class has
   * 1,300-2,300 leaves and most of those not uniform hold only nulls, so number[] levels took ~30 MB per group.
   */
  defs: Uint8Array;
  reps: Uint8Array;
  /** Every entry's value, kept only once a value that is not null came (before that all are null: made when written). */
  values: unknown[] | undefined;
  /** Values that are not null. */
  filled: number;
}

/** A field of the class's tree with the range of leaves under it. */
interface Node {
  field: Field;
  /** Leaves [lo, hi) in schema order. */
  lo: number;
  hi: number;
  /** The repetition level of the list's elements (lists). */
  rep: number;
  /** Members (groups). */
  members?: Node[];
  /** Top-level fields: rows not yet handed to the leaves in which the field is absent, at definition level `pendDef`. */
  pend: number;
  pendDef: number;
}

/**
 * What a class keeps between files (for the isolate's life): its field tree and, per leaf, what its
 * schema says, in typed arrays (a class has 1,300-2,300 leaves; objects per leaf kept ~1.1 KB each).
 */
interface Layout {
  top: Node[];
  /** The class's schema (parquet-schema's cached list) and each element's parent (-1 for the root). */
  schema: SchemaElement[];
  parent: Int32Array;
  /** Per leaf: its schema element's index, maximum levels, physical type (index in TYPES). */
  el: Int32Array;
  maxDef: Uint8Array;
  maxRep: Uint8Array;
  type: Uint8Array;
  /** Per leaf k, bytes pathAt[k] to pathAt[k + 1]: ColumnMetaData's path_in_schema list (after its field header). */
  paths: Uint8Array;
  pathAt: Uint32Array;
  /** Footer bytes of FileMetaData fields 1 (version) and 2 (schema), as writeMetadata writes them. */
  head: Uint8Array;
  /** Footer bytes of FileMetaData field 7 (column orders), after field 6. */
  orders: Uint8Array;
}

const layouts = new Map<number, Layout>();

function layoutOf(classUid: number): Layout | undefined {
  let l = layouts.get(classUid);
  if (l) return l;
  const fields = classFields(classUid);
  const schema = classSchema(classUid);
  if (!fields || !schema) return undefined;
  const parent = new Int32Array(schema.length).fill(-1);
  const els: number[] = [];
  const maxDef: number[] = [];
  const maxRep: number[] = [];
  const paths = new Out();
  const pathAt: number[] = [0];
  let next = 1; // schema[0] is the root
  // walks the schema elements in the order parquet-schema made them (wrapper, list, element for a list)
  const build = (f: Field, up: number, def: number, rep: number): Node => {
    const lo = els.length;
    let node: Node;
    if (f.list) {
      const wrapper = next++;
      parent[wrapper] = up;
      const list = next++;
      parent[list] = wrapper;
      node = one(f, list, def + 2, rep + 1);
      node.rep = rep + 1;
    } else node = one(f, up, def, rep);
    node.lo = lo;
    node.hi = els.length;
    return node;
  };
  const one = (f: Field, up: number, def: number, rep: number): Node => {
    const el = next++;
    parent[el] = up;
    if (f.fields) return { field: f, lo: 0, hi: 0, rep: 0, pend: 0, pendDef: 0, members: f.fields.map((c) => build(c, el, def + 1, rep)) };
    const path = pathOf(schema, parent, el);
    if (def + 1 >= 32 || rep >= 8) throw new Error(`column ${path.join(".")}: levels past what nullPageKey packs`);
    els.push(el);
    maxDef.push(def + 1);
    maxRep.push(rep);
    listHeader(paths, path.length, BINARY);
    for (const name of path) binary(paths, name);
    pathAt.push(paths.pos);
    return { field: f, lo: 0, hi: 0, rep: 0, pend: 0, pendDef: 0 };
  };
  const top = fields.map((f) => build(f, 0, 0, 0));
  const type = Uint8Array.from(els, (i) => TYPES.indexOf(schema[i]!.type!));
  l = {
    top,
    schema,
    parent,
    el: Int32Array.from(els),
    maxDef: Uint8Array.from(maxDef),
    maxRep: Uint8Array.from(maxRep),
    type,
    paths: paths.result(),
    pathAt: Uint32Array.from(pathAt),
    head: schemaHead(schema, els.length),
    orders: columnOrders(els.length, 1),
  };
  layouts.set(classUid, l);
  return l;
}

/** The schema elements from the root down to element `el`. */
function schemaPathOf(schema: readonly SchemaElement[], parent: Int32Array, el: number): SchemaElement[] {
  const path: SchemaElement[] = [];
  for (let i = el; i >= 0; i = parent[i]!) path.push(schema[i]!);
  return path.reverse();
}

/** The names of a schema element's path below the root. */
function pathOf(schema: readonly SchemaElement[], parent: Int32Array, el: number): string[] {
  return schemaPathOf(schema, parent, el).slice(1).map((s) => s.name);
}

/** hyparquet-writer's description of leaf k's column (as parquetWriteBuffer makes it). */
function encoderOf(layout: Layout, k: number): ColumnEncoder {
  const schemaPath = schemaPathOf(layout.schema, layout.parent, layout.el[k]!);
  return {
    columnName: schemaPath.slice(1).map((s) => s.name).join("."),
    element: schemaPath[schemaPath.length - 1]!,
    schemaPath,
    codec: "SNAPPY",
    compressors: COMPRESSORS,
    stats: true,
    pageSize: PAGE_SIZE,
    columnIndex: false,
    offsetIndex: true,
  };
}

/** The pool of leaves (grown to the widest class written). */
const pool: Leaf[] = [];

/** The pooled leaves set up for a file of `layout`'s class. */
function leavesOf(layout: Layout): Leaf[] {
  const count = layout.el.length;
  for (let k = pool.length; k < count; k++) {
    pool.push({ k, maxDef: 0, maxRep: 0, type: 0, encoder: undefined, n: 0, uniform: true, d0: 0, r0: 0, defs: NO_LEVELS, reps: NO_LEVELS, values: undefined, filled: 0 });
  }
  const out = pool.slice(0, count);
  for (let k = 0; k < count; k++) {
    const leaf = out[k]!;
    leaf.maxDef = layout.maxDef[k]!;
    leaf.maxRep = layout.maxRep[k]!;
    leaf.type = layout.type[k]!;
  }
  return out;
}

/** The leaves' layout while a file is written (for encoders made on demand). */
let layoutNow: Layout | undefined;

function encoder(leaf: Leaf): ColumnEncoder {
  return (leaf.encoder ??= encoderOf(layoutNow!, leaf.k));
}

/**
 * FileMetaData fields 1 and 2 as writeMetadata writes them: it is handed the schema alone (no rows,
 * no row groups, no key-value metadata or created_by), and what follows field 2 is cut off: field 3
 * (0 rows: 2 bytes), field 4 (an empty list: 2 bytes), field 7 (column orders), the stop byte and the
 * footer length (4 bytes).
 */
function schemaHead(schema: SchemaElement[], leafCount: number): Uint8Array {
  const w = new ByteWriter();
  writeMetadata(w, { version: 2, schema, num_rows: 0n, row_groups: [], metadata_length: 0 });
  const orders = columnOrders(leafCount, 3).length;
  return w.getBytes().slice(0, w.offset - 4 - 1 - orders - 4);
}

/** FileMetaData field 7 (a TypeDefinedOrder per leaf), `delta` after the field before it. */
function columnOrders(leafCount: number, delta: number): Uint8Array {
  const w = new Out();
  fieldHeader(w, delta, LIST);
  listHeader(w, leafCount, STRUCT);
  for (let k = 0; k < leafCount; k++) {
    fieldHeader(w, 1, STRUCT);
    w.u8(STOP);
    w.u8(STOP);
  }
  return w.result();
}

// --- shredding: one walk of each row fills every leaf's levels -----------------------------------

/** A value for a leaf of type `s`, or undefined when it does not fit. */
export function scalarCell(s: Scalar, v: unknown): unknown {
  switch (s) {
    case "i":
      return typeof v === "number" && Number.isInteger(v) && v >= -2147483648 && v <= 2147483647 ? v : undefined;
    case "l":
    case "t":
      return typeof v === "number" && Number.isSafeInteger(v) ? BigInt(v) : undefined;
    case "f":
      return typeof v === "number" && Number.isFinite(v) ? v : undefined;
    case "b":
      return typeof v === "boolean" ? v : undefined;
    case "s":
      return typeof v === "string" ? v : undefined;
    case "j":
      return JSON.stringify(v);
  }
}

// The leaves of the row group being filled, the row's misfits, and the path of the value being
// shredded as segments ("actor", ".process", "[2]"): joined only for a misfit, so a value that fits
// builds no path text.
let leaves: Leaf[] = [];
let misfits: Misfits = {};
const at: string[] = [];
let depth = 0;

function misfit(v: unknown): void {
  let path = "";
  for (let k = 0; k < depth; k++) path += at[k];
  misfits[path] = v;
}

/** Counts `count` nulls at (def, rep) when the leaf's entries stay uniform with them; false (nothing done) otherwise. */
function countNulls(leaf: Leaf, def: number, rep: number, count: number): boolean {
  if (!leaf.uniform) return false;
  if (leaf.n === 0) {
    leaf.d0 = def;
    leaf.r0 = rep;
  } else if (def !== leaf.d0 || rep !== leaf.r0) return false;
  leaf.n += count;
  return true;
}

/** `count` nulls at (def, rep) for a leaf: counted while its entries are uniform. */
function pushNulls(leaf: Leaf, def: number, rep: number, count: number): void {
  if (countNulls(leaf, def, rep, count)) return;
  for (let i = 0; i < count; i++) push(leaf, def, rep, null);
}

/** A top-level field absent from a row (at definition level 0, or 1: an empty list), handed to its leaves in runs. */
function absentTop(n: Node, def: number): void {
  if (n.pend > 0 && n.pendDef !== def) flushTop(n);
  n.pendDef = def;
  n.pend++;
}

function flushTop(n: Node): void {
  if (n.pend === 0) return;
  for (let k = n.lo; k < n.hi; k++) pushNulls(leaves[k]!, n.pendDef, 0, n.pend);
  n.pend = 0;
}

function push(leaf: Leaf, def: number, rep: number, value: unknown): void {
  if (value === null && countNulls(leaf, def, rep, 1)) return;
  if (leaf.uniform) materialize(leaf);
  const n = leaf.n;
  if (n === leaf.defs.length) grow(leaf);
  leaf.defs[n] = def;
  if (leaf.maxRep > 0) leaf.reps[n] = rep;
  if (leaf.values) leaf.values.push(value);
  else if (value !== null) {
    leaf.values = new Array<unknown>(n).fill(null);
    leaf.values.push(value);
  }
  leaf.n = n + 1;
}

/** No levels (a leaf between row groups, or uniform). */
const NO_LEVELS = new Uint8Array(0);

/** Twice the room for levels. */
function grow(leaf: Leaf): void {
  const size = Math.max(64, leaf.defs.length * 2);
  const defs = new Uint8Array(size);
  defs.set(leaf.defs);
  leaf.defs = defs;
  if (leaf.maxRep > 0) {
    const reps = new Uint8Array(size);
    reps.set(leaf.reps);
    leaf.reps = reps;
  }
}

/** The levels of a leaf counted so far: n nulls at (d0, r0). */
function materialize(leaf: Leaf): void {
  leaf.uniform = false;
  const size = Math.max(64, leaf.n * 2);
  leaf.defs = new Uint8Array(size).fill(leaf.d0, 0, leaf.n);
  if (leaf.maxRep > 0) leaf.reps = new Uint8Array(size).fill(leaf.r0, 0, leaf.n);
}

/** Every leaf under `n` is absent at definition level `def`. */
function absent(n: Node, def: number, rep: number): void {
  for (let k = n.lo; k < n.hi; k++) push(leaves[k]!, def, rep, null);
}

/** A field's value, `def` being the definition level of its parent. */
function shred(n: Node, v: unknown, def: number, rep: number): void {
  if (v === undefined || v === null || !n.field.list) return shredOne(n, v, def, rep);
  if (!Array.isArray(v)) {
    misfit(v);
    return absent(n, def, rep);
  }
  if (v.length === 0) return absent(n, def + 1, rep);
  for (let i = 0; i < v.length; i++) {
    at[depth++] = `[${i}]`;
    shredOne(n, v[i], def + 2, i === 0 ? rep : n.rep);
    depth--;
  }
}

/** An object or scalar value (a list's element, or a field that is not a list). */
function shredOne(n: Node, v: unknown, def: number, rep: number): void {
  if (v === undefined || v === null) return absent(n, def, rep);
  const members = n.members;
  if (members === undefined) {
    const cell = scalarCell(n.field.scalar!, v);
    if (cell === undefined) {
      misfit(v);
      return absent(n, def, rep);
    }
    const leaf = leaves[n.lo]!;
    leaf.filled++;
    return push(leaf, def + 1, rep, cell);
  }
  if (!isObject(v)) {
    misfit(v);
    return absent(n, def, rep);
  }
  for (let k = 0; k < members.length; k++) {
    const c = members[k]!;
    at[depth++] = c.field.dot;
    shred(c, v[c.field.name], def + 1, rep);
    depth--;
  }
  const names = n.field.names!;
  for (const k of Object.keys(v)) {
    if (v[k] === undefined || names.has(k)) continue;
    at[depth++] = `.${k}`;
    misfit(v[k]);
    depth--;
  }
}

// --- column chunks ------------------------------------------------------------------------------

// hyparquet-writer reads levels by index and length (and slices them per page): a Uint8Array serves as number[]
const pageData = (leaf: Leaf) => ({
  values: leaf.values ?? new Array<unknown>(leaf.n).fill(null),
  definitionLevels: leaf.defs.subarray(0, leaf.n) as unknown as number[],
  repetitionLevels: (leaf.maxRep > 0 ? leaf.reps.subarray(0, leaf.n) : []) as unknown as number[],
  maxDefinitionLevel: leaf.maxDef,
});

/** A leaf's chunk, for the footer: writeColumn's, or one of all nulls. */
type Chunk = ColumnResult | NullChunk;

interface NullChunk {
  /** The leaf's index in its class. */
  k: number;
  n: number;
  encoding: Encoding;
  start: number;
  uncompressed: number;
  compressed: number;
}

/** The page writeColumn writes for nulls at one level, by shape (nullPageKey); made once and copied. */
const nullPages = new Map<number, { bytes: Uint8Array; uncompressed: number }>();
/**
 * Shapes kept at most (then all are dropped): a file makes a few dozen (its row count with each leaf
 * type and levels), and a shape costs ~0.4 KB of heap with its key, so 2,000 keep ~0.8 MB for the
 * isolate's life (20,000 kept up to ~8 MB once files of many row counts were written).
 */
const NULL_PAGES_KEPT = 2000;

/** The shape of a null page as a number: entries, type, encoding, the leaf's maximum levels and the entries' levels. */
function nullPageKey(leaf: Leaf, rle: boolean): number {
  // levels are below 32 (definition) and 8 (repetition), checked in layoutOf
  const bits = (((leaf.type * 2 + (rle ? 1 : 0)) * 32 + leaf.maxDef) * 8 + leaf.maxRep) * 32 * 8 + leaf.d0 * 8 + leaf.r0;
  return leaf.n * 2 ** 24 + bits;
}

/** The chunk writeColumn writes for a leaf whose values are all null: one page of levels, statistics with the null count. */
function writeNullColumn(leaf: Leaf, writer: ByteWriter): NullChunk {
  const encoding: Encoding = leaf.type === BOOLEAN && leaf.n > 16 ? "RLE" : "PLAIN";
  const start = writer.offset;
  let uncompressed: number;
  if (leaf.uniform) {
    const key = nullPageKey(leaf, encoding === "RLE");
    let page = nullPages.get(key);
    if (!page) {
      if (nullPages.size >= NULL_PAGES_KEPT) nullPages.clear();
      materialize(leaf);
      const w = new ByteWriter();
      const size = writeDataPageV2({ writer: w, column: encoder(leaf), encoding, pageData: pageData(leaf) });
      page = { bytes: w.getBytes().slice(), uncompressed: size };
      nullPages.set(key, page);
    }
    writer.appendBytes(page.bytes);
    uncompressed = page.uncompressed;
  } else uncompressed = writeDataPageV2({ writer, column: encoder(leaf), encoding, pageData: pageData(leaf) });
  return { k: leaf.k, n: leaf.n, encoding, start, uncompressed, compressed: writer.offset - start };
}

interface Group {
  chunks: Chunk[];
  rows: number;
  uncompressed: number;
  compressed: number;
}

/** One row group of the shredded leaves, as ParquetWriter.write writes it. */
function writeGroup(writer: ByteWriter, rows: number, indexes: ColumnResult[]): Group {
  const start = writer.offset;
  const chunks: Chunk[] = [];
  let uncompressed = 0;
  for (const leaf of leaves) {
    if (leaf.filled > 0) {
      const r = writeColumn({ writer, column: encoder(leaf), pageData: pageData(leaf) });
      indexes.push(r);
      chunks.push(r);
      uncompressed += Number(r.chunk.meta_data!.total_uncompressed_size);
    } else {
      const c = writeNullColumn(leaf, writer);
      chunks.push(c);
      uncompressed += c.uncompressed;
    }
  }
  return { chunks, rows, uncompressed, compressed: writer.offset - start };
}

// --- the footer (Thrift compact protocol, as writeMetadata writes it) --------------------------

/** A growable byte buffer: plain Uint8Array writes (ByteWriter grows and writes through a DataView per byte). */
class Out {
  buf = new Uint8Array(4096);
  pos = 0;

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    b.set(this.buf.subarray(0, this.pos));
    this.buf = b;
  }

  u8(v: number): void {
    if (this.pos === this.buf.length) this.room(1);
    this.buf[this.pos++] = v;
  }

  bytes(v: Uint8Array): void {
    this.room(v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
  }

  /** Bytes [lo, hi) of `v`. */
  range(v: Uint8Array, lo: number, hi: number): void {
    this.room(hi - lo);
    for (let i = lo; i < hi; i++) this.buf[this.pos++] = v[i]!;
  }

  /** An unsigned varint (below 2^53). */
  varint(v: number): void {
    while (v >= 0x80) {
      this.u8((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.u8(v);
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

/** The footer being written (reused: a footer is written in one go). */
const footer = new Out();

function fieldHeader(w: Out, delta: number, type: number): void {
  w.u8((delta << 4) | type);
}

function listHeader(w: Out, size: number, type: number): void {
  if (size > 14) {
    w.u8(0xf0 | type);
    w.varint(size);
  } else w.u8((size << 4) | type);
}

/** A zigzag varint of an integer that is not negative (sizes, offsets, counts: below 2^53). */
function unsigned(w: Out, v: number): void {
  w.varint(v * 2);
}

const utf8 = new TextEncoder();

function binary(w: Out, s: string): void {
  const bytes = utf8.encode(s);
  w.varint(bytes.length);
  w.bytes(bytes);
}

const SNAPPY = CODECS.indexOf("SNAPPY");

/** ColumnMetaData fields 1-4 of leaf k: type, encodings, path_in_schema, codec. */
function chunkHead(w: Out, layout: Layout, k: number, encodings: readonly Encoding[]): void {
  fieldHeader(w, 1, I32);
  unsigned(w, layout.type[k]!);
  fieldHeader(w, 1, LIST);
  listHeader(w, encodings.length, I32);
  for (const e of encodings) unsigned(w, ENCODINGS.indexOf(e));
  fieldHeader(w, 1, LIST);
  w.range(layout.paths, layout.pathAt[k]!, layout.pathAt[k + 1]!);
  fieldHeader(w, 1, I32);
  unsigned(w, SNAPPY);
}

/** ColumnChunk field 2 (file_offset) and ColumnMetaData fields 1-7 and 9 (data_page_offset), all a chunk has. */
function chunkStart(w: Out, layout: Layout, k: number, encodings: readonly Encoding[], sizes: Sizes): void {
  const [fileOffset, values, uncompressed, compressed, dataPage] = sizes;
  fieldHeader(w, 2, I64);
  unsigned(w, Number(fileOffset));
  fieldHeader(w, 1, STRUCT);
  chunkHead(w, layout, k, encodings);
  fieldHeader(w, 1, I64);
  unsigned(w, Number(values));
  fieldHeader(w, 1, I64);
  unsigned(w, Number(uncompressed));
  fieldHeader(w, 1, I64);
  unsigned(w, Number(compressed));
  fieldHeader(w, 2, I64);
  unsigned(w, Number(dataPage));
}

type Sizes = readonly [fileOffset: number | bigint, values: number | bigint, uncompressed: number | bigint, compressed: number | bigint, dataPage: number | bigint];

/** What follows a null chunk's null count: the statistics' NaN count (floating point), encoding_stats (one data page), the stops. */
const nullTails = new Map<string, Uint8Array>();

function nullTail(encoding: Encoding, float: boolean): Uint8Array {
  const key = `${encoding}:${float}`;
  let t = nullTails.get(key);
  if (!t) {
    const w = new Out();
    if (float) {
      fieldHeader(w, 6, I64);
      unsigned(w, 0);
    }
    w.u8(STOP); // Statistics
    fieldHeader(w, 1, LIST);
    listHeader(w, 1, STRUCT);
    encodingStat(w, "DATA_PAGE_V2", encoding, 1);
    w.u8(STOP); // ColumnMetaData
    w.u8(STOP); // ColumnChunk
    nullTails.set(key, (t = w.result()));
  }
  return t;
}

const NULL_ENCODINGS: Partial<Record<Encoding, readonly Encoding[]>> = { PLAIN: ["PLAIN"], RLE: ["RLE"] };

function writeNullChunkMeta(w: Out, layout: Layout, c: NullChunk): void {
  chunkStart(w, layout, c.k, NULL_ENCODINGS[c.encoding]!, [c.start, c.n, c.uncompressed, c.compressed, c.start]);
  fieldHeader(w, 3, STRUCT); // statistics: the null count
  fieldHeader(w, 3, I64);
  unsigned(w, c.n);
  const type = layout.type[c.k]!;
  w.bytes(nullTail(c.encoding, type === DOUBLE || type === FLOAT));
}

function encodingStat(w: Out, page: string, encoding: Encoding, count: number): void {
  fieldHeader(w, 1, I32);
  unsigned(w, PAGE_TYPES.indexOf(page));
  fieldHeader(w, 1, I32);
  unsigned(w, ENCODINGS.indexOf(encoding));
  fieldHeader(w, 1, I32);
  unsigned(w, count);
  w.u8(STOP);
}

/** A ColumnChunk as writeMetadata writes it, for the fields writeColumn and writeIndexes set. */
function writeChunkMeta(w: Out, layout: Layout, k: number, c: ColumnChunk): void {
  const m = c.meta_data!;
  const element = layout.schema[layout.el[k]!]!;
  if (m.key_value_metadata || m.index_page_offset !== undefined || m.bloom_filter_offset !== undefined || m.size_statistics || c.file_path !== undefined) {
    throw new Error(`column ${m.path_in_schema.join(".")}: chunk metadata this writer does not write`);
  }
  chunkStart(w, layout, k, m.encodings, [c.file_offset, m.num_values, m.total_uncompressed_size, m.total_compressed_size, m.data_page_offset]);
  let last = 9;
  if (m.dictionary_page_offset !== undefined) {
    fieldHeader(w, 11 - last, I64);
    unsigned(w, Number(m.dictionary_page_offset));
    last = 11;
  }
  if (m.statistics) {
    fieldHeader(w, 12 - last, STRUCT);
    const stats = new ByteWriter(64);
    serializeTCompactProtocol(stats, unconvertStatistics(m.statistics, element));
    w.bytes(stats.getBytes());
    last = 12;
  }
  if (m.encoding_stats) {
    fieldHeader(w, 13 - last, LIST);
    listHeader(w, m.encoding_stats.length, STRUCT);
    for (const s of m.encoding_stats) encodingStat(w, s.page_type, s.encoding, s.count);
  }
  w.u8(STOP); // ColumnMetaData
  last = 3;
  const tail: [number, number, number | bigint | undefined][] = [
    [4, I64, c.offset_index_offset],
    [5, I32, c.offset_index_length],
    [6, I64, c.column_index_offset],
    [7, I32, c.column_index_length],
  ];
  for (const [fid, type, v] of tail) {
    if (v === undefined) continue;
    fieldHeader(w, fid - last, type);
    unsigned(w, Number(v));
    last = fid;
  }
  w.u8(STOP); // ColumnChunk
}

function writeFooter(writer: ByteWriter, layout: Layout, groups: Group[], rows: number, kv: { key: string; value: string }[], createdBy: string): void {
  const w = footer;
  w.pos = 0;
  w.bytes(layout.head);
  fieldHeader(w, 1, I64);
  unsigned(w, rows);
  fieldHeader(w, 1, LIST);
  listHeader(w, groups.length, groups.length ? STRUCT : 0); // writeMetadata types an empty list 0
  for (const g of groups) {
    fieldHeader(w, 1, LIST);
    listHeader(w, g.chunks.length, STRUCT);
    g.chunks.forEach((c, k) => ("chunk" in c ? writeChunkMeta(w, layout, k, c.chunk) : writeNullChunkMeta(w, layout, c)));
    fieldHeader(w, 1, I64);
    unsigned(w, g.uncompressed); // total_byte_size
    fieldHeader(w, 1, I64);
    unsigned(w, g.rows);
    fieldHeader(w, 3, I64);
    unsigned(w, g.compressed);
    w.u8(STOP);
  }
  fieldHeader(w, 1, LIST);
  listHeader(w, kv.length, STRUCT);
  for (const { key, value } of kv) {
    fieldHeader(w, 1, BINARY);
    binary(w, key);
    fieldHeader(w, 1, BINARY);
    binary(w, value);
    w.u8(STOP);
  }
  fieldHeader(w, 1, BINARY);
  binary(w, createdBy);
  w.bytes(layout.orders);
  w.u8(STOP);
  writer.appendBytes(w.buf.subarray(0, w.pos));
  writer.appendUint32(w.pos);
}

// --- the file -----------------------------------------------------------------------------------

export interface ClassRows {
  classUid: number;
  rows: readonly Record<string, unknown>[];
  /** A top-level leaf column the caller fills after the others, from the row and its misfits (JSON text or null). */
  late: string;
  lateValue: (row: Record<string, unknown>, misfits: Misfits) => string | null;
  kvMetadata: { key: string; value: string }[];
  createdBy: string;
}

function resetLeaves(top: readonly Node[]): void {
  for (const n of top) n.pend = 0;
  for (const leaf of leaves) {
    leaf.n = 0;
    leaf.filled = 0;
    leaf.encoder = undefined;
    if (leaf.uniform) continue; // its arrays were never filled
    leaf.uniform = true;
    leaf.defs = NO_LEVELS;
    leaf.reps = NO_LEVELS;
    leaf.values = undefined;
  }
}

/**
 * One Parquet file of `rows` in the nested schema of their class (rows in the order given). A value
 * that does not fit its column (wrong type, a member the schema does not define) is left out of it and
 * handed to `lateValue` in the row's misfits under its path ("a.b", "a[2].c"). Undefined for a class
 * without a schema.
 */
export function writeClassParquet(f: ClassRows): Uint8Array | undefined {
  const layout = layoutOf(f.classUid);
  if (!layout) return undefined;
  const lateNode = layout.top.find((n) => n.field.name === f.late);
  if (!lateNode || lateNode.members || lateNode.field.list) throw new Error(`column ${f.late} is not a top-level leaf`);
  leaves = leavesOf(layout);
  layoutNow = layout;
  const late = leaves[lateNode.lo]!;
  const writer = new ByteWriter();
  writer.appendUint32(PAR1);
  const groups: Group[] = [];
  const indexes: ColumnResult[] = [];
  try {
    for (let g = 0, start = 0; start < f.rows.length; g++) {
      const size = Math.min(ROW_GROUP_SIZE[Math.min(g, ROW_GROUP_SIZE.length - 1)]!, f.rows.length - start);
      resetLeaves(layout.top);
      for (let r = start; r < start + size; r++) {
        const row = f.rows[r]!;
        misfits = {};
        for (const n of layout.top) {
          if (n === lateNode) continue;
          const v = row[n.field.name];
          if (v === undefined || v === null) absentTop(n, 0);
          else if (n.field.list && Array.isArray(v) && v.length === 0) absentTop(n, 1);
          else {
            flushTop(n);
            at[0] = n.field.name;
            depth = 1;
            shred(n, v, 0, 0);
          }
        }
        depth = 0;
        const text = f.lateValue(row, misfits);
        if (text === null) push(late, 0, 0, null);
        else {
          late.filled++;
          push(late, 1, 0, text);
        }
      }
      for (const n of layout.top) flushTop(n);
      groups.push(writeGroup(writer, size, indexes));
      start += size;
    }
  } finally {
    depth = 0;
    misfits = {};
    resetLeaves(layout.top);
    leaves = [];
    layoutNow = undefined;
  }
  writeIndexes(writer, indexes);
  writeFooter(writer, layout, groups, f.rows.length, f.kvMetadata, f.createdBy);
  writer.appendUint32(PAR1);
  return new Uint8Array(writer.getBuffer());
}

/** What the writer keeps between files (for tests and benchmarks): classes, their leaves, pooled leaves and what they hold, cached pages and tails. */
export function parquetWriterCaches(): { classes: number; leaves: number; pooled: number; encoders: number; levels: number; nullPages: number; nullPagesKept: number; nullPageBytes: number; nullTails: number } {
  let leaves = 0;
  for (const l of layouts.values()) leaves += l.el.length;
  let nullPageBytes = 0;
  for (const p of nullPages.values()) nullPageBytes += p.bytes.byteLength;
  return {
    classes: layouts.size,
    leaves,
    pooled: pool.length,
    encoders: pool.filter((l) => l.encoder !== undefined).length,
    levels: pool.filter((l) => l.defs !== NO_LEVELS || l.reps !== NO_LEVELS || l.values !== undefined).length,
    nullPages: nullPages.size,
    nullPagesKept: NULL_PAGES_KEPT,
    nullPageBytes,
    nullTails: nullTails.size,
  };
}
