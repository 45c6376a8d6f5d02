// OCSF types used inside Tributary. Only the parts we write are typed; every object allows
// further attributes, because OCSF objects are open and the schema test checks the rest.
import type { JsonObject } from "./json";

export const DEFAULT_OCSF_VERSION = "1.3.0";

export type SourceKind =
  | "falco"
  | "tetragon"
  | "k8s_audit"
  | "cloudtrail";

export interface Product {
  name: string;
  vendor_name: string;
  version?: string;
  feature?: { name: string };
  [k: string]: unknown;
}

export interface Metadata {
  version: string;
  product: Product;
  uid?: string;
  log_name?: string;
  log_provider?: string;
  original_time?: string;
  tenant_uid?: string;
  correlation_uid?: string;
  event_code?: string;
  labels?: string[];
  processed_time?: number;
  logged_time?: number;
  profiles?: string[];
  [k: string]: unknown;
}

export interface Observable {
  name: string;
  type_id: number;
  type?: string;
  value?: string;
  reputation?: { base_score: number; score_id: number; score?: string; provider?: string };
}

export interface Enrichment {
  name: string;
  value: string;
  data: JsonObject;
  provider?: string;
  type?: string;
  short_desc?: string;
}

export interface OcsfEvent {
  activity_id: number;
  activity_name?: string;
  category_uid: number;
  category_name?: string;
  class_uid: number;
  class_name?: string;
  type_uid: number;
  type_name?: string;
  severity_id: number;
  severity?: string;
  time: number;
  metadata: Metadata;
  message?: string;
  status_id?: number;
  status?: string;
  observables?: Observable[];
  enrichments?: Enrichment[];
  unmapped?: JsonObject;
  raw_data?: string;
  count?: number;
  start_time?: number;
  end_time?: number;
  [k: string]: unknown;
}

/** Context given to every normalizer by the ingest layer. */
export interface NormalizeContext {
  /** OCSF schema version to stamp (metadata.version). */
  ocsfVersion: string;
  /** Tenant/source name from the authenticated token. */
  tenant?: string;
  /**
   * Set when tenants are kept apart (more than one can send): tenantUidScope(tenant). metadata.uid is then
   * scopedUid(uid, uidScope), a hash of it and the record's uid; absent, metadata.uid is the record's uid.
   */
  uidScope?: string;
  /** Wall-clock ms when the request was received (metadata.logged_time). */
  receivedAt: number;
  /** Keep the original record text in raw_data. */
  rawData?: boolean;
  /** Original record text, when known (for raw_data). */
  rawText?: string;
  /**
   * The EventBridge event the record came in (all of it but `detail`, which is the record: unwrap in
   * ./detect). `normalize` keeps it whole in unmapped.eventbridge; CloudTrail takes cloud.account from its
   * `account` when the record names none.
   */
  envelope?: JsonObject;
}

export const SEVERITY_NAMES: Record<number, string> = {
  0: "Unknown",
  1: "Informational",
  2: "Low",
  3: "Medium",
  4: "High",
  5: "Critical",
  6: "Fatal",
  99: "Other",
};

export const CATEGORY_NAMES: Record<number, string> = {
  1: "System Activity",
  2: "Findings",
  3: "Identity & Access Management",
  4: "Network Activity",
  5: "Discovery",
  6: "Application Activity",
};

/** Observable type ids valid in OCSF 1.3.0 (1-27, 30). */
export const OBS = {
  hostname: 1,
  ip: 2,
  mac: 3,
  user_name: 4,
  email: 5,
  url: 6,
  file_name: 7,
  hash: 8,
  process_name: 9,
  resource_uid: 10,
  port: 11,
  subnet: 12,
  cmd_line: 13,
  country: 14,
  pid: 15,
  user_agent: 16,
  user_credential_id: 19,
  endpoint: 20,
  user: 21,
  file: 24,
  process: 25,
  container: 27,
  fingerprint: 30,
  other: 99,
} as const;

/** Captions of the observable type ids (observables[].type), as the 1.3.0 schema names them. */
export const OBS_CAPTIONS: Record<number, string> = {
  0: "Unknown",
  1: "Hostname",
  2: "IP Address",
  3: "MAC Address",
  4: "User Name",
  5: "Email Address",
  6: "URL String",
  7: "File Name",
  8: "Hash",
  9: "Process Name",
  10: "Resource UID",
  11: "Port",
  12: "Subnet",
  13: "Command Line",
  14: "Country",
  15: "Process ID",
  16: "HTTP User-Agent",
  17: "CWE Object: uid",
  18: "CVE Object: uid",
  19: "User Credential ID",
  20: "Endpoint",
  21: "User",
  22: "Email",
  23: "Uniform Resource Locator",
  24: "File",
  25: "Process",
  26: "Geo Location",
  27: "Container",
  30: "Fingerprint",
  99: "Other",
};

/** Collects observables; empty values are skipped so callers can pass optional fields directly. */
export class Observables {
  readonly list: Observable[] = [];
  add(name: string, type_id: number, value: string | number | undefined): void {
    if (value === undefined || value === "") return;
    const caption = OBS_CAPTIONS[type_id];
    this.list.push(caption ? { name, type_id, type: caption, value: String(value) } : { name, type_id, value: String(value) });
  }
  /**
   * An observable that names an object (user 21, container 27, process 25, ...): the 1.3.0 observable says
   * its `value` is not populated then, so a consumer pivots on the object at `name`.
   */
  addObject(name: string, type_id: number): void {
    const caption = OBS_CAPTIONS[type_id];
    this.list.push(caption ? { name, type_id, type: caption } : { name, type_id });
  }
}

// Value shapes the 1.3.0 schema constrains with a regex (dictionary.json types). Mappers use these to
// decide where a source value may go (e.g. a CloudTrail sourceIPAddress can be a service name, not an ip_t).
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HOSTNAME =
  /^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** True for an IPv4 or IPv6 address (ip_t). */
export function isIpAddress(s: string): boolean {
  if (IPV4.test(s)) return true;
  if (!s.includes(":") || !/^[0-9a-fA-F:.]+(%.+)?$/.test(s)) return false;
  const [addr = ""] = s.split("%");
  const parts = addr.split("::");
  if (parts.length > 2) return false;
  const groups = parts.flatMap((p) => (p === "" ? [] : p.split(":")));
  const v4Tail = groups.length > 0 && IPV4.test(groups[groups.length - 1]!);
  const hexGroups = v4Tail ? groups.slice(0, -1) : groups;
  if (!hexGroups.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return false;
  const width = hexGroups.length + (v4Tail ? 2 : 0);
  return parts.length === 2 ? width < 8 : width === 8;
}

/** True for a DNS-style host name (hostname_t). */
export function isHostname(s: string): boolean {
  return s.length > 0 && s.length <= 253 && HOSTNAME.test(s);
}

/** True for a UUID (uuid_t). */
export function isUuid(s: string): boolean {
  return UUID.test(s);
}

/**
 * The value of the first `<prefix><value>` label in metadata.labels (e.g. the context enricher's
 * `k8s.cluster:<name>`), or undefined when there is none with a non-empty value.
 */
export function labelValue(labels: readonly unknown[] | undefined, prefix: string): string | undefined {
  if (!labels) return undefined;
  for (const l of labels) if (typeof l === "string" && l.startsWith(prefix) && l.length > prefix.length) return l.slice(prefix.length);
  return undefined;
}

/** Sets the type_uid formula (class_uid * 100 + activity_id) and the caption siblings. */
export function withCaptions(out: OcsfEvent, className: string, activityName: string): OcsfEvent {
  out.type_uid = out.class_uid * 100 + out.activity_id;
  out.class_name = className;
  out.activity_name = activityName;
  out.category_name = CATEGORY_NAMES[out.category_uid];
  out.type_name = `${className}: ${activityName}`;
  out.severity = SEVERITY_NAMES[out.severity_id];
  return out;
}
