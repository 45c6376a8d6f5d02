// The `redact` section of the Tributary config (docs/config.md#redact): regular expressions whose capture
// groups are replaced by "*****" in event text (command lines, messages, raw_data, unmapped leftovers) before
// any enricher, sink or the archive sees the event, as Tetragon's --redaction-filters do for its own export.
// Absent: nothing is redacted and nothing runs. The patterns are compiled by src/enrich/redact.ts.
import { z } from "zod";
import { linearTime } from "./correlate";

/** The named rule sets `presets` may list (src/enrich/redact.ts PRESETS). */
export const REDACT_PRESETS = ["credentials"] as const;

/**
 * A pattern as JavaScript compiles it: the text, with an RE2-style leading `(?i)` / `(?s)` / `(?m)` (or a
 * combination, `(?is)`) turned into flags, as Tetragon's RE2 filters are often written. Throws on an invalid one.
 */
export function regexOf(pattern: string, flags = ""): RegExp {
  const m = /^\(\?([ims]+)\)/.exec(pattern);
  const own = m ? [...new Set(m[1]!)].join("") : "";
  return new RegExp(m ? pattern.slice(m[0].length) : pattern, flags + own);
}

function compiles(p: string): boolean {
  try {
    regexOf(p);
    return true;
  } catch {
    return false;
  }
}

const pattern = z
  .string()
  .min(1)
  .refine(compiles, { message: "not a valid regular expression (JavaScript syntax; a leading (?i), (?s) or (?m) is read as a flag)" })
  .check(linearTime);

/**
 * An OCSF path to redact under: keys separated by dots, `*` for any one key, `**` for any number of keys
 * (arrays are walked through, so `evidences.process.cmd_line` is every evidence's); a path naming an object
 * or array covers every string below it. `default` stands for the default set (to extend it).
 */
const field = z
  .string()
  .min(1)
  .refine((f) => !/[[\]]/.test(f), { message: "no [index]: arrays are walked through (evidences.process.cmd_line is every evidence's)" })
  .refine((f) => f.split(".").every((k) => k !== ""), { message: "an OCSF path: keys separated by single dots (e.g. evidences.process.cmd_line, **.cmd_line)" })
  .refine((f) => f.split(".").length <= 32, { message: "at most 32 keys" });

export const redactRuleSchema = z
  .object({
    /** Capture groups are replaced by "*****"; a pattern without groups has its whole match replaced. */
    pattern,
    /** Only for processes whose binary (file.path, name) matches; text outside a process object: any process of the event. */
    binary: pattern.optional(),
    /** Where the rule applies (default: DEFAULT_FIELDS in src/enrich/redact.ts); "default" in the list adds that set. */
    fields: z.array(field).min(1, "an empty list redacts nothing: leave `fields` out for the default set").optional(),
  })
  .strict();

export const redactSchema = z
  .object({
    rules: z.array(redactRuleSchema).default([]),
    /** Built-in rule sets, applied before `rules` on the default fields. */
    presets: z.array(z.enum(REDACT_PRESETS)).default([]),
  })
  .strict();

export type RedactConfig = z.infer<typeof redactSchema>;
export type RedactRule = z.infer<typeof redactRuleSchema>;
