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
  /** Wall-clock ms when the request was received (metadata.logged_time). */
  receivedAt: number;
  /** Keep the original record text in raw_data. */
  rawData?: boolean;
  /** Original record text, when known (for raw_data). */
  rawText?: string;
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
