// MITRE ATT&CK enricher (pure): rule and policy tags -> OCSF attacks[] (tactic, technique,
// sub_technique, version), names from the shipped table data/attack.json.
//
// Tags understood (case-insensitive): technique ids `T1059`, `T1059.004`; tactic ids `TA0002`; Falco's
// `mitre_execution` / `mitre_credential_access`; Sigma-style `attack.execution`, `attack.t1059.004`.
// Tags are read from finding_info.types (Falco's tags), metadata.labels and unmapped.tags /
// unmapped.policy_tags (Tetragon policy tags, wherever the normalizer kept them).
//
// Where it goes (OCSF 1.3.0): finding_info.attacks on findings (Detection Finding ...); the top-level
// attacks[] on events that apply the security_control profile; otherwise (an activity event without that
// profile, where attacks[] is not an attribute) one enrichments[] entry of type "mitre_attack" per tag.
import table from "../../data/attack.json";
import type { OcsfEvent } from "../normalize/ocsf";
import { isObject, type Json, type JsonObject } from "../normalize/json";

interface TechniqueRow {
  name: string;
  tactics?: string[];
}

interface Tactic {
  uid: string;
  name: string;
  shortname: string;
}

const TACTICS: Tactic[] = table.tactics;
const TECHNIQUES = table.techniques as Record<string, TechniqueRow>;
export const ATTACK_VERSION: string = table.version;

const TACTIC_BY_UID = new Map(TACTICS.map((t) => [t.uid, t]));
/** "credential_access", "credential-access", "credentialaccess" and "credential access" all name TA0006. */
const TACTIC_BY_NAME = new Map<string, Tactic>();
for (const t of TACTICS) {
  TACTIC_BY_NAME.set(t.shortname.replace(/-/g, ""), t);
  TACTIC_BY_NAME.set(t.name.toLowerCase().replace(/[^a-z]/g, ""), t);
}
// older Falco rules used these
TACTIC_BY_NAME.set("commandcontrol", TACTIC_BY_UID.get("TA0011")!);
TACTIC_BY_NAME.set("remoteservice", TACTIC_BY_UID.get("TA0008")!);

export interface AttackObject extends JsonObject {
  version: string;
}

interface ParsedTags {
  tactics: Tactic[];
  techniques: string[];
  /** The tag each tactic/technique came from (for the enrichment fallback). */
  source: Map<string, string>;
}

const TECH_RE = /^(?:attack\.)?(t\d{4}(?:\.\d{3})?)$/i;
const TACTIC_ID_RE = /^(?:attack\.)?(ta\d{4})$/i;
const MITRE_RE = /^(?:mitre|attack)[._:-](.+)$/i;
/** The three tag patterns (for the test that mayName rules out no tag they match). */
export const TAG_PATTERNS: readonly RegExp[] = [TECH_RE, TACTIC_ID_RE, MITRE_RE];

// module functions, not closures in parseTags: the bundler's keepNames names every closure it makes
function addTactic(out: ParsedTags, t: Tactic | undefined, tag: string): void {
  if (t && !out.tactics.includes(t)) {
    out.tactics.push(t);
    out.source.set(t.uid, tag);
  }
}

function addTech(out: ParsedTags, m: RegExpExecArray, tag: string): void {
  const id = m[1]!.toUpperCase();
  if (!out.techniques.includes(id)) {
    out.techniques.push(id);
    out.source.set(id, tag);
  }
}

/**
 * Whether a tag can match TECH_RE, TACTIC_ID_RE or MITRE_RE at all: each starts with t, a ("attack.") or m
 * ("mitre"), either case. Most tags (metadata labels such as "k8s.pod:...", Falco's "container", "shell")
 * start otherwise and skip the three regexes.
 */
export function mayName(tag: string): boolean {
  const c = tag.charCodeAt(0) | 0x20; // ASCII lower case (other characters stay no match)
  return c === 0x74 /* t */ || c === 0x61 /* a */ || c === 0x6d /* m */;
}

export function parseTags(tags: readonly string[]): ParsedTags {
  const out: ParsedTags = { tactics: [], techniques: [], source: new Map() };
  for (const tag of tags) {
    if (!mayName(tag)) continue;
    const tech = TECH_RE.exec(tag);
    if (tech) {
      addTech(out, tech, tag);
      continue;
    }
    const ta = TACTIC_ID_RE.exec(tag);
    if (ta) {
      addTactic(out, TACTIC_BY_UID.get(ta[1]!.toUpperCase()), tag);
      continue;
    }
    const m = MITRE_RE.exec(tag);
    if (m) {
      const rest = m[1]!;
      const asTech = TECH_RE.exec(rest);
      if (asTech) addTech(out, asTech, tag);
      else addTactic(out, TACTIC_BY_NAME.get(rest.toLowerCase().replace(/[^a-z]/g, "")), tag);
    }
  }
  return out;
}

function tacticObj(t: Tactic): JsonObject {
  return { uid: t.uid, name: t.name };
}

/** Techniques' tactics from the table (sub-techniques inherit their parent's). */
function tableTactics(id: string): string[] {
  const parent = id.split(".")[0]!;
  return TECHNIQUES[id]?.tactics ?? TECHNIQUES[parent]?.tactics ?? [];
}

/**
 * Pairs techniques with tactics: a technique takes the first tagged tactic the table lists for it;
 * else, when exactly one tactic is tagged, that one (the rule author paired them); else, when the
 * table lists a single tactic, that one. Tagged tactics left unpaired get an entry of their own.
 */
export function attacksFor(tags: readonly string[]): AttackObject[] {
  const p = parseTags(tags);
  const out: AttackObject[] = [];
  const used = new Set<Tactic>();
  for (const id of p.techniques) {
    const parentId = id.split(".")[0]!;
    const listed = tableTactics(id);
    let tactic = p.tactics.find((t) => listed.includes(t.shortname));
    if (!tactic && p.tactics.length === 1) tactic = p.tactics[0];
    if (!tactic && listed.length === 1) tactic = TACTICS.find((t) => t.shortname === listed[0]);
    const a: AttackObject = { version: ATTACK_VERSION };
    if (tactic) {
      a.tactic = tacticObj(tactic);
      used.add(tactic);
    }
    const parentName = TECHNIQUES[parentId]?.name;
    a.technique = parentName ? { uid: parentId, name: parentName } : { uid: parentId };
    if (id !== parentId) {
      const subName = TECHNIQUES[id]?.name;
      a.sub_technique = subName ? { uid: id, name: subName } : { uid: id };
    }
    out.push(a);
  }
  for (const t of p.tactics) if (!used.has(t)) out.push({ version: ATTACK_VERSION, tactic: tacticObj(t) });
  return out;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

/** Every tag the event carries, wherever the normalizers put them. */
export function eventTags(e: OcsfEvent): string[] {
  const fi = isObject(e.finding_info as Json) ? (e.finding_info as JsonObject) : undefined;
  const um = e.unmapped;
  return [...strings(fi?.types), ...strings(e.metadata.labels), ...strings(um?.tags), ...strings(um?.policy_tags)];
}

function uidOf(o: Json | undefined): string | undefined {
  return o !== undefined && isObject(o) && typeof o.uid === "string" ? o.uid : undefined;
}

/** Fills the names (and version) the table knows into an attack entry a normalizer already wrote. */
function complete(a: JsonObject): void {
  for (const k of ["technique", "sub_technique"] as const) {
    const o = a[k];
    const uid = uidOf(o);
    const name = uid ? TECHNIQUES[uid]?.name : undefined;
    if (name && isObject(o!) && o.name === undefined) o.name = name;
  }
  const t = a.tactic;
  const tuid = uidOf(t);
  const tname = tuid ? TACTIC_BY_UID.get(tuid)?.name : undefined;
  if (tname && isObject(t!) && t.name === undefined) t.name = tname;
  if (a.version === undefined && (uidOf(a.technique) || tuid)) a.version = ATTACK_VERSION;
}

/**
 * Existing entries (from the normalizer) are completed in place; a new entry is added only for a
 * technique (or a lone tactic) no existing entry names.
 */
function merge(existing: Json | undefined, add: AttackObject[]): JsonObject[] {
  const list = Array.isArray(existing) ? (existing.filter((x) => isObject(x)) as JsonObject[]) : [];
  const techs = new Set<string>();
  const tactics = new Set<string>();
  for (const a of list) {
    complete(a);
    for (const u of [uidOf(a.technique), uidOf(a.sub_technique)]) if (u) techs.add(u);
    const t = uidOf(a.tactic);
    if (t) tactics.add(t);
  }
  for (const a of add) {
    const tech = uidOf(a.sub_technique) ?? uidOf(a.technique);
    if (tech ? techs.has(tech) : tactics.has(uidOf(a.tactic) ?? "")) continue;
    list.push(a);
    if (tech) techs.add(tech);
    const t = uidOf(a.tactic);
    if (t) tactics.add(t);
  }
  return list;
}

export function enrichAttack(e: OcsfEvent): OcsfEvent {
  const tags = eventTags(e);
  const attacks = tags.length ? attacksFor(tags) : [];
  if (isObject(e.finding_info as Json)) {
    const fi = e.finding_info as JsonObject;
    if (attacks.length || fi.attacks !== undefined) fi.attacks = merge(fi.attacks, attacks);
    return e;
  }
  if (attacks.length === 0) return e;
  if (e.metadata.profiles?.includes("security_control")) {
    e.attacks = merge(e.attacks as Json | undefined, attacks);
  } else {
    const list = (e.enrichments ??= []);
    for (const a of attacks) {
      const uid = (a.sub_technique ?? a.technique ?? a.tactic) as JsonObject;
      list.push({
        name: "attacks",
        value: String(uid.uid),
        type: "mitre_attack",
        provider: "tributary",
        short_desc: `MITRE ATT&CK ${String(uid.uid)}${uid.name ? ` ${String(uid.name)}` : ""}`,
        data: a,
      });
    }
  }
  return e;
}
