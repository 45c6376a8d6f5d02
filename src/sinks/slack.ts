// Slack incoming webhook: one readable message per high-severity event (text + Block Kit blocks:
// title, severity, cluster, host, container, pod, process, user, time, resource, account, tenant, uid; a folded burst shows its count and span). Events below minSeverityId
// (default 4 = High; 99 "Other" counts as below) are not sent: encode leaves them out and
// unsentOutcome settles them as delivered. A delivery batch with more than digestAfter (default 5) such
// events sends the first digestAfter as usual and the rest as ONE digest message (slackDigest), whose
// request carries all their indexes and the tag "digest:<shown>" (SinkRequest.retryAs): when the digest is
// retried (429, 5xx, not sent after another request's), the retry's encode sees that tag (ctx.retryOf) and
// posts the retried events as one digest again, not as digestAfter single messages and a smaller digest;
// a retried single message is one event and goes out as itself. Nothing paces the requests (sent one after
// another): Slack allows ~1 message/s per webhook and answers 429 with Retry-After beyond it; the
// delivery layer then holds the rest of the delivery and retries it after Retry-After. Keep the volume
// down with the minimum severity and a noise throttle on this sink (docs/noise.md). Responses: 2xx ("ok") delivered; 408, 429 (Retry-After) and 5xx (not 501) retried;
// other statuses rejected with Slack's error string (invalid_payload, no_text, ...). A webhook that can no longer
// post (403, 404, 410, or one of GONE_ERRORS: revoked, channel deleted or archived, posting prohibited) is
// gone (Classification.gone): the delivery dead-letters the rest of its batch with it, in one dead letter whose
// reason says to set a new webhook URL, and sends nothing more to it until the URL or config changes or some
// minutes pass (../deliver/gone).
import { z } from "zod";
import { secretRef } from "../config/secret";
import type { OcsfEvent } from "../normalize/ocsf";
import { classifyHttpStatus, goneReject, secretWhere, type SinkDriver, type SinkRequest } from "./types";
import { eventUid, fieldAt, headersSchema, isoTime, mergeHeaders, secretValue, textAt } from "./batch";
import { labelValue } from "../normalize/ocsf";

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** A literal webhook URL Tributary will post to: https, or http to this machine (local receivers in development and tests). */
export function slackUrlOk(text: string): boolean {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return false;
  }
  return u.protocol === "https:" || (u.protocol === "http:" && LOOPBACK.has(u.hostname));
}

export const slackConfig = z
  .object({
    /**
     * The incoming webhook URL (it holds the credential: keep it in a secret). Written literally it
     * must be an https URL (http only to 127.0.0.1/localhost); the value is never echoed in errors.
     */
    url: secretRef.superRefine((v, ctx) => {
      if (typeof v === "string" && !slackUrlOk(v))
        ctx.addIssue({ code: "custom", message: 'expected the incoming webhook\'s https URL (https://hooks.slack.com/services/...) or {"env": "NAME"}; http only to 127.0.0.1 or localhost' });
    }),
    /** Lowest OCSF severity_id sent (1 Informational .. 6 Fatal); default 4 (High). */
    minSeverityId: z.number().int().min(0).max(6).default(4),
    /**
     * A delivery batch with more sendable events than this: the first digestAfter go out as usual, the rest
     * (two or more; one left over goes out as itself) as ONE digest message (counts by rule, severity,
     * cluster, namespace, host; span; a few uids). 0: never, one message per event.
     */
    digestAfter: z.number().int().min(0).default(5),
    headers: headersSchema,
  })
  .strict();

export type SlackConfig = z.infer<typeof slackConfig>;

/** Whether this sink sends the event (severity at or above the threshold; 99 "Other" never). */
export function slackAccepts(e: OcsfEvent, cfg: SlackConfig): boolean {
  return e.severity_id !== 99 && e.severity_id >= cfg.minSeverityId;
}

/**
 * Control characters shown as "[U+202E]": bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069)
 * would let a command line display in another order than it runs ("Trojan Source"), and C0/C1 controls but
 * tab and newline are invisible. The sender's text is the attacker's; the on-call engineer must see it as it is.
 */
const HIDDEN = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/g;
const visible = (s: string): string => s.replace(HIDDEN, (c) => `[U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}]`);
const mrkdwn = (s: string): string => visible(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
/**
 * At most n UTF-16 units, ending in "…" when cut; never between the two halves of a surrogate pair (an emoji
 * cut in half is a lone surrogate: invalid Unicode that JSON.stringify sends as a bare \ud83d escape).
 */
function cut(s: string, n: number): string {
  if (s.length <= n) return s;
  const end = /[\uD800-\uDBFF]/.test(s.charAt(n - 2)) ? n - 2 : n - 1;
  return `${s.slice(0, end)}…`;
}

/** An event time as shown: ISO 8601, else the number as sent (1e300, NaN: a replayed event's) marked as no date. */
const timeText = (ms: number): string => isoTime(ms) ?? `${ms} (not a date)`;

/** The event's severity as shown: its caption, else its number. */
const severityText = (e: OcsfEvent): string => e.severity ?? `severity ${e.severity_id}`;

/** The event's host as shown: the device's hostname, a noise summary's hosts, else the device's name or address. */
const hostText = (e: OcsfEvent): string | undefined => textAt(e, "device.hostname") ?? noiseHosts(e) ?? first(e, ["device.name", "device.ip"]);

/** The event's rule or finding title, as the message header names it. */
const titleOf = (e: OcsfEvent): string => first(e, ["finding_info.title", "type_name"]) ?? `OCSF class ${e.class_uid}`;

function first(e: OcsfEvent, paths: string[]): string | undefined {
  for (const p of paths) {
    const v = textAt(e, p);
    if (v !== undefined) return v;
  }
  return undefined;
}

/** The first resource that is (pods) or is not (!pods) a Pod: "namespace/name", prefixed by the type for others. */
function resource(e: OcsfEvent, pods: boolean): string | undefined {
  const resources = fieldAt(e, "resources");
  if (!Array.isArray(resources)) return undefined;
  for (const r of resources as unknown[]) {
    if (typeof r !== "object" || r === null) continue;
    const o = r as Record<string, unknown>;
    if ((o.type === "Pod") !== pods || typeof o.name !== "string") continue;
    const name = typeof o.namespace === "string" ? `${o.namespace}/${o.name}` : o.name;
    return pods || typeof o.type !== "string" ? name : `${o.type} ${name}`;
  }
  return undefined;
}

/** The cloud account and region (CloudTrail): ["Account", "123456789012 (us-east-1)"], or ["Region", "us-east-1"]. */
function account(e: OcsfEvent): [string, string | undefined] {
  const uid = textAt(e, "cloud.account.uid");
  const region = textAt(e, "cloud.region");
  return uid ? ["Account", region ? `${uid} (${region})` : uid] : ["Region", region];
}

/** The hosts a noise summary covers ("a, b, c"), when it names more than one. */
function noiseHosts(e: OcsfEvent): string | undefined {
  const hosts: unknown = fieldAt(e, "unmapped.tributary_noise.hosts");
  return Array.isArray(hosts) && hosts.length > 1 ? hosts.filter((h): h is string => typeof h === "string").join(", ") : undefined;
}

const SEVERITY_EMOJI: Record<number, string> = { 4: ":large_orange_circle:", 5: ":red_circle:", 6: ":red_circle:" };

/**
 * The Slack message (text + blocks) for one event. Links in it are never unfurled: alert text is the sender's
 * (a URL in a command line would otherwise make Slack fetch it and post a preview of the attacker's page).
 */
export function slackMessage(e: OcsfEvent): { text: string; blocks: unknown[]; unfurl_links: false; unfurl_media: false } {
  const title = titleOf(e);
  const severity = severityText(e);
  // a throttle summary of events from several hosts has no device: it lists them in tributary_noise.hosts
  const host = hostText(e);
  const image = first(e, ["evidences.0.container.image.name", "container.image.name"]);
  const containerName = first(e, ["evidences.0.container.name", "evidences.0.container.uid", "container.name", "container.uid"]);
  const container = containerName && image ? `${containerName} (${image})` : (containerName ?? image);
  const cmd = first(e, ["evidences.0.process.cmd_line", "process.cmd_line", "actor.process.cmd_line"]);
  const user = first(e, ["evidences.0.process.user.name", "actor.user.name", "process.user.name", "user.name", "actor.user.uid"]);
  const srcIp = textAt(e, "src_endpoint.ip");
  // where, when one channel gets several clusters' alerts: the context enricher's k8s.cluster label
  const cluster = labelValue(e.metadata.labels, "k8s.cluster:");
  const tenant = e.metadata.tenant_uid;
  const uid = eventUid(e);
  // a folded burst (noise control: count, start_time, end_time) says how many and over what span
  const burst = typeof e.count === "number" && e.count > 1 ? e.count : undefined;
  const when =
    burst && typeof e.start_time === "number" && typeof e.end_time === "number"
      ? `${timeText(e.start_time)} – ${timeText(e.end_time)}`
      : timeText(e.time);
  // a throttle summary (per rule or per sink) stands for events of many pods and processes, but carries one
  // held-back event's: say that its container, pod, process, user and address are an example
  const eg = fieldAt(e, "unmapped.tributary_noise.kind") === "throttle" ? ", e.g." : "";
  // Slack takes at most 10 fields per section: the first 10 present are sent
  const fields: [string, string | undefined, boolean][] = [
    ["Severity", severity, false],
    ["Cluster", cluster, false],
    ["Host", host, false],
    [`Container${eg}`, container, false],
    [`Pod${eg}`, resource(e, true), false],
    [`Process${eg}`, cmd, true],
    [`User${eg}`, user, false],
    [`Source IP${eg}`, srcIp, false],
    ["Time", when, false],
    ["Occurrences", burst?.toLocaleString("en-US"), false],
    // API events (CloudTrail, Kubernetes audit): what was acted on, in which account; last, so the first to go
    [`Resource${eg}`, resource(e, false), false],
    [...account(e), false],
  ];
  const blocks: unknown[] = [{ type: "header", text: { type: "plain_text", text: cut(visible(`${severity}: ${title}`), 150), emoji: true } }];
  const desc = first(e, ["finding_info.desc", "message"]);
  if (desc) blocks.push({ type: "section", text: { type: "mrkdwn", text: cut(mrkdwn(desc), 3000) } });
  blocks.push({
    type: "section",
    fields: fields
      .filter((f): f is [string, string, boolean] => f[1] !== undefined)
      .slice(0, 10)
      // the value is cut, not the field: a long command line keeps its closing backtick
      .map(([k, v, code]) => {
        const room = 2000 - k.length - 3 - (code ? 2 : 0);
        return { type: "mrkdwn", text: `*${k}*\n${code ? `\`${cut(mrkdwn(v.replace(/`/g, "'")), room)}\`` : cut(mrkdwn(v), room)}` };
      }),
  });
  const product = e.metadata.product.name;
  blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: cut(mrkdwn(`${product} · ${e.class_name ?? "OCSF"} (${e.class_uid})${tenant ? ` · tenant ${tenant}` : ""}${uid ? ` · uid ${uid}` : ""}`), 3000) }] });
  const text = `${SEVERITY_EMOJI[e.severity_id] ?? ""} ${severity}: ${title}${host ? ` on ${host}` : ""}${burst ? ` (×${burst.toLocaleString("en-US")})` : ""}`.trim();
  return { text: cut(mrkdwn(text), 3000), blocks, unfurl_links: false, unfurl_media: false };
}

/** How many values a digest names per list (rules; severities, clusters, namespaces, hosts) and how many uids. */
const DIGEST_RULES = 10;
const DIGEST_TOP = 5;
const DIGEST_UIDS = 5;

const count = (n: number): string => n.toLocaleString("en-US");

/** Each value and how many events have it, most first (ties in text order); undefined values left out. */
function tally(values: (string | undefined)[]): [string, number][] {
  const m = new Map<string, number>();
  for (const v of values) if (v !== undefined) m.set(v, (m.get(v) ?? 0) + 1);
  return [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** "• value ×n" lines (mrkdwn, each value escaped and cut to `width`) for the first `n`, then "and K more (m)". */
function topLines(counts: [string, number][], n: number, width: number): string {
  const lines = counts.slice(0, n).map(([v, c]) => `• ${cut(mrkdwn(v), width)} ×${count(c)}`);
  const rest = counts.slice(n);
  if (rest.length > 0) lines.push(`_and ${count(rest.length)} more (×${count(rest.reduce((t, [, c]) => t + c, 0))})_`);
  return lines.join("\n");
}

/** The namespace an event happened in: the context enricher's k8s.namespace label, else its first namespaced resource's. */
function namespaceOf(e: OcsfEvent): string | undefined {
  const label = labelValue(e.metadata.labels, "k8s.namespace:");
  if (label !== undefined) return label;
  const resources = fieldAt(e, "resources");
  if (!Array.isArray(resources)) return undefined;
  for (const r of resources as unknown[]) {
    const ns = typeof r === "object" && r !== null ? (r as Record<string, unknown>).namespace : undefined;
    if (typeof ns === "string" && ns !== "") return ns;
  }
  return undefined;
}

/**
 * ONE Slack message standing for `events` (the rest of a delivery batch after the `shown` sent one by one,
 * see SlackConfig.digestAfter): how many, over what span, counts by rule, severity, cluster, namespace and
 * host, a few uids to search for, and where the full events are. Within Block Kit's limits (at most 7 blocks,
 * 4 fields; every text cut), escaped as slackMessage escapes. A noise summary counts as one event; its
 * occurrences (OCSF count) are added up on their own.
 */
export function slackDigest(events: OcsfEvent[], shown: number): { text: string; blocks: unknown[]; unfurl_links: false; unfurl_media: false } {
  const n = events.length;
  const occurrences = events.reduce((t, e) => t + (typeof e.count === "number" && e.count > 1 ? e.count : 1), 0);
  // the span: every valid time (a folded burst's start and end too); times no date holds are left out
  const times = events.flatMap((e) => [e.time, e.start_time, e.end_time]).filter((t): t is number => typeof t === "number" && isoTime(t) !== undefined);
  // (reduce, not Math.min(...times): a batch's maxEvents may be more arguments than a call takes)
  const span = times.length > 0 ? `${isoTime(times.reduce((a, b) => Math.min(a, b)))} – ${isoTime(times.reduce((a, b) => Math.max(a, b)))}` : "no valid event time";
  const rules = tally(events.map(titleOf));
  // severities in severity order (Critical first), not by count
  const rank = new Map(events.map((e) => [severityText(e), e.severity_id]));
  const severities = tally(events.map(severityText)).sort((a, b) => rank.get(b[0])! - rank.get(a[0])!);
  const top = SEVERITY_EMOJI[events.reduce((m, e) => (e.severity_id === 99 ? m : Math.max(m, e.severity_id)), 0)] ?? "";
  const where: [string, [string, number][]][] = [
    ["Clusters", tally(events.map((e) => labelValue(e.metadata.labels, "k8s.cluster:")))],
    ["Namespaces", tally(events.map(namespaceOf))],
    ["Hosts", tally(events.map(hostText))],
  ];
  const uids = events.map(eventUid).filter((u): u is string => u !== undefined);
  const ruleName = rules.length === 1 ? rules[0]![0] : `${count(rules.length)} rules`;
  const folded = occurrences > n ? ` (${count(occurrences)} occurrences with the folded bursts)` : "";
  const blocks: unknown[] = [
    { type: "header", text: { type: "plain_text", text: cut(visible(`Digest: ${count(n)} more alerts, ${ruleName}`), 150), emoji: true } },
    {
      type: "section",
      text: { type: "mrkdwn", text: cut(`*${count(n)} more alerts*${mrkdwn(folded)} in this delivery, after the ${count(shown)} posted one by one.\n*Span* ${span}`, 3000) },
    },
    { type: "section", text: { type: "mrkdwn", text: cut(`*By rule*\n${topLines(rules, DIGEST_RULES, 200)}`, 3000) } },
    {
      type: "section",
      fields: [["Severity", severities] as [string, [string, number][]], ...where.filter(([, c]) => c.length > 0)].map(([k, c]) => ({ type: "mrkdwn", text: cut(`*${k}*\n${topLines(c, DIGEST_TOP, 100)}`, 2000) })),
    },
  ];
  if (uids.length > 0) {
    const more = uids.length > DIGEST_UIDS ? ` and ${count(uids.length - DIGEST_UIDS)} more` : "";
    blocks.push({ type: "section", text: { type: "mrkdwn", text: cut(`*Some uids* (metadata.uid)\n${uids.slice(0, DIGEST_UIDS).map((u) => `\`${cut(mrkdwn(u.replace(/`/g, "'")), 200)}\``).join(", ")}${more}`, 3000) } });
  }
  // where on-call finds the full events in production (no dev-only tool: /v1/archive answers 403 when deployed)
  const by = uids.length > 0 ? "the uids above (metadata.uid)" : "metadata.uid";
  blocks.push({
    type: "context",
    elements: [{ type: "mrkdwn", text: `Every one of these events is in the archive R2 bucket (ARCHIVE binding, objects under ocsf/class_uid=C/event_day=YYYYMMDD/) and in every SIEM sink its route sends to: search there by ${by}, or by rule and span.` }],
  });
  const text = `${top} Digest: ${count(n)} more alerts${folded}, ${rules.length === 1 ? rules[0]![0] : `${rules[0]![0]} ×${count(rules[0]![1])} and ${count(rules.length - 1)} more rules`}`.trim();
  return { text: cut(mrkdwn(text), 3000), blocks, unfurl_links: false, unfurl_media: false };
}

/**
 * Answers after which the webhook posts nothing more (api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks:
 * 403 action_prohibited, 404 channel_not_found, 410 channel_is_archived; 403 invalid_token and 404 no_service for a
 * revoked or removed webhook), whatever the status of these error strings.
 */
const GONE_STATUS = new Set([403, 404, 410]);
const GONE_ERRORS = new Set(["action_prohibited", "posting_to_general_channel_denied", "channel_not_found", "channel_is_archived", "invalid_token", "no_service", "no_service_id", "no_team", "team_disabled", "no_active_hooks"]);

/** SinkRequest.retryAs of a digest: this and how many alerts its delivery posted one by one. */
const DIGEST_TAG = "digest:";

/** The retried events were a digest (ctx.retryOf): how many its delivery posted one by one; else undefined. */
function retriedDigest(retryOf: string | undefined): number | undefined {
  if (retryOf === undefined || !retryOf.startsWith(DIGEST_TAG)) return undefined;
  const n = Number(retryOf.slice(DIGEST_TAG.length));
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

export const slack: SinkDriver<SlackConfig> = {
  type: "slack",
  schema: slackConfig,

  encode(events, cfg, ctx) {
    const url = secretValue(cfg.url, ctx.env, "slack", "url");
    const post = (indexes: number[], message: unknown): SinkRequest => ({
      events: indexes,
      url,
      method: "POST",
      headers: mergeHeaders({ "content-type": "application/json" }, cfg.headers),
      body: JSON.stringify(message),
    });
    // events below the threshold are in no request: see unsentOutcome
    const sendable = events.flatMap((e, i) => (slackAccepts(e, cfg) ? [i] : []));
    // the retry of a digest is that digest again (shown: how many its delivery posted one by one)
    const retried = retriedDigest(ctx.retryOf);
    // a digest stands for two events or more: one left over goes out as itself
    const digest = retried !== undefined ? (sendable.length > 1 ? sendable.splice(0) : []) : cfg.digestAfter > 0 && sendable.length > cfg.digestAfter + 1 ? sendable.splice(cfg.digestAfter) : [];
    const shown = retried ?? sendable.length;
    const out = sendable.map((i) => post([i], slackMessage(events[i]!)));
    // one request carries every digested event: its outcome (delivered, retry, reject) settles them together,
    // and its tag makes their retry one digest again
    if (digest.length > 0) out.push({ ...post(digest, slackDigest(digest.map((i) => events[i]!), shown)), retryAs: `${DIGEST_TAG}${shown}` });
    return out;
  },

  unsentOutcome(e, cfg) {
    if (!slackAccepts(e, cfg)) return { kind: "delivered" }; // not for this sink: nothing to send
    return { kind: "reject", reason: "slack: event was not encoded" };
  },

  classify(res, _req, cfg) {
    const o = classifyHttpStatus(res);
    if (o.kind === "delivered") return { outcome: o };
    const error = res.body.trim().slice(0, 200);
    const reason = `Slack ${res.status}: ${error || "(no body)"}`;
    // every later message to this webhook meets the same answer
    if (o.kind === "reject" && (GONE_STATUS.has(res.status) || GONE_ERRORS.has(error))) {
      return goneReject(reason, `webhook revoked or channel archived/deleted: set a new ${secretWhere(cfg.url, "url")} (a new incoming webhook)`);
    }
    return { outcome: { ...o, reason } };
  },
};
