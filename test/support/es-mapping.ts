// Elasticsearch's dynamic mapping, as far as the fake _bulk server needs it to refuse what a real
// cluster refuses (mapping reference: "Dynamic field mapping", "Dynamic templates", "flattened",
// "Mapping limit settings"; elastic/elasticsearch#22794 for dotted names):
// - a field's type is fixed by the first document that has it (boolean -> boolean, integer -> long,
//   fraction -> float, string -> date when date detection is on and it looks like
//   strict_date_optional_time or yyyy/MM/dd, else text with a .keyword sub-field, object -> object);
// - dotted names are expanded into objects ("evt.time" is field "time" of object "evt");
// - then an object where a leaf is mapped, a leaf where an object is mapped, a value the mapped type
//   cannot take (not a number for long/float, not a date for date, not true/false for boolean) fail
//   the document (400 document_parsing_exception; ES < 8.8 said mapper_parsing_exception);
// - a document whose new fields would take the mapping past index.mapping.total_fields.limit (default
//   1000; objects and multi-fields count) fails with illegal_argument_exception;
// - an index template (_index_template body: index_patterns, priority, data_stream,
//   template.settings, template.mappings with properties, dynamic_templates, date_detection) seeds the
//   mapping of an index it matches when the index is created; `flattened` (or OpenSearch's
//   `flat_object`) takes any object below it as one field, each leaf a keyword (a leaf over 32766 bytes
//   fails the document unless ignore_above skips it); a data stream takes only `create` and
//   requires a date in @timestamp.
// Left out: null_value, copy_to, nested, runtime fields, `dynamic: false/strict`, coerce: false, numeric
// detection, date formats other than those named here.

export interface EsFailure {
  status: number;
  type: string;
  reason: string;
}

interface Field {
  type: string;
  format?: string;
  /** keyword/flattened: longer leaf values are not indexed (and so cannot be an immense term). */
  ignoreAbove?: number;
}

interface DynamicTemplate {
  match?: string;
  pathMatch?: string;
  mappingType?: string;
  mapping: Field;
}

export interface IndexTemplate {
  name: string;
  patterns: string[];
  priority: number;
  dataStream: boolean;
  limit: number;
  dateDetection: boolean;
  fields: Map<string, Field>;
  dynamic: DynamicTemplate[];
}

const FLAT = new Set(["flattened", "flat_object"]);
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;
const SLASH_DATE = /^\d{4}\/\d{2}\/\d{2}(?: \d{2}:\d{2}:\d{2}(?: [+-]\d{4})?)?$/;
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

const glob = (pattern: string, s: string): boolean => new RegExp(`^${pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`).test(s);

function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** Reads an _index_template body (the shape PUT _index_template/<name> takes). */
export function parseIndexTemplate(name: string, body: unknown): IndexTemplate {
  const b = obj(body) ?? {};
  const t = obj(b.template) ?? {};
  const settings = obj(t.settings) ?? {};
  const nested = obj(obj(obj(settings.index)?.mapping)?.total_fields)?.limit;
  const limit = Number(settings["index.mapping.total_fields.limit"] ?? nested ?? 1000);
  const mappings = obj(t.mappings) ?? {};
  const fields = new Map<string, Field>();
  const walk = (props: Record<string, unknown>, prefix: string): void => {
    for (const [k, v] of Object.entries(props)) {
      const def = obj(v) ?? {};
      const path = prefix + k;
      const sub = obj(def.properties);
      if (sub || def.type === undefined || def.type === "object") {
        fields.set(path, { type: "object" });
        if (sub) walk(sub, `${path}.`);
      } else {
        fields.set(path, {
          type: String(def.type),
          format: typeof def.format === "string" ? def.format : undefined,
          ignoreAbove: typeof def.ignore_above === "number" ? def.ignore_above : undefined,
        });
        for (const multi of Object.keys(obj(def.fields) ?? {})) fields.set(`${path}.${multi}`, { type: "multi" });
      }
    }
  };
  walk(obj(mappings.properties) ?? {}, "");
  const dynamic: DynamicTemplate[] = [];
  for (const entry of Array.isArray(mappings.dynamic_templates) ? mappings.dynamic_templates : []) {
    for (const d of Object.values(obj(entry) ?? {})) {
      const o = obj(d) ?? {};
      const m = obj(o.mapping) ?? {};
      dynamic.push({
        match: typeof o.match === "string" ? o.match : undefined,
        pathMatch: typeof o.path_match === "string" ? o.path_match : undefined,
        mappingType: typeof o.match_mapping_type === "string" ? o.match_mapping_type : undefined,
        mapping: { type: String(m.type ?? "object"), format: typeof m.format === "string" ? m.format : undefined },
      });
    }
  }
  const patterns = Array.isArray(b.index_patterns) ? b.index_patterns.map(String) : [String(b.index_patterns ?? "")];
  return { name, patterns, priority: Number(b.priority ?? 0), dataStream: b.data_stream !== undefined, limit, dateDetection: mappings.date_detection !== false, fields, dynamic };
}

/** The JSON type dynamic mapping sees (match_mapping_type's names). */
function jsonType(v: unknown, dateDetection: boolean): string {
  if (typeof v === "boolean") return "boolean";
  if (typeof v === "number") return Number.isInteger(v) ? "long" : "double";
  if (typeof v === "string") return dateDetection && (ISO_DATE.test(v) || SLASH_DATE.test(v)) ? "date" : "string";
  return "object";
}

function isDate(v: unknown, format: string | undefined): boolean {
  const formats = (format ?? "strict_date_optional_time||epoch_millis").split("||");
  if (typeof v === "number") return formats.includes("epoch_millis") && Number.isFinite(v);
  if (typeof v !== "string") return false;
  return formats.some((f) => (f === "epoch_millis" ? NUMBER.test(v) : f.includes("/") ? SLASH_DATE.test(v) : ISO_DATE.test(v)));
}

/** Whether a leaf value fits a mapped leaf type (with ES's default coercion). */
function fits(field: Field, v: unknown): boolean {
  switch (field.type) {
    case "long":
    case "integer":
    case "float":
    case "double":
      return typeof v === "number" || (typeof v === "string" && NUMBER.test(v.trim()));
    case "boolean":
      return typeof v === "boolean" || v === "true" || v === "false" || v === "";
    case "date":
      return isDate(v, field.format);
    default:
      return true; // text, keyword: any scalar is indexed as its text
  }
}

/** Lucene's longest term (bytes): a longer keyword value fails the document unless ignore_above skips it. */
const MAX_TERM_BYTES = 32766;

/** The failure for a flattened leaf value (indexed as a keyword) that is an immense term. */
function immenseTerm(path: string, v: unknown, ignoreAbove: number | undefined): EsFailure | undefined {
  if (typeof v === "object" && v !== null) {
    for (const x of Object.values(v)) {
      const f = immenseTerm(path, x, ignoreAbove);
      if (f) return f;
    }
    return undefined;
  }
  const text = String(v);
  if (ignoreAbove !== undefined && text.length > ignoreAbove) return undefined;
  const bytes = Buffer.byteLength(text);
  return bytes > MAX_TERM_BYTES
    ? { status: 400, type: "illegal_argument_exception", reason: `Document contains at least one immense term in field="${path}" (whose UTF8 encoding is longer than the max length ${MAX_TERM_BYTES})` }
    : undefined;
}

/** One index's mapping; index() checks a document against it and adds its new fields. */
export class IndexMapping {
  readonly fields: Map<string, Field>;
  readonly template: IndexTemplate | undefined;

  constructor(template: IndexTemplate | undefined) {
    this.template = template;
    this.fields = new Map(template?.fields ?? []);
  }

  get dataStream(): boolean {
    return this.template?.dataStream ?? false;
  }

  /** The failure ES reports for this document, or undefined when it is indexed (its new fields kept). */
  index(source: Record<string, unknown>, op: string): EsFailure | undefined {
    if (this.dataStream) {
      if (op !== "create") return { status: 400, type: "illegal_argument_exception", reason: "only write ops with an op_type of create are allowed in data streams" };
      if (!("@timestamp" in source)) return { status: 400, type: "document_parsing_exception", reason: "data stream timestamp field [@timestamp] is missing" };
      if (!this.fields.has("@timestamp")) this.fields.set("@timestamp", { type: "date" });
    }
    const added = new Map<string, Field>();
    const lookup = (p: string): Field | undefined => added.get(p) ?? this.fields.get(p);
    const fail = (reason: string): EsFailure => ({ status: 400, type: "document_parsing_exception", reason });

    const dynamicField = (path: string, v: unknown): Field => {
      const type = jsonType(v, this.template?.dateDetection ?? true);
      const name = path.slice(path.lastIndexOf(".") + 1);
      for (const d of this.template?.dynamic ?? []) {
        if (d.mappingType !== undefined && d.mappingType !== "*" && d.mappingType !== type) continue;
        if (d.match !== undefined && !glob(d.match, name)) continue;
        if (d.pathMatch !== undefined && !glob(d.pathMatch, path)) continue;
        return d.mapping;
      }
      if (type === "double") return { type: "float" };
      if (type === "date") return { type: "date", format: ISO_DATE.test(String(v)) ? "strict_date_optional_time" : "yyyy/MM/dd HH:mm:ss Z||yyyy/MM/dd Z" };
      return { type: type === "string" ? "text" : type };
    };

    const value = (path: string, v: unknown): EsFailure | undefined => {
      if (v === null || v === undefined) return undefined;
      if (Array.isArray(v)) {
        for (const x of v) {
          const f = value(path, x);
          if (f) return f;
        }
        return undefined;
      }
      let field = lookup(path);
      const o = obj(v);
      if (!field) {
        field = dynamicField(path, v);
        added.set(path, field);
        if (field.type === "text") added.set(`${path}.keyword`, { type: "multi" });
      }
      if (FLAT.has(field.type)) return o ? immenseTerm(path, o, field.ignoreAbove) : fail(`failed to parse field [${path}] of type [${field.type}]: expected an object but found a value`);
      if (field.type === "object") return o ? walk(o, `${path}.`) : fail(`object mapping for [${path}] tried to parse field [${path}] as object, but found a concrete value`);
      if (o) return fail(`failed to parse field [${path}] of type [${field.type}]: found an object`);
      return fits(field, v) ? undefined : fail(`failed to parse field [${path}] of type [${field.type}]. Preview of field's value: '${String(v).slice(0, 40)}'`);
    };

    const walk = (o: Record<string, unknown>, prefix: string): EsFailure | undefined => {
      for (const [k, v] of Object.entries(o)) {
        if (k.trim() === "" || k.split(".").some((p) => p === "")) return fail(`field name cannot contain only whitespace or empty segments: ['${k}']`);
        const parts = k.split(".");
        let path = prefix;
        let target: [string, unknown] = [prefix + k, v];
        // dotted name: every part but the last is an object (or inside a flattened field)
        for (let j = 0; j < parts.length - 1; j++) {
          path += parts[j]!;
          const f = lookup(path);
          if (!f) added.set(path, { type: "object" });
          else if (FLAT.has(f.type)) {
            target = [path, { [parts.slice(j + 1).join(".")]: v }];
            break;
          } else if (f.type !== "object") return fail(`Could not dynamically add mapping for field [${prefix}${k}]. Existing mapping for [${path}] must be of type object but found [${f.type}].`);
          path += ".";
        }
        const f = value(target[0], target[1]);
        if (f) return f;
      }
      return undefined;
    };

    const failure = walk(source, "");
    if (failure) return failure;
    const limit = this.template?.limit ?? 1000;
    if (this.fields.size + added.size > limit) {
      return { status: 400, type: "illegal_argument_exception", reason: `Limit of total fields [${limit}] has been exceeded while adding new fields [${added.size}]` };
    }
    for (const [p, f] of added) this.fields.set(p, f);
    return undefined;
  }
}

/** The template an index name gets: the matching one of highest priority. */
export function templateFor(templates: Iterable<IndexTemplate>, index: string): IndexTemplate | undefined {
  let best: IndexTemplate | undefined;
  for (const t of templates) if (t.patterns.some((p) => glob(p, index)) && (!best || t.priority > best.priority)) best = t;
  return best;
}
