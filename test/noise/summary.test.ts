// What a closing window sends, built from real fixture events and checked against the OCSF 1.3.0
// schema files (count, start_time and end_time are optional attributes of every class).
import { describe, expect, it } from "vitest";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { windowOutput, windowUid, type WindowSummary } from "../../src/noise/summary";
import { fixtures } from "../support/fixtures";
import { runFixture } from "../support/fixture-pipeline";
import { validateOcsf } from "../support/ocsf-validator";

const all = fixtures.flatMap((f) => runFixture(f).result.events.map((r) => r.event));
const shell = all.find((e) => e.device && (e.device as { hostname?: string }).hostname === "falco-xczjd")!;

function win(over: Partial<WindowSummary> = {}): WindowSummary {
  return { kind: "dedup", mode: "fold", policy: "p", sink: "hook", key: "f".repeat(28), count: 10_000, start: shell.time, end: shell.time + 9_999, openedAt: 1_800_000_000_000, closesAt: 1_800_000_060_000, ...over };
}

describe("windowOutput", () => {
  it("folds a burst into one valid OCSF event of every class: count, start_time, end_time, a uid of its own", () => {
    for (const e of all) {
      const out = windowOutput(e, win({ start: e.time, end: e.time + 5 }))!;
      expect(validateOcsf(out), `${e.class_uid} ${e.metadata.uid}`).toEqual([]);
      expect(out).toMatchObject({ count: 10_000, start_time: e.time, end_time: e.time + 5, class_uid: e.class_uid, activity_id: e.activity_id, time: e.time });
      expect(out.metadata.uid).not.toBe(e.metadata.uid);
      expect((out.unmapped as { tributary_noise: { first_uid?: string } }).tributary_noise.first_uid).toBe(e.metadata.uid);
    }
  });

  it("sends a one-event fold unchanged, and nothing for a one-event first_then_summary or an empty throttle window", () => {
    expect(windowOutput(shell, win({ count: 1 }))).toBe(shell);
    expect(windowOutput(shell, win({ count: 1, mode: "first_then_summary" }))).toBeUndefined();
    expect(windowOutput(shell, win({ kind: "throttle", mode: "throttle", count: 0 }))).toBeUndefined();
  });

  it("makes a first_then_summary summary an Update of the same finding; other classes keep their activity", () => {
    const out = windowOutput(shell, win({ mode: "first_then_summary", count: 7 }))!;
    expect(validateOcsf(out)).toEqual([]);
    expect(out).toMatchObject({ activity_id: 2, activity_name: "Update", type_uid: 200402, type_name: "Detection Finding: Update", count: 7 });
    expect((out.finding_info as { uid: string }).uid).toBe((shell.finding_info as { uid: string }).uid);
    // the finding was seen from the burst's first to its last event; the first event is not changed
    expect(out.finding_info).toMatchObject({ first_seen_time: shell.time, last_seen_time: shell.time + 9_999 });
    expect(windowOutput(shell, win())!.finding_info).toMatchObject({ first_seen_time: shell.time, last_seen_time: shell.time + 9_999, title: "Terminal shell in container" });
    expect(shell.finding_info).not.toHaveProperty("last_seen_time");
    // a throttle summary may span several findings (per rule or sink): it claims no seen times
    expect(windowOutput(shell, win({ kind: "throttle", mode: "throttle", count: 4 }))!.finding_info).not.toHaveProperty("last_seen_time");
    const exec = all.find((e) => e.class_uid === 1007)!;
    const s = windowOutput(exec, win({ mode: "first_then_summary", count: 3 }))!;
    expect(validateOcsf(s)).toEqual([]);
    expect(s.activity_id).toBe(exec.activity_id);
    expect(s.type_uid).toBe(exec.type_uid);
  });

  it("describes a throttle summary as the events held back", () => {
    const out = windowOutput(shell, win({ kind: "throttle", mode: "throttle", key: "Terminal shell in container", count: 9 }))!;
    expect(validateOcsf(out)).toEqual([]);
    expect(out.activity_id).toBe(1);
    expect((out.unmapped as { tributary_noise: Record<string, unknown> }).tributary_noise).toMatchObject({ kind: "throttle", key: "Terminal shell in container", count: 9 });
  });

  it("reports the hosts of the events a throttle window held back; with several, no single host is named", () => {
    const t = (hosts: string[], over: Partial<WindowSummary> = {}) => win({ kind: "throttle", mode: "throttle", key: "Terminal shell in container", count: 9, hosts, ...over });
    const noise = (e: OcsfEvent) => (e.unmapped as { tributary_noise: Record<string, unknown> }).tributary_noise;
    const hostname = (e: OcsfEvent) => (e.device as { hostname?: string } | undefined)?.hostname;
    // one host: the template's own device (the template is one of the held-back events)
    const one = windowOutput(shell, t(["falco-xczjd"]))!;
    expect(hostname(one)).toBe("falco-xczjd");
    expect(noise(one).hosts).toEqual(["falco-xczjd"]);
    expect(validateOcsf(one)).toEqual([]);
    // several hosts: a finding drops its device and its device observables, and lists the hosts
    const several = windowOutput(shell, t(["node-b", "falco-xczjd", "node-a"]))!;
    expect(several.device).toBeUndefined();
    expect((several.observables ?? []).map((o) => o.name).filter((n) => n.startsWith("device."))).toEqual([]);
    expect(noise(several)).toMatchObject({ hosts: ["falco-xczjd", "node-a", "node-b"], count: 9 });
    expect(JSON.stringify(several)).not.toContain('"hostname":"falco-xczjd"');
    expect(validateOcsf(several)).toEqual([]);
    // a class that requires a device (System Activity: Tetragon process exec) gets one that names no host
    const exec = all.find((e) => e.class_uid === 1007 && e.device)!;
    const sys = windowOutput(exec, t(["node-a", "node-b"], { hostsTruncated: true }))!;
    expect(sys.device).toEqual({ type_id: 0, type: "Unknown", name: "2+ hosts" });
    expect(noise(sys)).toMatchObject({ hosts: ["node-a", "node-b"], hosts_truncated: true });
    expect(validateOcsf(sys)).toEqual([]);
    // dedup windows are one host by construction (the fingerprint covers device.hostname): untouched
    expect(windowOutput(shell, win())!.device).toEqual(shell.device);
  });

  it("marks the per-class summaries of a throttle window of several classes: each its own count and uid, every class listed", () => {
    const exec = all.find((e) => e.class_uid === 1007 && e.device)!;
    const classes = [{ class_uid: 2004, count: 3 }, { class_uid: 1007, count: 8 }];
    const t = { kind: "throttle", mode: "throttle", key: "", classes, otherClasses: 2 } as const;
    const finding = windowOutput(shell, win({ ...t, count: 3, hosts: ["falco-xczjd"] }))!;
    const process = windowOutput(exec, win({ ...t, count: 8, part: 1, hosts: ["node-a"] }))!;
    for (const [out, count] of [[finding, 3], [process, 8]] as const) {
      expect(validateOcsf(out)).toEqual([]);
      expect(out.count).toBe(count);
      expect((out.unmapped as { tributary_noise: Record<string, unknown> }).tributary_noise).toMatchObject({ count, classes, other_classes_count: 2 });
    }
    expect(process.class_uid).toBe(1007);
    expect(process.metadata.uid).not.toBe(finding.metadata.uid);
    // the first summary keeps the uid a window of one class has
    expect(finding.metadata.uid).toBe(windowUid(win({ kind: "throttle", key: "" })));
    expect((windowOutput(shell, win({ kind: "throttle", mode: "throttle", count: 3 }))!.unmapped as { tributary_noise: object }).tributary_noise).not.toHaveProperty("classes");
  });

  it("gives a window one stable uid, different from every other window's", () => {
    const w = win();
    expect(windowOutput(shell, w)!.metadata.uid).toBe(windowOutput(structuredClone(shell) as OcsfEvent, w)!.metadata.uid);
    expect(windowUid(w)).not.toBe(windowUid({ ...w, openedAt: w.openedAt + 1 }));
    expect(windowUid(w)).not.toBe(windowUid({ ...w, sink: "other" }));
    expect(windowUid(w)).not.toBe(windowUid({ ...w, kind: "throttle" }));
  });
});
