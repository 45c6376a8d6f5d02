import { describe, it, expect } from "vitest";
import table from "../../data/attack.json";
import { validateOcsf } from "../support/ocsf-validator";
import { config, enrichedFixture, plainFixture } from "./helpers";
import { attacksFor, parseTags, enrichAttack, ATTACK_VERSION } from "../../src/enrich/attack";
import type { OcsfEvent } from "../../src/normalize/ocsf";

const cfg = config({});
type Fi = { attacks?: Record<string, unknown>[] };

describe("ATT&CK from Falco rule tags", () => {
  it("technique + tactic tags of 'Read sensitive file untrusted' -> finding_info.attacks with names and version", () => {
    const [e] = enrichedFixture("falco/read-sensitive-file-untrusted__plugins-collector-readme.json", cfg);
    expect(validateOcsf(e)).toEqual([]);
    expect((e!.finding_info as Fi).attacks).toEqual([
      {
        tactic: { uid: "TA0006", name: "Credential Access" },
        technique: { uid: "T1555", name: "Credentials from Password Stores" },
        version: ATTACK_VERSION,
      },
    ]);
  });

  it("a tactic-only tag ('Terminal shell in container': mitre_execution) -> a tactic entry", () => {
    const [e] = enrichedFixture("falco/terminal-shell-in-container__falco-docs.json", cfg);
    expect(validateOcsf(e)).toEqual([]);
    expect((e!.finding_info as Fi).attacks).toEqual([{ tactic: { uid: "TA0002", name: "Execution" }, version: ATTACK_VERSION }]);
  });

  it("every Falco fixture stays valid with ATT&CK enrichment on, and off changes nothing", () => {
    for (const name of ["falco/write-below-binary-dir__falcosidekick-readme.json", "falco/open_from_cat__falco-regression-test.ndjson", "falco-k8saudit/attach-exec-pod__eks-blog.json"]) {
      for (const e of enrichedFixture(name, cfg)) expect(validateOcsf(e)).toEqual([]);
      const off = enrichedFixture(name, config({ enrich: { attack: { enabled: false } } }));
      expect(off.map((e) => (e.finding_info as Fi).attacks)).toEqual(plainFixture(name).map((e) => (e.finding_info as Fi).attacks));
    }
  });
});

describe("ATT&CK from Tetragon policy tags (real events, tags as a TracingPolicy sets them)", () => {
  const withTags = (name: string, tags: string[]): OcsfEvent => {
    const e = structuredClone(plainFixture(name)[0]!);
    e.metadata.labels = [...(e.metadata.labels ?? []), ...tags];
    return e;
  };

  it("hook events (security_control profile) get the top-level attacks[]", () => {
    const e = enrichAttack(withTags("tetragon/process_kprobe.ndjson", ["observability.filesystem", "T1003.008", "mitre_credential_access"]));
    expect(validateOcsf(e)).toEqual([]);
    expect(e.attacks).toEqual([
      {
        version: ATTACK_VERSION,
        tactic: { uid: "TA0006", name: "Credential Access" },
        technique: { uid: "T1003", name: "OS Credential Dumping" },
        sub_technique: { uid: "T1003.008", name: "/etc/passwd and /etc/shadow" },
      },
    ]);
  });

  it("activity events without the profile get enrichments[] of type mitre_attack instead", () => {
    const e = enrichAttack(withTags("tetragon/process_exec.ndjson", ["attack.t1059.004", "attack.execution"]));
    expect(validateOcsf(e)).toEqual([]);
    expect(e.attacks).toBeUndefined();
    expect(e.enrichments).toEqual([
      {
        name: "attacks",
        value: "T1059.004",
        type: "mitre_attack",
        provider: "tributary",
        short_desc: "MITRE ATT&CK T1059.004 Unix Shell",
        data: {
          version: ATTACK_VERSION,
          tactic: { uid: "TA0002", name: "Execution" },
          technique: { uid: "T1059", name: "Command and Scripting Interpreter" },
          sub_technique: { uid: "T1059.004", name: "Unix Shell" },
        },
      },
    ]);
  });
});

describe("tag parsing and pairing", () => {
  it("reads the tag spellings in use", () => {
    const p = parseTags(["T1059", "t1059.004", "TA0011", "mitre_command_and_control", "attack.defense_evasion", "mitre_remote_service", "container", "maturity_stable"]);
    expect(p.techniques).toEqual(["T1059", "T1059.004"]);
    expect(p.tactics.map((t) => t.uid)).toEqual(["TA0011", "TA0005", "TA0008"]);
  });

  it("pairs techniques with the tagged tactic the table lists for them, keeps the others apart", () => {
    expect(attacksFor(["T1611", "mitre_privilege_escalation", "mitre_execution"])).toEqual([
      { version: ATTACK_VERSION, tactic: { uid: "TA0004", name: "Privilege Escalation" }, technique: { uid: "T1611", name: "Escape to Host" } },
      { version: ATTACK_VERSION, tactic: { uid: "TA0002", name: "Execution" } },
    ]);
    // no tactic tag: the table's only tactic
    expect(attacksFor(["T1496"])[0]!.tactic).toEqual({ uid: "TA0040", name: "Impact" });
    // several tactics in the table and none tagged: technique alone
    expect(attacksFor(["T1078"])[0]!.tactic).toBeUndefined();
  });

  it("keeps unknown technique ids (uid only), which OCSF allows", () => {
    const [a] = attacksFor(["T9999.123"]);
    expect(a).toEqual({ version: ATTACK_VERSION, technique: { uid: "T9999" }, sub_technique: { uid: "T9999.123" } });
  });

  it("ships a consistent table: 14 tactics, every technique's tactics exist, sub-techniques have a parent", () => {
    expect(table.tactics).toHaveLength(14);
    const short = new Set(table.tactics.map((t) => t.shortname));
    const techniques = table.techniques as Record<string, { name: string; tactics?: string[] }>;
    for (const [id, t] of Object.entries(techniques)) {
      expect(id).toMatch(/^T\d{4}(\.\d{3})?$/);
      expect(t.name.length).toBeGreaterThan(2);
      if (id.includes(".")) expect(techniques[id.split(".")[0]!], id).toBeDefined();
      else for (const x of t.tactics ?? []) expect(short.has(x), `${id} ${x}`).toBe(true);
    }
    // every technique the shipped Falco rules reference
    for (const id of ["T1021.004", "T1546.004", "T1053.003", "T1072", "T1543", "T1555", "T1005", "T1098", "T1190", "T1222.002", "T1611", "T1059.004", "T1610", "T1059", "T1204", "T1548.001", "T1552.005", "T1565", "T1205.001", "T1505", "T1552.001", "T1070", "T1485", "T1564.001", "T1020", "T1496", "T1557.002", "T1046", "T1548.003", "T1055.008", "T1622", "T1552", "T1083"]) {
      expect(techniques[id], id).toBeDefined();
    }
  });
});
