// The pure parts of a backfill (src/deliver/backfill.ts): the day range, where a class's listing starts for
// a cursor, the cursor's binding to its sink, range and filters, the tenant/source filter, and an archive
// object's lines as events.
import { describe, expect, it } from "vitest";
import { archiveItems, bindCursor, classStart, dayRange, matches, readCursor } from "../../src/deliver/backfill";
import type { OcsfEvent } from "../../src/normalize/ocsf";

describe("dayRange", () => {
  it("gives key days for real calendar days at most 31 days apart, else says why", () => {
    expect(dayRange("2028-02-28", "2028-02-29")).toEqual({ from: "20280228", to: "20280229" });
    expect(dayRange("2026-12-01", "2027-01-01")).toEqual({ from: "20261201", to: "20270101" });
    expect(dayRange("2026-12-01", "2027-01-02")).toEqual({ error: "from 2026-12-01 to 2027-01-02 is 32 days: at most 31 per backfill (run one per month)" });
    expect(dayRange("2027-02-29", "2027-03-01")).toEqual({ error: "from: expected an event day yyyy-mm-dd" });
    expect(dayRange("2027-03-01", "20270302")).toEqual({ error: "to: expected an event day yyyy-mm-dd" });
    expect(dayRange("2027-03-02", "2027-03-01")).toEqual({ error: "to (2027-03-01) is before from (2027-03-02)" });
  });
});

describe("classStart", () => {
  const cp = "ocsf/class_uid=2004/";
  it("lists from the first day, after a cursor inside the class, and not at all past it", () => {
    expect(classStart(cp, "20261201", undefined)).toBe(`${cp}event_day=20261201`);
    // a cursor in an earlier class, or the class prefix itself (stopped before listing it)
    expect(classStart(cp, "20261201", "ocsf/class_uid=1007/event_day=20261203/x.ndjson.gz")).toBe(`${cp}event_day=20261201`);
    expect(classStart(cp, "20261201", cp)).toBe(`${cp}event_day=20261201`);
    expect(classStart(cp, "20261201", `${cp}event_day=20261202/ab.ndjson.gz`)).toBe(`${cp}event_day=20261202/ab.ndjson.gz`);
    expect(classStart(cp, "20261201", "ocsf/class_uid=3002/event_day=20261201/x.ndjson.gz")).toBeUndefined();
    // a class whose number starts like another's is its own prefix: 20040 is not inside 2004/
    expect(classStart("ocsf/class_uid=20040/", "20261201", `${cp}event_day=20261202/ab.ndjson.gz`)).toBe("ocsf/class_uid=20040/event_day=20261201");
  });
});

describe("matches and archiveItems", () => {
  const ev = (product: string, tenant?: string) => ({ class_uid: 2004, metadata: { product: { name: product }, ...(tenant ? { tenant_uid: tenant } : {}) } }) as unknown as OcsfEvent;
  it("tenant is metadata.tenant_uid, source is read as routing reads it (Amazon EKS is k8s_audit)", () => {
    expect(matches(ev("Falco", "a"), { tenant: "a", sources: ["falco"] })).toBe(true);
    expect(matches(ev("Falco"), { tenant: "a" })).toBe(false);
    expect(matches(ev("Amazon EKS", "a"), { sources: ["k8s_audit"] })).toBe(true);
    expect(matches(ev("Something"), { sources: ["falco", "tetragon"] })).toBe(false);
    expect(matches(ev("Something"), {})).toBe(true);
  });

  it("keeps each JSON object line with its text; counts other lines, passes blank ones", () => {
    const a = JSON.stringify(ev("Falco", "a"));
    const { items, bad } = archiveItems(`${a}\n\n[1]\n{"cut":\n${a}\n`);
    expect(items.map((i) => i.line)).toEqual([a, a]);
    expect(items[0]!.event).toEqual(ev("Falco", "a"));
    expect(bad).toBe(2);
  });
});

describe("bindCursor and readCursor", () => {
  const key = "ocsf/class_uid=2004/event_day=20261202/ab.ndjson.gz";
  const call = { sink: "siem", from: "2026-12-01", to: "2026-12-03", tenant: "équipe a", source: ["tetragon", "falco"] };

  it("gives the key back to a call with the same sink, range and filters (sources in any order); the key stays readable", () => {
    const cursor = bindCursor(key, call);
    expect(cursor.startsWith(`${key}@`)).toBe(true);
    expect(cursor).toMatch(/^[\w=/.-]+@[\w-]+$/); // no shell quoting, no base64 padding
    expect(readCursor(cursor, { ...call, source: ["falco", "tetragon", "falco"] })).toEqual({ key });
    expect(readCursor(bindCursor("ocsf/", { sink: "s", from: "2026-12-01", to: "2026-12-01" }), { sink: "s", from: "2026-12-01", to: "2026-12-01" })).toEqual({ key: "ocsf/" });
  });

  it("refuses a cursor of another sink, range or filter, naming each difference", () => {
    const cursor = bindCursor(key, call);
    expect(readCursor(cursor, { ...call, sink: "siem2" })).toEqual({
      error: 'cursor: it belongs to another backfill: sink "siem" (this call: "siem2"); resume with the sink, range and filters of the call that answered it, or send no cursor to start over',
    });
    const other = readCursor(cursor, { sink: "siem", from: "2026-12-01", to: "2026-12-04", class_uid: 2004, source: ["falco"] });
    // the same sink and from are not named
    expect(other).toEqual({ error: expect.stringMatching(/^cursor: it belongs to another backfill: to "2026-12-03" \(this call: "2026-12-04"\), class_uid none \(this call: 2004\), tenant "équipe a" \(this call: none\), source \["falco","tetragon"\] \(this call: \["falco"\]\); resume/) });
  });

  it("refuses what is not a bound cursor: a bare key (no binding), another prefix, a cut or forged binding", () => {
    const cursor = bindCursor(key, call);
    for (const bad of [key, "dlq/x@e30", `${key}@`, `${key}@!!`, cursor.slice(0, -6), `${key}@${btoa("[1]")}`]) {
      expect(readCursor(bad, call)).toEqual({ error: expect.stringMatching(/^cursor: not a cursor of a backfill answer/) });
    }
  });
});
