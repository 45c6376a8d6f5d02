import { describe, it, expect } from "vitest";
import { envelopeHint, detectKind } from "../../src/normalize/detect";
import type { JsonObject } from "../../src/normalize/json";
import type { NormalizeContext } from "../../src/normalize/ocsf";
import { runPipeline } from "../../src/pipeline";
import { fixture } from "../support/fixtures";

const CTX: NormalizeContext = { ocsfVersion: "1.3.0", receivedAt: 1700000000000, tenant: "test" };

// What Vector's file source makes of a line when the remap is missing: the line as text in "message".
function envelope(line: string): JsonObject {
  return { file: "/var/log/x.log", host: "node-1", message: line, source_type: "file", timestamp: "2025-01-01T00:00:00.123Z" };
}

const firstLine = (name: string): string => fixture(name).split("\n").find((l) => l.trim() !== "")!;

const LINES: [string, string, string][] = [
  ["tetragon", "a Tetragon event", firstLine("tetragon/process_exec.ndjson")],
  ["falco", "a Falco alert", JSON.stringify(JSON.parse(fixture("falco/terminal-shell-in-container__falco-docs.json")))],
  ["k8s_audit", "a Kubernetes audit event", firstLine("k8s-audit/audit2rbac-demo.ndjson")],
  // a whole CloudTrail log file per line (Vector's aws_s3 source), and one record
  ["cloudtrail", "a CloudTrail record", JSON.stringify(JSON.parse(fixture("cloudtrail/records__iam-create-user__aws-docs.json")))],
  ["cloudtrail", "a CloudTrail record", JSON.stringify(JSON.parse(fixture("cloudtrail/record__password-updated__aws-docs.json")))],
];

describe("envelopeHint: a log shipper's envelope holding a record as text", () => {
  it("each source's line in an envelope is refused by detection with the remap named, and the line itself is detected", () => {
    for (const [kind, what, line] of LINES) {
      const parsed = JSON.parse(line) as JsonObject;
      // the line as sent after the remap is accepted (guards the fixture choice)
      expect(runPipeline([parsed], [""], [], { ctx: CTX }).events, kind).toHaveLength(1);
      const res = runPipeline([envelope(line)], [""], [], { ctx: CTX });
      expect(res.events).toHaveLength(0);
      const reason = res.errors[0]!.reason;
      expect(reason).toMatch(/^unrecognised record: .*\(keys: file, host, message, source_type, timestamp\); the event is the text in "message"/);
      expect(reason).toContain(`(a log shipper's envelope holding ${what}): send the parsed line, e.g. Vector remap \`. = parse_json!(string!(.message))\` (docs/vector.md)`);
    }
  });

  it("a line cut short (no longer JSON) is judged by how it starts", () => {
    for (const [kind, what, line] of LINES) {
      const cut = line.slice(0, Math.min(line.length - 2, 1500));
      expect(() => JSON.parse(cut) as unknown).toThrow();
      expect(envelopeHint(envelope(cut)), kind).toContain(`holding ${what}`);
    }
  });

  it("restricted to one source (the source routes), the clause names no source and ignores the others' lines", () => {
    const [, , tetragon] = LINES[0]!;
    const [, , falco] = LINES[1]!;
    expect(envelopeHint(envelope(tetragon), ["tetragon"])).toBe(
      '; the event is the text in "message" (a log shipper\'s envelope): send the parsed line, e.g. Vector remap `. = parse_json!(string!(.message))` (docs/vector.md)',
    );
    expect(envelopeHint(envelope(falco), ["tetragon"])).toBe("");
    // an unknown process_* event (a newer agent's) is still a Tetragon line
    expect(envelopeHint(envelope('{"process_future":{"process":{}},"node_name":"n"}'), ["tetragon"])).not.toBe("");
  });

  it("no hint for messages that hold no known record, or for no message", () => {
    const none: JsonObject[] = [
      { message: "hello", host: "node-1" },
      { message: '{"rule":"x"}' }, // parses, but is no Falco alert (no output or priority)
      { message: '{"level":"info","msg":"started"}' },
      { message: "[1,2]" },
      { message: "{not json" },
      { message: 42 },
      { message: { rule: "r", output: "o" } }, // an object, not text: not the envelope's shape
      { msg: firstLine("tetragon/process_exec.ndjson") },
    ];
    for (const r of none) {
      expect(envelopeHint(r), JSON.stringify(r)).toBe("");
      expect(detectKind(r)).toBeUndefined();
      expect(runPipeline([r], [""], [], { ctx: CTX }).errors[0]!.reason).toMatch(/\(keys: [^)]*\)$/);
    }
  });
});
