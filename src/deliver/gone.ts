// Sinks whose destination is gone (Classification.gone: a Slack webhook revoked, its channel deleted or
// archived; a webhook receiver's 410 or refused signature; a Splunk HEC token, Datadog API key or
// Elasticsearch/OpenSearch, OTLP or Loki credentials refused; Microsoft Sentinel's Entra ID credentials refused or
// its app without the role on the DCR: each driver's classify says which answers, see docs/delivery.md). Not a `down` sink that will be back by itself: every request meets
// the same answer until someone changes the config or a secret. The delivery attempt that got the answer
// sends nothing more and dead-letters the rest of its batch in the same dead letter (./attempt); this
// isolate then remembers the sink, with a fingerprint of its config and secret values, so its later
// deliveries are dead-lettered unsent (one dead letter each, the reason saying so) until the fingerprint
// changes (a new webhook URL, token or key) or GONE_MS has passed, when one request tries again. Memory of one isolate
// only: another isolate, or this one restarted, spends one request per delivery batch to find out again.
// POST /v1/test is the operator asking whether the sink works now: its attempt runs on a copy of the sink
// marked with probing(), which the memory does not hold back (its request is sent, its real answer reported);
// when the probe is delivered it calls forgetGone, so deliveries resume at once. A probe found gone again
// is remembered anew (from then); any other answer (5xx, network error, nothing sent) leaves the memory as it was.
import { stableHex } from "../normalize/uid";
import type { Down } from "./attempt";
import type { ResolvedSink } from "./sinks";

/** How long a gone sink is left alone (ms) before a delivery tries it again. */
export const GONE_MS = 10 * 60_000;

interface Gone {
  /** Fingerprint of the sink's config and secret values when it was found gone. */
  print: string;
  reason: string;
  at: number;
}

/** Gone sinks by name (this isolate). */
const known = new Map<string, Gone>();

/** Sink copies of POST /v1/test probes: never held back as gone. */
const probes = new WeakSet<object>();

/** Marks `sink` (a copy made for one probe, e.g. POST /v1/test) so that knownGone never holds it back. */
export function probing<S extends object>(sink: S): S {
  probes.add(sink);
  return sink;
}

/** Forgets that the sink was gone (a probe of it was delivered): its next delivery sends again. */
export function forgetGone(name: string): void {
  known.delete(name);
}

const fingerprint = (sink: Pick<ResolvedSink, "config">, secrets: readonly string[]): string => stableHex(`${JSON.stringify(sink.config)}\u0000${secrets.join("\u0000")}`);

/** Remembers that the sink's destination answered `reason` at `now` (its secrets: ./attempt sinkSecrets). */
export function rememberGone(sink: Pick<ResolvedSink, "name" | "config">, secrets: readonly string[], now: number, reason: string): void {
  known.set(sink.name, { print: fingerprint(sink, secrets), reason, at: now });
}

/**
 * The sink as `down` with `gone` set when it was found gone less than GONE_MS before `now` with the same
 * config and secrets; else undefined (and forgotten). `secrets` is called only for a sink found gone. A probe
 * (probing) is never held back, and leaves the memory as it is.
 */
export function knownGone(sink: Pick<ResolvedSink, "name" | "config">, secrets: () => readonly string[], now: number): Down | undefined {
  const g = probes.has(sink) ? undefined : known.get(sink.name);
  if (g === undefined) return undefined;
  if (now < g.at || now >= g.at + GONE_MS || g.print !== fingerprint(sink, secrets())) {
    known.delete(sink.name);
    return undefined;
  }
  const at = new Date(g.at).toISOString();
  const until = new Date(g.at + GONE_MS).toISOString();
  return { reason: `not sent: ${g.reason} (answered at ${at}; sends resume when the sink's config or a secret (URL, token, key) changes, or after ${until})`, gone: true };
}
