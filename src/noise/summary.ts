// The events a closing noise window sends (docs/noise.md), built from the window's first event. Pure.
//   fold                 the burst as one event: count = N, start_time/end_time = first/last event time
//   first_then_summary   the first event went out at once; the summary is an Update of the same finding
//                        (same finding_info.uid; activity Update for findings) with count = N
//   throttle             the events held back, as one event: count = how many, their first/last time, and
//                        the hosts they came from (unmapped.tributary_noise.hosts). Held back from one host:
//                        the template's device (that host). From several: the template's device would name
//                        one of them, so it is left out, or (classes that require a device: System Activity,
//                        Discovery) replaced by {type_id 0 Unknown, name "<n> hosts"}. A throttle key can span
//                        OCSF classes (per rule or per sink): the window then sends one summary per class,
//                        each built from a held-back event of its class and counting only that class's
//                        events; each lists every class of the window (unmapped.tributary_noise.classes)
// The event gets a metadata.uid of its own, stable for the window (a re-sent summary has the same uid),
// and unmapped.tributary_noise says which policy made it and from which original uid.
import type { DedupMode } from "../config/noise";
import type { OcsfEvent } from "../normalize/ocsf";
import { isObject } from "../normalize/json";
import { stableUid } from "../normalize/uid";

export interface WindowSummary {
  kind: "dedup" | "throttle";
  mode: DedupMode | "throttle";
  policy: string;
  sink: string;
  /** The fingerprint (dedup) or the throttle key. */
  key: string;
  /** Events the window counted (dedup: all of them; throttle: the ones held back). */
  count: number;
  /** Earliest and latest event time (ms) among them. */
  start: number;
  end: number;
  /** When the window opened and closed (ms, the object's clock). */
  openedAt: number;
  closesAt: number;
  /** throttle: the distinct device.hostname values ("" for none) of the events held back. */
  hosts?: readonly string[];
  /** throttle: more hosts were held back than the window remembers. */
  hostsTruncated?: boolean;
  /** throttle: which of the window's per-class summaries this is (absent or 0: the first). */
  part?: number;
  /** throttle, a window of several classes: each class and how many of its events were held back. */
  classes?: readonly ClassCount[];
  /** throttle: events held back of classes beyond the ones a window keeps apart (in no summary's count). */
  otherClasses?: number;
}

// a type (not an interface): it is written into the event's JSON as it is
export type ClassCount = { class_uid: number; count: number };

/** Finding classes (category 2) report a summary as activity 2, Update. */
const FINDINGS = 2;
const UPDATE = 2;

/** Categories whose classes require `device` in OCSF 1.3.0 (System Activity, Discovery). */
const DEVICE_REQUIRED = new Set([1, 5]);

/** The host fields of a throttle summary: the hosts it covers, and a device that names none of them wrongly. */
function hostFields(template: OcsfEvent, w: WindowSummary): { device?: OcsfEvent["device"]; drop: boolean; info: Record<string, unknown> } {
  const hosts = w.hosts ?? [];
  const named = hosts.filter((h) => h !== "").sort();
  const info: Record<string, unknown> = { hosts: named, ...(w.hostsTruncated ? { hosts_truncated: true } : {}) };
  if (hosts.length <= 1 && !w.hostsTruncated) return { drop: false, info };
  if (!DEVICE_REQUIRED.has(template.category_uid)) return { drop: true, info };
  const n = w.hostsTruncated ? `${named.length}+` : String(named.length || hosts.length);
  return { device: { type_id: 0, type: "Unknown", name: `${n} hosts` }, drop: false, info };
}

/** A uid for what a window sends: the same window always gives the same uid. */
export function windowUid(w: Pick<WindowSummary, "kind" | "policy" | "sink" | "key" | "openedAt" | "part">): string {
  return stableUid(`noise|${w.kind}|${w.policy}|${w.sink}|${w.key}|${w.openedAt}${w.part ? `|${w.part}` : ""}`);
}

/**
 * What a closing window sends, or undefined when it sends nothing: a fold of one event is that event
 * unchanged; a first_then_summary window of one event and an empty throttle window send nothing.
 */
export function windowOutput(template: OcsfEvent, w: WindowSummary): OcsfEvent | undefined {
  if (w.count === 0) return undefined;
  if (w.mode === "fold" && w.count === 1) return template;
  if (w.mode === "first_then_summary" && w.count === 1) return undefined;
  const host = w.kind === "throttle" && w.hosts !== undefined ? hostFields(template, w) : undefined;
  const out: OcsfEvent = {
    ...template,
    metadata: { ...template.metadata, uid: windowUid(w) },
    count: w.count,
    start_time: w.start,
    end_time: w.end,
    unmapped: {
      ...(template.unmapped ?? {}),
      tributary_noise: {
        kind: w.kind,
        mode: w.mode,
        policy: w.policy,
        [w.kind === "dedup" ? "fingerprint" : "key"]: w.key,
        count: w.count,
        window_start: new Date(w.openedAt).toISOString(),
        window_end: new Date(w.closesAt).toISOString(),
        ...(typeof template.metadata.uid === "string" ? { first_uid: template.metadata.uid } : {}),
        ...(host?.info ?? {}),
        ...(w.classes ? { classes: [...w.classes] } : {}),
        ...(w.otherClasses ? { other_classes_count: w.otherClasses } : {}),
      },
    },
  };
  if (host?.device || host?.drop) {
    // several hosts: nothing may name one of them as the summary's host (observables of device.* included)
    if (host.device) out.device = host.device;
    else delete out.device;
    const kept = template.observables?.filter((o) => !o.name.startsWith("device."));
    if (kept?.length) out.observables = kept;
    else delete out.observables;
  }
  if (w.kind === "dedup" && isObject(template.finding_info)) {
    // a burst of one alert is one finding seen from start to end (OCSF finding_info first/last_seen_time)
    out.finding_info = { ...template.finding_info, first_seen_time: w.start, last_seen_time: w.end };
  }
  if (w.mode === "first_then_summary" && template.category_uid === FINDINGS) {
    out.activity_id = UPDATE;
    out.activity_name = "Update";
    out.type_uid = template.class_uid * 100 + UPDATE;
    if (typeof template.class_name === "string") out.type_name = `${template.class_name}: Update`;
  }
  return out;
}
