// Redaction of secrets in event text (config `redact`, docs/config.md#redact): the first step of the enricher
// chain, so no enricher, correlation key, noise fingerprint, sink or the archive sees what it removes. As
// Tetragon's --redaction-filters: the capture groups of each pattern that match are replaced by "*****" (a
// pattern without groups has its whole match replaced), optionally only for processes whose binary matches.
// Pure (no I/O); compiled once per config. The paths changed are appended to unmapped.tributary.redacted,
// the list the Kubernetes audit normalizer writes its own redactions to. metadata (uid included) is never touched.
import type { Json, JsonObject } from "../normalize/json";
import { isObject } from "../normalize/json";
import type { OcsfEvent } from "../normalize/ocsf";
import { regexOf, type RedactConfig } from "../config/redact";

export const MASK = "*****";

/**
 * JavaScript regular expressions backtrack (there is no RE2 here): a pattern's time can grow faster than the text.
 * The presets' patterns take time linear in the text (each measured so; the mysql one ends its reach at the next
 * mysql program name) and run over the whole text, which limits.maxRecordBytes bounds. A `rules` pattern that can
 * take exponential time is refused at config load, but a polynomial one is possible: a text longer than WINDOW is
 * matched in windows of WINDOW characters, each overlapping the one before by OVERLAP, and a match that reaches a
 * window's end is matched again from its start over up to WINDOW characters. So a match up to WINDOW characters
 * long is found whole wherever it starts (a longer one is masked for WINDOW characters from its start), and the
 * work per window is at most twice the pattern's cost on WINDOW characters. (`^` and lookbehinds of a `rules`
 * pattern see a window's start as the text's.)
 */
export const WINDOW = 4096;
export const OVERLAP = 256;

/**
 * Where rules without `fields` apply: every process command line (process, parent_process, actor.process,
 * evidences[].process and their parents, at any depth), the event's text, the original record, what the
 * normalizers left in unmapped (Falco output fields not mapped such as proc.args / proc.env / ancestors' command
 * lines, Tetragon's arguments and environment, kprobe string arguments), Kubernetes/CloudTrail request and
 * response bodies, and URLs.
 */
export const DEFAULT_FIELDS: readonly string[] = [
  "**.cmd_line",
  "message",
  "finding_info.desc",
  "raw_data",
  "unmapped",
  "api.request.data",
  "api.response.data",
  "**.url_string",
  "**.query_string",
];

// Values, written so that they end where a quoted string ends (raw_data is JSON text, where a " inside a
// command line is \"): quoted with '...', \"...\" or "...", else up to whitespace, a quote or a backslash.
const VALUE = String.raw`(?:'([^'\n]*)'|\\"([^"\n\\]*)\\"|"([^"\n\\]*)"|([^\s"'\\]+))`;
// A word's start, also right after a JSON escape (raw_data's "...\nAWS_SECRET_ACCESS_KEY=...")
const AFTER_ESCAPE = String.raw`(?<=\\[nrt])`;
// Words a secret's name ends in (key=value, JSON keys, secretKey())
const SECRET_WORDS = String.raw`token|secret|passw(?:or)?d|passphrase|api[_-]?key|apikey|credentials?|secret[_-]?access[_-]?key|(?:secret|private)[_-]?key`;
// mysql client names: -p<password> (attached; `-p pass` prompts, `pass` is the database)
const MYSQL = "mysql|mariadb|mysqldump|mysqladmin|mysqlimport|mysqlshow|mysqlcheck|mysqlpump|mysqlsh|mariadb-dump|mariadb-admin";
/**
 * A mysql client's arguments before its -p<password>, which may be quoted ('...', "...", and \"...\" in JSON text):
 * not across a line, a backslash outside quotes, nor a shell's ; | & (the next command), and, with `stop`, not
 * across where a mysql program's name starts again (so each character is read for one program name only: linear).
 */
const mysqlGap = (stop: string): string =>
  String.raw`(?:${stop}[^\n"'\\;|&]|'[^'\n"\\]*'|"[^"\n\\]*"|\\"[^"\n\\]*\\")*?`;
/**
 * The password in an argument string without the program's name (Tetragon's `arguments`, Falco's proc.args), from
 * its start: a mysql client's first attached -p<password>; sshpass's -p [<password>] among the options before the
 * command (not the command's own -p: sshpass -p x ssh -p 22 host).
 */
const ARGS_PASSWORD = {
  mysql: String.raw`(?:${mysqlGap("")}\s)?-p([^\s"'\\]+)`,
  sshpass: String.raw`(?:-[a-oq-zA-Z]\s+)*-p\s*([^\s"'\\]+)`,
};
/** The keys holding a process's argument string, and the keys beside them that name its program. */
const ARG_KEYS = new Set(["arguments", "proc.args"]);
const PROGRAM_KEYS = ["binary", "proc.name", "proc.exepath"] as const;
/** Any one of `keys` as a JSON key (the text before its ':'). */
const jsonKey = (keys: Iterable<string>): string => `"(?:${[...keys].map((k) => k.replace(/\./g, "\\.")).join("|")})"`;
const ARGS_KEY = jsonKey(ARG_KEYS);
const PROGRAM_KEY = String.raw`${jsonKey(PROGRAM_KEYS)}\s*:\s*"(?:[^"\\]*/)?`;
/**
 * An argument string in JSON text (raw_data) whose object names the program, before or after it: no { or } between,
 * and at most ARGS_REACH characters apart (each argument key looks that far both ways: bounded work per key).
 */
const ARGS_REACH = 512;
const argsInJson = (program: string, args: string): string =>
  String.raw`${ARGS_KEY}(?:(?<=${PROGRAM_KEY}(?:${program})"[^{}]{0,${ARGS_REACH}})|(?=[^{}]{0,${ARGS_REACH}}${PROGRAM_KEY}(?:${program})"))\s*:\s*"${args}`;

/**
 * The `credentials` preset (docs/config.md#redact lists them, test/enrich/redact.test.ts tests each). `needle`:
 * text (lower case, ASCII) that every match holds, or texts one of which it holds; a text without it is not
 * matched at all (most values have none).
 */
export const PRESETS: Record<RedactConfig["presets"][number], readonly { pattern: string; needle: string | string[] }[]> = {
  credentials: [
    // --password=x, --password x, --db-password x, -password x, --passwd, --passphrase, keytool -storepass/-keypass
    // (not --password-file, --password-stdin, --no-password, nor a value that is the next option)
    { pattern: String.raw`(?i)(?:(?<![^\s"'])|${AFTER_ESCAPE})--?(?!no-)(?:[a-z0-9]+[-_])*(?:store|key|new)?pass(?:word|wd|phrase)?(?:=|\s+)(?!-)${VALUE}`, needle: "pass" },
    // mysql -u root -pS3cret, mysql -e "select 1" -pS3cret (only in a mysql client's command line: -p is a port, a
    // flag... elsewhere)
    { pattern: String.raw`(?:(?<![\w.-])|${AFTER_ESCAPE})(?:${MYSQL})\s(?:${mysqlGap(String.raw`(?!(?<![\w.-])(?:${MYSQL})\s)`)}\s)?-p([^\s"'\\]+)`, needle: ["mysql", "mariadb"] },
    // sshpass -p secret ssh host (among its options: not ssh's -p 22 after them)
    { pattern: String.raw`(?:(?<![\w.-])|${AFTER_ESCAPE})sshpass\s+${ARGS_PASSWORD.sshpass}`, needle: "sshpass" },
    // ... and their argument strings in JSON text (raw_data), the program named in the same object:
    // "binary":"/usr/bin/mysql","arguments":"-u root -px" (Tetragon), "proc.args":"-p x ssh h" ... "proc.name":"sshpass" (Falco)
    // (needle: the program's name, which the text holds when it matches, more rarely than the argument keys)
    { pattern: argsInJson(MYSQL, ARGS_PASSWORD.mysql), needle: ["mysql", "mariadb"] },
    { pattern: argsInJson("sshpass", ARGS_PASSWORD.sshpass), needle: "sshpass" },
    // Authorization: Bearer x / Basic x / Token x (a curl -H, a logged request); Proxy-Authorization too
    { pattern: String.raw`(?i)(?:\b|${AFTER_ESCAPE})(?:proxy-)?authorization\s*:\s*(?:bearer|basic|token)\s+([A-Za-z0-9._~+/=-]+)`, needle: "authorization" },
    // --token x, --api-key x, --secret-key x, --client-secret x (the = forms are key=value below); not --token-file,
    // --max-tokens, docker's --secret id=x,src=file, nor --private-key <file>
    { pattern: String.raw`(?i)(?:(?<![^\s"'])|${AFTER_ESCAPE})--?(?!no-)(?:(?:[a-z0-9]+-)*(?:token|api-?key|secret-?key|secret-access-key)|(?:[a-z0-9]+-)+secret)\s+(?!-)${VALUE}`, needle: ["token", "key", "secret"] },
    // key=value where the key ends in token, secret, password, api key, ...: GITHUB_TOKEN=x, api_key=x, ?token=x&,
    // client_secret=x, --from-literal=password=x, MYSQL_PWD=x (not PWD=/root, max_tokens=5, token_type=x)
    { pattern: String.raw`(?i)(?:(?<![\w-])|${AFTER_ESCAPE})-{0,2}(?:(?:[a-z0-9]+[_-])*(?:${SECRET_WORDS})|(?:[a-z0-9]+_)+pwd)=([^\s"'\\&]+)`, needle: ["token", "secret", "pass", "key", "credential", "pwd"] },
    // https://user:password@host (the password; the user stays)
    { pattern: String.raw`://[^\s/?#@:"'\\]+:([^\s/?#@"'\\]+)@`, needle: "://" },
    // AWS_SECRET_ACCESS_KEY=x, aws_secret_access_key = x (credentials file), AWS_SESSION_TOKEN: x
    { pattern: String.raw`(?i)(?:(?<![\w-])|${AFTER_ESCAPE})aws_(?:secret_access_key|session_token)["']?\s*[=:]\s*["']?([^\s"'\\&,]+)`, needle: "aws_" },
    // JSON text (raw_data): "password": "x", "sessionToken": "x", "client_secret": "x" (as secretKey() in structured data;
    // not a value the Kubernetes audit normalizer already wrote as "[redacted: <n> bytes]")
    { pattern: String.raw`(?i)"[\w.-]*(?:${SECRET_WORDS})"\s*:\s*"(?!\[redacted: \d+ bytes\]")([^"\\]*)"`, needle: ["token", "secret", "pass", "key", "credential"] },
    // ... and {"name": "DB_PASSWORD", "value": "x"} (a container's env entry)
    { pattern: String.raw`(?i)"(?:name|key)"\s*:\s*"[\w.-]*(?:${SECRET_WORDS}|_pwd)"\s*,\s*"value"\s*:\s*"([^"\\]*)"`, needle: "value" },
  ],
};

interface Rule {
  re: RegExp;
  /** Lower-case text every match holds (presets), or texts one of which it holds. */
  needle?: string | string[];
  /** The pattern has capture groups (only they are replaced). */
  groups: boolean;
  binary?: RegExp;
  /** Matched over the whole text (the presets: linear time), not in windows (WINDOW). */
  whole: boolean;
}

/** Rules sharing one list of fields: one walk over the event applies them all. */
interface Group {
  paths: Paths;
  rules: Rule[];
  /** Mask the string values of secret-named keys (the credentials preset: secretKey). */
  secretKeys: boolean;
  /** Any rule's needle, as one test (ASCII case folded, as the patterns' (?i)); undefined: no rule has one. */
  pre?: RegExp;
  /** Some rule has no needle (a custom rule): every string is matched. */
  unguarded: boolean;
}

export type Redactor = (e: OcsfEvent) => OcsfEvent;

function rule(pattern: string, binary?: string, needle?: string | string[], whole = false): Rule {
  const re = regexOf(pattern, "g");
  // its capture groups counted: `<pattern>|` matches "" and has an entry for each (their indices are then wanted: d)
  const groups = new RegExp(`${re.source}|`, re.flags).exec("")!.length > 1;
  return { re: groups ? new RegExp(re, `${re.flags}d`) : re, groups, needle, binary: binary !== undefined ? regexOf(binary) : undefined, whole };
}

const compiled = new WeakMap<RedactConfig, Redactor | null>();

/** The redaction step for a config (undefined when it redacts nothing: no step, no cost). Compiled once per config. */
export function makeRedactor(cfg: RedactConfig | undefined): Redactor | undefined {
  if (cfg === undefined) return undefined;
  const known = compiled.get(cfg);
  if (known !== undefined) return known ?? undefined;
  const byFields = new Map<string, Group>();
  const add = (fields: readonly string[], r: Rule): void => {
    const list = [...new Set(fields.flatMap((f) => (f === "default" ? DEFAULT_FIELDS : [f])))];
    const key = JSON.stringify(list);
    let g = byFields.get(key);
    if (!g) byFields.set(key, (g = { paths: new Paths(list.map((f) => f.split("."))), rules: [], secretKeys: false, unguarded: false }));
    g.rules.push(r);
    if (r.needle === undefined) g.unguarded = true;
  };
  for (const p of cfg.presets) for (const x of PRESETS[p]) add(DEFAULT_FIELDS, rule(x.pattern, undefined, x.needle, true));
  // the credentials preset also masks secret-named keys' values in structured data (secretKey)
  if (cfg.presets.includes("credentials")) byFields.get(JSON.stringify(DEFAULT_FIELDS))!.secretKeys = true;
  for (const r of cfg.rules) add(r.fields ?? DEFAULT_FIELDS, rule(r.pattern, r.binary));
  const groups = [...byFields.values()];
  for (const g of groups) g.pre = anyNeedle(g.rules);
  const out: Redactor | null = groups.length ? (e) => redactEvent(e, groups) : null;
  compiled.set(cfg, out);
  return out ?? undefined;
}

// --- matching OCSF paths: states are (field, position) pairs, encoded field * 64 + position ---

const POS = 64;

/** Adds state (f, p) and, over "**" matching no key, the states after it; true when a field is then complete. */
function enter(fields: string[][], f: number, p: number, into: number[]): boolean {
  const keys = fields[f]!;
  for (; p < keys.length; p++) {
    if (!into.includes(f * POS + p)) into.push(f * POS + p);
    if (keys[p] !== "**") return false;
  }
  return true;
}

/** The states after one object key; `all` when some field covers everything below it. */
function step(fields: string[][], states: readonly number[], key: string): { next: number[]; all: boolean } {
  const next: number[] = [];
  let all = false;
  for (const s of states) {
    const f = Math.floor(s / POS);
    const p = s % POS;
    const k = fields[f]![p]!;
    // (the states are closed over "**" matching no key: enter() added the state after it too)
    if (k === "**") all = enter(fields, f, p, next) || all;
    else if (k === "*" || k === key) all = enter(fields, f, p + 1, next) || all;
  }
  return { next, all };
}

/** A set of states, and the set after each key seen (a lazily built automaton: no work per key once seen). */
interface PathState {
  states: number[];
  /** Every string below is covered. */
  all: boolean;
  /** The state after a key; null: nothing below is covered. */
  next: Map<string, PathState | null>;
}

/** Most transitions a group remembers (keys are event data: a record's own keys are unbounded). */
const MAX_TRANSITIONS = 8192;

class Paths {
  readonly start: PathState;
  private readonly known = new Map<string, PathState>();
  private readonly all: PathState = { states: [], all: true, next: new Map() };
  private transitions = 0;
  constructor(private readonly fields: string[][]) {
    const start: number[] = [];
    let all = false;
    for (let f = 0; f < fields.length; f++) all = enter(fields, f, 0, start) || all;
    this.start = this.state(start, all)!;
  }
  private state(states: number[], all: boolean): PathState | null {
    if (all) return this.all;
    if (states.length === 0) return null;
    const id = states.sort((a, b) => a - b).join(",");
    let s = this.known.get(id);
    if (!s) this.known.set(id, (s = { states, all: false, next: new Map() }));
    return s;
  }
  step(from: PathState, key: string): PathState | null {
    const seen = from.next.get(key);
    if (seen !== undefined) return seen;
    const { next, all } = step(this.fields, from.states, key);
    const to = this.state(next, all);
    if (this.transitions < MAX_TRANSITIONS) {
      from.next.set(key, to);
      this.transitions++;
    }
    return to;
  }
}

/** Never redacted: the event's identity and metadata, and the list of what was redacted. */
function protectedKey(path: readonly (string | number)[], key: string): boolean {
  if (path.length === 0) return key === "metadata";
  if (path.length === 1) return path[0] === "finding_info" && key === "uid";
  return path.length === 2 && path[0] === "unmapped" && path[1] === "tributary" && key === "redacted";
}

/** An OCSF path as the observables name them: evidences[0].process.cmd_line, unmapped.output_fields["proc.env"]. */
function pathText(path: readonly (string | number)[]): string {
  let out = "";
  for (const k of path) {
    if (typeof k === "number") out += `[${k}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) out += out === "" ? k : `.${k}`;
    else out += `[${JSON.stringify(k)}]`;
  }
  return out;
}

// --- secret-named keys (credentials preset) ---

const SECRET_WORD = new RegExp(String.raw`(?:^|[^a-z])(?:${SECRET_WORDS})$|^(?:[a-z0-9]+_)+pwd$`);
const NAME_KEYS = ["key", "Key", "name", "Name"] as const;
const VALUE_KEYS = new Set(["value", "Value"]);

/**
 * A key that names a secret: it ends in token, secret, password, passwd, passphrase, api key, credential(s) or
 * secret access key (snake, kebab or camel case: DB_PASSWORD, client-secret, sessionToken), or is <x>_pwd.
 * Not: secretName, tokenType, max_tokens, PWD.
 */
export function secretKey(k: string): boolean {
  if (k.length < 3 || k.length > 128) return false;
  let yes = secretKeys.get(k);
  if (yes === undefined) {
    yes = SECRET_WORD.test(k.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase());
    // keys repeat from event to event (field names); a record's own keys are unbounded: at most this many remembered
    if (secretKeys.size < 4096) secretKeys.set(k, yes);
  }
  return yes;
}

const secretKeys = new Map<string, boolean>();

/** A value already hidden by its source or the Kubernetes audit normalizer: kept as it is. */
const HIDDEN = /^\[redacted: \d+ bytes\]$|^HIDDEN_DUE_TO_SECURITY_REASONS$/;

/** The value key of a {name|key: <secret name>, value: "..."} pair (a container's env entry, an environment variable). */
function pairValueKeys(o: JsonObject): boolean {
  for (const n of NAME_KEYS) {
    const name = o[n];
    if (typeof name === "string" && secretKey(name)) return true;
  }
  return false;
}

// --- argument strings without the program's name (credentials preset) ---

const ARGS_RULES = [
  { program: new RegExp(`(?:^|/)(?:${MYSQL})$`), re: new RegExp(`^${ARGS_PASSWORD.mysql}`, "d") },
  { program: /(?:^|\/)sshpass$/, re: new RegExp(`^${ARGS_PASSWORD.sshpass}`, "d") },
];

/** The event's own process (Tetragon: process; Falco: evidences[0].process; not actor.process, the parent), or undefined. */
function mainProcess(e: OcsfEvent): JsonObject | undefined {
  const o = e as unknown as JsonObject;
  if (isObject(o.process)) return o.process;
  const first = Array.isArray(o.evidences) ? o.evidences[0] : undefined;
  return isObject(first) && isObject(first.process) ? first.process : undefined;
}

/**
 * The program names of an argument string in `o`: the keys beside it (Tetragon's binary, Falco's proc.exepath /
 * proc.name), else, where the normalizer mapped those, the event's process (under unmapped.<type>.process, Falco's
 * output_fields) or its parent (unmapped.<type>.parent). Elsewhere (ancestors, other records) none: nothing guessed.
 */
function programsOf(o: JsonObject, w: Walk): Json[] {
  const own = PROGRAM_KEYS.map((k) => o[k]).filter((x) => typeof x === "string");
  if (own.length > 0) return own;
  // (the walk's path ends with the argument string's key; the one before it names `o`)
  const at = w.path[w.path.length - 2];
  const main = at === "process" || at === "output_fields" || at === "parent" ? mainProcess(w.event) : undefined;
  const p = at === "parent" ? main?.parent_process : main;
  return isObject(p) ? [isObject(p.file) ? p.file.path : undefined, p.name].filter((x) => x !== undefined) : [];
}

/** `s` (an argument string in `o`) with the password masked when its program takes -p <password> (mysql, sshpass). */
function argsMasked(s: string, o: JsonObject, w: Walk): string {
  if (!s.includes("-p")) return s;
  const programs = programsOf(o, w);
  for (const a of ARGS_RULES) {
    if (!programs.some((p) => typeof p === "string" && a.program.test(p))) continue;
    const span = a.re.exec(s)?.indices?.[1];
    if (span === undefined || s.slice(span[0], span[1]) === MASK) return s;
    const out = s.slice(0, span[0]) + MASK + s.slice(span[1]);
    w.changed.set(pathText(w.path), out);
    return out;
  }
  return s;
}

// --- one event ---

interface Walk {
  group: Group;
  event: OcsfEvent;
  path: (string | number)[];
  /** path text -> the redacted string, for the observables naming it. */
  changed: Map<string, string>;
  /** Per rule with `binary`: does any process of the event match (for text outside a process object). */
  anyProcess?: Map<Rule, boolean>;
}

/** The binaries of a process object: file.path, name, and `binary` (Tetragon's own process, left in unmapped). */
function binaryMatches(re: RegExp, p: JsonObject): boolean {
  const file = p.file;
  for (const b of [isObject(file) ? file.path : undefined, p.name, p.binary]) if (typeof b === "string" && re.test(b)) return true;
  return false;
}

/** Every process object of the event (under a `process` or `parent_process` key, at any depth). */
function processesOf(v: Json | undefined, out: JsonObject[], depth = 0): JsonObject[] {
  if (depth > 80 || v === null || typeof v !== "object") return out;
  if (Array.isArray(v)) {
    for (const x of v) processesOf(x, out, depth + 1);
    return out;
  }
  for (const k in v) {
    const c = v[k];
    if ((k === "process" || k === "parent_process") && isObject(c)) out.push(c);
    processesOf(c, out, depth + 1);
  }
  return out;
}

function applies(r: Rule, w: Walk, proc: JsonObject | undefined): boolean {
  if (r.binary === undefined) return true;
  if (proc !== undefined) return binaryMatches(r.binary, proc);
  w.anyProcess ??= new Map();
  let any = w.anyProcess.get(r);
  if (any === undefined) {
    any = processesOf(w.event as unknown as JsonObject, []).some((p) => binaryMatches(r.binary!, p));
    w.anyProcess.set(r, any);
  }
  return any;
}

/**
 * Appends the [start, end) ranges `r` redacts in `s` (shifted by `offset`). `full`: the text `s` is a window of, to
 * match again from a match's start when the match reaches the window's end (a longer match may continue there).
 */
function ranges(r: Rule, s: string, offset: number, out: number[], full?: string): void {
  const re = r.re;
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    if (m[0].length === 0) re.lastIndex++;
    else if (full !== undefined && m.index + m[0].length === s.length) {
      // (once: the text from the match's start, WINDOW characters; nothing matched there is searched again). The
      // match itself is kept too: a lookbehind or \b before its start does not hold at the slice's start, so the
      // slice may not match there again.
      const at = offset + m.index;
      const again = full.slice(at, at + WINDOW);
      const last = re.lastIndex;
      ranges(r, again, at, out);
      re.lastIndex = last;
    }
    if (!r.groups) {
      if (m[0].length > 0) out.push(m.index + offset, m.index + m[0].length + offset);
      continue;
    }
    const at = m.indices!;
    for (let g = 1; g < at.length; g++) {
      const span = at[g];
      if (span !== undefined && span[1] > span[0]) out.push(span[0] + offset, span[1] + offset);
    }
  }
}

/** `s` with one rule applied (whole, or in windows: WINDOW, OVERLAP), the ranges merged and masked. */
function redactText(r: Rule, s: string): string {
  const spans: number[] = [];
  if (r.whole || s.length <= WINDOW) ranges(r, s, 0, spans);
  else {
    for (let start = 0; ; start += WINDOW - OVERLAP) {
      const last = start + WINDOW >= s.length;
      ranges(r, s.slice(start, start + WINDOW), start, spans, last ? undefined : s);
      if (last) break;
    }
  }
  if (spans.length === 0) return s;
  const pairs: [number, number][] = [];
  for (let i = 0; i < spans.length; i += 2) pairs.push([spans[i]!, spans[i + 1]!]);
  pairs.sort((a, b) => a[0] - b[0]);
  // overlapping or touching ranges (nested groups, a match seen by two windows) become one mask
  let out = "";
  let at = 0;
  let [from, to] = pairs[0]!;
  for (const [f, t] of pairs) {
    if (f <= to) to = Math.max(to, t);
    else {
      out += s.slice(at, from) + MASK;
      at = to;
      [from, to] = [f, t];
    }
  }
  out += s.slice(at, from) + MASK;
  at = to;
  return out + s.slice(at);
}

/** The whole value masked (a secret-named key's), recorded at the current path. */
function masked(w: Walk): string {
  w.changed.set(pathText(w.path), MASK);
  return MASK;
}

/** One case-insensitive test for every needle of `rules` (ASCII letters only fold, as in the patterns' (?i)). */
function anyNeedle(rules: readonly Rule[]): RegExp | undefined {
  const needles = new Set(rules.flatMap((r) => (r.needle === undefined ? [] : [r.needle].flat())));
  if (needles.size === 0) return undefined;
  return new RegExp([...needles].map((n) => n.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&")).join("|"), "i");
}

function holds(text: string, needle: string | string[]): boolean {
  if (typeof needle === "string") return text.includes(needle);
  for (const n of needle) if (text.includes(n)) return true;
  return false;
}

function redactString(s: string, w: Walk, proc: JsonObject | undefined): string {
  const g = w.group;
  // every needle at once: most strings hold none, and then no rule with one can match (a mask adds no needle)
  const candidate = g.pre !== undefined && g.pre.test(s);
  if (!candidate && !g.unguarded) return s;
  let out = s;
  let lower: string | undefined;
  try {
    for (const r of g.rules) {
      if (r.needle !== undefined && !(candidate && holds((lower ??= out.toLowerCase()), r.needle))) continue;
      if (!applies(r, w, proc)) continue;
      const next = redactText(r, out);
      if (next !== out) [out, lower] = [next, undefined];
    }
  } catch {
    // a failure must not let the text through (a stack overflow in a pattern): the whole value goes
    out = MASK;
  }
  if (out !== s) w.changed.set(pathText(w.path), out);
  return out;
}

function walk(v: Json, at: PathState, w: Walk, proc: JsonObject | undefined): Json {
  if (typeof v === "string") return at.all ? redactString(v, w, proc) : v;
  if (v === null || typeof v !== "object" || w.path.length > 80) return v;
  if (Array.isArray(v)) {
    let copy: Json[] | undefined;
    for (let i = 0; i < v.length; i++) {
      w.path.push(i);
      const c = walk(v[i]!, at, w, proc);
      w.path.pop();
      if (c !== v[i]) (copy ??= v.slice())[i] = c;
    }
    return copy ?? v;
  }
  let copy: JsonObject | undefined;
  for (const k in v) {
    const child = v[k]!;
    // nothing to redact in a number, boolean or null
    if (child === null || (typeof child !== "object" && typeof child !== "string") || protectedKey(w.path, k)) continue;
    const next = at.all ? at : w.group.paths.step(at, k);
    // nor in a string the fields do not cover
    if (next === null || (typeof child === "string" && !next.all)) continue;
    w.path.push(k);
    const c =
      // a secret-named key's value, or {"name": "DB_PASSWORD", "value": "x"}'s (where the fields cover the pair), goes whole
      typeof child === "string" && w.group.secretKeys && (secretKey(k) || (at.all && VALUE_KEYS.has(k) && pairValueKeys(v))) && child !== "" && child !== MASK && !HIDDEN.test(child)
        ? masked(w)
        : typeof child === "string" && w.group.secretKeys && ARG_KEYS.has(k)
          ? walk(argsMasked(child, v, w), next, w, proc)
          : walk(child, next, w, (k === "process" || k === "parent_process") && isObject(child) ? child : proc);
    w.path.pop();
    if (c !== child) (copy ??= { ...v })[k] = c;
  }
  return copy ?? v;
}

function redactEvent(e: OcsfEvent, groups: readonly Group[]): OcsfEvent {
  let out = e;
  const changed = new Map<string, string>();
  for (const group of groups) {
    out = walk(out as unknown as JsonObject, group.paths.start, { group, event: out, path: [], changed }, undefined) as unknown as OcsfEvent;
  }
  if (changed.size === 0) return out;
  const paths = [...changed.keys()];
  // an observable naming a redacted field carries its value: redacted the same
  const obs = out.observables;
  if (obs?.some((o) => changed.has(o.name))) {
    out = {
      ...out,
      observables: obs.map((o, i) => {
        const v = changed.get(o.name);
        if (v === undefined || o.value === undefined || o.value === v) return o;
        paths.push(`observables[${i}].value`);
        return { ...o, value: v };
      }),
    };
  }
  const um = out.unmapped ?? {};
  const own = um.tributary;
  // (unless the record has a `tributary` key of its own that is no object, as the Kubernetes audit normalizer)
  if (own === undefined || isObject(own)) {
    const before = isObject(own) && Array.isArray(own.redacted) ? own.redacted : [];
    out = { ...out, unmapped: { ...um, tributary: { ...own, redacted: [...new Set([...before, ...paths])] } } };
  }
  return out;
}
