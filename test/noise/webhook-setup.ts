// vitest globalSetup for the workers project (runs in Node): a Standard Webhooks receiver on
// 127.0.0.1 (test/support/siem-servers.ts: it verifies every signature with node:crypto) behind a
// recording gate, so noise tests inside workerd can point a webhook sink at
// `${inject("noiseWebhookGate")}/<test key>/hook` and read back, per test key, every request the sink
// made with its body and the receiver's answer (gateControl.state).
import type { TestProject } from "vitest/node";
import { startGate } from "../support/gate";
import { startWebhook } from "../support/siem-servers";
import { NOISE_WEBHOOK_SECRET } from "./constants";

declare module "vitest" {
  export interface ProvidedContext {
    /** The recording gate in front of the Standard Webhooks receiver. */
    noiseWebhookGate: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const hook = await startWebhook({ secret: NOISE_WEBHOOK_SECRET, now: () => Math.floor(Date.now() / 1000) });
  const gate = await startGate(hook.url, { strip: true, recordBodies: true });
  project.provide("noiseWebhookGate", gate.url);
  return async () => {
    await gate.close();
    await hook.close();
  };
}
