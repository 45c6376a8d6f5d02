// Queue packing (Node): sizes as the queue counts them, spill of large events, streaming sends.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { Enqueuer, Packer, decodeMessage, encodeMessage, lineBytes, messageBytes, messageLines, pack, MAX_MESSAGE_BYTES, MAX_BATCH_BYTES, type EventsMessage, type Producer } from "../../src/deliver/enqueue";
import type { RoutedEvent } from "../../src/pipeline";
import type { OcsfEvent } from "../../src/normalize/ocsf";

const utf8 = (s: string) => new TextEncoder().encode(s).length;
function ev(i: number, payload = "", sinks = ["archive"]): RoutedEvent {
  const event = { class_uid: 2004, activity_id: 1, category_uid: 2, type_uid: 200401, severity_id: 1, time: i, metadata: { version: "1.3.0", product: { name: "Falco", vendor_name: "x" }, uid: `uid-${i}` }, message: payload } as OcsfEvent;
  return { event, sinks };
}

class Recorder implements Producer {
  batches: EventsMessage[][] = [];
  /** Queue bytes of each sendBatch call (the UTF-8 text of its messages). */
  bytes: number[] = [];
  failOn?: number;
  async sendBatch(b: Iterable<{ body: string | EventsMessage; contentType?: string }>) {
    if (this.failOn !== undefined && this.batches.length + 1 >= this.failOn) throw new Error("Too Many Requests");
    const list = [...b];
    for (const x of list) {
      expect(x.contentType).toBe("text");
      expect(typeof x.body).toBe("string");
    }
    this.batches.push(list.map((x) => decodeMessage(x.body)!));
    this.bytes.push(list.reduce((a, x) => a + utf8(x.body as string), 0));
  }
}
const store = () => {
  const m = new Map<string, string>();
  return { m, put: async (k: string, v: string) => void m.set(k, v), get: async (k: string) => (m.has(k) ? { text: async () => m.get(k)! } : null) };
};

describe("sizes", () => {
  it("lineBytes is exactly what a line adds to the queue text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 120 }), fc.string({ unit: "binary", maxLength: 120 }), (a, b) => {
        expect(utf8(`${a}\n${b}`) - utf8(a)).toBe(lineBytes(b));
      }),
    );
  });

  it("every packed message is under the message limit as queue text, and its size bounded from above", () => {
    const events = Array.from({ length: 3000 }, (_, i) => ev(i, i % 3 === 0 ? "é\"\\".repeat(i % 200) : "x".repeat(i % 500), i % 2 ? ["archive"] : ["archive", "splunk"]));
    const msgs = pack(events);
    expect(msgs.reduce((a, m) => a + m.count, 0)).toBe(3000);
    for (const m of msgs) {
      const bytes = utf8(encodeMessage(m));
      expect(bytes).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
      expect(messageBytes(m)).toBeGreaterThanOrEqual(bytes);
      expect(messageBytes(m)).toBeLessThanOrEqual(bytes + 64);
    }
    expect(new Set(msgs.map((m) => m.sinks.join("+")))).toEqual(new Set(["archive", "archive+splunk"]));
  });

  it("events without sinks are not packed", () => {
    expect(pack([ev(1, "", [])])).toEqual([]);
  });
});

describe("spill", () => {
  it("an event larger than a message is handed back to be stored, the message keeps its key", () => {
    const p = new Packer();
    const out: EventsMessage[] = [];
    const spill = p.add(ev(7, "y".repeat(150_000)), out);
    expect(spill?.key).toBe("spill/uid-7.json");
    expect(p.add(ev(8), out)).toBeUndefined();
    p.flush(out);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ count: 2, spill: ["spill/uid-7.json"] });
    expect(out[0]!.ndjson.split("\n")).toHaveLength(1);
  });

  it("Enqueuer writes spilled events before sending, and messageLines reads them back", async () => {
    const q = new Recorder();
    const s = store();
    const e = new Enqueuer(q, s);
    await e.add([ev(1, "z".repeat(200_000)), ev(2)]);
    await e.finish();
    const m = q.batches.flat()[0]!;
    expect(s.m.has("spill/uid-1.json")).toBe(true);
    const lines = await messageLines(m, s);
    expect(lines.map((l) => (JSON.parse(l) as OcsfEvent).time).sort()).toEqual([1, 2]);
    await expect(messageLines({ ...m, spill: ["spill/missing.json"] }, s)).rejects.toThrow(/missing/);
  });
});

describe("Enqueuer", () => {
  it("sends as batches fill, within the limits, and counts what the queue took", async () => {
    const q = new Recorder();
    const e = new Enqueuer(q, store());
    for (let w = 0; w < 10; w++) await e.add(Array.from({ length: 300 }, (_, i) => ev(w * 300 + i, "p".repeat(300))));
    expect(q.batches.length).toBeGreaterThan(0); // sent before the end
    await e.finish();
    const all = q.batches.flat();
    expect(all.reduce((a, m) => a + m.count, 0)).toBe(3000);
    expect(e.sent).toBe(3000);
    for (const b of q.batches) expect(b.length).toBeLessThanOrEqual(100);
    for (const n of q.bytes) expect(n).toBeLessThanOrEqual(MAX_BATCH_BYTES);
  });

  it("on a queue error, `sent` is what was taken before it", async () => {
    const q = new Recorder();
    q.failOn = 3;
    const e = new Enqueuer(q, store());
    await expect(
      (async () => {
        for (let w = 0; w < 10; w++) await e.add(Array.from({ length: 300 }, (_, i) => ev(w * 300 + i, "p".repeat(300))));
        await e.finish();
      })(),
    ).rejects.toThrow(/Too Many Requests/);
    expect(e.sent).toBe(q.batches.flat().reduce((a, m) => a + m.count, 0));
    expect(e.sent).toBeGreaterThan(0);
  });
});

describe("queue text", () => {
  it("encodeMessage and decodeMessage round trip (with and without spilled keys, no lines)", () => {
    const msgs: EventsMessage[] = [
      { v: 1, sinks: ["archive", "splunk"], count: 2, ndjson: '{"a":1}\n{"b":"é\\n"}' },
      { v: 1, sinks: ["archive"], count: 3, ndjson: '{"a":1}', spill: ["spill/x.json", "spill/y.json"] },
      { v: 1, sinks: ["webhook"], count: 1, ndjson: "", spill: ["spill/z.json"] },
    ];
    for (const m of msgs) {
      const text = encodeMessage(m);
      expect(text.split("\n")[0]).toBe(JSON.stringify(m.spill ? { v: 2, sinks: m.sinks, count: m.count, spill: m.spill } : { v: 2, sinks: m.sinks, count: m.count }));
      expect(decodeMessage(text)).toEqual(m);
    }
  });

  it("the Packer's messages are their encodeMessage text, also when every event was spilled", async () => {
    const q = new Recorder();
    const e = new Enqueuer(q, store());
    await e.add([ev(1, "z".repeat(200_000), ["webhook"]), ev(2, "", ["archive"]), ev(3, "é\"", ["archive"])]);
    await e.finish();
    const got = q.batches.flat();
    expect(got.find((m) => m.sinks[0] === "webhook")).toEqual({ v: 1, sinks: ["webhook"], count: 1, ndjson: "", spill: ["spill/uid-1.json"] });
    const archive = got.find((m) => m.sinks[0] === "archive")!;
    expect(archive.ndjson.split("\n").map((l) => (JSON.parse(l) as OcsfEvent).time)).toEqual([2, 3]);
    for (const m of pack([ev(4, "é", ["a", "b"]), ev(5, "y".repeat(150_000), ["c"])])) {
      expect(decodeMessage(encodeMessage(m))).toEqual({ ...m });
      expect(encodeMessage(m)).toBe(encodeMessage({ ...m })); // the text kept by the Packer = the text written from the fields
    }
  });

  it("decodeMessage reads the older JSON object messages and refuses anything else", () => {
    const old: EventsMessage = { v: 1, sinks: ["archive"], count: 1, ndjson: '{"a":1}' };
    expect(decodeMessage(JSON.parse(JSON.stringify(old)))).toEqual(old);
    for (const bad of [undefined, null, 7, "", "no header", '{"v":3,"sinks":[],"count":0}\n', '{"v":2,"sinks":"archive","count":1}\n{}', '{"v":2,"sinks":["a"],"count":"1"}\n', '{"v":2,"sinks":["a"],"count":1,"spill":[1]}\n', "{not json\n{}", { v: 1, sinks: ["a"] }, { v: 2, sinks: ["a"], ndjson: "" }]) {
      expect(decodeMessage(bad)).toBeUndefined();
    }
  });
});
