// OCSF event validator over the vendored official schema files (schema/ocsf-<version>/). Node only.
//
// It compiles classes and objects the way the OCSF schema server does: `extends` chains (base_event,
// category bases, object bases such as _entity), `$include` of includes/ and profiles/ files, dictionary
// attribute types merged with the class/object overrides (enums are merged key by key), and checks an event
// for: unknown classes, unknown attributes (except inside `object`/`json_t` typed attributes such as
// `unmapped` or `enrichments[].data`), required attributes, value types (string/integer/long/float/boolean/
// timestamp, regex-typed strings such as ip_t, arrays via is_array, nested objects), enum values,
// enum sibling captions, object constraints (at_least_one, just_one), the class_uid / type_uid formulas,
// metadata.version and metadata.profiles, and observables[].type_id (and that it matches the type of the
// attribute the observable names, when that attribute has an observable type).
//
// validateOcsf returns human-readable problems, e.g. "finding_info.title: required attribute missing";
// an empty list means the event is valid.
import { readFileSync, readdirSync, statSync, existsSync } from "node:fs";
import { join, dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";

type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };
type JsonObj = { [k: string]: JsonValue };

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

function isObj(v: unknown): v is JsonObj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

interface EnumItem {
  caption?: string;
}

/** One compiled attribute of a class or object. */
interface Attr {
  name: string;
  /** Dictionary type: a *_t scalar type, "object" (open object) or an object name. */
  type: string;
  isArray: boolean;
  requirement: "required" | "recommended" | "optional";
  enum?: Record<string, EnumItem>;
  sibling?: string;
  /** Set when the attribute comes from a profile (only required when the profile is applied). */
  profile?: string;
  observable?: number;
}

interface Compiled {
  name: string;
  attrs: Map<string, Attr>;
  constraints: { at_least_one?: string[]; just_one?: string[] };
  /** Profiles this class/object declares (own and inherited). */
  profiles: Set<string>;
  observable?: number;
}

interface EventClass extends Compiled {
  uid: number;
  classUid: number;
  categoryUid: number;
  caption: string;
}

interface ScalarType {
  base: "string_t" | "integer_t" | "long_t" | "float_t" | "boolean_t" | "json_t";
  regex?: RegExp;
  maxLen?: number;
  range?: [number, number];
  observable?: number;
}

function readJson(path: string): JsonObj {
  const v = JSON.parse(readFileSync(path, "utf8")) as JsonValue;
  if (!isObj(v)) throw new Error(`${path}: not a JSON object`);
  return v;
}

function listJson(dir: string): string[] {
  const out: string[] = [];
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...listJson(p));
    else if (e.endsWith(".json")) out.push(p);
  }
  return out.sort();
}

/** Deep merge of attribute definitions: later wins; nested objects (enum maps) are merged key by key. */
function merge(a: JsonObj | undefined, b: JsonObj | undefined): JsonObj {
  const out: JsonObj = { ...(a ?? {}) };
  for (const [k, v] of Object.entries(b ?? {})) {
    const prev = out[k];
    out[k] = isObj(prev) && isObj(v) ? merge(prev, v) : v;
  }
  return out;
}

class Schema {
  readonly version: string;
  private readonly root: string;
  private readonly dict: JsonObj;
  private readonly types = new Map<string, ScalarType>();
  private readonly objectFiles = new Map<string, JsonObj>();
  private readonly classFiles = new Map<string, JsonObj>();
  private readonly categories = new Map<string, { uid: number; caption: string }>();
  private readonly objects = new Map<string, Compiled>();
  readonly classesByUid = new Map<number, EventClass>();
  private readonly classesByName = new Map<string, EventClass>();
  readonly profileNames = new Set<string>();
  readonly observableIds = new Set<number>([0, 99]);

  constructor(version: string) {
    this.version = version;
    this.root = join(REPO_ROOT, "schema", `ocsf-${version}`);
    if (!existsSync(this.root)) throw new Error(`OCSF schema ${version} is not vendored (no ${relative(REPO_ROOT, this.root)})`);
    this.dict = readJson(join(this.root, "dictionary.json"));
    this.loadTypes();
    const cats = readJson(join(this.root, "categories.json")).attributes;
    if (isObj(cats)) {
      for (const [name, c] of Object.entries(cats)) {
        if (isObj(c) && typeof c.uid === "number") this.categories.set(name, { uid: c.uid, caption: String(c.caption ?? name) });
      }
    }
    for (const p of listJson(join(this.root, "profiles"))) {
      const d = readJson(p);
      if (typeof d.name === "string") this.profileNames.add(d.name);
    }
    for (const p of listJson(join(this.root, "objects"))) {
      const d = readJson(p);
      if (typeof d.name === "string") this.objectFiles.set(d.name, d);
    }
    for (const p of listJson(join(this.root, "events"))) {
      const d = readJson(p);
      if (typeof d.name === "string") this.classFiles.set(d.name, d);
    }
    for (const [k, a] of Object.entries(this.dictAttrs())) {
      if (isObj(a) && typeof a.observable === "number") this.observableIds.add(a.observable);
      void k;
    }
    for (const t of this.types.values()) if (t.observable !== undefined) this.observableIds.add(t.observable);
    for (const d of this.objectFiles.values()) {
      if (typeof d.observable === "number") this.observableIds.add(d.observable);
      this.collectAttrObservables(d);
    }
    for (const d of this.classFiles.values()) this.collectAttrObservables(d);
    for (const name of this.classFiles.keys()) {
      const c = this.compileClass(name);
      if (c.uid >= 0 && this.isConcrete(name)) this.classesByUid.set(c.classUid, c);
    }
  }

  private collectAttrObservables(d: JsonObj): void {
    if (!isObj(d.attributes)) return;
    for (const a of Object.values(d.attributes)) if (isObj(a) && typeof a.observable === "number") this.observableIds.add(a.observable);
  }

  private dictAttrs(): JsonObj {
    const a = this.dict.attributes;
    return isObj(a) ? a : {};
  }

  private loadTypes(): void {
    const t = this.dict.types;
    const defs = isObj(t) && isObj(t.attributes) ? t.attributes : {};
    const resolve = (name: string, seen: number): ScalarType => {
      const d = defs[name];
      if (!isObj(d) || seen > 8) throw new Error(`unknown OCSF type ${name}`);
      const parent = typeof d.type === "string" ? resolve(d.type, seen + 1) : undefined;
      const base =
        parent?.base ??
        (name === "timestamp_t" ? "long_t" : (name as ScalarType["base"]));
      const out: ScalarType = { base };
      if (parent?.regex) out.regex = parent.regex;
      if (parent?.maxLen !== undefined) out.maxLen = parent.maxLen;
      if (typeof d.regex === "string") out.regex = new RegExp(d.regex);
      if (typeof d.max_len === "number") out.maxLen = d.max_len;
      if (Array.isArray(d.range) && typeof d.range[0] === "number" && typeof d.range[1] === "number") out.range = [d.range[0], d.range[1]];
      if (typeof d.observable === "number") out.observable = d.observable;
      return out;
    };
    for (const name of Object.keys(defs)) this.types.set(name, resolve(name, 0));
  }

  scalarType(name: string): ScalarType | undefined {
    return this.types.get(name);
  }

  private isConcrete(name: string): boolean {
    const d = this.classFiles.get(name);
    return d !== undefined && (typeof d.uid === "number" || name === "base_event");
  }

  /** Raw attribute definitions of a class/object file after `extends` and `$include` (not yet merged with the dictionary). */
  private rawAttrs(
    file: JsonObj,
    lookup: (name: string) => JsonObj | undefined,
    seen: Set<string>,
  ): { attrs: Map<string, { def: JsonObj; profile?: string }>; profiles: Set<string>; constraints: Compiled["constraints"] } {
    let attrs = new Map<string, { def: JsonObj; profile?: string }>();
    let profiles = new Set<string>();
    let constraints: Compiled["constraints"] = {};
    const name = String(file.name);
    if (seen.has(name)) throw new Error(`OCSF schema: extends cycle at ${name}`);
    seen.add(name);
    if (typeof file.extends === "string") {
      const parent = lookup(file.extends);
      if (!parent) throw new Error(`OCSF schema: ${name} extends unknown ${file.extends}`);
      const p = this.rawAttrs(parent, lookup, seen);
      attrs = p.attrs;
      profiles = p.profiles;
      constraints = p.constraints;
    }
    if (Array.isArray(file.profiles)) for (const p of file.profiles) if (typeof p === "string") profiles.add(p);
    const own = isObj(file.attributes) ? file.attributes : {};
    const includes = Array.isArray(own.$include) ? own.$include : [];
    for (const inc of includes) {
      if (typeof inc !== "string") continue;
      const d = readJson(join(this.root, inc));
      const profile = d.meta === "profile" && typeof d.name === "string" ? d.name : undefined;
      if (profile) profiles.add(profile);
      const annotations = isObj(d.annotations) ? d.annotations : {};
      for (const [k, v] of Object.entries(isObj(d.attributes) ? d.attributes : {})) {
        if (!isObj(v)) continue;
        const prev = attrs.get(k);
        const def = merge(merge(prev?.def, annotations), v);
        // an attribute already defined outside the profile stays unconditional
        const entry: { def: JsonObj; profile?: string } = { def };
        if (prev ? prev.profile !== undefined && profile !== undefined : profile !== undefined) entry.profile = prev?.profile ?? profile;
        attrs.set(k, entry);
      }
    }
    for (const [k, v] of Object.entries(own)) {
      if (k === "$include" || !isObj(v)) continue;
      const prev = attrs.get(k);
      const entry: { def: JsonObj; profile?: string } = { def: merge(prev?.def, v) };
      if (prev?.profile !== undefined) entry.profile = prev.profile;
      attrs.set(k, entry);
    }
    if (isObj(file.constraints)) {
      const c: Compiled["constraints"] = {};
      for (const key of ["at_least_one", "just_one"] as const) {
        const list = file.constraints[key];
        if (Array.isArray(list)) c[key] = list.filter((x): x is string => typeof x === "string");
      }
      constraints = c;
    }
    return { attrs, profiles, constraints };
  }

  private finish(owner: string, raw: ReturnType<Schema["rawAttrs"]>): Map<string, Attr> {
    const out = new Map<string, Attr>();
    const dict = this.dictAttrs();
    for (const [k, { def, profile }] of raw.attrs) {
      const base = dict[k];
      if (!isObj(base)) throw new Error(`OCSF schema: ${owner}.${k} is not in the dictionary`);
      const d = merge(base, def);
      const type = typeof d.type === "string" ? d.type : "string_t";
      const req = d.requirement === "required" || d.requirement === "recommended" ? d.requirement : "optional";
      const a: Attr = { name: k, type, isArray: d.is_array === true, requirement: req };
      if (isObj(d.enum)) {
        const e: Record<string, EnumItem> = {};
        for (const [ek, ev] of Object.entries(d.enum)) e[ek] = isObj(ev) && typeof ev.caption === "string" ? { caption: ev.caption } : {};
        a.enum = e;
      }
      if (typeof d.sibling === "string") a.sibling = d.sibling;
      if (profile !== undefined) a.profile = profile;
      const obs = typeof d.observable === "number" ? d.observable : this.types.get(type)?.observable;
      if (obs !== undefined) a.observable = obs;
      out.set(k, a);
    }
    return out;
  }

  object(name: string): Compiled | undefined {
    const hit = this.objects.get(name);
    if (hit) return hit;
    const file = this.objectFiles.get(name);
    if (!file) return undefined;
    const raw = this.rawAttrs(file, (n) => this.objectFiles.get(n), new Set());
    const c: Compiled = { name, attrs: this.finish(name, raw), constraints: raw.constraints, profiles: raw.profiles };
    if (typeof file.observable === "number") c.observable = file.observable;
    const typeId = c.attrs.get("type_id");
    if (name === "observable" && typeId) {
      // the observable type ids are collected from the types, objects and attributes that declare one
      typeId.enum = { ...(typeId.enum ?? {}) };
      for (const id of this.observableIds) typeId.enum[String(id)] ??= {};
    }
    this.objects.set(name, c);
    return c;
  }

  private categoryOf(name: string): string | undefined {
    let d = this.classFiles.get(name);
    for (let i = 0; d && i < 10; i++) {
      if (typeof d.category === "string") return d.category;
      d = typeof d.extends === "string" ? this.classFiles.get(d.extends) : undefined;
    }
    return undefined;
  }

  private compileClass(name: string): EventClass {
    const hit = this.classesByName.get(name);
    if (hit) return hit;
    const file = this.classFiles.get(name)!;
    const raw = this.rawAttrs(file, (n) => this.classFiles.get(n), new Set());
    const cat = this.categories.get(this.categoryOf(name) ?? "");
    const uid = typeof file.uid === "number" ? file.uid : name === "base_event" ? 0 : -1;
    const categoryUid = cat?.uid ?? 0;
    const c: EventClass = {
      name,
      attrs: this.finish(name, raw),
      constraints: raw.constraints,
      profiles: raw.profiles,
      uid,
      categoryUid,
      classUid: categoryUid * 1000 + uid,
      caption: String(file.caption ?? name),
    };
    // the classification enums of a concrete class are its own ids (as the schema server compiles them)
    const classUidAttr = c.attrs.get("class_uid");
    if (classUidAttr) classUidAttr.enum = { [String(c.classUid)]: { caption: c.caption } };
    const catAttr = c.attrs.get("category_uid");
    if (catAttr) catAttr.enum = { [String(categoryUid)]: cat ? { caption: cat.caption } : {} };
    // profiles of objects reachable from the class can also be applied (e.g. container via process)
    const seen = new Set<string>();
    const walk = (attrs: Map<string, Attr>, depth: number) => {
      if (depth > 12) return;
      for (const a of attrs.values()) {
        if (seen.has(a.type)) continue;
        const o = this.object(a.type);
        if (!o) continue;
        seen.add(a.type);
        for (const p of o.profiles) c.profiles.add(p);
        walk(o.attrs, depth + 1);
      }
    };
    walk(c.attrs, 0);
    this.classesByName.set(name, c);
    return c;
  }
}

const schemas = new Map<string, Schema>();
function schemaFor(version: string): Schema {
  let s = schemas.get(version);
  if (!s) {
    s = new Schema(version);
    schemas.set(version, s);
  }
  return s;
}

/** The observable type ids defined by a schema version (for tests and normalizers' self-checks). */
export function observableTypeIds(version = "1.3.0"): Set<number> {
  return new Set(schemaFor(version).observableIds);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + "..." : v)}`;
  if (typeof v === "object") return "an object";
  return `${typeof v} ${String(v)}`;
}

const INT32: [number, number] = [-2147483648, 2147483647];

class Checker {
  readonly problems: string[] = [];
  constructor(
    private readonly schema: Schema,
    private readonly applied: Set<string>,
  ) {}

  private add(path: string, msg: string): void {
    this.problems.push(`${path || "(event)"}: ${msg}`);
  }

  checkObject(path: string, value: JsonObj, c: Compiled): void {
    for (const [k, v] of Object.entries(value)) {
      const p = path ? `${path}.${k}` : k;
      const a = c.attrs.get(k);
      if (!a) {
        // datetime profile: <timestamp attribute>_dt siblings in RFC 3339
        const ts = k.endsWith("_dt") ? c.attrs.get(k.slice(0, -3)) : undefined;
        if (ts && ts.type === "timestamp_t") {
          this.checkValue(p, v, { name: k, type: "datetime_t", isArray: ts.isArray, requirement: "optional" });
          continue;
        }
        this.add(path, `unknown attribute '${k}'`);
        continue;
      }
      this.checkValue(p, v, a);
      if (a.enum && a.sibling && typeof value[a.sibling] === "string" && (typeof v === "number" || typeof v === "string")) {
        const item = a.enum[String(v)];
        if (item?.caption !== undefined && String(v) !== "99" && value[a.sibling] !== item.caption) {
          this.add(p, `${String(v)} is '${item.caption}' but ${a.sibling} is '${String(value[a.sibling])}'`);
        }
      }
    }
    for (const a of c.attrs.values()) {
      if (a.requirement !== "required") continue;
      if (a.profile !== undefined && !this.applied.has(a.profile)) continue;
      if (value[a.name] === undefined) this.add(path ? `${path}.${a.name}` : a.name, "required attribute missing");
    }
    const present = (k: string) => value[k] !== undefined && value[k] !== null;
    const alo = c.constraints.at_least_one;
    if (alo && alo.length && !alo.some(present)) this.add(path, `at least one of [${alo.join(", ")}] is required`);
    const jo = c.constraints.just_one;
    if (jo && jo.length && jo.filter(present).length !== 1) this.add(path, `exactly one of [${jo.join(", ")}] is required`);
  }

  checkValue(path: string, v: JsonValue, a: Attr): void {
    if (v === null) {
      this.add(path, "is null (omit absent attributes)");
      return;
    }
    if (a.isArray) {
      if (!Array.isArray(v)) {
        this.add(path, `expected an array, got ${describe(v)}`);
        return;
      }
      v.forEach((x, i) => this.checkOne(`${path}[${i}]`, x, a));
      return;
    }
    if (Array.isArray(v) && a.type !== "json_t") {
      this.add(path, `expected a single value of ${a.type}, got an array`);
      return;
    }
    this.checkOne(path, v, a);
  }

  private checkOne(path: string, v: JsonValue, a: Attr): void {
    if (v === null) {
      this.add(path, "is null (omit absent attributes)");
      return;
    }
    if (a.type === "object") {
      if (!isObj(v)) this.add(path, `expected an object, got ${describe(v)}`);
      return;
    }
    const obj = this.schema.object(a.type);
    if (obj) {
      if (!isObj(v)) {
        this.add(path, `expected object ${a.type}, got ${describe(v)}`);
        return;
      }
      this.checkObject(path, v, obj);
      return;
    }
    const t = this.schema.scalarType(a.type);
    if (!t) {
      this.add(path, `schema type ${a.type} is unknown`);
      return;
    }
    switch (t.base) {
      case "json_t":
        break;
      case "string_t":
        if (typeof v !== "string") this.add(path, `expected ${a.type} (a string), got ${describe(v)}`);
        else {
          if (t.maxLen !== undefined && v.length > t.maxLen) this.add(path, `longer than ${t.maxLen} characters (${a.type})`);
          if (t.regex && !t.regex.test(v)) this.add(path, `${describe(v)} is not a valid ${a.type}`);
        }
        break;
      case "boolean_t":
        if (typeof v !== "boolean") this.add(path, `expected boolean_t, got ${describe(v)}`);
        break;
      case "float_t":
        if (typeof v !== "number" || !Number.isFinite(v)) this.add(path, `expected float_t (a number), got ${describe(v)}`);
        break;
      case "integer_t":
      case "long_t": {
        if (typeof v !== "number" || !Number.isInteger(v)) {
          this.add(path, `expected ${a.type} (an integer), got ${describe(v)}`);
          break;
        }
        const range: [number, number] | undefined = t.range ?? (t.base === "integer_t" ? INT32 : undefined);
        if (t.base === "long_t" && !Number.isSafeInteger(v)) this.add(path, `${v} is not an exact 64-bit integer (beyond 2^53)`);
        if (range && (v < range[0] || v > range[1])) this.add(path, `${v} is outside ${a.type} range [${range[0]}, ${range[1]}]`);
        break;
      }
    }
    if (a.enum && (typeof v === "number" || typeof v === "string") && !(String(v) in a.enum)) {
      this.add(path, `${typeof v === "string" ? JSON.stringify(v) : v} is not in enum (${Object.keys(a.enum).join(", ")})`);
    }
  }
}

/** Follows an observable name such as "evidences[0].process.pid" through the class; returns the attribute. */
function resolveAttr(schema: Schema, cls: EventClass, name: string): Attr | undefined {
  let attrs: Map<string, Attr> | undefined = cls.attrs;
  let found: Attr | undefined;
  for (const seg of name.split(".")) {
    if (!attrs) return undefined;
    found = attrs.get(seg.replace(/\[\d*\]$/, ""));
    if (!found) return undefined;
    attrs = schema.object(found.type)?.attrs;
  }
  return found;
}

export function validateOcsf(event: unknown, opts?: { version?: string }): string[] {
  const version = opts?.version ?? "1.3.0";
  const schema = schemaFor(version);
  if (!isObj(event)) return [`(event): expected a JSON object, got ${describe(event)}`];
  const problems: string[] = [];
  const classUid = event.class_uid;
  if (typeof classUid !== "number") return ["class_uid: required attribute missing or not an integer"];
  const cls = schema.classesByUid.get(classUid);
  if (!cls) return [`class_uid: ${classUid} is not an OCSF ${version} event class`];

  const meta = isObj(event.metadata) ? event.metadata : undefined;
  const applied = new Set<string>();
  if (meta && Array.isArray(meta.profiles)) {
    meta.profiles.forEach((p, i) => {
      if (typeof p !== "string") return;
      if (!schema.profileNames.has(p)) problems.push(`metadata.profiles[${i}]: '${p}' is not an OCSF ${version} profile`);
      else if (!cls.profiles.has(p)) problems.push(`metadata.profiles[${i}]: class ${cls.caption} does not support profile '${p}'`);
      applied.add(p);
    });
  }
  const checker = new Checker(schema, applied);
  checker.checkObject("", event, cls);
  problems.push(...checker.problems);

  // formulas
  if (event.category_uid !== cls.categoryUid) problems.push(`category_uid: ${String(event.category_uid)} but class ${cls.caption} is in category ${cls.categoryUid}`);
  if (classUid !== cls.categoryUid * 1000 + cls.uid) problems.push(`class_uid: ${classUid} != category_uid*1000 + class uid (${cls.categoryUid * 1000 + cls.uid})`);
  if (typeof event.activity_id === "number" && event.type_uid !== classUid * 100 + event.activity_id) {
    problems.push(`type_uid: ${String(event.type_uid)} != class_uid*100 + activity_id (${classUid * 100 + event.activity_id})`);
  }
  if (meta && meta.version !== version) problems.push(`metadata.version: ${JSON.stringify(meta.version)} is not the schema version ${version}`);

  // observables
  if (Array.isArray(event.observables)) {
    event.observables.forEach((o, i) => {
      if (!isObj(o) || typeof o.type_id !== "number") return;
      if (!schema.observableIds.has(o.type_id)) {
        problems.push(`observables[${i}].type_id: ${o.type_id} is not an OCSF ${version} observable type id`);
        return;
      }
      if (typeof o.name !== "string") return;
      const a = resolveAttr(schema, cls, o.name);
      const expected = a ? (a.observable ?? schema.object(a.type)?.observable) : undefined;
      if (expected !== undefined && expected !== o.type_id) {
        problems.push(`observables[${i}].type_id: ${o.type_id} but ${o.name} is an observable of type ${expected}`);
      }
    });
  }
  return problems;
}
