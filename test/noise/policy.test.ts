// The pure noise policies: config validation, the routing matcher reused (plus rule and fields),
// suppression expiry, deterministic sampling, the order of decisions, counters for /metrics.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { parseConfig } from "../../src/config/load";
import { compileMatch, EventView } from "../../src/route/rules";
import type { Match } from "../../src/config/routing";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { stableUid } from "../../src/normalize/uid";
import { compileNoiseMatch, dedupMode, noiseFor, sampleKeeps, samplePoint, suppressedBy, throttleKey, verdict } from "../../src/noise/policy";
import { countNoise, noiseCounters, resetNoiseCounters, suppressionReport } from "../../src/noise/stats";
import { MAX_NOISE_POLICIES, MAX_SUPPRESS_ENTRIES } from "../../src/config/noise";
import { tameNoise } from "../../src/noise/gate";
import { fixtures } from "../support/fixtures";
import { runFixture } from "../support/fixture-pipeline";

const all = fixtures.flatMap((f) => runFixture(f).result.events.map((r) => r.event));
const shell = all.find((e) => e.device && (e.device as { hostname?: string }).hostname === "falco-xczjd")!;

const sinks = {
  slack: { type: "slack", url: "https://hooks.slack.invalid/services/x" },
  siem: { type: "splunk_hec", url: "https://splunk.invalid:8088", token: "t" },
  hook: { type: "webhook", url: "https://hook.invalid/x", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" },
};

function cfgWith(noise: unknown) {
  return parseConfig({ sinks, noise });
}

function withUid(e: OcsfEvent, uid: string): OcsfEvent {
  return { ...e, metadata: { ...e.metadata, uid } };
}

describe("noise config", () => {
  it("defaults to no policies, and a full example validates", () => {
    expect(parseConfig({}).noise).toEqual({ suppress: [], sample: [], dedup: [], throttle: [] });
    const cfg = cfgWith({
      dedup: [{ match: { source: "falco", rule: "Terminal shell in container" }, fields: ["finding_info.title", "evidences[0].container.uid"], window_seconds: 300, sinks: ["slack", "siem"] }],
      throttle: [{ sink: "slack", per: "rule", max: 10, per_seconds: 60 }],
      sample: [{ match: { source: "tetragon", class_uid: 1007, fields: { "process.file.path": ["/usr/bin/curl", "/bin/ls"] } }, rate: 0.01, sinks: ["siem"] }],
      suppress: [{ match: { fields: { "device.hostname": "ci-runner" } }, reason: "CI", expires: "2027-01-01T00:00:00Z" }],
    });
    expect(cfg.noise.dedup[0]!.mode).toBeUndefined();
    expect(noiseFor(cfg)).toMatchObject({ empty: false, stateful: true });
    expect(noiseFor(cfg).dedup[0]!.label).toBe("dedup[0]");
    expect(noiseFor(parseConfig({})).empty).toBe(true);
  });

  it("names the exact field of a mistake", () => {
    const bad: [unknown, RegExp][] = [
      [{ dedup: [{ sinks: ["archive"] }] }, /noise\.dedup\.0\.sinks\.0: the archive always keeps every event/],
      [{ throttle: [{ sink: "nope", max: 1, per_seconds: 60 }] }, /noise\.throttle\.0\.sink: unknown sink "nope"/],
      [{ suppress: [{ match: {}, reason: "x", expires: "next year" }] }, /noise\.suppress\.0\.expires/],
      [{ suppress: [{ match: {}, expires: "2027-01-01" }] }, /noise\.suppress\.0\.reason/],
      [{ sample: [{ rate: 1.5 }] }, /noise\.sample\.0\.rate/],
      [{ dedup: [{ fields: ["evidences[0]..x"] }] }, /noise\.dedup\.0\.fields\.0: an OCSF path/],
      [{ dedup: [{ window_seconds: 100_000 }] }, /noise\.dedup\.0\.window_seconds/],
      [{ dedup: [{ name: "a" }, { name: "a" }] }, /noise\.dedup\.1\.name: duplicate dedup policy name "a"/],
      [{ dedup: [{ match: { colour: "red" } }] }, /noise\.dedup\.0\.match/],
    ];
    for (const [noise, re] of bad) expect(() => cfgWith(noise), JSON.stringify(noise)).toThrow(re);
  });
});

describe("object-store sinks (s3, security_lake, r2) keep every original event", () => {
  const stores = {
    ...sinks,
    lake: { type: "s3", bucket: "tributary-lake", accessKeyId: "AKIAEXAMPLE", secretAccessKey: "secret" },
    seclake: { type: "security_lake", bucket: "aws-security-data-lake-x", accessKeyId: "AKIAEXAMPLE", secretAccessKey: "secret", accountId: "external", sources: { "2004": "falco" } },
    bucket: { type: "r2", binding: "ARCHIVE", prefix: "copy" },
  };
  const withStores = (noise: unknown) => parseConfig({ sinks: stores, noise });

  it("a policy that names one is refused, the error naming the field and the type", () => {
    const bad: [unknown, RegExp][] = [
      [{ dedup: [{ sinks: ["slack", "lake"] }] }, /noise\.dedup\.0\.sinks\.1: "lake" is an object-store sink \(type s3\): it keeps every original event/],
      [{ sample: [{ rate: 0.1, sinks: ["seclake"] }] }, /noise\.sample\.0\.sinks\.0: "seclake" is an object-store sink \(type security_lake\)/],
      [{ suppress: [{ match: {}, reason: "x", expires: "2999-01-01", sinks: ["bucket"] }] }, /noise\.suppress\.0\.sinks\.0: "bucket" is an object-store sink \(type r2\)/],
      [{ throttle: [{ sink: "lake", max: 1, per_seconds: 60 }] }, /noise\.throttle\.0\.sink: "lake" is an object-store sink \(type s3\)/],
    ];
    for (const [noise, re] of bad) expect(() => withStores(noise), JSON.stringify(noise)).toThrow(re);
    expect(() => withStores({ dedup: [{ sinks: ["slack", "siem", "hook"] }] })).not.toThrow();
  });

  it("a policy without `sinks` leaves them out: they get every event, the other sinks are filtered", async () => {
    const cfg = withStores({
      suppress: [{ name: "all", match: {}, reason: "silence everything", expires: "2999-01-01" }],
      sample: [{ name: "none", match: {}, rate: 0 }],
    });
    const items = [0, 1, 2].map((i) => {
      const event = withUid(shell, `uid-${i}`);
      return { event, line: JSON.stringify(event) };
    });
    const out = await tameNoise([{ id: "m1", sinks: ["archive", "slack", "siem", "lake", "seclake", "bucket"], items }], { cfg, env: {}, now: () => Date.parse("2026-01-01T00:00:00Z") });
    expect(out).toBeDefined();
    // the consumer sends a sink missing from the map all of its events
    expect([...out!.keys()].sort()).toEqual(["siem", "slack"]);
    expect(out!.get("slack")).toEqual([]);
    expect(out!.get("siem")).toEqual([]);
  });
});

describe("match: the routing matcher, plus rule and fields", () => {
  const routingMatches: Match[] = [
    {},
    { source: "falco" },
    { source: ["tetragon", "k8s_audit"] },
    { class_uid: 2004, severity_at_least: 4 },
    { category_uid: [1, 6] },
    { tags_any: ["shell", "mitre_execution"] },
    { tenant: "acme" },
  ];

  it("decides every routing key exactly as a route would", () => {
    for (const m of routingMatches) {
      const route = compileMatch(m);
      const noise = compileNoiseMatch(m);
      for (const e of all) expect(noise(new EventView(e)), JSON.stringify(m)).toBe(route(new EventView(e)));
    }
  });

  it("adds rule (Falco rule, Tetragon policy, API operation) and exact values at OCSF paths", () => {
    const v = new EventView(shell);
    expect(compileNoiseMatch({ rule: "Terminal shell in container" })(v)).toBe(true);
    expect(compileNoiseMatch({ rule: ["Other", "Terminal shell in container"], source: "falco" })(v)).toBe(true);
    expect(compileNoiseMatch({ rule: "Terminal shell in container", source: "tetragon" })(v)).toBe(false);
    expect(compileNoiseMatch({ fields: { "device.hostname": "falco-xczjd", "evidences[0].container.uid": "ee97d9c4186f" } })(v)).toBe(true);
    expect(compileNoiseMatch({ fields: { "device.hostname": "falco-xczjd", "evidences[0].container.uid": "other" } })(v)).toBe(false);
    expect(compileNoiseMatch({ fields: { severity_id: 5 } })(v)).toBe(true);
    expect(compileNoiseMatch({ fields: { "evidences[0].process.pid": "1" } })(v)).toBe(false);
  });
});

describe("suppression", () => {
  const cfg = cfgWith({
    suppress: [
      { name: "ci", match: { fields: { "device.hostname": "falco-xczjd" } }, reason: "CI runners open shells", expires: "2027-01-01T00:00:00Z", sinks: ["slack"] },
      { name: "day", match: { rule: "Terminal shell in container" }, reason: "until the fix ships", expires: "2026-06-01" },
    ],
  });
  const n = noiseFor(cfg);
  const v = new EventView(shell);

  it("applies until the expiry instant, then is ignored", () => {
    expect(suppressedBy(n, v, "slack", Date.parse("2026-05-31T23:59:59Z"))?.label).toBe("ci");
    expect(suppressedBy(n, v, "siem", Date.parse("2026-05-31T23:59:59Z"))?.label).toBe("day");
    // a date means midnight UTC
    expect(suppressedBy(n, v, "siem", Date.parse("2026-06-01T00:00:00Z"))).toBeUndefined();
    expect(suppressedBy(n, v, "slack", Date.parse("2026-12-31T23:59:59Z"))?.label).toBe("ci");
    expect(suppressedBy(n, v, "slack", Date.parse("2027-01-01T00:00:00Z"))).toBeUndefined();
  });

  it("only touches the sinks it names", () => {
    expect(suppressedBy(n, v, "hook", Date.parse("2026-07-01T00:00:00Z"))).toBeUndefined();
  });

  it("is reported with reason, expiry, state and count", () => {
    resetNoiseCounters();
    countNoise.suppressed("ci", 3);
    expect(suppressionReport(cfg, Date.parse("2026-07-01T00:00:00Z"))).toEqual([
      { rule: "ci", reason: "CI runners open shells", expires: "2027-01-01T00:00:00Z", active: true, suppressed: 3 },
      { rule: "day", reason: "until the fix ships", expires: "2026-06-01", active: false, suppressed: 0 },
    ]);
    expect(noiseCounters().suppressed_by_rule).toEqual({ ci: 3 });
  });

  it(`counts each of the ${MAX_SUPPRESS_ENTRIES} entries (and ${MAX_NOISE_POLICIES} sample policies) a config can have by its name; further names as "other"`, () => {
    resetNoiseCounters();
    for (let i = 0; i <= MAX_SUPPRESS_ENTRIES; i++) countNoise.suppressed(`s${i}`);
    for (let i = 0; i <= MAX_NOISE_POLICIES; i++) countNoise.sampledOut(`p${i}`, 2);
    const c = noiseCounters();
    expect(Object.keys(c.suppressed_by_rule)).toHaveLength(MAX_SUPPRESS_ENTRIES + 1);
    expect(c.suppressed_by_rule[`s${MAX_SUPPRESS_ENTRIES - 1}`]).toBe(1);
    expect(c.suppressed_by_rule.other).toBe(1);
    expect(c.sampled_out_by_rule[`p${MAX_NOISE_POLICIES - 1}`]).toBe(2);
    expect(c.sampled_out_by_rule.other).toBe(2);
    resetNoiseCounters();
  });
});

describe("sampling", () => {
  it("decides by uid only: the same uid always the same way, on every sink and run", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.double({ min: 0, max: 1, noNaN: true }), (uid, rate) => {
        const e = withUid(shell, uid);
        const once = sampleKeeps(e, rate);
        expect(sampleKeeps(structuredClone(e), rate)).toBe(once);
        expect(sampleKeeps({ ...e, time: e.time + 1 }, rate)).toBe(once);
      }),
      { numRuns: 500 },
    );
  });

  it("keeps a subset at a lower rate, nothing at 0 and everything at 1", () => {
    fc.assert(
      fc.property(fc.uuid(), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (uid, a, b) => {
        const [lo, hi] = a < b ? [a, b] : [b, a];
        const e = withUid(shell, uid);
        if (sampleKeeps(e, lo)) expect(sampleKeeps(e, hi)).toBe(true);
      }),
      { numRuns: 500 },
    );
    expect(sampleKeeps(shell, 0)).toBe(false);
    expect(sampleKeeps(shell, 1)).toBe(true);
  });

  it("keeps about `rate` of many uids", () => {
    const n = 20_000;
    for (const rate of [0.01, 0.1, 0.5]) {
      let kept = 0;
      for (let i = 0; i < n; i++) if (samplePoint(stableUid(`uid-${i}`)) < rate) kept++;
      expect(Math.abs(kept / n - rate), `rate ${rate}`).toBeLessThan(0.01);
    }
  });
});

describe("decisions for one event and one sink", () => {
  const cfg = cfgWith({
    suppress: [{ name: "off", match: { rule: "Nothing" }, reason: "r", expires: "2999-01-01" }],
    sample: [{ name: "none", match: { source: "falco" }, rate: 0, sinks: ["siem"] }],
    dedup: [{ name: "d", match: { source: "falco" }, sinks: ["slack", "siem", "hook"] }],
    throttle: [
      { name: "t", sink: "slack", per: "rule", max: 5, per_seconds: 60 },
      { name: "h", sink: "hook", per: "sink", max: 5, per_seconds: 60 },
    ],
  });
  const n = noiseFor(cfg);
  const v = new EventView(shell);
  const now = Date.parse("2026-01-01T00:00:00Z");

  it("suppress, then sample, then dedup and throttle", () => {
    expect(verdict(n, v, "siem", now)).toMatchObject({ kind: "sampled_out", rule: { label: "none" } });
    const slack = verdict(n, v, "slack", now);
    expect(slack.kind).toBe("pass");
    if (slack.kind !== "pass") return;
    expect(slack.dedup?.label).toBe("d");
    expect(slack.throttle?.label).toBe("t");
    expect(throttleKey(slack.throttle!, shell)).toBe("Terminal shell in container");
    const hook = verdict(n, v, "hook", now);
    expect(hook.kind === "pass" && hook.throttle && throttleKey(hook.throttle, shell)).toBe("");
  });

  it("folds for chat and webhook sinks, first_then_summary for the rest, unless the policy says", () => {
    const d = n.dedup[0]!;
    expect(dedupMode(d, "slack")).toBe("fold");
    expect(dedupMode(d, "webhook")).toBe("fold");
    expect(dedupMode(d, "splunk_hec")).toBe("first_then_summary");
    expect(dedupMode({ ...d, mode: "first_then_summary" }, "slack")).toBe("first_then_summary");
  });
});
