// Client side of the gate's control API (./gate.ts); no Node imports, so it runs in workerd too.
import type { GateState, GateStep } from "./gate";

export type { GateState, GateStep };

export const gateControl = {
  async script(gateUrl: string, key: string, steps: GateStep[]): Promise<void> {
    const res = await fetch(`${gateUrl}/__gate/${encodeURIComponent(key)}`, { method: "POST", body: JSON.stringify(steps) });
    if (!res.ok) throw new Error(`gate: ${res.status}`);
    await res.text();
  },
  async state(gateUrl: string, key: string): Promise<GateState> {
    const res = await fetch(`${gateUrl}/__gate/${encodeURIComponent(key)}`);
    return (await res.json()) as GateState;
  },
};
