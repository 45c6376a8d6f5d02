// Host inventory enricher (pure): finds the event's host in an inventory table keyed by hostname,
// Tetragon node name, cloud instance id or Kubernetes node (exact names or globs such as `web-*`) and
// writes owner, team, environment, criticality, region and labels into OCSF places (docs/enrichment.md):
//   device.owner {name | email_addr}, device.groups [{name: team, type: "team"},
//   {name: environment, type: "environment"}], device.region, metadata.labels ("environment:prod",
//   "criticality:high", "<label>:<value>") and an enrichments[] entry with the whole row.
// Events without a matching device (CloudTrail API calls) are looked up by the EC2 instance that made the
// call (src_endpoint.instance_uid); a hit there writes src_endpoint.owner, metadata.labels and
// enrichments[] (an endpoint has no groups or region in OCSF 1.3.0: those stay in the enrichment's data).
// It fills what the sensor left empty and never overwrites what the sensor sent.
import type { InventoryRow } from "../config/enrich";
import { inventoryRowSchema } from "../config/enrich";
import type { OcsfEvent } from "../normalize/ocsf";
import { isObject, type JsonObject } from "../normalize/json";
import { splitCsvLine } from "./feeds";

interface Entry {
  row: InventoryRow;
  pattern: string;
}

/** A row's `match` patterns as a list (it takes one or several). */
export const rowPatterns = (row: Pick<InventoryRow, "match">): readonly string[] => (Array.isArray(row.match) ? row.match : [row.match]);

/** A pattern with glob characters (`*`, `?`, `[`), matched by globMatcher; else an exact name. */
export const isGlob = (pattern: string): boolean => /[*?[]/.test(pattern);

/** The rows of one scope (one tenant's, or the untenanted ones): exact names, then globs in table order. */
class Table {
  readonly exact = new Map<string, Entry>();
  readonly globs: { match: (name: string) => boolean; entry: Entry }[] = [];

  add(row: InventoryRow): void {
    for (const p of rowPatterns(row)) {
      const key = p.toLowerCase();
      const entry = { row, pattern: p };
      if (isGlob(key)) this.globs.push({ match: globMatcher(key), entry });
      else if (!this.exact.has(key)) this.exact.set(key, entry);
    }
  }

  glob(key: string): Entry | undefined {
    return this.globs.find((g) => g.match(key))?.entry;
  }
}

/**
 * Rows without `tenants` apply to every event; rows with `tenants` only to events whose metadata.tenant_uid
 * is one of them, and those are tried first: the tenant's exact names, its globs, then the untenanted exact
 * names and globs. So two tenants' `node-1` rows never cross, and an untenanted row is the fallback.
 */
export class Inventory {
  private readonly shared = new Table();
  private readonly byTenant = new Map<string, Table>();
  private readonly memo = new Map<string, Entry | null>();
  private count = 0;

  constructor(rows: InventoryRow[]) {
    for (const row of rows) {
      const tenants = row.tenants === undefined ? [] : Array.isArray(row.tenants) ? row.tenants : [row.tenants];
      if (tenants.length === 0) this.shared.add(row);
      for (const t of new Set(tenants)) {
        let table = this.byTenant.get(t);
        if (!table) this.byTenant.set(t, (table = new Table()));
        table.add(row);
      }
    }
    for (const t of [this.shared, ...this.byTenant.values()]) this.count += t.exact.size + t.globs.length;
  }

  get size(): number {
    return this.count;
  }

  /**
   * The row for a host name seen in an event of `tenant` (metadata.tenant_uid): the tenant's rows (exact,
   * then globs in table order), then the untenanted rows (the same way); memoized per tenant and name.
   */
  find(name: string, tenant?: string): Entry | undefined {
    const key = name.toLowerCase();
    const own = tenant === undefined ? undefined : this.byTenant.get(tenant);
    const hit = (own ?? this.shared).exact.get(key);
    if (hit) return hit;
    // the length prefix keeps tenant and name apart whatever characters they hold, and an untenanted key
    // starts with ":" where a tenant's starts with a digit (a host named "3:abc/node-1" is not tenant abc's node-1)
    const memoKey = own ? `${tenant!.length}:${tenant}/${key}` : `:${key}`;
    const m = this.memo.get(memoKey);
    if (m !== undefined) return m ?? undefined;
    const found = (own && (own.glob(key) ?? this.shared.exact.get(key))) ?? this.shared.glob(key) ?? null;
    if (this.memo.size >= 10_000) this.memo.clear();
    this.memo.set(memoKey, found);
    return found ?? undefined;
  }
}

/** One character of a glob: a test of one character of the name, or STAR (any run). */
const STAR = null;
type GlobPart = ((c: string) => boolean) | typeof STAR;

/**
 * Shell-style glob: `*` any run, `?` one character, `[abc]`/`[a-z]`/`[!a]` a class; whole-name match.
 * Matched by the two-pointer wildcard walk (back to the last `*` only), at most name x glob steps: a
 * regular expression of `.*` runs (`*a*a*a*a*a*b`) backtracks for minutes on a 200-character device name,
 * and the names come from the events.
 */
export function globMatcher(glob: string): (name: string) => boolean {
  const parts: GlobPart[] = [];
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") {
      if (parts.length === 0 || parts[parts.length - 1] !== STAR) parts.push(STAR);
    } else if (c === "?") parts.push(() => true);
    else if (c === "[" && glob.indexOf("]", i + 1) > i) {
      const close = glob.indexOf("]", i + 1);
      const body = glob.slice(i + 1, close).replace(/\\/g, "\\\\");
      // a one-character class: tested on one character at a time, so it cannot backtrack
      const re = new RegExp(`^[${body.startsWith("!") ? `^${body.slice(1)}` : body}]$`);
      parts.push((x) => re.test(x));
      i = close;
    } else parts.push((x) => x === c);
  }
  return (name) => globMatch(parts, name);
}

function globMatch(parts: readonly GlobPart[], s: string): boolean {
  let i = 0;
  let j = 0;
  let starJ = -1;
  let starI = 0;
  while (i < s.length) {
    const p = j < parts.length ? parts[j] : undefined;
    if (p !== undefined && p !== STAR && p(s[i]!)) {
      i++;
      j++;
    } else if (p === STAR) {
      starJ = j++;
      starI = i;
    } else if (starJ >= 0) {
      j = starJ + 1;
      i = ++starI;
    } else return false;
  }
  while (j < parts.length && parts[j] === STAR) j++;
  return j === parts.length;
}

/**
 * Rows from a JSON array (of inventory rows) or a CSV with a header:
 * match (or hostname/host/node/instance_id), owner, team, environment, criticality, region, labels
 * ("k=v;k2=v2"), tenants (or tenant; "a|b" for several). Throws with the row number of the first bad row.
 */
export function parseInventory(text: string, format: "json" | "csv"): InventoryRow[] {
  if (format === "json") {
    const v = JSON.parse(text) as unknown;
    if (!Array.isArray(v)) throw new Error("inventory JSON must be an array of rows");
    return v.map((r, i) => {
      const p = inventoryRowSchema.safeParse(r);
      if (!p.success) throw new Error(`inventory row ${i}: ${p.error.issues.map((x) => `${x.path.join(".") || "(row)"}: ${x.message}`).join("; ")}`);
      return p.data;
    });
  }
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/).filter((l) => l.trim() !== "" && !l.startsWith("#"));
  const header = splitCsvLine(lines[0] ?? "", ",").map((h) => h.toLowerCase());
  const col = (...names: string[]) => header.findIndex((h) => names.includes(h));
  const matchCol = col("match", "hostname", "host", "node", "node_name", "instance_id", "name");
  if (matchCol < 0) throw new Error("inventory CSV needs a header with a match (or hostname) column");
  const cols = {
    owner: col("owner"),
    team: col("team"),
    environment: col("environment", "env"),
    criticality: col("criticality"),
    region: col("region"),
    labels: col("labels"),
    tenants: col("tenants", "tenant"),
  };
  return lines.slice(1).map((line, i) => {
    const f = splitCsvLine(line, ",");
    const get = (c: number) => (c >= 0 && f[c] ? f[c] : undefined);
    const match = get(matchCol);
    if (!match) throw new Error(`inventory CSV line ${i + 2}: empty match column`);
    const labels: Record<string, string> = {};
    for (const kv of (get(cols.labels) ?? "").split(";")) {
      const eq = kv.indexOf("=");
      if (eq > 0) labels[kv.slice(0, eq).trim()] = kv.slice(eq + 1).trim();
    }
    const row: InventoryRow = { match: names(match) };
    for (const k of ["owner", "team", "environment", "criticality", "region"] as const) {
      const v = get(cols[k]);
      if (v) row[k] = v;
    }
    if (Object.keys(labels).length) row.labels = labels;
    const tenants = get(cols.tenants);
    if (tenants) row.tenants = names(tenants);
    return row;
  });
}

/** A CSV cell: one name, or several separated by `|`. */
function names(cell: string): string | string[] {
  if (!cell.includes("|")) return cell;
  const list = cell.split("|").map((x) => x.trim()).filter((x) => x !== "");
  return list.length === 0 ? cell : list.length === 1 ? list[0]! : list;
}

/** The names of the event's host, in the order they are tried: the device's, then the calling instance. */
function hostNames(e: OcsfEvent): { path: string; value: string }[] {
  const out: { path: string; value: string }[] = [];
  const d = isObject(e.device as never) ? (e.device as JsonObject) : undefined;
  if (d) {
    for (const k of ["hostname", "name", "instance_uid", "uid"]) {
      const v = d[k];
      if (typeof v === "string" && v !== "") out.push({ path: `device.${k}`, value: v });
    }
  }
  const src = isObject(e.src_endpoint as never) ? (e.src_endpoint as JsonObject) : undefined;
  const instance = src?.instance_uid;
  if (typeof instance === "string" && instance !== "") out.push({ path: "src_endpoint.instance_uid", value: instance });
  return out;
}

function addLabel(e: OcsfEvent, label: string): void {
  const labels = (e.metadata.labels ??= []);
  if (!labels.includes(label)) labels.push(label);
}

export function enrichInventory(e: OcsfEvent, inv: Inventory): OcsfEvent {
  if (inv.size === 0) return e;
  let hit: { path: string; value: string; entry: Entry } | undefined;
  for (const n of hostNames(e)) {
    const entry = inv.find(n.value, e.metadata.tenant_uid);
    if (entry) {
      hit = { ...n, entry };
      break;
    }
  }
  if (!hit) return e;
  const { row, pattern } = hit.entry;
  const onDevice = hit.path.startsWith("device.");
  const host = (onDevice ? e.device : e.src_endpoint) as JsonObject;
  if (row.owner && host.owner === undefined) host.owner = row.owner.includes("@") ? { name: row.owner, email_addr: row.owner } : { name: row.owner };
  if (onDevice) {
    if (row.region && host.region === undefined) host.region = row.region;
    const groups: JsonObject[] = Array.isArray(host.groups) ? (host.groups as JsonObject[]) : [];
    const addGroup = (name: string, type: string) => {
      if (!groups.some((g) => g.name === name && g.type === type)) groups.push({ name, type });
    };
    if (row.team) addGroup(row.team, "team");
    if (row.environment) addGroup(row.environment, "environment");
    if (groups.length) host.groups = groups;
  }
  if (row.environment) addLabel(e, `environment:${row.environment}`);
  if (row.criticality) addLabel(e, `criticality:${row.criticality}`);
  for (const [k, v] of Object.entries(row.labels ?? {})) addLabel(e, `${k}:${v}`);
  const data: JsonObject = { matched: pattern };
  for (const k of ["owner", "team", "environment", "criticality", "region"] as const) if (row[k]) data[k] = row[k]!;
  if (row.labels) data.labels = { ...row.labels };
  (e.enrichments ??= []).push({
    name: hit.path,
    value: hit.value,
    type: "asset_inventory",
    provider: "tributary",
    short_desc: `inventory row ${pattern}${row.owner ? `, owner ${row.owner}` : ""}${row.criticality ? `, criticality ${row.criticality}` : ""}`,
    data,
  });
  return e;
}
