// messageBytes of a message the Packer built is the sum kept while packing (no second escape of the
// whole text): it must equal the size computed from the message itself, for ASCII and non-ASCII lines,
// one or several sink sets, and spilled events.
import { it, expect } from "vitest";
import fc from "fast-check";
import { pack, messageBytes, lineBytes, jsonLineBytes, MAX_INLINE_EVENT_BYTES, type EventsMessage } from "../../src/deliver/enqueue";
import type { OcsfEvent } from "../../src/normalize/ocsf";

const text = fc.string({ unit: fc.constantFrom("a", '"', "\\", "\n", "é", "中", "😀", "\u2028", "\u0001"), maxLength: 200 });

it("the packed size equals the size computed from the message", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(text, fc.nat(2), fc.boolean()), { minLength: 1, maxLength: 60 }), (specs) => {
      const events = specs.map(([message, route, big], i) => ({
        event: { class_uid: 2004, time: i, metadata: { version: "1.3.0", product: { name: "t", vendor_name: "t" }, uid: `u-${i}` }, message: big ? message + "x".repeat(MAX_INLINE_EVENT_BYTES) : message } as unknown as OcsfEvent,
        sinks: [["archive"], ["archive", "splunk"], ["webhook"]][route]!,
      }));
      for (const m of pack(events)) {
        const copy = JSON.parse(JSON.stringify(m)) as EventsMessage; // not built by the Packer: computed
        expect(messageBytes(m)).toBe(messageBytes(copy));
      }
    }),
    { numRuns: 300 },
  );
});

it("jsonLineBytes of JSON.stringify output equals lineBytes (control characters, lone surrogates, non-ASCII)", () => {
  const unit = fc.constantFrom("a", '"', "\\", "\n", "\u0000", "\u001f", "\u007f", "é", "中", "😀", "\ud800", "\udc00", "\u2028");
  const value = fc.letrec((tie) => ({
    v: fc.oneof({ depthSize: "small" }, fc.string({ unit, maxLength: 40 }), fc.integer(), fc.array(tie("v"), { maxLength: 4 }), fc.dictionary(fc.string({ unit, maxLength: 8 }), tie("v"), { maxKeys: 4 })),
  })).v;
  fc.assert(
    fc.property(value, (v) => {
      const line = JSON.stringify(v);
      expect(jsonLineBytes(line)).toBe(lineBytes(line));
    }),
    { numRuns: 1000 },
  );
});

it("jsonLineBytes equals lineBytes for lines near and beyond its scratch space (96 KiB)", () => {
  for (const len of [32_000, 32_770, 98_000, 98_300, 200_000]) {
    for (const unit of ["a", '"', "\\", "é", "中", "😀", 'a"\\\n']) {
      const line = JSON.stringify({ m: unit.repeat(Math.ceil(len / unit.length)).slice(0, len) });
      expect(jsonLineBytes(line)).toBe(lineBytes(line));
    }
  }
});
