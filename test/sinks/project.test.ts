// Per-sink field projection (src/sinks/project.ts) and its config key `projection` (src/config/sinks.ts):
// paths into arrays, missing paths, include vs exclude, the fields delivery needs refused, security_lake refused,
// and check-config's line.
import { describe, it, expect } from "vitest";
import { compileProjection, projectItems, DELIVERY_FIELDS } from "../../src/sinks/project";
import { validateConfig } from "../../src/config/load";
import { checkConfigText, formatReport } from "../../src/ops/check-config";
import { resolveSinks } from "../../src/deliver/sinks";
import type { OcsfEvent } from "../../src/normalize/ocsf";

const NEEDED = Object.keys(DELIVERY_FIELDS);

function event(): OcsfEvent {
  return {
    class_uid: 2004,
    category_uid: 2,
    type_uid: 200401,
    activity_id: 1,
    severity_id: 4,
    time: 1_800_000_000_000,
    metadata: { uid: "u-1", version: "1.3.0", product: { name: "Falco", vendor_name: "Falco" }, log_name: "syscall" },
    message: "shell in container",
    finding_info: { title: "Terminal shell", uid: "f-1" },
    evidences: [
      { process: { name: "bash", pid: 7, environment: ["A=1"] }, container: { name: "web" } },
      { container: { name: "db" } },
      "not an object",
    ],
    observables: [{ name: "process.name", type_id: 9, value: "bash" }],
    unmapped: { "proc.name": "bash", nested: { keep: 1, drop: 2 }, tributary: { correlation: { key: "pod:a/b", keys: ["pod:a/b"] }, redacted: ["x"] } },
    raw_data: '{"output":"..."}',
  };
}

const HEC = { type: "splunk_hec", url: "https://splunk.example.com:8088", token: { env: "HEC_TOKEN" } };
const S3 = { type: "s3", bucket: "full-events", region: "us-east-1", accessKeyId: { env: "AK" }, secretAccessKey: { env: "SK" } };
const issuesOf = (projection: unknown, sink: Record<string, unknown> = HEC): string[] => {
  const r = validateConfig({ sinks: { s: { ...sink, projection } } });
  return r.ok ? [] : r.issues;
};

describe("exclude", () => {
  it("removes top-level fields and fields inside every array element; the event itself is not changed", () => {
    const e = event();
    const before = JSON.stringify(e);
    const out = compileProjection({ exclude: ["unmapped", "raw_data", "evidences.process.environment", "observables.value"] }).apply(e);
    expect(out).not.toHaveProperty("unmapped");
    expect(out).not.toHaveProperty("raw_data");
    expect(out.evidences).toEqual([{ process: { name: "bash", pid: 7 }, container: { name: "web" } }, { container: { name: "db" } }, "not an object"]);
    expect(out.observables).toEqual([{ name: "process.name", type_id: 9 }]);
    expect(JSON.stringify(e)).toBe(before);
    // the parts it did not touch are shared, not copied
    expect(out.metadata).toBe(e.metadata);
    expect(out.finding_info).toBe(e.finding_info);
  });

  it("paths that are not in the event remove nothing and give the event itself", () => {
    const e = event();
    const p = compileProjection({ exclude: ["enrichments", "actor.user.name", "evidences.file.path", "message.deeper"] });
    expect(p.apply(e)).toBe(e);
  });

  it("an emptied object stays ({}), a parent path wins over a deeper one", () => {
    const out = compileProjection({ exclude: ["unmapped.nested.keep", "unmapped.nested.drop", "finding_info.uid", "finding_info"] }).apply(event());
    expect(out.unmapped).toEqual({ "proc.name": "bash", nested: {}, tributary: event().unmapped!.tributary });
    expect(out).not.toHaveProperty("finding_info");
  });

  it("projectItems re-serializes changed events and keeps the line of unchanged ones", () => {
    const a = event();
    const b: OcsfEvent = { ...event(), metadata: { ...event().metadata, uid: "u-2" } };
    delete b.unmapped;
    const items = [a, b].map((ev) => ({ event: ev, line: JSON.stringify(ev) }));
    const out = projectItems(compileProjection({ exclude: ["unmapped"] }), items);
    expect(out[0]!.line).toBe(JSON.stringify(out[0]!.event));
    expect(JSON.parse(out[0]!.line)).not.toHaveProperty("unmapped");
    expect(out[1]!.event).toBe(b);
    expect(out[1]!.line).toBe(items[1]!.line);
  });
});

describe("exclude with keep", () => {
  it("sends what keep names inside an excluded field, and nothing else of it", () => {
    const e = event();
    const out = compileProjection({ exclude: ["unmapped", "evidences"], keep: ["unmapped.tributary.correlation", "evidences.container.name"] }).apply(e);
    expect(out.unmapped).toEqual({ tributary: { correlation: { key: "pod:a/b", keys: ["pod:a/b"] } } });
    expect(out.evidences).toEqual([{ container: { name: "web" } }, { container: { name: "db" } }]);
    expect(out.unmapped!.tributary).not.toBe(e.unmapped!.tributary);
  });

  it("an excluded field with none of what keep names is removed whole", () => {
    const e = event();
    delete e.unmapped!.tributary;
    expect(compileProjection({ exclude: ["unmapped"], keep: ["unmapped.tributary"] }).apply(e)).not.toHaveProperty("unmapped");
  });
});

describe("include", () => {
  it("keeps only the named fields, in the event's order, and reaches into arrays", () => {
    const out = compileProjection({ include: [...NEEDED, "finding_info.title", "evidences.process.name", "unmapped.nested.keep"] }).apply(event());
    expect(Object.keys(out)).toEqual(["class_uid", "category_uid", "type_uid", "activity_id", "severity_id", "time", "metadata", "finding_info", "evidences", "unmapped"]);
    expect(out.metadata).toEqual({ uid: "u-1", version: "1.3.0", product: { name: "Falco", vendor_name: "Falco" } });
    expect(out.finding_info).toEqual({ title: "Terminal shell" });
    // elements without a process (and non-objects) are left out
    expect(out.evidences).toEqual([{ process: { name: "bash" } }]);
    expect(out.unmapped).toEqual({ nested: { keep: 1 } });
  });

  it("a path missing from the event is no error: nothing is kept for it", () => {
    const out = compileProjection({ include: [...NEEDED, "actor.user.name", "evidences.file.path"] }).apply(event());
    expect(out).not.toHaveProperty("actor");
    expect(out).not.toHaveProperty("evidences");
    expect(Object.keys(out)).toEqual(["class_uid", "category_uid", "type_uid", "activity_id", "severity_id", "time", "metadata"]);
  });

  it("a whole object included is the event's own value", () => {
    const e = event();
    expect(compileProjection({ include: [...NEEDED, "observables"] }).apply(e).observables).toBe(e.observables);
  });

  it('"__proto__" in an event is a plain field, kept and removed like any other', () => {
    const e = JSON.parse(`{"class_uid":1,"category_uid":1,"type_uid":100,"activity_id":0,"severity_id":1,"time":1,"metadata":{"uid":"x","version":"1.3.0","product":{"name":"p"}},"unmapped":{"__proto__":{"polluted":true},"a":{"b":1}}}`) as OcsfEvent;
    const kept = compileProjection({ include: [...NEEDED, "unmapped.__proto__.polluted"] }).apply(e);
    expect(JSON.stringify(kept.unmapped)).toBe('{"__proto__":{"polluted":true}}');
    const dropped = compileProjection({ exclude: ["unmapped.a.b"] }).apply(e);
    expect(JSON.stringify(dropped.unmapped)).toBe('{"__proto__":{"polluted":true},"a":{}}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("config: projection", () => {
  it("a valid exclude and include parse, and the resolved sink gets the compiled projection", () => {
    const ok = validateConfig({ sinks: { s: { ...HEC, projection: { exclude: ["unmapped", "raw_data"] } } } });
    expect(ok.ok).toBe(true);
    if (!ok.ok) return;
    const s = resolveSinks(ok.config).get("s")!;
    expect(s.project?.spec).toEqual({ exclude: ["unmapped", "raw_data"] });
    expect(validateConfig({ sinks: { s: { ...HEC, projection: { include: [...NEEDED] } } } }).ok).toBe(true);
  });

  it("a sink without projection resolves without one", () => {
    const ok = validateConfig({ sinks: { s: HEC } });
    expect(ok.ok && resolveSinks(ok.config).get("s")!.project).toBeUndefined();
  });

  it("refuses excluding what delivery needs, naming the path and why", () => {
    const issues = issuesOf({ exclude: ["unmapped", "metadata.uid", "metadata", "metadata.product.name", "time"] });
    expect(issues).toHaveLength(4);
    expect(issues[0]).toMatch(/^sinks\.s\.projection\.exclude\.1: cannot exclude metadata\.uid: delivery needs it \(the event's uid: the dedupe key/);
    expect(issues[1]).toMatch(/^sinks\.s\.projection\.exclude\.2: cannot exclude "metadata": it holds metadata\.version, which delivery needs \(an OCSF base attribute/);
    expect(issues[2]).toMatch(/^sinks\.s\.projection\.exclude\.3: cannot exclude "metadata\.product\.name": it is part of metadata\.product/);
    expect(issues[3]).toMatch(/^sinks\.s\.projection\.exclude\.4: cannot exclude time: delivery needs it/);
  });

  it("refuses an include that leaves out what delivery needs, one error per field", () => {
    const issues = issuesOf({ include: ["class_uid", "category_uid", "type_uid", "activity_id", "severity_id", "time", "metadata.uid", "metadata.product.name", "finding_info"] });
    expect(issues).toEqual([
      expect.stringMatching(/^sinks\.s\.projection\.include: include leaves out metadata\.version, which delivery needs .*: add "metadata\.version" or "metadata"$/),
      expect.stringMatching(/^sinks\.s\.projection\.include: include leaves out metadata\.product, which delivery needs .*: add "metadata\.product" or "metadata"$/),
    ]);
  });

  it("refuses both lists, neither, empty ones, malformed paths and unknown keys", () => {
    expect(issuesOf({ include: [...NEEDED], exclude: ["unmapped"] }).join("\n")).toMatch(/sinks\.s\.projection\.include: use include or exclude, not both/);
    expect(issuesOf({}).join("\n")).toMatch(/sinks\.s\.projection: set include \(the fields to send\) or exclude/);
    expect(issuesOf({ exclude: [] }).length).toBeGreaterThan(0);
    expect(issuesOf({ exclude: ["unmapped.*"] }).join("\n")).toMatch(/exclude\.0: wildcards are not supported/);
    expect(issuesOf({ exclude: ["unmapped..x"] }).join("\n")).toMatch(/exclude\.0: an empty segment/);
    expect(issuesOf({ exclude: ["unmapped"], only: ["x"] }).join("\n")).toMatch(/sinks\.s\.projection/);
  });

  it("keep: only inside an excluded path, only with exclude", () => {
    expect(issuesOf({ exclude: ["unmapped"], keep: ["unmapped.tributary"] })).toEqual([]);
    expect(issuesOf({ exclude: ["unmapped"], keep: ["unmapped", "raw_data"] })).toEqual([
      expect.stringMatching(/^sinks\.s\.projection\.keep\.0: keep "unmapped" is not inside an excluded path/),
      expect.stringMatching(/^sinks\.s\.projection\.keep\.1: keep "raw_data" is not inside an excluded path/),
    ]);
    expect(issuesOf({ include: [...NEEDED], keep: ["unmapped.tributary"] })).toEqual([expect.stringMatching(/^sinks\.s\.projection\.keep: keep goes with exclude/)]);
  });

  it("refuses a projection on a security_lake sink, with the reason; s3 takes one", () => {
    const lake = validateConfig({ sinks: { lake: { type: "security_lake", bucket: "aws-security-data-lake-x", region: "us-east-1", accountId: "123456789012", projection: { exclude: ["unmapped"] } } } });
    expect(lake.ok).toBe(false);
    expect(lake.ok ? "" : lake.issues.join("\n")).toMatch(/sinks\.lake\.projection: a security_lake sink takes no projection: Security Lake keeps the OCSF record/);
    expect(issuesOf({ exclude: ["unmapped"] }, S3)).toEqual([]);
  });

  it("check-config prints what each projected sink is sent", () => {
    const r = checkConfigText(JSON.stringify({ sinks: { siem: { ...HEC, projection: { exclude: ["unmapped", "raw_data"] } }, plain: HEC }, default_sinks: ["siem", "plain"] }));
    expect(r.ok).toBe(true);
    const text = formatReport("c.json", r);
    expect(text).toContain("  sinks.siem is sent every field but unmapped, raw_data (projection; the archive and the DLQ keep whole events)\n");
    expect(text).not.toContain("sinks.plain is sent");
    // unmapped holds the correlation keys SIEM searches use: dropping them is said, keeping them is quiet
    const sinkWarnings = (w: string[]) => w.filter((x) => x.startsWith("sinks."));
    expect(sinkWarnings(r.warnings)).toEqual([expect.stringMatching(/^sinks\.siem\.projection: leaves out unmapped\.tributary\.correlation .*add "keep": \["unmapped\.tributary"\]/)]);
    const kept = checkConfigText(JSON.stringify({ sinks: { siem: { ...HEC, projection: { exclude: ["unmapped"], keep: ["unmapped.tributary"] } } }, default_sinks: ["siem"] }));
    expect(sinkWarnings(kept.warnings)).toEqual([]);
    expect(formatReport("c.json", kept)).toContain("  sinks.siem is sent every field but unmapped (keeping unmapped.tributary) (projection;");
    const lean = checkConfigText(JSON.stringify({ sinks: { siem: { ...HEC, projection: { include: NEEDED } } }, default_sinks: ["siem"] }));
    expect(sinkWarnings(lean.warnings)).toEqual([
      expect.stringMatching(/^sinks\.siem\.projection: leaves out metadata\.correlation_uid .*: include "metadata\.correlation_uid"/),
      expect.stringMatching(/^sinks\.siem\.projection: leaves out unmapped\.tributary\.correlation .*: include "unmapped\.tributary\.correlation"/),
    ]);
  });

  it("check-config warns about every correlation fact a projection drops, with advice the config takes (and then no warning)", () => {
    const warningsOf = (projection: unknown): string[] => {
      const r = checkConfigText(JSON.stringify({ sinks: { siem: { ...HEC, projection } }, default_sinks: ["siem"] }));
      expect(r.errors, JSON.stringify(projection)).toEqual([]);
      return r.warnings.filter((x) => x.startsWith("sinks."));
    };
    // [projection, what it leaves out, the advice, the projection with the advice followed]
    const cases: [unknown, string, string, unknown][] = [
      [{ exclude: ["metadata.correlation_uid"] }, "metadata.correlation_uid", 'remove "metadata.correlation_uid" from exclude', { exclude: ["raw_data"] }],
      [{ exclude: ["unmapped.tributary.correlation.keys"] }, "unmapped.tributary.correlation.keys", 'remove "unmapped.tributary.correlation.keys" from exclude', { exclude: ["raw_data"] }],
      [{ exclude: ["unmapped.tributary.correlation"] }, "unmapped.tributary.correlation", 'remove "unmapped.tributary.correlation" from exclude', { exclude: ["raw_data"] }],
      [{ exclude: ["unmapped.tributary"] }, "unmapped.tributary.correlation", 'add "keep": ["unmapped.tributary.correlation"]', { exclude: ["unmapped.tributary"], keep: ["unmapped.tributary.correlation"] }],
      [{ exclude: ["unmapped"], keep: ["unmapped.nested"] }, "unmapped.tributary.correlation", 'add "unmapped.tributary" to "keep"', { exclude: ["unmapped"], keep: ["unmapped.nested", "unmapped.tributary"] }],
    ];
    for (const [projection, path, fix, followed] of cases) {
      const w = warningsOf(projection);
      expect(w).toHaveLength(1);
      expect(w[0]).toContain(`sinks.siem.projection: leaves out ${path} (`);
      expect(w[0]).toContain(`: ${fix} unless this sink is not searched by it`);
      expect(warningsOf(followed), JSON.stringify(followed)).toEqual([]);
    }
    // both facts at once: one warning each
    expect(warningsOf({ exclude: ["metadata.correlation_uid", "unmapped"] })).toEqual([
      expect.stringMatching(/leaves out metadata\.correlation_uid \(the hash its searches group by.*remove "metadata\.correlation_uid" from exclude/),
      expect.stringMatching(/leaves out unmapped\.tributary\.correlation \(the correlation keys.*add "keep": \["unmapped\.tributary"\]/),
    ]);
    // a part excluded inside an excluded path that keep sends back is moot: the keys are sent, no warning
    const moot = { exclude: ["unmapped", "unmapped.tributary.correlation.keys"], keep: ["unmapped.tributary"] };
    expect(warningsOf(moot)).toEqual([]);
    expect(compileProjection(moot).apply(event()).unmapped).toEqual({ tributary: { correlation: { key: "pod:a/b", keys: ["pod:a/b"] }, redacted: ["x"] } });
  });
});
