// Tenant-scoped metadata.uid (NormalizeContext.uidScope): with several tenants, one record sent by two tenants
// gets two uids, each stable on resend, and nothing else in the event changes (the source's own ids stay).
import { describe, it, expect } from "vitest";
import { fixture, fixturesIn } from "../support/fixtures";
import { frame } from "../../src/routes/decode";
import { runPipeline } from "../../src/pipeline";
import { scopedUid, tenantUidScope } from "../../src/normalize/uid";
import type { Json, JsonObject } from "../../src/normalize/json";
import type { NormalizeContext, OcsfEvent } from "../../src/normalize/ocsf";

const RECEIVED = 1700000000000;

function ctxOf(tenant: string | undefined, scoped: boolean): NormalizeContext {
  return { ocsfVersion: "1.3.0", receivedAt: RECEIVED, ...(tenant !== undefined ? { tenant } : {}), ...(scoped ? { uidScope: tenantUidScope(tenant) } : {}) };
}

/** Every event of a fixture file (JSON records and Falco text lines), as the ingest route frames them. */
function eventsOf(name: string, ctx: NormalizeContext): OcsfEvent[] {
  const f = fixture(name);
  const framed = frame(f, name.endsWith(".ndjson") ? "application/x-ndjson" : "application/json");
  const res = runPipeline(framed.values, framed.paths, framed.textLines, { ctx }, framed.texts);
  return res.events.map((e) => e.event);
}

/** The event without metadata.uid and tenant_uid (what must not change with the scope). */
function rest(e: OcsfEvent): unknown {
  const { uid: _uid, tenant_uid: _tenant, ...metadata } = e.metadata;
  return { ...e, metadata };
}

// the first fixture of every source: Falco (syscall, k8s_audit, aws_cloudtrail), Tetragon, Kubernetes audit, CloudTrail
const SAMPLES = ["falco", "falco-k8saudit", "falco-cloudtrail", "tetragon", "k8s-audit", "cloudtrail"].map((d) => fixturesIn(d)[0]!.name);

describe("metadata.uid with tenants kept apart", () => {
  it.each(SAMPLES)("%s: two tenants, two uids; each the same on resend; all else as without a scope", (name) => {
    const plain = eventsOf(name, ctxOf("team-a", false));
    const a = eventsOf(name, ctxOf("team-a", true));
    const a2 = eventsOf(name, ctxOf("team-a", true));
    const b = eventsOf(name, ctxOf("team-b", true));
    expect(plain.length).toBeGreaterThan(0);
    expect(a).toHaveLength(plain.length);
    expect(b).toHaveLength(plain.length);
    for (let i = 0; i < plain.length; i++) {
      const [p, x, y] = [plain[i]!, a[i]!, b[i]!];
      expect(x.metadata.uid).not.toBe(y.metadata.uid);
      expect(x.metadata.uid).not.toBe(p.metadata.uid);
      expect(a2[i]!.metadata.uid).toBe(x.metadata.uid);
      expect(x.metadata.uid).toBe(scopedUid(String(p.metadata.uid), tenantUidScope("team-a")));
      expect(x.metadata.uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      // finding_info.uid, api.request.uid, process uids, unmapped.eventID: as in the unscoped event
      expect(rest(x)).toEqual(rest(p));
      expect(rest(y)).toEqual(rest(p));
    }
  });

  it("a Falco uuid stays finding_info.uid (the source's id); metadata.uid is the tenant's", () => {
    const rec = JSON.parse(fixture("falco/terminal-shell-in-container__falco-docs.json")) as JsonObject;
    rec.uuid = "5a1a0c34-2c2e-4bd4-a2a4-1e6f2d2a6f10";
    const run = (ctx: NormalizeContext) => runPipeline([rec as Json], ["[0]"], [], { ctx }).events[0]!.event;
    const single = run(ctxOf("team-a", false));
    expect(single.metadata.uid).toBe(rec.uuid);
    const [a, b] = [run(ctxOf("team-a", true)), run(ctxOf("team-b", true))];
    expect((a.finding_info as JsonObject).uid).toBe(rec.uuid);
    expect((b.finding_info as JsonObject).uid).toBe(rec.uuid);
    expect(a.metadata.uid).not.toBe(rec.uuid);
    expect(a.metadata.uid).not.toBe(b.metadata.uid);
  });

  it("Falco text lines are scoped too", () => {
    const line = "2016-08-04T16:17:57.881781397+0000: Warning Sensitive file opened for reading (user=root command=cat /etc/shadow)";
    const run = (ctx: NormalizeContext) => runPipeline([], ["line 1"], [line], { ctx }).events[0]!.event.metadata.uid;
    expect(run(ctxOf("team-a", true))).not.toBe(run(ctxOf("team-b", true)));
    expect(run(ctxOf("team-a", true))).toBe(scopedUid(String(run(ctxOf("team-a", false))), tenantUidScope("team-a")));
  });

  it("no tenant's scope and uid read as another's: names with newlines, '-', and no tenant at all", () => {
    // a plain `${tenant}\n${uid}` would make these two the same text ("a\nb\nc")
    expect(scopedUid("b\nc", tenantUidScope("a"))).not.toBe(scopedUid("c", tenantUidScope("a\nb")));
    expect(tenantUidScope(undefined)).not.toBe(tenantUidScope("-"));
    expect(scopedUid("x", tenantUidScope(undefined))).not.toBe(scopedUid("x", tenantUidScope("-")));
    expect(scopedUid("x", tenantUidScope(undefined))).not.toBe("x");
  });

  it("without a scope (one tenant) the uid is the record's own, whatever the tenant", () => {
    expect(scopedUid("abc", undefined)).toBe("abc");
    const name = SAMPLES[0]!;
    expect(eventsOf(name, ctxOf("team-a", false)).map((e) => e.metadata.uid)).toEqual(eventsOf(name, ctxOf(undefined, false)).map((e) => e.metadata.uid));
  });
});

describe("scopedUid is SHA-256 (a sender's own id cannot be crafted into another tenant's uid)", () => {
  it("equals the first 128 bits of node:crypto's SHA-256 of scope + uid, as a version-8 UUID", async () => {
    const { createHash } = await import("node:crypto");
    const reference = (scope: string, uid: string): string => {
      const d = createHash("sha256").update(scope + uid, "utf8").digest();
      d[6] = (d[6]! & 0x0f) | 0x80;
      d[8] = (d[8]! & 0x3f) | 0x80;
      const h = d.subarray(0, 16).toString("hex");
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    };
    const uids = ["", "5a1a0c34-2c2e-4bd4-a2a4-1e6f2d2a6f10", "é\u{1F600}\uD800 lone", "x".repeat(128)];
    for (const tenant of [undefined, "team-a", "team-b", "ü-tenant\n"]) {
      for (const uid of uids) expect(scopedUid(uid, tenantUidScope(tenant))).toBe(reference(tenantUidScope(tenant), uid));
    }
    expect(scopedUid("abc", undefined)).toBe("abc");
  });
});
