// The consumer-side feed: one call per correlation key per batch, never a throw, bounded in keys and time.
import { describe, it, expect } from "vitest";
import { feedCorrelation, groupByKey, type CorrelatorNamespace } from "../../src/correlate/feed";
import type { Summary } from "../../src/correlate/chains";
import { parseConfig } from "../../src/config/load";
import { buildIncident } from "../../src/correlate/incident";
import { matchChains } from "../../src/correlate/chains";
import { CFG, execStory, federationRecords, normalizeRecord, tetragonCurlExecRecord, records } from "./story";

const C = CFG.correlate;

class FakeNamespace implements CorrelatorNamespace {
  calls: { name: string; summaries: Summary[] }[] = [];
  constructor(private behave: (name: string) => Promise<unknown> = async () => ({})) {}
  getByName(name: string) {
    return {
      add: (summaries: Summary[]) => {
        this.calls.push({ name, summaries });
        return this.behave(name);
      },
    };
  }
}

describe("feedCorrelation", () => {
  it("sends each key's summaries in one call; events no chain uses are not sent", async () => {
    const s = execStory();
    const curl = normalizeRecord(tetragonCurlExecRecord());
    const noise = records("k8s-audit/audit2rbac-demo.ndjson").slice(0, 20).map((r) => normalizeRecord(r)); // no exec among them
    const ns = new FakeNamespace();
    const r = await feedCorrelation([s.audit, s.shell, ...noise, s.exec, curl, s.connect], ns, C);
    expect(r).toEqual({ summaries: 5, keys: 2, failed: 0, dropped: 0 });
    expect(ns.calls.map((c) => [c.name, c.summaries.map((x) => x.uid)])).toEqual([
      [s.scope, [s.audit, s.shell, s.exec, s.connect].map((e) => e.metadata.uid)],
      ["pod:default/default/xwing", [curl.metadata.uid]],
    ]);
  });

  it("never throws: a failing key is counted and the others still get their summaries", async () => {
    const s = execStory();
    const curl = normalizeRecord(tetragonCurlExecRecord());
    const ns = new FakeNamespace(async (name) => {
      if (name === s.scope) throw new Error("Durable Object reset because its code was updated");
      return {};
    });
    const r = await feedCorrelation([s.audit, s.shell, curl], ns, C);
    expect(r).toMatchObject({ keys: 2, failed: 1 });
    expect(ns.calls.map((c) => c.name).sort()).toEqual([s.scope, "pod:default/default/xwing"].sort());
  });

  it("stops waiting after the timeout (a Durable Object that never answers cannot hold the batch)", async () => {
    const s = execStory();
    const ns = new FakeNamespace(() => new Promise(() => {}));
    const r = await feedCorrelation([s.audit, s.shell], ns, C, 50);
    expect(r).toMatchObject({ keys: 1, failed: 1 });
  });

  it("does nothing when disabled, when the binding is missing, or without a config section", async () => {
    const s = execStory();
    const ns = new FakeNamespace();
    const off = parseConfig({ correlate: { enabled: false } }).correlate;
    expect(await feedCorrelation([s.audit, s.shell], ns, off)).toEqual({ summaries: 0, keys: 0, failed: 0, dropped: 0 });
    expect(await feedCorrelation([s.audit, s.shell], undefined, C)).toEqual({ summaries: 0, keys: 0, failed: 0, dropped: 0 });
    expect(await feedCorrelation([s.audit, s.shell], ns, undefined)).toEqual({ summaries: 0, keys: 0, failed: 0, dropped: 0 });
    expect(ns.calls).toEqual([]);
  });

  it("keeps at most maxKeysPerBatch keys and counts the summaries it leaves out", async () => {
    const s = execStory();
    const curl = normalizeRecord(tetragonCurlExecRecord());
    const ns = new FakeNamespace();
    const one = parseConfig({ correlate: { maxKeysPerBatch: 1 } }).correlate;
    expect(await feedCorrelation([s.audit, s.shell, curl], ns, one)).toEqual({ summaries: 2, keys: 1, failed: 0, dropped: 1 });
  });

  it("incidents (product Tributary) are not fed back", async () => {
    const s = execStory();
    const m = matchChains([...groupByKey([s.audit, s.shell], C).values()][0]!, C)[0]!;
    const incident = buildIncident(m, { activity: 1, ocsfVersion: "1.3.0", assigneeGroup: "x" });
    const ns = new FakeNamespace();
    expect(await feedCorrelation([incident], ns, C)).toMatchObject({ summaries: 0, keys: 0 });
  });
});

describe("groupByKey", () => {
  it("thins a key's credential uses to the first per source IP (later calls from a known IP add nothing)", () => {
    const calls = records("cloudtrail/stratus__credential-access.secretsmanager-batch-retrieve-secrets.json").map((r) => normalizeRecord(r));
    expect(calls).toHaveLength(5); // five BatchGetSecretValue with one key, from one IP
    const groups = groupByKey(calls, C);
    expect([...groups.keys()]).toEqual(["aws.key:AKIALK3Q0HKBKZJ2XBYP"]);
    expect(groups.get("aws.key:AKIALK3Q0HKBKZJ2XBYP")).toHaveLength(1);
    // a credential action is never thinned
    const [create, use] = federationRecords("200.249.253.51").map((r) => normalizeRecord(r));
    const g = groupByKey([create!, use!, create!], C);
    expect(g.get("aws.key:ASIASTJKC5GCM7ZE6LUP")!.map((x) => x.roles[0])).toEqual(["cred_create", "cred_use", "cred_create"]);
  });
});
