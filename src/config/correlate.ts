// The `correlate` section of the Tributary config (docs/correlation.md). `{}` means: correlation keys on
// every event, the three chains on, a 10-minute window, at most 500 event summaries per correlation key.
import { z } from "zod";

/**
 * True when a repeated group (`(...)*`, `(...)+`, `(...){n,}`) holds a quantifier or an alternation:
 * the shapes (`(a+)+`, `(a|a)*`) that backtrack exponentially on a non-matching subject. The subject
 * is event text (a Falco rule title), so such a pattern is refused when the config is loaded.
 */
export function repeatsAmbiguousGroup(s: string): boolean {
  const open: boolean[] = []; // per open group: does it hold a quantifier or "|"
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "\\") i++;
    else if (c === "[") {
      for (i++; i < s.length && s[i] !== "]"; i++) if (s[i] === "\\") i++;
    } else if (c === "(") {
      open.push(false);
      // (?:  (?=  (?!  (?<=  (?<!  (?<name>: the "?" is no quantifier
      if (s[i + 1] === "?") i = s[i + 2] === "<" && s[i + 3] !== "=" && s[i + 3] !== "!" ? Math.max(i + 2, s.indexOf(">", i)) : i + (s[i + 2] === "<" ? 3 : 2);
    } else if (c === ")") {
      const risky = open.pop() ?? false;
      const next = s[i + 1];
      if (risky && (next === "*" || next === "+" || (next === "{" && /^\{\d*,/.test(s.slice(i + 1, i + 12))))) return true;
      if (risky || next === "*" || next === "+" || next === "{" || next === "?") if (open.length) open[open.length - 1] = true;
    } else if ((c === "*" || c === "+" || c === "{" || c === "?" || c === "|") && open.length) open[open.length - 1] = true;
  }
  return false;
}

/** A zod check refusing a pattern repeatsAmbiguousGroup finds (the correlate and redact sections' patterns). */
export const linearTime = z.refine<string>((s) => !repeatsAmbiguousGroup(s), {
  message: "a repeated group holding a quantifier or an alternation (like (a+)+ or (a|b)*) can take exponential time on event text: write it without one",
});

/** A case-insensitive regular expression given as text (checked when the config is loaded). */
const regexText = z
  .string()
  .min(1)
  .refine(
    (s) => {
      try {
        new RegExp(s, "i");
        return true;
      } catch {
        return false;
      }
    },
    { message: "not a valid regular expression" },
  )
  .check(linearTime);

const windowSeconds = z.number().int().min(1).max(86_400);

export const k8sExecChainSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** How long after the `kubectl exec`/`attach` its shell, processes and connections are joined (default: `windowSeconds`). */
    windowSeconds: windowSeconds.optional(),
    /** A Falco alert is a "shell" alert when its rule title matches this (case-insensitive) or it has the tag `shell`. */
    shellPattern: regexText.default("shell"),
  })
  .strict();

export const awsCredentialChainSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** How long after the credential action a use from a new IP is joined (default: `windowSeconds`). */
    windowSeconds: windowSeconds.optional(),
    /** CloudTrail eventNames that hand out a credential (its access key id in the response, or a console password). */
    actions: z
      .array(z.string().min(1))
      .min(1)
      .default(["CreateAccessKey", "GetFederationToken", "GetSessionToken", "AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity", "CreateLoginProfile", "UpdateLoginProfile"]),
  })
  .strict();

export const enforcementChainSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Largest time between the Tetragon enforcement and the Falco alert for the same process (default 60 s). */
    windowSeconds: windowSeconds.default(60),
    /** Tetragon actions that count as enforcement. */
    actions: z.array(z.string().min(1)).min(1).default(["KPROBE_ACTION_SIGKILL", "KPROBE_ACTION_OVERRIDE", "KPROBE_ACTION_NOTIFYENFORCER"]),
  })
  .strict();

export const correlateSchema = z
  .object({
    /** Write correlation keys (metadata.correlation_uid, unmapped.tributary.correlation) on every event. */
    keys: z.boolean().default(true),
    /** Feed event summaries to the correlation Durable Objects and emit incidents (needs the CORRELATOR binding). */
    enabled: z.boolean().default(true),
    /** Default chain window (seconds); each summary is kept this long (plus skewSeconds) after it arrives. */
    windowSeconds: windowSeconds.default(600),
    /** Clock difference tolerated between sensors: evidence up to this much before its anchor still joins. */
    skewSeconds: z.number().int().min(0).max(600).default(30),
    /** Most event summaries one correlation key (one Durable Object) keeps; the oldest go first. */
    maxEventsPerKey: z.number().int().min(10).max(10_000).default(500),
    /** Most bytes of event summaries one correlation key keeps. */
    maxBytesPerKey: z.number().int().min(10_000).max(50_000_000).default(1_000_000),
    /** Most related events one incident lists (the earliest are kept). */
    maxRelated: z.number().int().min(2).max(500).default(50),
    /** Most Update emissions of one incident after its Create (an incident grows as evidence arrives). */
    maxUpdates: z.number().int().min(0).max(100).default(10),
    /** Most correlation keys fed per consumer batch (the rest of the batch's summaries are dropped and logged). */
    maxKeysPerBatch: z.number().int().min(1).max(5_000).default(1_000),
    /**
     * Correlate events of different tenants with one another (their keys and incidents are shared). Default: where
     * more than one tenant can send, each tenant's events are correlated only with its own (docs/correlation.md).
     */
    acrossTenants: z.boolean().default(false),
    /** OCSF 1.3.0 requires an assignee or assignee group on an Incident Finding: the group name set on every incident. */
    assigneeGroup: z.string().min(1).default("unassigned"),
    chains: z
      .object({
        k8s_exec: k8sExecChainSchema.default(k8sExecChainSchema.parse({})),
        aws_credential_new_ip: awsCredentialChainSchema.default(awsCredentialChainSchema.parse({})),
        enforcement_alert: enforcementChainSchema.default(enforcementChainSchema.parse({})),
      })
      .strict()
      .default({
        k8s_exec: k8sExecChainSchema.parse({}),
        aws_credential_new_ip: awsCredentialChainSchema.parse({}),
        enforcement_alert: enforcementChainSchema.parse({}),
      }),
  })
  .strict();

export type CorrelateConfig = z.infer<typeof correlateSchema>;
export type ChainName = keyof CorrelateConfig["chains"];
export const CHAIN_NAMES: readonly ChainName[] = ["k8s_exec", "aws_credential_new_ip", "enforcement_alert"];

/** The defaults (what `{}` gives). */
export const DEFAULT_CORRELATE: CorrelateConfig = correlateSchema.parse({});
