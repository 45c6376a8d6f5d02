// Threat-intel enricher (pure): looks up every IP, hostname/domain, URL and file hash an event carries
// in the loaded feeds. A hit sets the observable's reputation (adding the observable when the sensor
// did not list it), adds an enrichments[] entry naming the feed, the indicator and its confidence,
// and may raise the event's severity (rule in docs/enrichment.md, function raiseSeverity).
import type { OcsfEvent, Observable, Enrichment } from "../normalize/ocsf";
import { OBS, OBS_CAPTIONS, SEVERITY_NAMES } from "../normalize/ocsf";
import { isObject, type JsonObject } from "../normalize/json";
import { parseIp, groupsToBigInt, formatIPv6Groups } from "./ip";
import { normalizeDomain, urlKey, fastUrlKey, urlSpan, urlHost, hostSpan } from "./indicator";
import {
  hash64,
  hash64Groups,
  hashHexDigest,
  hashDomainSuffixes,
  suffixHi,
  suffixLo,
  suffixStart,
  suffixFolded,
  hashOut,
  HASHED_KIND_CODE,
  type IntelSet,
  type IndicatorKind,
} from "./intel-set";

export interface LoadedFeed {
  name: string;
  set: IntelSet;
  /** Severity levels a confident hit raises the event by (0 = never). */
  severityRaise: number;
}

export interface IntelData {
  feeds: LoadedFeed[];
  /** Hits at or above this confidence raise severity. */
  minConfidence: number;
}

type CandidateKind = "ip" | "host" | "url" | "hash";

interface Candidate {
  /** OCSF attribute path, e.g. "evidences[0].dst_endpoint.ip" (also the observable name). */
  path: string;
  kind: CandidateKind;
  value: string;
}

export interface Hit {
  feed: LoadedFeed;
  kind: IndicatorKind;
  indicator: string;
  confidence: number;
  /** Set when a URL's host (as written in the URL) matched a domain or address indicator. */
  urlHost?: string;
}

const OBS_TYPE: Record<CandidateKind, number> = { ip: OBS.ip, host: OBS.hostname, url: OBS.url, hash: OBS.hash };
const KIND_OF_OBS = new Map<number, CandidateKind>([
  [OBS.ip, "ip"],
  [OBS.hostname, "host"],
  [OBS.url, "url"],
  [OBS.hash, "hash"],
]);

function obj(v: unknown): JsonObject | undefined {
  return isObject(v as never) ? (v as JsonObject) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Where indicators live in an OCSF event.

class Collector {
  readonly out: Candidate[] = [];
  private readonly seen = new Set<string>();
  add(path: string, kind: CandidateKind, v: unknown): void {
    if (typeof v !== "string" || v === "") return;
    const key = `${path}\u0000${v}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.out.push({ path, kind, value: v });
  }
  endpoint(path: string, ep: unknown): void {
    const o = obj(ep);
    if (!o) return;
    this.add(`${path}.ip`, "ip", o.ip);
    this.add(`${path}.hostname`, "host", o.hostname);
    this.add(`${path}.domain`, "host", o.domain);
  }
  hashes(path: string, file: unknown): void {
    const f = obj(file);
    if (!f || !Array.isArray(f.hashes)) return;
    f.hashes.forEach((h, i) => this.add(`${path}.hashes[${i}].value`, "hash", obj(h)?.value));
  }
  process(path: string, p: unknown): void {
    const o = obj(p);
    if (!o) return;
    this.hashes(`${path}.file`, o.file);
    const parent = obj(o.parent_process);
    if (parent) this.hashes(`${path}.parent_process.file`, parent.file);
  }
  url(path: string, u: unknown): void {
    const o = obj(u);
    if (o) this.add(`${path}.url_string`, "url", o.url_string);
  }
  /** The attributes shared by events and evidences. */
  common(prefix: string, o: JsonObject): void {
    this.endpoint(`${prefix}src_endpoint`, o.src_endpoint);
    this.endpoint(`${prefix}dst_endpoint`, o.dst_endpoint);
    this.hashes(`${prefix}file`, o.file);
    this.process(`${prefix}process`, o.process);
    const actor = obj(o.actor);
    if (actor) this.process(`${prefix}actor.process`, actor.process);
    this.url(`${prefix}url`, o.url);
    const req = obj(o.http_request);
    if (req) this.url(`${prefix}http_request.url`, req.url);
    const q = obj(o.query);
    if (q) this.add(`${prefix}query.hostname`, "host", q.hostname);
  }
}

export function candidates(e: OcsfEvent): Candidate[] {
  const c = new Collector();
  for (const o of e.observables ?? []) {
    const kind = KIND_OF_OBS.get(o.type_id);
    // the reporting device is our own host: its names are inventory's business, not intel's
    if (kind && o.name && !o.name.startsWith("device.")) c.add(o.name, kind, o.value);
  }
  c.common("", e as unknown as JsonObject);
  if (Array.isArray(e.evidences)) {
    e.evidences.forEach((ev, i) => {
      const o = obj(ev);
      if (o) c.common(`evidences[${i}].`, o);
    });
  }
  return c.out;
}

// ---------------------------------------------------------------------------------------------
// Lookups (each candidate is parsed and hashed once, then asked of every feed). Values already in
// normal form (the usual case) are hashed where they stand: no trimmed, lowercased or sliced copy is
// made unless there is a hit to name.

/** Asks every feed for (hi, lo); a hit's indicator is left "" for the caller to name. */
function lookupPair(feeds: LoadedFeed[], kind: IndicatorKind, hi: number, lo: number, hits: Hit[]): void {
  for (const f of feeds) {
    const conf = f.set.lookupHash(hi, lo);
    if (conf >= 0) hits.push({ feed: f, kind, indicator: "", confidence: conf });
  }
}

function nameHits(hits: Hit[], from: number, indicator: string): void {
  for (let k = from; k < hits.length; k++) hits[k]!.indicator = indicator;
}


function isSpace(c: number): boolean {
  return c <= 32 || c === 0xa0 || c === 0xfeff || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x1680 || c === 0x202f || c === 0x205f || c === 0x3000;
}

/**
 * a.b.evil.com: a.b.evil.com, b.evil.com, evil.com (never the bare top-level label). Each feed is
 * asked from the most specific name down and reports the first name it lists, so feed A listing
 * a.evil.com and feed B listing evil.com both hit (one hit per feed, in feed order). The name is
 * value[start, end); false = it is no domain name (nothing asked).
 */
function lookupDomain(feeds: LoadedFeed[], value: string, hits: Hit[], start = 0, end = value.length): boolean {
  let d = value;
  let count = hashDomainSuffixes(d, start, end);
  if (count < 0) {
    const norm = normalizeDomain(value.slice(start, end)); // the whole string: slice gives it back uncopied
    if (!norm) return false;
    d = norm;
    end = norm.length;
    count = hashDomainSuffixes(d);
  }
  if (count <= 0) return false;
  for (const f of feeds) {
    for (let k = count - 1; k >= 0; k--) {
      const conf = f.set.lookupHash(suffixHi[k]!, suffixLo[k]!);
      if (conf < 0) continue;
      const name = d.slice(suffixStart[k]!, end);
      hits.push({ feed: f, kind: "domain", indicator: suffixFolded ? name.toLowerCase() : name, confidence: conf });
      break;
    }
  }
  return true;
}

/** An IPv4 or IPv6 address: its own entry, else (per feed) the most specific CIDR holding it. */
function lookupIp(feeds: LoadedFeed[], value: string, hits: Hit[]): void {
  const ip = parseIp(value);
  if (!ip) return;
  const from = hits.length;
  if (ip.v === 4) {
    for (const f of feeds) {
      const h = f.set.lookupIPv4(ip.ip);
      if (h) hits.push({ feed: f, ...h });
    }
    return;
  }
  hash64Groups(HASHED_KIND_CODE.ipv6, ip.groups);
  lookupPair(feeds, "ipv6", hashOut[0]!, hashOut[1]!, hits);
  // the set keeps only a hash: name the listed address in RFC 5952 form, not the event's spelling
  if (hits.length > from) nameHits(hits, from, formatIPv6Groups(ip.groups));
  let big: bigint | undefined;
  for (const f of feeds) {
    if (!f.set.hasCidr6 || hits.some((h, k) => k >= from && h.feed === f)) continue;
    const h = f.set.lookupIPv6Cidr((big ??= groupsToBigInt(ip.groups)));
    if (h) hits.push({ feed: f, ...h });
  }
}

/**
 * A URL's host as a domain (with its parent domains) or an address, asked of the feeds that did not
 * list the URL itself (hits so far): dl.evil.com in https://dl.evil.com/x hits a feed listing evil.com.
 * The host is found where it stands in the URL (fastUrlKey's span when lookupUrl took that path, else
 * urlHost); only a hit copies it.
 */
function lookupUrlHost(feeds: LoadedFeed[], value: string, hits: Hit[], fast: boolean): void {
  if (!fast && !urlHost(value)) return;
  const hs = fast ? urlSpan[0]! : hostSpan[0]!;
  const he = fast ? urlSpan[3]! : hostSpan[1]!;
  const bracketed = !fast && hostSpan[2] === 1;
  const ask = hits.length === 0 ? feeds : feeds.filter((f) => !hits.some((h) => h.feed === f));
  if (ask.length === 0) return;
  const from = hits.length;
  if (bracketed || !lookupDomain(ask, value, hits, hs, he)) lookupIp(ask, value.slice(hs, he), hits);
  if (hits.length === from) return;
  const host = value.slice(hs, he);
  for (let k = from; k < hits.length; k++) hits[k]!.urlHost = host;
}

/**
 * The URL as sent, else (with parameters) without them; asked of each feed, one hit per feed. true =
 * fastUrlKey read it (urlSpan then holds its host too).
 */
function lookupUrl(feeds: LoadedFeed[], value: string, hits: Hit[]): boolean {
  let key = value;
  let start = 0;
  let end: number;
  let q: number;
  const fast = fastUrlKey(value);
  if (fast) {
    start = urlSpan[0]!;
    end = urlSpan[1]!;
    q = urlSpan[2]!;
  } else {
    const k = urlKey(value);
    if (!k) return false;
    key = k;
    end = k.length;
    q = k.indexOf("?");
  }
  hash64(HASHED_KIND_CODE.url, key, start, end);
  const hi = hashOut[0]!;
  const lo = hashOut[1]!;
  let bareHi = 0;
  let bareLo = 0;
  let bareHashed = false;
  for (const f of feeds) {
    let conf = f.set.lookupHash(hi, lo);
    if (conf >= 0) {
      hits.push({ feed: f, kind: "url", indicator: key.slice(start, end), confidence: conf });
      continue;
    }
    if (q < 0) continue;
    if (!bareHashed) {
      hash64(HASHED_KIND_CODE.url, key, start, q);
      bareHi = hashOut[0]!;
      bareLo = hashOut[1]!;
      bareHashed = true;
    }
    conf = f.set.lookupHash(bareHi, bareLo);
    if (conf >= 0) hits.push({ feed: f, kind: "url", indicator: key.slice(start, q), confidence: conf });
  }
  return fast;
}

function lookupFileHash(feeds: LoadedFeed[], value: string, hits: Hit[]): void {
  const h = value.length > 0 && (isSpace(value.charCodeAt(0)) || isSpace(value.charCodeAt(value.length - 1))) ? value.trim() : value;
  const kind = h.length === 64 ? "sha256" : h.length === 40 ? "sha1" : h.length === 32 ? "md5" : undefined;
  if (kind === undefined || !hashHexDigest(HASHED_KIND_CODE[kind], h)) return;
  lookupPair(feeds, kind, hashOut[0]!, hashOut[1]!, hits);
  if (hits.length > 0) nameHits(hits, 0, h.toLowerCase());
}

export function lookup(feeds: LoadedFeed[], c: Candidate): Hit[] {
  const hits: Hit[] = [];
  switch (c.kind) {
    case "ip":
      lookupIp(feeds, c.value, hits);
      break;
    case "host":
      lookupDomain(feeds, c.value, hits);
      break;
    case "url":
      lookupUrlHost(feeds, c.value, hits, lookupUrl(feeds, c.value, hits));
      break;
    case "hash":
      lookupFileHash(feeds, c.value, hits);
      break;
  }
  return hits;
}

// ---------------------------------------------------------------------------------------------
// What a hit writes.

/** Confidence (0-100) -> OCSF reputation score_id (objects/reputation.json, dictionary score_id). */
export function reputationFor(confidence: number, provider: string): NonNullable<Observable["reputation"]> {
  const score_id = confidence >= 90 ? 10 : confidence >= 75 ? 9 : confidence >= 50 ? 8 : confidence >= 25 ? 7 : 6;
  return { base_score: confidence, score_id, score: REPUTATION_CAPTIONS[score_id]!, provider };
}

const REPUTATION_CAPTIONS: Record<number, string> = {
  6: "Exercise Caution",
  7: "Suspicious/Risky",
  8: "Possibly Malicious",
  9: "Probably Malicious",
  10: "Malicious",
};

/**
 * The severity rule: raise by `levels`, capped at Critical (5); never lower; Fatal (6) stays;
 * Unknown (0) and Other (99) count as Informational (1) before raising.
 */
export function raiseSeverity(severityId: number, levels: number): number {
  if (levels <= 0 || severityId === 6) return severityId;
  const known = severityId >= 1 && severityId <= 5;
  const base = known ? severityId : 1;
  const raised = Math.min(5, base + levels);
  return known ? Math.max(severityId, raised) : raised;
}

export function enrichIntel(e: OcsfEvent, data: IntelData): OcsfEvent {
  if (data.feeds.length === 0) return e;
  const cands = candidates(e);
  if (cands.length === 0) return e;
  let raiseBy = 0;
  let raiseEntry: Enrichment | undefined;
  for (const c of cands) {
    const hits = lookup(data.feeds, c);
    if (hits.length === 0) continue;
    let best = hits[0]!;
    for (const h of hits) if (h.confidence > best.confidence) best = h;
    setReputation(e, c, reputationFor(best.confidence, best.feed.name));
    for (const h of hits) {
      const rep = reputationFor(h.confidence, h.feed.name);
      const where = h.urlHost === undefined ? "" : ` (URL host ${h.urlHost})`;
      const entry: Enrichment & { reputation: typeof rep } = {
        name: c.path,
        value: c.value,
        type: "threat_intel",
        provider: h.feed.name,
        short_desc: `${h.kind} ${h.indicator}${where} listed by ${h.feed.name} (confidence ${h.confidence})`,
        data: { feed: h.feed.name, indicator: h.indicator, indicator_type: h.kind, confidence: h.confidence },
        reputation: rep,
      };
      if (h.urlHost !== undefined) {
        entry.data.url_part = "host";
        entry.data.url_host = h.urlHost;
      }
      (e.enrichments ??= []).push(entry);
      if (h.confidence >= data.minConfidence && h.feed.severityRaise > raiseBy) {
        raiseBy = h.feed.severityRaise;
        raiseEntry = entry;
      }
    }
  }
  if (raiseBy > 0 && raiseEntry) {
    const to = raiseSeverity(e.severity_id, raiseBy);
    if (to !== e.severity_id) {
      raiseEntry.data.severity_raised_from = { severity_id: e.severity_id, ...(e.severity ? { severity: e.severity } : {}) };
      raiseEntry.data.severity_raised_to = to;
      e.severity_id = to;
      e.severity = SEVERITY_NAMES[to];
    }
  }
  return e;
}

function setReputation(e: OcsfEvent, c: Candidate, rep: NonNullable<Observable["reputation"]>): void {
  const list = (e.observables ??= []);
  let found = false;
  for (const o of list) {
    if (o.name === c.path && o.value === c.value) {
      if (!o.reputation || o.reputation.base_score < rep.base_score) o.reputation = rep;
      found = true;
    }
  }
  if (!found) {
    const typeId = OBS_TYPE[c.kind];
    list.push({ name: c.path, type_id: typeId, type: OBS_CAPTIONS[typeId], value: c.value, reputation: rep });
  }
}
