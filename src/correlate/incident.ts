// Builds the incident a matched chain emits (pure): an OCSF 1.3.0 Incident Finding (class 2005). See
// docs/correlation.md ("What the SIEM sees").
//
// It is deterministic: metadata.uid is a hash of the chain and the related event uids (in time order), so a
// re-emission of the same story dedupes in SIEMs; finding_info_list[0].uid is a hash of the chain and its
// anchor event, the same for the Create and every later Update of one incident.
import type { OcsfEvent, Observable } from "../normalize/ocsf";
import { OBS, Observables, SEVERITY_NAMES, withCaptions } from "../normalize/ocsf";
import type { JsonObject } from "../normalize/json";
import { stableUid } from "../normalize/uid";
import type { ChainName } from "../config/correlate";
import type { ChainMatch, Summary } from "./chains";

export const INCIDENT_CLASS_UID = 2005;
export const PRODUCT = { name: "Tributary", vendor_name: "Tributary", feature: { name: "correlation" } } as const;

export type IncidentActivity = 1 | 2; // Create | Update

export interface IncidentOptions {
  activity: IncidentActivity;
  ocsfVersion: string;
  /** OCSF 1.3.0 requires assignee or assignee_group: the configured group name. */
  assigneeGroup: string;
}

/** Lowest severity of an incident per chain (the highest member severity wins when higher). */
export const CHAIN_SEVERITY: Record<ChainName, number> = {
  k8s_exec: 3, // Medium: an interactive shell in a workload is often legitimate, always worth a look
  aws_credential_new_ip: 4, // High: a fresh credential used from somewhere else
  enforcement_alert: 4, // High: a policy had to kill or block what Falco flagged
};

const ACTIVITY_NAMES: Record<IncidentActivity, string> = { 1: "Create", 2: "Update" };
const PRIORITY: Record<number, [number, string]> = { 1: [1, "Low"], 2: [1, "Low"], 3: [2, "Medium"], 4: [3, "High"], 5: [4, "Critical"], 6: [4, "Critical"] };

/** The analytic behind a chain (its uid is stable across deployments). */
export function chainTitle(chain: ChainName): string {
  return `Tributary correlation: ${chain}`;
}

function uniq(values: (string | undefined)[]): string[] {
  const out: string[] = [];
  for (const v of values) if (v !== undefined && !out.includes(v)) out.push(v);
  return out;
}

function count(members: Summary[], role: Summary["roles"][number]): number {
  return members.filter((m) => m.roles.includes(role)).length;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** One sentence telling the story, for `message` and the finding's `desc`. */
export function describe(m: ChainMatch): string {
  const anchor = anchorOf(m) ?? m.members[0]!;
  const ms = m.members;
  switch (m.chain) {
    case "k8s_exec": {
      const what = [
        count(ms, "shell_alert") ? plural(count(ms, "shell_alert"), "Falco shell alert") : undefined,
        count(ms, "exec") ? plural(count(ms, "exec"), "process start") : undefined,
        count(ms, "connect") ? plural(count(ms, "connect"), "outbound connection") : undefined,
      ].filter((x) => x !== undefined);
      return `${anchor.user ?? "a Kubernetes user"} exec'd into pod ${anchor.pod ?? m.scope}; then ${what.join(", ")}`;
    }
    case "aws_credential_new_ip": {
      const ips = uniq(ms.filter((x) => x.roles.includes("cred_use")).map((x) => x.ip));
      return `${anchor.title ?? "a credential action"} by ${anchor.user ?? "an AWS principal"} from ${anchor.ip ?? "?"} handed out ${anchor.credential ?? "a credential"}; then it was used from ${ips.join(", ")}`;
    }
    case "enforcement_alert": {
      const titles = uniq(ms.filter((x) => x.roles.includes("alert")).map((x) => x.title));
      const where = anchor.pod ?? (anchor.container ? `container ${anchor.container}` : m.scope);
      return `Tetragon ${anchor.action ?? "enforcement"} on ${anchor.binary ?? "a process"} in ${where}, and Falco alerted: ${titles.join("; ")}`;
    }
  }
}

/** The event the incident is anchored on (the finding uid is derived from it). */
export function anchorOf(m: ChainMatch): Summary | undefined {
  const role = m.chain === "k8s_exec" ? "k8s_exec" : m.chain === "aws_credential_new_ip" ? "cred_create" : "enforcement";
  return m.members.find((x) => x.roles.includes(role));
}

/** metadata.uid of an incident: the chain and its related event uids in time order. */
export function incidentUid(m: ChainMatch): string {
  return stableUid(`tributary/incident/${m.chain}/${m.members.map((x) => x.uid).join(",")}`);
}

export function buildIncident(m: ChainMatch, opts: IncidentOptions): OcsfEvent {
  const ms = m.members;
  const first = ms[0]!;
  const last = ms[ms.length - 1]!;
  const anchor = anchorOf(m) ?? first;
  const severity_id = Math.max(CHAIN_SEVERITY[m.chain], ...ms.map((x) => (x.severity_id >= 1 && x.severity_id <= 6 ? x.severity_id : 0)));
  const [priority_id, priority] = PRIORITY[severity_id] ?? [0, "Unknown"];
  const title = chainTitle(m.chain);
  const story = describe(m);
  const related = ms.map((x) => {
    const r: JsonObject = { uid: x.uid, type_uid: x.type_uid };
    if (x.type_name !== undefined) r.type_name = x.type_name;
    return r;
  });
  const findingInfo: JsonObject = {
    uid: m.finding_uid,
    title,
    desc: story,
    types: ["correlation", m.chain],
    analytic: { type_id: 1, type: "Rule", name: title, uid: stableUid(`tributary/analytic/${m.chain}`) },
    first_seen_time: first.time,
    last_seen_time: last.time,
    related_events: related,
  };
  // the member detections (Falco alerts) the incident groups, each with its own finding uid and title
  const memberFindings: JsonObject[] = [];
  for (const x of ms) {
    if (x.class_uid !== 2004 || x.finding_uid === undefined || x.title === undefined) continue;
    if (memberFindings.some((f) => f.uid === x.finding_uid)) continue;
    memberFindings.push({ uid: x.finding_uid, title: x.title, first_seen_time: x.time, last_seen_time: x.time, related_events: [{ uid: x.uid, type_uid: x.type_uid }] });
  }

  const facts: JsonObject = { chain: m.chain, key: m.scope, related: ms.map((x) => x.uid) };
  const pods = uniq(ms.map((x) => x.pod));
  const users = uniq(ms.map((x) => x.user));
  const ips = uniq(ms.map((x) => x.ip));
  const containers = uniq(ms.map((x) => x.container));
  const credentials = uniq(ms.map((x) => x.credential));
  if (pods.length) facts.pods = pods;
  if (users.length) facts.users = users;
  if (ips.length) facts.ips = ips;
  if (containers.length) facts.containers = containers;
  if (credentials.length) facts.credentials = credentials;

  const obs = new Observables();
  users.forEach((u, i) => obs.add(`unmapped.tributary.correlation.users[${i}]`, OBS.user_name, u));
  ips.forEach((ip, i) => obs.add(`unmapped.tributary.correlation.ips[${i}]`, OBS.ip, ip));
  // a container id is a string here, not the Container object type 27 names: Resource UID
  containers.forEach((c, i) => obs.add(`unmapped.tributary.correlation.containers[${i}]`, OBS.resource_uid, c));
  credentials.forEach((c, i) => {
    if (c.startsWith("aws.key:")) obs.add(`unmapped.tributary.correlation.credentials[${i}]`, OBS.user_credential_id, c.slice("aws.key:".length));
  });

  const labels = ["tributary.correlation", `correlation.chain:${m.chain}`];
  const podParts = anchor.pod?.split("/");
  if (podParts?.length === 3) labels.push(`k8s.cluster:${podParts[0]}`, `k8s.namespace:${podParts[1]}`, `k8s.pod:${podParts[2]}`);

  const metadata: OcsfEvent["metadata"] = {
    version: opts.ocsfVersion,
    product: { ...PRODUCT, feature: { ...PRODUCT.feature } },
    uid: incidentUid(m),
    correlation_uid: stableUid(m.scope),
    log_name: "correlation",
    log_provider: "tributary",
    labels,
  };
  if (anchor.tenant !== undefined) metadata.tenant_uid = anchor.tenant;

  const ev: OcsfEvent = {
    activity_id: opts.activity,
    category_uid: 2,
    class_uid: INCIDENT_CLASS_UID,
    type_uid: 0,
    severity_id,
    time: last.time,
    start_time: first.time,
    end_time: last.time,
    message: `${title}: ${story}`,
    desc: story,
    status_id: 1,
    status: "New",
    priority_id,
    priority,
    assignee_group: { name: opts.assigneeGroup },
    finding_info_list: [findingInfo, ...memberFindings],
    metadata,
    unmapped: { tributary: { correlation: facts } },
  };
  const list: Observable[] = obs.list;
  if (list.length) ev.observables = list;
  withCaptions(ev, "Incident Finding", ACTIVITY_NAMES[opts.activity]);
  ev.severity = SEVERITY_NAMES[severity_id];
  return ev;
}
