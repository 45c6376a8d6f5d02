// vitest globalSetup (runs in Node, once per project): s3rver on 127.0.0.1 (port 0, temp directory)
// with a fault-injecting gate in front of it, and a fake Splunk HEC behind a second gate. Tests read
// the endpoints with inject("s3Endpoint") etc., in Node and inside workerd (which fetches 127.0.0.1).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import S3rver from "s3rver";
import type { TestProject } from "vitest/node";
import { startGate } from "./gate";
import { startSplunkHec } from "./siem-servers";

/** s3rver's fixed credentials. */
export const S3RVER_KEY = "S3RVER";
export const HEC_TOKEN = "00000000-0000-4000-8000-00000000cafe";

declare module "vitest" {
  export interface ProvidedContext {
    /** s3rver, path-style (http://127.0.0.1:<port>). */
    s3Endpoint: string;
    /** The gate in front of s3rver (scripts keyed by bucket). */
    s3Gate: string;
    /** The gate in front of a fake Splunk HEC (scripts keyed by the first path segment, which is stripped). */
    hecGate: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = mkdtempSync(join(tmpdir(), "tributary-s3rver-"));
  const s3 = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: dir });
  const addr = await s3.run();
  const s3Endpoint = `http://127.0.0.1:${addr.port}`;
  const s3Gate = await startGate(s3Endpoint, { strip: false });
  const hec = await startSplunkHec({ token: HEC_TOKEN });
  const hecGate = await startGate(hec.url, { strip: true, recordBodies: true });
  project.provide("s3Endpoint", s3Endpoint);
  project.provide("s3Gate", s3Gate.url);
  project.provide("hecGate", hecGate.url);
  return async () => {
    await hecGate.close();
    await hec.close();
    await s3Gate.close();
    await s3.close();
    rmSync(dir, { recursive: true, force: true });
  };
}
