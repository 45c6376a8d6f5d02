// The consumer's side of a throttle call (src/noise/gate.ts tameNoise): the ThrottleRequest it sends to the
// NoiseWindow object, captured by a stand-in NOISE namespace. Each event's text goes once: the call's last
// event is its class's template, not sent again beside it.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load";
import { tameNoise } from "../../src/noise/gate";
import type { PassMap, ThrottleRequest } from "../../src/noise/durable";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import type { Item } from "../../src/deliver/attempt";

const T0 = Date.UTC(2026, 11, 1);

function item(n: number, classUid: number, host: string): Item {
  const event = { class_uid: classUid, time: T0 + n, severity_id: 1, device: { hostname: host }, metadata: { uid: `u${n}`, version: "1.3.0", product: { name: "Falco" } } } as unknown as OcsfEvent;
  return { event, line: JSON.stringify(event) };
}

describe("throttle calls to the noise window object", () => {
  it("carry each event's text once: the per-class templates, no separate copy of the last event; `max` pass", async () => {
    const cfg = parseConfig({
      sinks: { logs: { type: "loki", url: "https://loki.example" } },
      routes: [{ sinks: ["logs"] }],
      noise: { throttle: [{ name: "cap", sink: "logs", per: "sink", max: 2, per_seconds: 600 }] },
    });
    const a = [item(1, 2004, "h1"), item(2, 1007, "h2"), item(3, 2004, "h1")];
    const b = [item(4, 1007, "h3"), item(5, 2004, "h2")];
    const calls: ThrottleRequest[] = [];
    const bodies: string[] = [];
    const NOISE = {
      getByName: () => ({
        throttle: async (req: ThrottleRequest): Promise<PassMap> => {
          calls.push(req);
          bodies.push(JSON.stringify(req));
          return { ma: 2, mb: 0 };
        },
      }),
    };
    const out = await tameNoise(
      [
        { id: "ma", sinks: ["logs"], items: a },
        { id: "mb", sinks: ["logs"], items: b },
      ],
      { cfg, env: { NOISE, TRIBUTARY_CONFIG: "{}" }, now: () => T0 },
    );
    expect(calls).toHaveLength(1);
    const req = calls[0]!;
    expect(req.line).toBeUndefined();
    expect(req.templates).toEqual([
      [2004, b[1]!.line],
      [1007, b[0]!.line],
    ]);
    // the call's last event (the template of the last part's last class) is in the body once
    const last = req.parts.at(-1)!.classes!.at(-1)!;
    expect(new Map(req.templates).get(last)).toBe(b[1]!.line);
    const times = (line: string) => bodies[0]!.split(JSON.stringify(line)).length - 1; // a line is a string in the body
    expect([...a, ...b].map((i) => times(i.line))).toEqual([0, 0, 0, 1, 1]);
    expect(req.parts.map((p) => [p.msg, p.times.length])).toEqual([
      ["ma", 3],
      ["mb", 2],
    ]);
    expect(out!.get("logs")!.map((i) => i.event.metadata.uid)).toEqual(["u1", "u2"]);
  });
});
