// messageBytes of a message the Packer built is the sum kept while packing (the whole text is not
// measured again): it must equal the size computed from the message itself, for ASCII and non-ASCII
// lines, one or several sink sets, and spilled events, and bound the queue text (encodeMessage). The text
// the Packer kept is the one encodeMessage writes for a plain message with the same members, and those
// members (in their order) are all a packed message shows.
import { it, expect } from "vitest";
import fc from "fast-check";
import { pack, messageBytes, lineBytes, encodeMessage, MAX_INLINE_EVENT_BYTES, type EventsMessage } from "../../src/deliver/enqueue";
import type { OcsfEvent } from "../../src/normalize/ocsf";

const utf8 = (s: string) => new TextEncoder().encode(s).length;
const text = fc.string({ unit: fc.constantFrom("a", '"', "\\", "\n", "é", "中", "😀", "\u2028", "\u0001"), maxLength: 200 });

it("the packed size and text equal those computed from the message, the size bounds the queue text within the header's margin", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(text, fc.nat(2), fc.boolean()), { minLength: 1, maxLength: 60 }), (specs) => {
      const events = specs.map(([message, route, big], i) => ({
        event: { class_uid: 2004, time: i, metadata: { version: "1.3.0", product: { name: "t", vendor_name: "t" }, uid: `u-${i}` }, message: big ? message + "x".repeat(MAX_INLINE_EVENT_BYTES) : message } as unknown as OcsfEvent,
        sinks: [["archive"], ["archive", "splunk"], ['wébhook"x']][route]!,
      }));
      for (const m of pack(events)) {
        const copy = JSON.parse(JSON.stringify(m)) as EventsMessage; // not built by the Packer: computed
        expect(messageBytes(m)).toBe(messageBytes(copy));
        expect(encodeMessage(m)).toBe(encodeMessage(copy));
        expect(Object.keys(m)).toEqual(m.spill ? ["v", "sinks", "count", "ndjson", "spill"] : ["v", "sinks", "count", "ndjson"]);
        expect({ ...m }).toStrictEqual(copy);
        const bytes = utf8(encodeMessage(m));
        expect(messageBytes(m)).toBeGreaterThanOrEqual(bytes);
        expect(messageBytes(m) - bytes).toBeLessThanOrEqual(64);
      }
    }),
    { numRuns: 300 },
  );
});

it("lineBytes is the UTF-8 size plus the newline (control characters, lone surrogates, non-ASCII)", () => {
  const unit = fc.constantFrom("a", '"', "\\", "\n", "\u0000", "\u001f", "\u007f", "é", "中", "😀", "\ud800", "\udc00", "\u2028");
  fc.assert(
    fc.property(fc.string({ unit, maxLength: 200 }), (line) => {
      expect(lineBytes(line)).toBe(utf8(line) + 1);
    }),
    { numRuns: 1000 },
  );
});

it("lineBytes is exact for lines near and beyond its scratch space (96 KiB)", () => {
  for (const len of [32_000, 32_770, 98_000, 98_300, 200_000]) {
    for (const unit of ["a", '"', "é", "中", "😀", "\ud800", 'a"\\\n']) {
      const line = JSON.stringify({ m: unit.repeat(Math.ceil(len / unit.length)).slice(0, len) });
      expect(lineBytes(line)).toBe(utf8(line) + 1);
      const raw = unit.repeat(Math.ceil(len / unit.length)).slice(0, len); // may end in half a pair
      expect(lineBytes(raw)).toBe(utf8(raw) + 1);
    }
  }
});
