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

/** An S3 error answer (the XML body S3 sends), optionally with a Retry-After header. */
export function s3Error(status: number, code: string, retryAfter?: number | string): GateStep {
  const headers: Record<string, string> = { "content-type": "application/xml" };
  if (retryAfter !== undefined) headers["retry-after"] = String(retryAfter);
  return { status, headers, body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>` };
}

