// `redact` end to end in workerd: a Falco alert whose command line carries --password=hunter2 goes through
// ingest, the queue and the consumer into the R2 archive without "hunter2" anywhere in the stored event (the
// process, its parent, the message, finding_info.desc, the output fields left in unmapped, the observables and,
// with ocsf.rawData on, raw_data); the redacted paths are listed and the uid is the one the event has unredacted.
import { env } from "cloudflare:test";
import { describe, it, expect } from "vitest";
import { readArchive, waitFor } from "../support/archive";
import { CaptureQueue, call, post } from "./helpers";

const run = Math.random().toString(36).slice(2, 8);

const alert = {
  hostname: "db-client-1",
  output:
    "13:44:05.478445995: Warning Database client with a password on its command line (user=root cmdline=mysql --password=hunter2 -h db parent=bash pcmdline=bash -c mysql --password=hunter2 -h db container_id=ee97d9c4186f)",
  priority: "Warning",
  rule: "Database client with a password on its command line",
  source: "syscall",
  tags: ["container"],
  time: "2026-12-06T13:44:05.478445995Z",
  output_fields: {
    "container.id": "ee97d9c4186f",
    "proc.cmdline": "mysql --password=hunter2 -h db",
    "proc.name": "mysql",
    "proc.pcmdline": "bash -c mysql --password=hunter2 -h db",
    "proc.pname": "bash",
    // not mapped: stays in unmapped.output_fields
    "proc.args": "--password=hunter2 -h db",
    "proc.env": "HOME=/root MYSQL_PWD=hunter2",
    "user.name": "root",
  },
};

/** Posts the alert under its own tenant and config; returns the queued events. */
async function ingest(tenant: string, redact: unknown): Promise<Record<string, unknown>[]> {
  const token = `tok-${tenant}`;
  const config = { auth: { tokens: [{ tenant, token }] }, ocsf: { rawData: true }, ...(redact ? { redact } : {}) };
  const queue = new CaptureQueue({ forward: env.EVENTS });
  const r = await call(post("/v1/events", JSON.stringify(alert), { "content-type": "application/json", authorization: `Bearer ${token}` }), { config, dev: false, queue });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  expect(r.body).toEqual({ accepted: 1, rejected: 0, errors: [] });
  return queue.events();
}

describe("redact through ingest, queue and archive", () => {
  it("the credentials preset: no hunter2 anywhere in the queued or the archived event, raw_data included", async () => {
    const tenant = `redact-${run}`;
    const queued = await ingest(tenant, { presets: ["credentials"] });
    const stored = await waitFor(async () => {
      const events = (await readArchive(env.ARCHIVE, "ocsf/class_uid=2004/")).flatMap((o) => o.events);
      const mine = events.filter((e) => (e.metadata as { tenant_uid?: string }).tenant_uid === tenant);
      return mine.length ? mine : undefined;
    });
    expect(stored).toHaveLength(1);
    const plain = (await ingest(`redact-off-${run}`, undefined))[0]!;
    expect(JSON.stringify(plain)).toContain("hunter2");
    for (const e of [queued[0]!, stored[0]!]) {
      const text = JSON.stringify(e);
      expect(text).not.toContain("hunter2");
      const evidence = (e.evidences as { process: { cmd_line: string; parent_process: { cmd_line: string } } }[])[0]!;
      expect(evidence.process.cmd_line).toBe("mysql --password=***** -h db");
      expect(evidence.process.parent_process.cmd_line).toBe("bash -c mysql --password=***** -h db");
      expect(e.message).toContain("cmdline=mysql --password=***** -h db parent=bash");
      expect((e.finding_info as { desc: string }).desc).toBe(e.message);
      expect((e.unmapped as { output_fields: Record<string, string> }).output_fields).toMatchObject({ "proc.args": "--password=***** -h db", "proc.env": "HOME=/root MYSQL_PWD=*****" });
      expect(JSON.parse(e.raw_data as string)).toMatchObject({ output_fields: { "proc.cmdline": "mysql --password=***** -h db" } });
      expect((e.unmapped as { tributary: { redacted: string[] } }).tributary.redacted).toEqual(
        expect.arrayContaining([
          "message",
          "finding_info.desc",
          "evidences[0].process.cmd_line",
          "evidences[0].process.parent_process.cmd_line",
          'unmapped.output_fields["proc.args"]',
          'unmapped.output_fields["proc.env"]',
          "raw_data",
          "observables[1].value",
        ]),
      );
      // the uid is computed from the record as received: the same as without redaction
      expect((e.metadata as { uid: string }).uid).toBe((plain.metadata as { uid: string }).uid);
      // the rest of the event as without redaction (the correlation keys, computed after, included)
      expect((e.metadata as { product: unknown }).product).toEqual((plain.metadata as { product: unknown }).product);
      expect(e.finding_info).toEqual({ ...(plain.finding_info as object), desc: e.message });
    }
  });
});
