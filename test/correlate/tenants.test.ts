// Tenants are isolation boundaries for correlation: where the config lets more than one tenant send, two
// tenants' events of the same pod name, IP, node or AWS key share no correlation key, no Durable Object
// (summary scope), no incident and no metadata.correlation_uid. With one tenant (or none), or with
// correlate.acrossTenants, the keys are the unscoped ones of docs/correlation.md.
import { describe, it, expect } from "vitest";
import { parseConfig } from "../../src/config/load";
import { applyCorrelationKeys, separatesTenants, scopedKey } from "../../src/correlate/keys";
import { summarize, matchChains } from "../../src/correlate/chains";
import { groupByKey } from "../../src/correlate/feed";
import { buildIncident } from "../../src/correlate/incident";
import { stableUid } from "../../src/normalize/uid";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import type { Config } from "../../src/config/schema";
import { normalizeRecord, k8sExecRecord, falcoShellRecord, tetragonShellExecRecord, federationRecords, AUDIT_AT, ALERT_AT, SHELL_AT, STORY_NS } from "./story";

type Corr = { key: string; keys: string[] };
const corr = (e: OcsfEvent) => (e.unmapped?.tributary as { correlation?: Corr } | undefined)?.correlation;

const TWO = parseConfig({ auth: { tokens: [{ tenant: "team-a", token: "ta" }, { tenant: "team-b", token: "tb" }] } });
const ONE = parseConfig({ auth: { tokens: [{ tenant: "team-a", token: "ta" }, { tenant: "team-a", token: "ta2" }] } });
const ACROSS = parseConfig({ auth: { tokens: [{ tenant: "team-a", token: "ta" }, { tenant: "team-b", token: "tb" }] }, correlate: { acrossTenants: true } });
const POD = "web-0";
const POD_KEY = `pod:default/${STORY_NS}/${POD}`;

/** The kubectl exec of POD (source IP 192.168.99.1) as `tenant` sends it under `cfg`. */
const audit = (cfg: Config, tenant: string) => normalizeRecord(k8sExecRecord({ pod: POD, at: AUDIT_AT }), cfg, tenant);

describe("separatesTenants: which configs scope the keys by tenant", () => {
  it("more than one tenant can send: yes; one tenant (any number of tokens) or none: no; acrossTenants: no", () => {
    expect(separatesTenants(TWO)).toBe(true);
    expect(separatesTenants(ONE)).toBe(false);
    expect(separatesTenants(parseConfig({}))).toBe(false);
    expect(separatesTenants(ACROSS)).toBe(false);
    // the HMAC principal is a tenant of its own
    expect(separatesTenants(parseConfig({ auth: { tokens: [{ tenant: "team-a", token: "ta" }], hmac: { secret: "s" } } }))).toBe(true);
    expect(separatesTenants(parseConfig({ auth: { tokens: [{ tenant: "hmac", token: "ta" }], hmac: { secret: "s" } } }))).toBe(false);
    // auth not required: senders without a credential are apart from the token's tenant
    expect(separatesTenants(parseConfig({ auth: { required: false, tokens: [{ tenant: "team-a", token: "ta" }] } }))).toBe(true);
    expect(separatesTenants(parseConfig({ auth: { required: false } }))).toBe(false);
  });

  it("scopedKey encodes the tenant so that no tenant name can reach into the key", () => {
    expect(scopedKey({}, "ip:10.0.0.5")).toBe("ip:10.0.0.5");
    expect(scopedKey({ tenant: "team-a" }, "ip:10.0.0.5")).toBe("tenant:team-a/ip:10.0.0.5");
    expect(scopedKey({ tenant: "a/ip:1" }, "x")).toBe("tenant:a%2Fip%3A1/x");
    expect(scopedKey({ tenant: "a/ip:1" }, "x")).not.toBe(scopedKey({ tenant: "a" }, "ip:1/x"));
  });
});

describe("correlation keys of two tenants", () => {
  it("the same pod, user and IP of two tenants give different keys and correlation_uid, each scoped by its tenant", () => {
    const a = audit(TWO, "team-a");
    const b = audit(TWO, "team-b");
    expect(corr(a)).toMatchObject({
      key: `tenant:team-a/${POD_KEY}`,
      keys: [`tenant:team-a/${POD_KEY}`, "tenant:team-a/k8s.user:default/minikube-user", "tenant:team-a/ip:192.168.99.1"],
    });
    expect(corr(b)!.keys).toEqual(corr(a)!.keys.map((k) => k.replace("tenant:team-a/", "tenant:team-b/")));
    expect(a.metadata.correlation_uid).toBe(stableUid(`tenant:team-a/${POD_KEY}`));
    expect(b.metadata.correlation_uid).toBe(stableUid(`tenant:team-b/${POD_KEY}`));
    expect(a.metadata.correlation_uid).not.toBe(b.metadata.correlation_uid);
    for (const k of corr(a)!.keys) expect(corr(b)!.keys).not.toContain(k);
  });

  it("one tenant, no tenant_uid, or acrossTenants: the keys and correlation_uid of before (unscoped)", () => {
    const unscoped = { key: POD_KEY, keys: [POD_KEY, "k8s.user:default/minikube-user", "ip:192.168.99.1"] };
    for (const [cfg, tenant] of [
      [ONE, "team-a"],
      [ACROSS, "team-a"],
      [ACROSS, "team-b"],
      [parseConfig({}), "acme"],
    ] as const) {
      const e = audit(cfg, tenant);
      expect(corr(e), `${tenant}`).toMatchObject(unscoped);
      expect(e.metadata.correlation_uid).toBe(stableUid(POD_KEY));
    }
    // an event without tenant_uid where tenants are kept apart (auth.required false, sent without a credential)
    const anonymous = structuredClone(audit(TWO, "team-a"));
    delete anonymous.metadata.tenant_uid;
    applyCorrelationKeys(anonymous, true);
    expect(corr(anonymous)).toMatchObject(unscoped);
    expect(anonymous.metadata.correlation_uid).toBe(stableUid(POD_KEY));
  });

  it("AWS keys are scoped too: the same access key sent by two tenants reaches two objects", () => {
    const [createA, useA] = federationRecords("203.0.113.9").map((r) => normalizeRecord(r, TWO, "team-a"));
    const [, useB] = federationRecords("203.0.113.9").map((r) => normalizeRecord(r, TWO, "team-b"));
    expect(corr(useA!)!.keys).toContain("tenant:team-a/aws.key:ASIASTJKC5GCM7ZE6LUP");
    const groups = groupByKey([createA!, useA!, useB!], TWO.correlate, true);
    // the create is also a use of the caller's own key (AKIA...): team-a's object of it
    expect([...groups.keys()].sort()).toEqual(["tenant:team-a/aws.key:AKIA6V1GNZTT65XQH36M", "tenant:team-a/aws.key:ASIASTJKC5GCM7ZE6LUP", "tenant:team-b/aws.key:ASIASTJKC5GCM7ZE6LUP"]);
    // the summary keeps the unscoped credential as its fact (the incident's observables read it)
    expect(groups.get("tenant:team-b/aws.key:ASIASTJKC5GCM7ZE6LUP")![0]).toMatchObject({ credential: "aws.key:ASIASTJKC5GCM7ZE6LUP", tenant: "team-b" });
  });
});

describe("summaries and incidents of two tenants", () => {
  /** kubectl exec, Falco's shell alert and Tetragon's exec of the shell in POD, `shift` ms later, as `tenant` sends them. */
  function story(tenant: string, shift: number): OcsfEvent[] {
    return [
      normalizeRecord(k8sExecRecord({ pod: POD, at: AUDIT_AT + shift }), TWO, tenant),
      normalizeRecord(falcoShellRecord({ pod: POD, at: ALERT_AT + shift }), TWO, tenant),
      normalizeRecord(tetragonShellExecRecord({ ns: STORY_NS, pod: POD, at: SHELL_AT + shift }), TWO, tenant),
    ];
  }

  it("two tenants' stories in one pod name are two scopes and two incidents, each of its tenant's events only", () => {
    const a = story("team-a", 0);
    const b = story("team-b", 2_000);
    const groups = groupByKey([...a, ...b], TWO.correlate, true);
    expect([...groups.keys()].sort()).toEqual([`tenant:team-a/${POD_KEY}`, `tenant:team-b/${POD_KEY}`]);
    for (const [tenant, events] of [
      ["team-a", a],
      ["team-b", b],
    ] as const) {
      const scope = `tenant:${tenant}/${POD_KEY}`;
      const list = groups.get(scope)!;
      expect(list.map((x) => x.uid).sort()).toEqual(events.map((e) => e.metadata.uid).sort());
      const matches = matchChains(list, TWO.correlate);
      expect(matches).toHaveLength(1);
      const incident = buildIncident(matches[0]!, { activity: 1, ocsfVersion: "1.3.0", assigneeGroup: "soc" });
      expect(incident.metadata.tenant_uid).toBe(tenant);
      // the SIEM join: the incident's correlation_uid is its events'
      expect(incident.metadata.correlation_uid).toBe(events[0]!.metadata.correlation_uid);
      // the pod facts and labels stay the pod's (no tenant in them)
      expect(incident.metadata.labels).toContain(`k8s.pod:${POD}`);
    }
  });

  it("without byTenant (one tenant, acrossTenants) the same summaries share the pod's scope, as before", () => {
    const events = [...story("team-a", 0), ...story("team-b", 2_000)];
    expect([...new Set(events.flatMap((e) => summarize(e, ACROSS.correlate)).map((x) => x.scope))]).toEqual([POD_KEY]);
    expect([...groupByKey(events, ACROSS.correlate).keys()]).toEqual([POD_KEY]);
  });
});
