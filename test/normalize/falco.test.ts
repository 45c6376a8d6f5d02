// Falco alerts (syscall, k8s_audit, aws_cloudtrail, internal, text output) -> OCSF 1.3.0 Detection Finding.
import { describe, it, expect } from "vitest";
import { fixture, fixtures } from "../support/fixtures";
import { validateOcsf } from "../support/ocsf-validator";
import { at } from "../support/at";
import { lossOf } from "../support/field-maps";
import { normalizeFalco, normalizeFalcoText, parseTuple, FALCO_SEVERITY, NOT_FALCO_TEXT } from "../../src/normalize/falco";
import { normalizeK8sAudit } from "../../src/normalize/k8s-audit";
import { NormalizeError } from "../../src/normalize/errors";
import { type Json, type JsonObject, parseJson, isObject } from "../../src/normalize/json";
import type { NormalizeContext, OcsfEvent } from "../../src/normalize/ocsf";

const CTX: NormalizeContext = { ocsfVersion: "1.3.0", receivedAt: Date.UTC(2026, 0, 2, 3, 4, 5, 678), tenant: "acme" };
const FALCO_DIRS = new Set(["falco", "falco-k8saudit", "falco-cloudtrail"]);

function records(text: string, name: string): JsonObject[] {
  const values: Json[] = name.endsWith(".ndjson") ? text.split("\n").filter((l) => l.trim() !== "").map(parseJson) : [parseJson(text)];
  return values.filter(isObject);
}

function one(name: string): JsonObject {
  const r = records(fixture(name), name)[0];
  if (!r) throw new Error(`no record in ${name}`);
  return r;
}

/** Normalizes, then round-trips through JSON (what the queue and the sinks see). */
function ocsf(rec: JsonObject, ctx: NormalizeContext = CTX): Record<string, unknown> {
  return JSON.parse(JSON.stringify(normalizeFalco(rec, ctx))) as Record<string, unknown>;
}

/** A Falco aws_cloudtrail alert built by hand from the CloudTrail plugin's field names (ct.*), to exercise
 *  the fields the one real fixture does not have (arn, service, event id, error, service-name source). */
const CONSTRUCTED_CLOUDTRAIL: JsonObject = {
  hostname: "falco-cloudtrail-0",
  output: "12:00:00.000000000: Critical CloudTrail logging stopped (user=admin-bob region=eu-west-1 arn=arn:aws:iam::123456789012:user/admin-bob)",
  output_fields: {
    "ct.error": "AccessDenied",
    "ct.id": "2f6b1e0a-1b2c-4d5e-8f90-0a1b2c3d4e5f",
    "ct.name": "StopLogging",
    "ct.region": "eu-west-1",
    "ct.src": "cloudtrail.amazonaws.com",
    "ct.srcip": "cloudformation.amazonaws.com",
    "ct.user": "admin-bob",
    "ct.user.accountid": "123456789012",
    "ct.user.arn": "arn:aws:iam::123456789012:user/admin-bob",
    "ct.useragent": "aws-cli/2.15.0",
    "evt.time": "1767355200000000001",
  },
  priority: "Critical",
  rule: "CloudTrail Logging Disabled",
  source: "aws_cloudtrail",
  tags: ["cloud", "aws", "aws_cloudtrail", "mitre_defense_evasion", "T1562.008"],
  time: "2026-01-02T12:00:00.000000001Z",
  uuid: "0f0e0d0c-0b0a-4908-8706-050403020100",
};

describe("every Falco fixture", () => {
  const all = fixtures.filter((f) => FALCO_DIRS.has(f.dir));
  it("covers the three Falco fixture directories", () => {
    expect(new Set(all.map((f) => f.dir))).toEqual(FALCO_DIRS);
  });
  for (const f of all) {
    it(`${f.name}: valid OCSF 1.3.0 Detection Finding, nothing lost`, () => {
      const recs = records(f.text, f.name);
      expect(recs.length).toBeGreaterThan(0);
      for (const rec of recs) {
        const ev = ocsf(rec);
        expect(validateOcsf(ev)).toEqual([]);
        expect(lossOf("falco", rec, ev)).toEqual([]);
        expect(ev.class_uid).toBe(2004);
        expect(at(ev, "finding_info.title")).toBe(rec.rule);
        expect(at(ev, "metadata.tenant_uid")).toBe("acme");
      }
    });
  }
});

describe("golden files (reviewed by hand)", () => {
  const goldens: [string, string][] = [
    ["syscall-terminal-shell", "falco/terminal-shell-in-container__falco-docs.json"],
    ["syscall-read-sensitive-file", "falco/read-sensitive-file-untrusted__plugins-collector-readme.json"],
    ["syscall-k8s-api-connection", "falco/contact-k8s-api-server-from-container__openfaas-blog.json"],
    ["k8s_audit-attach-exec", "falco-k8saudit/attach-exec-pod__eks-blog.json"],
    ["k8s_audit-disallowed-user-403", "falco-k8saudit/disallowed-k8s-user__ovh-blog-2-403.json"],
    ["aws_cloudtrail-terraform-drift", "falco-cloudtrail/terraform-managed-resource-modified__authorize-sg-ingress.json"],
    ["internal-metrics-snapshot", "falco/falco-internal-metrics-snapshot__falco-docs-1.json"],
    ["internal-syscall-event-drop", "falco/falco-internal-syscall-event-drop__falcosidekick-test.json"],
  ];
  for (const [golden, name] of goldens) {
    it(`${golden} (${name})`, async () => {
      const ev = ocsf(one(name));
      expect(validateOcsf(ev)).toEqual([]);
      await expect(JSON.stringify(ev, null, 2) + "\n").toMatchFileSnapshot(`../golden/falco/${golden}.ocsf.json`);
    });
  }
  it("aws_cloudtrail-constructed-stop-logging (all ct.* fields)", async () => {
    const ev = ocsf(CONSTRUCTED_CLOUDTRAIL);
    expect(validateOcsf(ev)).toEqual([]);
    expect(lossOf("falco", CONSTRUCTED_CLOUDTRAIL, ev)).toEqual([]);
    await expect(JSON.stringify(ev, null, 2) + "\n").toMatchFileSnapshot("../golden/falco/aws_cloudtrail-constructed-stop-logging.ocsf.json");
  });
  it("an alert whose fields name only a container: its evidence names the host too (1.3.0 refuses a container alone)", () => {
    const rec: JsonObject = {
      hostname: "node-1", priority: "Notice", rule: "Custom container rule", time: "2026-01-01T00:00:00Z",
      output: "container seen (container_id=ee97d9c4186f)", source: "syscall",
      output_fields: { "container.id": "ee97d9c4186f", "container.name": "web" },
    };
    const ev = ocsf(rec);
    expect(validateOcsf(ev)).toEqual([]);
    expect(at(ev, "evidences.0.container.uid")).toBe("ee97d9c4186f");
    expect(at(ev, "evidences.0.device.hostname")).toBe("node-1");
    // with a process the evidence is valid on its own: no device copied in
    const withProc = ocsf({ ...rec, output_fields: { ...(rec.output_fields as JsonObject), "proc.name": "sh" } });
    expect(validateOcsf(withProc)).toEqual([]);
    expect(at(withProc, "evidences.0.device")).toBeUndefined();
  });
  it("text-output (json_output: false)", async () => {
    const ev = normalizeFalcoText("2016-08-04T16:17:57.881781397+0000: Warning An open was seen (command=cat /dev/null)", CTX);
    expect(validateOcsf(JSON.parse(JSON.stringify(ev)))).toEqual([]);
    await expect(JSON.stringify(ev, null, 2) + "\n").toMatchFileSnapshot("../golden/falco/text-output.ocsf.json");
  });
});

describe("severity from priority", () => {
  const table: [string, number, string][] = [
    ["Emergency", 6, "Fatal"],
    ["Alert", 5, "Critical"],
    ["Critical", 5, "Critical"],
    ["Error", 4, "High"],
    ["Warning", 3, "Medium"],
    ["Notice", 2, "Low"],
    ["Informational", 1, "Informational"],
    ["info", 1, "Informational"],
    ["Debug", 1, "Informational"],
  ];
  for (const [priority, id, caption] of table) {
    it(`${priority} -> ${id} ${caption}`, () => {
      const ev = ocsf({ rule: "r", output: "o", priority, time: "2024-01-01T00:00:00Z" });
      expect([ev.severity_id, ev.severity]).toEqual([id, caption]);
      expect(at(ev, "unmapped.priority")).toBe(priority);
      expect(validateOcsf(ev)).toEqual([]);
    });
  }
  it("the table covers every Falco priority name (case-insensitive)", () => {
    expect(Object.keys(FALCO_SEVERITY).sort()).toEqual(["alert", "critical", "debug", "emergency", "error", "info", "informational", "notice", "warning"]);
    expect(ocsf({ rule: "r", output: "o", priority: "WARNING" }).severity_id).toBe(3);
  });
  it("an unknown priority is 99 Other with the source's text; a missing one is 0 Unknown", () => {
    const other = ocsf({ rule: "r", output: "o", priority: "Severe" });
    expect([other.severity_id, other.severity]).toEqual([99, "Severe"]);
    expect(validateOcsf(other)).toEqual([]);
    const none = ocsf({ rule: "r", output: "o" });
    expect([none.severity_id, none.severity]).toEqual([0, "Unknown"]);
    expect(validateOcsf(none)).toEqual([]);
  });
});

describe("time", () => {
  it("keeps the RFC 3339 time with its nanoseconds in metadata.original_time, time in epoch ms", () => {
    const ev = ocsf(one("falco/terminal-shell-in-container__falco-docs.json"));
    expect(ev.time).toBe(Date.UTC(2023, 4, 25, 13, 44, 5, 478));
    expect(at(ev, "metadata.original_time")).toBe("2023-05-25T13:44:05.478445995Z");
    // evt.time is not rounded on the way: it stays the exact decimal string
    expect(at(ev, "unmapped.output_fields")).toMatchObject({ "evt.time": "1685022245478445995" });
  });
  it("without `time`, uses evt.time (ns) exactly, never through a double", () => {
    const rec = parseJson('{"rule":"r","output":"o","priority":"Notice","output_fields":{"evt.time":1618082841038853452,"proc.name":"x"}}');
    if (!isObject(rec)) throw new Error("not an object");
    const ev = ocsf(rec);
    expect(ev.time).toBe(1618082841038);
    expect(at(ev, "metadata.original_time")).toBe("1618082841038853452");
    // a double would have rounded it: the original digits survive only as text
    expect(Number("1618082841038853452").toString()).not.toBe("1618082841038853452");
    expect(lossOf("falco", rec, ev)).toEqual([]);
    expect(validateOcsf(ev)).toEqual([]);
  });
  it("an evt.time number beyond a uint64 (1e300) is no time: the received time is used, the number stays in unmapped, sinks can write a date", () => {
    for (const ns of [1e300, 2 ** 64]) {
      const rec = { rule: "r", output: "o", priority: "Notice", output_fields: { "evt.time": ns, "proc.name": "x" } };
      const ev = ocsf(rec);
      expect(ev.time).toBe(CTX.receivedAt);
      expect(at(ev, "unmapped.output_fields")).toMatchObject({ "evt.time": ns });
      expect(() => new Date(Number(ev.time)).toISOString()).not.toThrow();
      expect(lossOf("falco", rec, ev)).toEqual([]);
      expect(validateOcsf(ev)).toEqual([]);
    }
    // the largest uint64 count still is a time (year 2554)
    expect(ocsf({ rule: "r", output: "o", priority: "Notice", output_fields: { "evt.time": "18446744073709551615" } }).time).toBe(18446744073709);
  });
  it("an unparseable `time` is kept in unmapped and the received time is used", () => {
    const ev = ocsf({ rule: "r", output: "o", priority: "Notice", time: "yesterday" });
    expect(ev.time).toBe(CTX.receivedAt);
    expect(at(ev, "unmapped.time")).toBe("yesterday");
    expect(validateOcsf(ev)).toEqual([]);
  });
});

describe("identifiers and metadata", () => {
  it("uses Falco's uuid for finding_info.uid and metadata.uid when present", () => {
    const ev = ocsf(CONSTRUCTED_CLOUDTRAIL);
    expect(at(ev, "finding_info.uid")).toBe("0f0e0d0c-0b0a-4908-8706-050403020100");
    expect(at(ev, "metadata.uid")).toBe("0f0e0d0c-0b0a-4908-8706-050403020100");
  });
  it("a uuid that is no plausible id (over 128 characters, control characters, empty) is not the uid: the record's hash is, and unmapped.uuid keeps it", () => {
    const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    const base = { rule: "r", output: "o", priority: "Notice" };
    const kept = "k".repeat(128);
    expect(at(ocsf({ ...base, uuid: kept }), "metadata.uid")).toBe(kept);
    expect(at(ocsf({ ...base, uuid: kept }), "unmapped.uuid")).toBeUndefined();
    const seen = new Set<unknown>();
    for (const bad of ["k".repeat(129), "é".repeat(600), "0f0e0d0c-0b0a-4908\n-8706", "a\u0000b", "tab\there", "c1\u0085", ""]) {
      const rec = { ...base, uuid: bad };
      const ev = ocsf(rec);
      const uid = at(ev, "metadata.uid");
      expect(uid).toMatch(UUID);
      expect(at(ev, "finding_info.uid")).toBe(uid);
      expect(at(ev, "unmapped.uuid")).toBe(bad);
      // deterministic: the same alert again, or with raw_data (the hash of the written text), gets the same uid
      expect(at(ocsf(structuredClone(rec)), "metadata.uid")).toBe(uid);
      expect(at(ocsf(rec, { ...CTX, rawData: true }), "metadata.uid")).toBe(uid);
      expect(validateOcsf(ev)).toEqual([]);
      seen.add(uid);
    }
    expect(seen.size).toBe(7);
  });
  it("else a deterministic hash of the record: same alert, same uid; another alert, another uid", () => {
    const a = one("falco/write-below-binary-dir__falcosidekick-readme.json");
    const u1 = at(ocsf(a), "finding_info.uid");
    expect(u1).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(at(ocsf(structuredClone(a)), "finding_info.uid")).toBe(u1);
    expect(at(ocsf({ ...a, time: "2019-05-17T15:31:56.746609047Z" }), "finding_info.uid")).not.toBe(u1);
  });
  it("stamps the configured OCSF version and the tenant; raw_data only when asked", () => {
    const rec = one("falco/write-below-binary-dir__falcosidekick-readme.json");
    const ev = ocsf(rec, { ...CTX, ocsfVersion: "1.4.0" });
    expect(at(ev, "metadata.version")).toBe("1.4.0");
    expect(ev.raw_data).toBeUndefined();
    const raw = ocsf(rec, { ...CTX, rawData: true });
    expect(JSON.parse(String(raw.raw_data))).toEqual(rec);
    expect(validateOcsf(raw)).toEqual([]);
  });
  it("product, log_name = source, and analytic = the rule", () => {
    const ev = ocsf(one("falco-k8saudit/attach-exec-pod__eks-blog.json"));
    expect(at(ev, "metadata.product")).toEqual({ name: "Falco", vendor_name: "Falcosecurity", feature: { name: "k8s_audit" } });
    expect(at(ev, "metadata.log_name")).toBe("k8s_audit");
    expect(at(ev, "finding_info.analytic")).toMatchObject({ type_id: 1, type: "Rule", name: "Attach/Exec Pod" });
    expect(at(ev, "finding_info.types")).toEqual(["k8s"]);
  });
  it("infers a missing source from the fields and says so", () => {
    const ev = ocsf(one("falco/write-below-binary-dir__falcosidekick-readme.json"));
    expect(at(ev, "metadata.log_name")).toBe("syscall");
    expect(at(ev, "unmapped.source_inferred")).toBe(true);
    const k8s = ocsf({ rule: "r", output: "o", priority: "Notice", output_fields: { "ka.verb": "get", "ka.user.name": "u" } });
    expect(at(k8s, "metadata.log_name")).toBe("k8s_audit");
  });
});

describe("json_include_message_property", () => {
  it("\"message\" (the rule output without time and priority) is the text when there is no \"output\"", () => {
    const rec = one("falco/read-sensitive-file-untrusted__plugins-collector-readme.json");
    const text = (rec.output as string).replace(/^[^ ]+ Warning /, "");
    const { output: _dropped, ...noOutput } = rec;
    const ev = ocsf({ ...noOutput, message: text });
    expect(at(ev, "message")).toBe(text);
    expect(at(ev, "finding_info.desc")).toBe(text);
    expect(at(ev, "unmapped.message")).toBeUndefined();
    expect(lossOf("falco", { ...noOutput, message: text }, ev)).toEqual([]);
    expect(validateOcsf(ev)).toEqual([]);
    // beside "output": output is the text, message stays in unmapped
    const both = ocsf({ ...rec, message: text });
    expect(at(both, "message")).toBe(rec.output);
    expect(at(both, "unmapped.message")).toBe(text);
    expect(lossOf("falco", { ...rec, message: text }, both)).toEqual([]);
  });
});

describe("json_include_output_fields_property: false", () => {
  /** The JSON alert without output_fields (what Falco sends with json_include_output_fields_property: false). */
  function withoutFields(name: string): JsonObject {
    const { output_fields: _dropped, ...rec } = one(name);
    return rec;
  }

  it("reads the rule's fields from \"output\" (after its time and priority): the same evidence as with output_fields", () => {
    const name = "falco/read-sensitive-file-untrusted__plugins-collector-readme.json";
    const rec = withoutFields(name);
    const ev = ocsf(rec);
    const full = ocsf(one(name));
    expect(at(ev, "evidences.0.process.name")).toBe("cat");
    expect(at(ev, "evidences.0.process.file.path")).toBe("/usr/bin/cat");
    expect(at(ev, "evidences.0.process.user")).toEqual({ name: "root", uid: "0" });
    expect(at(ev, "evidences.0.process.parent_process.name")).toBe("sudo");
    expect(at(ev, "evidences.0.process.parent_process.parent_process.parent_process.parent_process.name")).toBe("kitty");
    expect(at(ev, "evidences.0.file")).toEqual(at(full, "evidences.0.file"));
    expect(at(ev, "observables")).toEqual(at(full, "observables"));
    expect(at(ev, "unmapped.text_fields.process")).toBe("proc.name");
    // the rule name, the whole text and the time are the JSON alert's
    expect(at(ev, "finding_info.title")).toBe("Read sensitive file untrusted");
    expect(at(ev, "message")).toBe(rec.output);
    expect(at(ev, "time")).toBe(at(full, "time"));
    expect(lossOf("falco", rec, ev)).toEqual([]);
    expect(validateOcsf(ev)).toEqual([]);
  });

  it("reads \"message\" (json_include_message_property) and k8s_audit alerts with the k8saudit keys", () => {
    const rec = withoutFields("falco/terminal-shell-in-container__falco-docs.json");
    const { output, ...noOutput } = rec;
    const message = (output as string).replace(/^[^ ]+ Critical /, "");
    const ev = ocsf({ ...noOutput, message });
    expect(at(ev, "evidences.0.process.name")).toBe("sh");
    expect(at(ev, "evidences.0.container.uid")).toBe("ee97d9c4186f");
    expect(at(ev, "resources.0")).toEqual({ type: "Pod", name: "kubecon", namespace: "default" });
    expect(validateOcsf(ev)).toEqual([]);

    const audit = ocsf(withoutFields("falco-k8saudit/attach-exec-pod__ovh-blog.json"));
    expect(at(audit, "evidences.0.actor.user.name")).toBe("kubernetes-admin");
    expect(at(audit, "evidences.0.api.operation")).toBe("exec");
    expect(at(audit, "resources.0")).toMatchObject({ type: "pods", name: "nginx-676b6c5bbc-4xc6t", namespace: "hello-app" });
    expect(validateOcsf(audit)).toEqual([]);
  });

  it("does not read the text of a plugin source, nor of an alert that sent output_fields", () => {
    const rec = { ...withoutFields("falco/read-sensitive-file-untrusted__plugins-collector-readme.json"), source: "aws_cloudtrail" };
    const ev = ocsf(rec);
    expect(at(ev, "evidences")).toBeUndefined();
    expect(at(ev, "unmapped.text_fields")).toBeUndefined();
    const empty = ocsf({ ...withoutFields("falco/read-sensitive-file-untrusted__plugins-collector-readme.json"), output_fields: {} });
    expect(at(empty, "evidences")).toBeUndefined();
    expect(at(empty, "unmapped.text_fields")).toBeUndefined();
  });
});

describe("syscall evidence", () => {
  it("process with parent, ancestors, executable, user and terminal", () => {
    const ev = ocsf(one("falco/read-sensitive-file-untrusted__plugins-collector-readme.json"));
    const proc = at(ev, "evidences.0.process") as Record<string, unknown>;
    expect(proc).toMatchObject({
      name: "cat",
      cmd_line: "cat /etc/shadow",
      file: { path: "/usr/bin/cat", name: "cat", type_id: 1 },
      user: { name: "root", uid: "0" },
      session: { terminal: "34820" },
      parent_process: { name: "sudo", parent_process: { name: "sudo", parent_process: { name: "zsh", parent_process: { name: "kitty" } } } },
    });
    expect(at(ev, "evidences.0.file")).toMatchObject({ path: "/etc/shadow", name: "shadow", parent_folder: "/etc" });
    // container.id "host" is not a container
    expect(at(ev, "evidences.0.container")).toBeUndefined();
    expect(at(ev, "unmapped.output_fields")).toMatchObject({ "container.id": "host", "container.name": "host", "user.loginuid": 1000 });
  });
  it("pid when Falco gives it (no synthetic uid then)", () => {
    const ev = ocsf({ rule: "r", output: "o", priority: "Notice", output_fields: { "proc.pid": 4242, "proc.ppid": 1, "proc.name": "nc", "proc.pname": "bash", "proc.vpid": 7, "proc.exe": "nc" } });
    expect(at(ev, "evidences.0.process")).toEqual({ pid: 4242, name: "nc", parent_process: { pid: 1, name: "bash" }, namespace_pid: 7 });
    expect(at(ev, "unmapped.output_fields")).toEqual({ "proc.exe": "nc" });
    expect(validateOcsf(ev)).toEqual([]);
  });
  it("an ancestor keeps its depth when a level below it is missing (gparent without parent, a null level)", () => {
    // the shape of rules that print gparent=%proc.aname[2] ggparent=%proc.aname[3] but no parent=%proc.pname
    const ev = ocsf({ rule: "r", output: "o", priority: "Notice", output_fields: { "proc.name": "sh", "proc.aname[2]": "containerd-shim", "proc.aname[3]": "systemd" } });
    const parent = at(ev, "evidences.0.process.parent_process") as Record<string, unknown>;
    expect(Object.keys(parent)).toEqual(["uid", "parent_process"]);
    expect(parent.parent_process).toMatchObject({ name: "containerd-shim", parent_process: { name: "systemd" } });
    // the grandparent is not named as the parent
    expect((at(ev, "observables") as { name: string }[]).map((o) => o.name)).not.toContain("evidences[0].process.parent_process.name");
    expect(validateOcsf(ev)).toEqual([]);
    // a null middle level: proc.aname[4] is still three levels above the parent
    const gap = ocsf({ rule: "r", output: "o", priority: "Notice", output_fields: { "proc.name": "cat", "proc.pname": "sudo", "proc.aname[2]": null, "proc.aname[3]": "zsh", "proc.aname[4]": "kitty" } });
    expect(at(gap, "evidences.0.process.parent_process.name")).toBe("sudo");
    expect(at(gap, "evidences.0.process.parent_process.parent_process.name")).toBeUndefined();
    expect(at(gap, "evidences.0.process.parent_process.parent_process.parent_process")).toMatchObject({ name: "zsh", parent_process: { name: "kitty" } });
    expect(at(gap, "unmapped.output_fields")).toEqual({ "proc.aname[2]": null });
    expect(validateOcsf(gap)).toEqual([]);
  });
  it("proc.acmdline[N], proc.aexepath[N] (else an absolute proc.aexe[N]) go to the ancestor at depth N, as proc.aname[N]", () => {
    const rec: JsonObject = {
      rule: "r",
      output: "o",
      priority: "Notice",
      output_fields: {
        "proc.name": "sh",
        "proc.pcmdline": "bash -i",
        "proc.acmdline[2]": "sshd: alice@pts/0",
        "proc.aexepath[2]": "/usr/sbin/sshd",
        "proc.aname[3]": "sshd",
        "proc.aexe[3]": "/usr/sbin/sshd",
        "proc.acmdline[4]": null,
        "proc.aexe[5]": "containerd-shim",
      },
    };
    const ev = ocsf(rec);
    const parent = at(ev, "evidences.0.process.parent_process") as Record<string, unknown>;
    expect(parent).toMatchObject({ cmd_line: "bash -i" });
    expect(parent.parent_process).toMatchObject({
      cmd_line: "sshd: alice@pts/0",
      file: { path: "/usr/sbin/sshd", name: "sshd", type_id: 1 },
      parent_process: { name: "sshd", file: { path: "/usr/sbin/sshd" } },
    });
    // a null level or a relative proc.aexe above the last known ancestor adds no level; both stay in unmapped
    expect(at(ev, "evidences.0.process.parent_process.parent_process.parent_process.parent_process")).toBeUndefined();
    expect(at(ev, "unmapped.output_fields")).toEqual({ "proc.acmdline[4]": null, "proc.aexe[5]": "containerd-shim" });
    expect(validateOcsf(ev)).toEqual([]);
    expect(lossOf("falco", rec, ev)).toEqual([]);
    // proc.acmdline[0] / [1] stand in for proc.cmdline / proc.pcmdline
    const low = ocsf({ rule: "r", output: "o", priority: "Notice", output_fields: { "proc.pid": 3, "proc.acmdline[0]": "sh -c id", "proc.acmdline[1]": "bash" } });
    expect(at(low, "evidences.0.process")).toMatchObject({ pid: 3, cmd_line: "sh -c id", parent_process: { cmd_line: "bash" } });
    // a level known only by its command line below a named one keeps its place
    const mid = ocsf({ rule: "r", output: "o", priority: "Notice", output_fields: { "proc.name": "sh", "proc.acmdline[3]": "systemd --user" } });
    expect(at(mid, "evidences.0.process.parent_process.parent_process.parent_process")).toMatchObject({ cmd_line: "systemd --user" });
    expect(Object.keys(at(mid, "evidences.0.process.parent_process") as object)).toEqual(["uid", "parent_process"]);
    expect(validateOcsf(mid)).toEqual([]);
  });
  it("an empty text is no value: no \"\" user name, container or image (falcosecurity/falco#2700)", () => {
    const of: JsonObject = { "proc.pid": 1591192, "user.name": "", "user.uid": 0, "container.id": "", "container.name": "", "container.image.repository": "", "container.image.tag": "" };
    const ev = ocsf({ rule: "Non sudo setuid", output: "o", priority: "Notice", output_fields: of });
    expect(at(ev, "evidences.0")).toEqual({ process: { pid: 1591192, user: { uid: "0" } } });
    expect(at(ev, "unmapped.output_fields")).toEqual({ "user.name": "", "container.id": "", "container.name": "", "container.image.repository": "", "container.image.tag": "" });
    expect((at(ev, "observables") as { name: string }[]).map((o) => o.name)).toEqual(["evidences[0].process.pid"]);
    expect(validateOcsf(ev)).toEqual([]);
    // a named container with an empty image: the container without an image
    const named = ocsf({ rule: "r", output: "o", priority: "Notice", output_fields: { ...of, "container.id": "3ad7b26ded6d", "container.name": "web" } });
    expect(at(named, "evidences.0.container")).toEqual({ uid: "3ad7b26ded6d", name: "web" });
    expect(validateOcsf(named)).toEqual([]);
  });
  it("user.uid 4294967295 ((uid_t)-1, a user libsinsp does not know) is no uid", () => {
    for (const uid of [4294967295, "4294967295", -1]) {
      const ev = ocsf({ rule: "r", output: "o", priority: "Notice", output_fields: { "proc.pid": 7, "user.name": "", "user.uid": uid } });
      expect(at(ev, "evidences.0")).toEqual({ process: { pid: 7 } });
      expect(at(ev, "unmapped.output_fields")).toEqual({ "user.name": "", "user.uid": uid });
      expect(validateOcsf(ev)).toEqual([]);
    }
    // root and any other uid are mapped
    expect(at(ocsf({ rule: "r", output: "o", output_fields: { "proc.pid": 7, "user.uid": 65534 } }), "evidences.0.process.user")).toEqual({ uid: "65534" });
  });
  it("container with image and Kubernetes pod as a resource", () => {
    const ev = ocsf(one("falco/contact-k8s-api-server-from-container__openfaas-blog.json"));
    expect(at(ev, "evidences.0.container")).toEqual({
      uid: "12fc4de5ccc3",
      image: { uid: "devopps/falco-pod-delete:latest", name: "devopps/falco-pod-delete", tag: "latest" },
      orchestrator: "Kubernetes",
    });
    expect(at(ev, "resources")).toEqual([{ type: "Pod", name: "falco-pod-delete-7dc9f5fbb8-gbfk7", namespace: "openfaas-fn" }]);
  });
  it("container.full_id (container plugin, Falco 0.41+) is container.uid when it extends container.id; the short id stays in unmapped", () => {
    const full = "12fc4de5ccc3a8e1b6f0d2c4e6a8b0c2d4e6f8a0b2c4d6e8f0a2b4c6d8e0f2a4";
    const rec = one("falco/contact-k8s-api-server-from-container__openfaas-blog.json");
    (rec.output_fields as JsonObject)["container.full_id"] = full;
    const ev = ocsf(rec);
    expect(at(ev, "evidences.0.container")).toMatchObject({ uid: full, orchestrator: "Kubernetes" });
    expect(at(ev, "unmapped.output_fields")).toMatchObject({ "container.id": "12fc4de5ccc3" });
    expect((at(ev, "unmapped.output_fields") as JsonObject)["container.full_id"]).toBeUndefined();
    // still one Container observable, naming the object
    expect((at(ev, "observables") as { name: string }[]).filter((o) => o.name === "evidences[0].container")).toHaveLength(1);
    expect(validateOcsf(ev)).toEqual([]);
    expect(lossOf("falco", rec, ev)).toEqual([]);
    // a full_id that is not container.id's full form (another prefix, not 64 lower-case hex digits, or
    // container.id not 12 digits): container.id is mapped as before and full_id stays in unmapped
    const base = { "proc.pid": 1, "container.name": "web" };
    for (const [id, fullId] of [
      ["ee97d9c4186f", full],
      ["12fc4de5ccc3", full.slice(0, 63)],
      ["12fc4de5ccc3", full.toUpperCase()],
      ["12fc4de5ccc3", `${full.slice(0, 63)}g`],
      ["12fc4de5ccc", full],
    ] as const) {
      const r: JsonObject = { rule: "r", output: "o", priority: "Notice", output_fields: { ...base, "container.id": id, "container.full_id": fullId } };
      const e = ocsf(r);
      expect(at(e, "evidences.0.container.uid")).toBe(id);
      expect(at(e, "unmapped.output_fields")).toEqual({ "container.full_id": fullId });
      expect(lossOf("falco", r, e)).toEqual([]);
    }
    // a process on the host: container.id and container.full_id "host" are no container
    const host = ocsf({ rule: "r", output: "o", priority: "Notice", output_fields: { "proc.pid": 1, "container.id": "host", "container.full_id": "host" } });
    expect(at(host, "evidences.0.container")).toBeUndefined();
    expect(at(host, "unmapped.output_fields")).toEqual({ "container.id": "host", "container.full_id": "host" });
  });
  it("the k8smeta plugin's pod fields (Falco 0.37+) are the fallback for k8s.*: the same Pod resource", () => {
    const rec = one("falco/contact-k8s-api-server-from-container__openfaas-blog.json");
    const of = rec.output_fields as JsonObject;
    const byK8s = ocsf(rec);
    of["k8smeta.ns.name"] = of["k8s.ns.name"]!;
    of["k8smeta.pod.name"] = of["k8s.pod.name"]!;
    of["k8smeta.pod.uid"] = "5f0d6c2e-1b7a-4c3e-9a1d-2f3b4c5d6e7f";
    delete of["k8s.ns.name"];
    delete of["k8s.pod.name"];
    const ev = ocsf(rec);
    expect(at(ev, "resources")).toEqual([{ ...(at(byK8s, "resources.0") as object), uid: "5f0d6c2e-1b7a-4c3e-9a1d-2f3b4c5d6e7f" }]);
    expect(at(ev, "evidences.0.container")).toMatchObject({ orchestrator: "Kubernetes", pod_uuid: "5f0d6c2e-1b7a-4c3e-9a1d-2f3b4c5d6e7f" });
    expect(Object.keys(at(ev, "unmapped.output_fields") as object).filter((k) => k.startsWith("k8s"))).toEqual([]);
    expect(validateOcsf(ev)).toEqual([]);
    // both given: k8s.* is mapped, the k8smeta.* name stays in unmapped
    of["k8s.pod.name"] = "from-k8s";
    expect(at(ocsf(rec), "resources.0.name")).toBe("from-k8s");
    expect((at(ocsf(rec), "unmapped.output_fields") as JsonObject)["k8smeta.pod.name"]).toBe("falco-pod-delete-7dc9f5fbb8-gbfk7");
  });
  it("connection tuple -> endpoints and connection_info", () => {
    const ev = ocsf(one("falco/contact-k8s-api-server-from-container__openfaas-blog.json"));
    expect(at(ev, "evidences.0.src_endpoint")).toEqual({ ip: "172.17.0.9", port: 43812 });
    expect(at(ev, "evidences.0.dst_endpoint")).toEqual({ ip: "10.96.0.1", port: 443 });
    expect(at(ev, "evidences.0.connection_info")).toEqual({ direction_id: 0, direction: "Unknown" });
    const out = ocsf({ rule: "r", output: "o", priority: "Notice", output_fields: { "proc.pid": 1, "evt.type": "connect", "fd.name": "[::1]:5000->[2001:db8::1]:443", "fd.l4proto": "tcp" } });
    expect(at(out, "evidences.0.connection_info")).toEqual({ direction_id: 2, direction: "Outbound", protocol_name: "tcp", protocol_num: 6 });
    expect(at(out, "evidences.0.dst_endpoint")).toEqual({ ip: "2001:db8::1", port: 443 });
    expect(validateOcsf(out)).toEqual([]);
  });
  it("fd.sip.name / fd.cip.name (the domain Falco resolved for the server / client IP) -> the endpoint's hostname", () => {
    const alert = (extra: JsonObject): JsonObject => ({
      rule: "Detect outbound connections to common miner pool ports",
      output: "o",
      priority: "Critical",
      output_fields: { "proc.pid": 7, "evt.type": "connect", "fd.l4proto": "tcp", ...extra },
    });
    const checked = (rec: JsonObject): Record<string, unknown> => {
      const ev = ocsf(rec);
      expect(validateOcsf(ev)).toEqual([]);
      expect(lossOf("falco", rec, ev)).toEqual([]);
      return ev;
    };
    const ev = checked(alert({ "fd.name": "10.0.0.5:40000->203.0.113.7:443", "fd.sip.name": "pool.minexmr.com", "fd.cip.name": null }));
    expect(at(ev, "evidences.0.dst_endpoint")).toEqual({ ip: "203.0.113.7", port: 443, hostname: "pool.minexmr.com" });
    expect(at(ev, "evidences.0.src_endpoint")).toEqual({ ip: "10.0.0.5", port: 40000 });
    expect(ev.observables).toContainEqual({ name: "evidences[0].dst_endpoint.hostname", type_id: 1, type: "Hostname", value: "pool.minexmr.com" });
    expect(at(ev, "unmapped.output_fields")).toEqual({ "evt.type": "connect", "fd.cip.name": null });
    // fd.cip / fd.sip: the client's name on the source, the server's on the destination
    const ips = checked(alert({ "fd.cip": "10.0.0.5", "fd.cip.name": "client.example.com", "fd.sip": "203.0.113.7", "fd.sport": 3333, "fd.sip.name": "xmr.crypto-pool.fr" }));
    expect(at(ips, "evidences.0.src_endpoint")).toEqual({ ip: "10.0.0.5", hostname: "client.example.com" });
    expect(at(ips, "evidences.0.dst_endpoint")).toEqual({ ip: "203.0.113.7", port: 3333, hostname: "xmr.crypto-pool.fr" });
    // an endpoint from the remote address takes fd.rip.name, not the server's name (the remote may be the client)
    const remote = checked(alert({ "fd.rip": "203.0.113.7", "fd.rip.name": "r.example.com", "fd.sip.name": "s.example.com" }));
    expect(at(remote, "evidences.0.dst_endpoint")).toEqual({ ip: "203.0.113.7", hostname: "r.example.com" });
    expect((at(remote, "unmapped.output_fields") as JsonObject)["fd.sip.name"]).toBe("s.example.com");
    // only the name: the server is still the destination
    expect(at(checked(alert({ "fd.sip.name": "pool.minexmr.com" })), "evidences.0.dst_endpoint")).toEqual({ hostname: "pool.minexmr.com" });
    // not a DNS name, or "<NA>": kept in unmapped
    const odd = checked(alert({ "fd.sip": "203.0.113.7", "fd.sip.name": "not a name", "fd.cip.name": "<NA>" }));
    expect(at(odd, "evidences.0.dst_endpoint")).toEqual({ ip: "203.0.113.7" });
    expect(at(odd, "unmapped.output_fields")).toMatchObject({ "fd.sip.name": "not a name", "fd.cip.name": "<NA>" });
  });
  it("k8s.pod.ip and the symlink / rename paths (fs.path.*, evt.arg.*) stay in unmapped: 1.3.0 has no clear attribute", () => {
    const kept: JsonObject = {
      "k8s.pod.ip": "10.244.1.7",
      "evt.type": "symlinkat",
      "fs.path.source": "/tmp/x",
      "fs.path.target": "/etc/shadow",
      "evt.arg.target": "/etc/shadow",
      "evt.arg.linkpath": "/tmp/x",
    };
    const of: JsonObject = { "proc.pid": 9, "container.id": "0123456789ab", "k8s.pod.name": "web-0", ...kept };
    const rec: JsonObject = { rule: "Create Symlink Over Sensitive Files", output: "o", priority: "Warning", output_fields: of };
    const ev = ocsf(rec);
    expect(at(ev, "evidences.0.file")).toBeUndefined();
    expect(at(ev, "resources.0")).toEqual({ type: "Pod", name: "web-0" });
    expect(at(ev, "unmapped.output_fields")).toEqual(kept);
    expect(validateOcsf(ev)).toEqual([]);
    expect(lossOf("falco", rec, ev)).toEqual([]);
  });
  it("keeps null output fields in unmapped", () => {
    const rec = one("falco/terminal-shell-in-container__null-fields__kubeless-blog.json");
    const ev = ocsf(rec);
    expect(at(ev, "unmapped.output_fields")).toMatchObject({ "container.image.repository": null, "proc.pname": null });
    expect(at(ev, "evidences.0.process.parent_process")).toBeUndefined();
  });
  it("Falco's not-available marker \"<NA>\" is read like null: nothing mapped from it, the text kept in unmapped", () => {
    const na = { "container.id": "<NA>", "container.name": "<NA>", "k8s.ns.name": "<NA>", "k8s.pod.name": "<NA>", "k8smeta.pod.uid": "<NA>", "proc.pname": "<NA>", "proc.ppid": "<NA>", "user.name": "<NA>" };
    const nulls = Object.fromEntries(Object.keys(na).map((k) => [k, null]));
    const base = { rule: "r", output: "o", priority: "Notice", hostname: "node-a", uuid: "11111111-2222-3333-4444-555555555555" };
    const fields = { "proc.name": "touch", "proc.pid": 7 };
    const withNa = ocsf({ ...base, output_fields: { ...fields, ...na } });
    const withNull = ocsf({ ...base, output_fields: { ...fields, ...nulls } });
    expect(at(withNa, "evidences.0.process")).toEqual({ pid: 7, name: "touch" });
    expect(at(withNa, "resources")).toBeUndefined();
    expect(at(withNa, "evidences.0.container")).toBeUndefined();
    expect(at(withNa, "unmapped.output_fields")).toEqual(na);
    // the same event as with nulls, but for the raw values in unmapped
    expect({ ...withNa, unmapped: undefined }).toEqual({ ...withNull, unmapped: undefined });
    expect(validateOcsf(withNa)).toEqual([]);
  });
  it("observables carry the 1.3.0 type ids of what they point at", () => {
    const ev = ocsf(one("falco/read-sensitive-file-untrusted__plugins-collector-readme.json"));
    const obs = (ev.observables as { name: string; type_id: number; value?: string }[]).map((o) => [o.name, o.type_id, o.value]);
    expect(obs).toEqual([
      ["evidences[0].process.name", 9, "cat"],
      ["evidences[0].process.cmd_line", 13, "cat /etc/shadow"],
      ["evidences[0].process.user.name", 4, "root"],
      ["evidences[0].process.parent_process.name", 9, "sudo"],
      ["evidences[0].process.file.name", 7, "cat"],
      ["evidences[0].file.name", 7, "shadow"],
      ["device.hostname", 1, "x86"],
    ]);
  });
  it("the container observable names the object, without a value (container.uid is a plain string in 1.3.0)", () => {
    const ev = ocsf(one("falco/terminal-shell-in-container__falco-docs.json"));
    expect(ev.observables).toContainEqual({ name: "evidences[0].container", type_id: 27, type: "Container" });
    expect((ev.observables as { name: string }[]).some((o) => o.name.startsWith("evidences[0].container."))).toBe(false);
  });
  it("parses connection tuples (IPv4, IPv6 with or without brackets) and refuses non-tuples", () => {
    expect(parseTuple("1.2.3.4:5678->10.0.0.1:443")).toEqual({ src: { ip: "1.2.3.4", port: 5678 }, dst: { ip: "10.0.0.1", port: 443 } });
    expect(parseTuple("[fe80::1]:1->[::1]:2")).toEqual({ src: { ip: "fe80::1", port: 1 }, dst: { ip: "::1", port: 2 } });
    expect(parseTuple("/etc/passwd")).toBeUndefined();
    expect(parseTuple("1.2.3.4:99999->1.2.3.5:1")).toBeUndefined();
  });
  it("a hostname that is not a DNS name goes to device.name", () => {
    const ev = ocsf({ rule: "r", output: "o", priority: "Notice", hostname: "my_host" });
    expect(at(ev, "device")).toEqual({ name: "my_host", type_id: 0, type: "Unknown" });
    expect(validateOcsf(ev)).toEqual([]);
  });
});

describe("k8s_audit evidence: the API call", () => {
  it("actor.user, api.operation and response code, url, target resource", () => {
    const ev = ocsf(one("falco-k8saudit/disallowed-k8s-user__ovh-blog-2-403.json"));
    expect(at(ev, "evidences.0")).toEqual({
      actor: { user: { name: "yacht" } },
      api: { operation: "patch", response: { code: 403 } },
      url: { url_string: "/api/v1/namespaces/default/events/my-pool-1.18051c0a88716868", path: "/api/v1/namespaces/default/events/my-pool-1.18051c0a88716868" },
    });
    expect(at(ev, "resources")).toEqual([{ type: "events", name: "my-pool-1.18051c0a88716868" }]);
  });
  it("exec: the subresource names the operation, the pod is the resource", () => {
    const ev = ocsf(one("falco-k8saudit/attach-exec-pod__ovh-blog.json"));
    expect(at(ev, "evidences.0.api")).toEqual({ operation: "exec" });
    expect(at(ev, "resources")).toEqual([{ type: "pods", name: "nginx-676b6c5bbc-4xc6t", namespace: "hello-app", data: { subresource: "exec" } }]);
    expect(at(ev, "unmapped.output_fields")).toMatchObject({ "ka.uri.param[command]": "cat" });
  });
  it("a created pod is named by ka.resp.name when the alert has no ka.target.name (upstream Create Privileged Pod rule)", () => {
    // the k8saudit plugin's alert for test/fixtures/k8s-audit/falco-trace__create_nginx_pod_privileged.json: the rule's
    // output is "... (user=%ka.user.name pod=%ka.resp.name resource=%ka.target.resource ns=%ka.target.namespace
    // images=%ka.req.pod.containers.image)"; the audit event's objectRef has no name (the pod is named in the body)
    const rec: JsonObject = {
      hostname: "falco-k8saudit-0",
      output:
        "14:09:12.581541000: Warning Pod started with privileged container (user=system:serviceaccount:kube-system:replicaset-controller pod=nginx-deployment-5cdcc99dbf-rgw6z resource=pods ns=default images=(nginx))",
      output_fields: {
        "ka.req.pod.containers.image": ["nginx"],
        "ka.resp.name": "nginx-deployment-5cdcc99dbf-rgw6z",
        "ka.target.namespace": "default",
        "ka.target.resource": "pods",
        "ka.user.name": "system:serviceaccount:kube-system:replicaset-controller",
      },
      priority: "Warning",
      rule: "Create Privileged Pod",
      source: "k8s_audit",
      tags: ["k8s"],
      time: "2018-10-25T14:09:12.581541000Z",
    };
    const ev = ocsf(rec);
    expect(at(ev, "resources")).toEqual([{ type: "pods", name: "nginx-deployment-5cdcc99dbf-rgw6z", namespace: "default" }]);
    expect(at(ev, "unmapped.output_fields")).toEqual({ "ka.req.pod.containers.image": ["nginx"] });
    expect(validateOcsf(ev)).toEqual([]);
    expect(lossOf("falco", rec, ev)).toEqual([]);
    // with ka.target.name, that names the resource and ka.resp.name stays in unmapped
    const both = ocsf({ ...rec, output_fields: { ...(rec.output_fields as JsonObject), "ka.target.name": "nginx" } });
    expect(at(both, "resources.0.name")).toBe("nginx");
    expect(at(both, "unmapped.output_fields")).toMatchObject({ "ka.resp.name": "nginx-deployment-5cdcc99dbf-rgw6z" });
    // "<NA>" (no response object, e.g. level Metadata) is no name: the resource type names the collection
    // (1.3.0 requires a name or uid), as for the native audit event
    const na = ocsf({ ...rec, output_fields: { ...(rec.output_fields as JsonObject), "ka.resp.name": "<NA>" } });
    expect(at(na, "resources")).toEqual([{ type: "pods", name: "pods", namespace: "default" }]);
    expect(validateOcsf(na)).toEqual([]);
    expect(lossOf("falco", { ...rec, output_fields: { ...(rec.output_fields as JsonObject), "ka.resp.name": "<NA>" } }, na)).toEqual([]);
  });
  it("impersonation: ka.impuser.name acts, as in the native audit event; the real user stays in unmapped", () => {
    // the audit event of test/fixtures/k8s-audit/audit2rbac-demo.ndjson line 1 (system:admin as bob, list pods,
    // 403) and an alert on it by a rule whose output names ka.user.name, ka.user.groups and ka.impuser.name
    const audit = records(fixture("k8s-audit/audit2rbac-demo.ndjson"), "audit2rbac-demo.ndjson")[0]!;
    const rec: JsonObject = {
      output: "19:55:05.000000000: Warning K8s operation denied (user=system:admin impuser=bob verb=list resource=pods ns=default)",
      output_fields: {
        "ka.impuser.name": "bob",
        "ka.target.namespace": "default",
        "ka.target.resource": "pods",
        "ka.user.groups": ["system:masters", "system:authenticated"],
        "ka.user.name": "system:admin",
        "ka.verb": "list",
      },
      priority: "Warning",
      rule: "r",
      source: "k8s_audit",
      time: "2017-09-11T19:55:05.000000000Z",
    };
    const ev = ocsf(rec);
    const native = normalizeK8sAudit(audit, CTX);
    expect(at(native, "actor.user.name")).toBe("bob");
    expect(at(ev, "evidences.0.actor")).toEqual({ user: { name: "bob" } });
    expect(at(ev, "unmapped.output_fields")).toEqual({ "ka.user.groups": ["system:masters", "system:authenticated"], "ka.user.name": "system:admin" });
    expect(at(ev, "observables")).toEqual([
      { name: "evidences[0].actor.user.name", type_id: 4, type: "User Name", value: "bob" },
      { name: 'unmapped.output_fields["ka.user.name"]', type_id: 4, type: "User Name", value: "system:admin" },
    ]);
    expect(validateOcsf(ev)).toEqual([]);
    expect(lossOf("falco", rec, ev)).toEqual([]);
    // "<NA>" (no impersonation in the audit event): the real user acts
    const fields = { ...(rec.output_fields as JsonObject), "ka.impuser.name": "<NA>" };
    const plain = ocsf({ ...rec, output_fields: fields });
    expect(at(plain, "evidences.0.actor")).toEqual({ user: { name: "system:admin", groups: [{ name: "system:masters" }, { name: "system:authenticated" }] } });
    expect(at(plain, "unmapped.output_fields")).toEqual({ "ka.impuser.name": "<NA>" });
  });
  it("groups, audit id and source IPs", () => {
    const rec: JsonObject = {
      rule: "r",
      output: "o",
      priority: "Warning",
      source: "k8s_audit",
      output_fields: { "ka.verb": "create", "ka.user.name": "alice", "ka.user.groups": "(system:masters,system:authenticated)", "ka.auditid": "a-1", "ka.sourceips": "[172.18.0.1]", "ka.uri": "/api/v1/pods?dryRun=All" },
    };
    const ev = ocsf(rec);
    expect(at(ev, "evidences.0")).toEqual({
      actor: { user: { name: "alice", groups: [{ name: "system:masters" }, { name: "system:authenticated" }] } },
      api: { operation: "create", request: { uid: "a-1" } },
      url: { url_string: "/api/v1/pods?dryRun=All", path: "/api/v1/pods", query_string: "dryRun=All" },
      src_endpoint: { ip: "172.18.0.1" },
    });
    expect(validateOcsf(ev)).toEqual([]);
    expect(lossOf("falco", rec, ev)).toEqual([]);
  });
  it("a \"<NA>\" element of ka.user.groups (list or Falco's \"(a,b)\" text) is no group; the raw list stays in unmapped", () => {
    const base = { rule: "r", output: "o", priority: "Warning", source: "k8s_audit" };
    for (const groups of [["system:masters", "<NA>"], "(system:masters,<NA>)"]) {
      const rec: JsonObject = { ...base, output_fields: { "ka.verb": "get", "ka.user.name": "alice", "ka.user.groups": groups } };
      const ev = ocsf(rec);
      expect(at(ev, "evidences.0.actor")).toEqual({ user: { name: "alice", groups: [{ name: "system:masters" }] } });
      expect(at(ev, "unmapped.output_fields")).toEqual({ "ka.user.groups": groups });
      expect(validateOcsf(ev)).toEqual([]);
      expect(lossOf("falco", rec, ev)).toEqual([]);
    }
    // only "<NA>": no groups at all (nor an actor without a name)
    const ev = ocsf({ ...base, output_fields: { "ka.verb": "get", "ka.user.groups": ["<NA>"] } });
    expect(at(ev, "evidences.0.actor")).toBeUndefined();
    expect(at(ev, "unmapped.output_fields")).toEqual({ "ka.user.groups": ["<NA>"] });
  });
});

describe("aws_cloudtrail evidence: the AWS call", () => {
  it("actor, api (operation, service, request uid, error), cloud account and region", () => {
    const ev = ocsf(CONSTRUCTED_CLOUDTRAIL);
    expect(at(ev, "evidences.0")).toEqual({
      actor: { user: { name: "admin-bob", uid: "arn:aws:iam::123456789012:user/admin-bob", account: { uid: "123456789012", type_id: 10, type: "AWS Account" } } },
      api: { operation: "StopLogging", service: { name: "cloudtrail.amazonaws.com" }, request: { uid: "2f6b1e0a-1b2c-4d5e-8f90-0a1b2c3d4e5f" }, response: { error: "AccessDenied" } },
      src_endpoint: { hostname: "cloudformation.amazonaws.com" },
    });
    expect(ev.cloud).toEqual({ provider: "AWS", region: "eu-west-1", account: { uid: "123456789012", type_id: 10, type: "AWS Account" } });
    expect(at(ev, "metadata.profiles")).toEqual(["host", "cloud"]);
    expect(at(ev, "finding_info.types")).toEqual(["cloud", "aws", "aws_cloudtrail", "mitre_defense_evasion", "T1562.008"]);
  });
  it("the user with an ARN is a User observable without a value, as on the CloudTrail route (user.uid is a plain string in 1.3.0)", () => {
    const ev = ocsf(CONSTRUCTED_CLOUDTRAIL);
    expect(ev.observables).toContainEqual({ name: "evidences[0].actor.user", type_id: 21, type: "User" });
    expect(validateOcsf(ev)).toEqual([]);
    // no ARN: no User observable (the name is still a User Name observable)
    const of = { ...(CONSTRUCTED_CLOUDTRAIL.output_fields as JsonObject) };
    delete of["ct.user.arn"];
    const noArn = ocsf({ ...CONSTRUCTED_CLOUDTRAIL, output_fields: of });
    const types = (noArn.observables as { name: string; type_id: number }[]).map((o) => [o.name, o.type_id]);
    expect(types).toContainEqual(["evidences[0].actor.user.name", 4]);
    expect(types.map(([, t]) => t)).not.toContain(21);
  });
});

describe("internal alerts are kept and marked", () => {
  for (const name of [
    "falco/falco-internal-metrics-snapshot__falco-docs-2.json",
    "falco/falco-internal-syscall-event-drop__falcosidekick-test.json",
  ]) {
    it(name, () => {
      const ev = ocsf(one(name));
      expect(at(ev, "metadata.labels")).toEqual(["falco_internal"]);
      expect(at(ev, "metadata.log_name")).toBe("internal");
      expect(at(ev, "unmapped.falco_internal")).toBe(true);
      expect(at(ev, "finding_info.analytic")).toMatchObject({ type_id: 99, type: "Falco internal" });
      expect(validateOcsf(ev)).toEqual([]);
    });
  }
  it("the metrics snapshot's Falco version is the product version", () => {
    const ev = ocsf(one("falco/falco-internal-metrics-snapshot__falco-docs-1.json"));
    expect(at(ev, "metadata.product.version")).toBe("0.41.0");
    expect(at(ev, "unmapped.output_fields")).toMatchObject({ "falco.start_ts": "1748557118881742916", "scap.n_drops_perc": 0 });
  });
  it("ordinary alerts are not marked", () => {
    const ev = ocsf(one("falco/terminal-shell-in-container__falco-docs.json"));
    expect(at(ev, "metadata.labels")).toBeUndefined();
    expect(at(ev, "unmapped.falco_internal")).toBeUndefined();
  });
});

describe("text output (json_output: false)", () => {
  it("parses the priority and a full timestamp", () => {
    const ev = normalizeFalcoText("2016-08-04T16:17:57.881781397+0000: Warning An open was seen (command=cat /dev/null)", CTX) as OcsfEvent;
    expect([ev.severity_id, ev.time]).toEqual([3, Date.UTC(2016, 7, 4, 16, 17, 57, 881)]);
    expect(at(ev, "finding_info.desc")).toBe("An open was seen (command=cat /dev/null)");
    expect(at(ev, "metadata.original_time")).toBe("2016-08-04T16:17:57.881781397+0000");
    expect(at(ev, "unmapped")).toEqual({ priority: "Warning", text_output: true, source_inferred: true, text_fields: { command: "proc.cmdline" } });
  });
  it("a time of day alone is kept as text; the received time is used", () => {
    const line = "13:44:05.478445995: Critical A shell was spawned in a container with an attached terminal (user=root)";
    const ev = JSON.parse(JSON.stringify(normalizeFalcoText(line, CTX))) as Record<string, unknown>;
    expect([ev.severity_id, ev.time]).toEqual([5, CTX.receivedAt]);
    expect(at(ev, "unmapped.text_time")).toBe("13:44:05.478445995");
    expect(at(ev, "message")).toBe(line);
    expect(validateOcsf(ev)).toEqual([]);
  });
  it("a line that is not '<time>: <Priority> <message>' is refused (NormalizeError), not kept as a finding", () => {
    const lines = ["something happened", "hello world", "GET / HTTP/1.1", "x: Notice y", "12:00:00.0: Noticed y", "12:00:00.0 Warning y", "yesterday 12:00:00: Warning y", ""];
    for (const line of lines) expect(() => normalizeFalcoText(line, CTX), line).toThrow(new NormalizeError(NOT_FALCO_TEXT));
    expect(NOT_FALCO_TEXT).toBe("not a Falco text alert: expected '<time>: <Priority> <message>'");
  });
  it("takes both of Falco's time forms and any priority, in any case", () => {
    const forms: [string, number, number][] = [
      ["13:44:05.478445995: Notice m", 2, CTX.receivedAt],
      ["13:44:05: warning m", 3, CTX.receivedAt],
      ["2016-08-04T16:17:57.881781397+0000: Debug m", 1, Date.UTC(2016, 7, 4, 16, 17, 57, 881)],
      ["2016-08-04T16:17:57.881781397+02:00: Informational m", 1, Date.UTC(2016, 7, 4, 14, 17, 57, 881)],
      ["2016-08-04T16:17:57Z: EMERGENCY m", 6, Date.UTC(2016, 7, 4, 16, 17, 57)],
      ["  12:00:00.000000000: Error   spaced message  ", 4, CTX.receivedAt],
    ];
    for (const [line, sev, time] of forms) {
      const ev = JSON.parse(JSON.stringify(normalizeFalcoText(line, CTX))) as Record<string, unknown>;
      expect([ev.severity_id, ev.time], line).toEqual([sev, time]);
      expect(validateOcsf(ev)).toEqual([]);
    }
    expect(at(normalizeFalcoText("12:00:00: Critical", CTX), "finding_info.desc")).toBe("12:00:00: Critical"); // no message: the line
  });
  it("the same line gives the same uid", () => {
    const a = normalizeFalcoText("12:00:00.000000000: Notice y", CTX);
    const b = normalizeFalcoText("12:00:00.000000000: Notice y", CTX);
    const c = normalizeFalcoText("12:00:00.000000000: Notice z", CTX);
    expect(at(a, "finding_info.uid")).toBe(at(b, "finding_info.uid"));
    expect(at(a, "finding_info.uid")).not.toBe(at(c, "finding_info.uid"));
  });
});

describe("records that are not Falco alerts", () => {
  it("are refused with a reason on the explicit Falco route (no rule, no output)", () => {
    const tetragon = { process_exec: { process: { binary: "/bin/sh" } }, node_name: "n1", time: "2024-01-01T00:00:00Z" };
    expect(() => normalizeFalco(tetragon, { ocsfVersion: "1.3.0", receivedAt: 0 })).toThrow(/not a Falco alert/);
  });
});
