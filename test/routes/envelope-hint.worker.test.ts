import { SELF } from "cloudflare:test";
import { describe, it, expect } from "vitest";
import { fixture } from "../support/fixtures";

// Vector's file source without the remap: each line as text in "message".
const wrap = (line: string) => JSON.stringify({ file: "/var/run/cilium/tetragon/tetragon.log", host: "node-1", message: line, source_type: "file", timestamp: "2025-01-01T00:00:00.123Z" });

describe("POST /v1/events: a log shipper's envelope", () => {
  it("refuses an envelope holding a Tetragon line with the remap named, beside an accepted plain line", async () => {
    const [line] = fixture("tetragon/process_exec.ndjson").split("\n").filter((l) => l.trim() !== "");
    const res = await SELF.fetch("http://tributary/v1/events", {
      method: "POST",
      headers: { "content-type": "application/x-ndjson" },
      body: `${wrap(line!)}\n${line!}\n${wrap("plain text")}\n`,
    });
    const body = (await res.json()) as { accepted: number; rejected: number; errors: { index: number; path: string; reason: string }[] };
    expect(res.status, JSON.stringify(body)).toBe(202);
    expect(body.accepted).toBe(1);
    expect(body.rejected).toBe(2);
    expect(body.errors.map((e) => e.path)).toEqual(["line 1", "line 3"]);
    expect(body.errors[0]!.reason).toMatch(/^unrecognised record: .*\(keys: file, host, message, source_type, timestamp\); the event is the text in "message" \(a log shipper's envelope holding a Tetragon event\): send the parsed line, e.g\. Vector remap `\. = parse_json!\(string!\(\.message\)\)` \(docs\/vector\.md\)$/);
    // a message that is no record gets the plain reason
    expect(body.errors[1]!.reason).toMatch(/^unrecognised record: .*\(keys: file, host, message, source_type, timestamp\)$/);
  });
});
