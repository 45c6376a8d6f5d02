// Chain matching on the real fixtures (lined up by time and pod name, see ./story.ts): each chain is found,
// and unrelated events (other pods, other credentials, other processes, outside the window) are not joined.
// Summaries are grouped by correlation key as the consumer does, and each key's window is matched alone,
// as its Durable Object does.
import { describe, it, expect } from "vitest";
import { parseConfig } from "../../src/config/load";
import { matchChains, summarize, type ChainMatch, type Summary } from "../../src/correlate/chains";
import { groupByKey } from "../../src/correlate/feed";
import type { CorrelateConfig } from "../../src/config/correlate";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import {
  CFG,
  STORY_AT,
  STORY_POD,
  execStory,
  normalizeRecord,
  k8sExecRecord,
  falcoShellRecord,
  falcoShellKubeconRecord,
  falcoAttachExecRecord,
  falcoReadSensitiveRecord,
  tetragonCatExecRecord,
  tetragonCurlExecRecord,
  tetragonCurlChildRecord,
  reparent,
  tetragonAppExecRecord,
  tetragonShellExecRecord,
  AUDIT_AT,
  ALERT_AT,
  SHELL_AT,
  SHELL_EXEC_ID,
  STORY_NS,
  tetragonCatSigkillRecord,
  federationRecords,
  tetragonRecord,
  tetragonNcConnectRecord,
  records,
} from "./story";

const C = CFG.correlate;

/** What the Durable Objects would find: every key's window matched on its own. */
function correlate(events: OcsfEvent[], cfg: CorrelateConfig = C): ChainMatch[] {
  const out: ChainMatch[] = [];
  for (const list of groupByKey(events, cfg).values()) out.push(...matchChains(list, cfg));
  return out;
}

const uids = (m: ChainMatch) => m.members.map((x) => x.uid);
const uid = (e: OcsfEvent) => e.metadata.uid!;

describe("summaries", () => {
  it("only events a chain can use are summarized; each carries its key and role", () => {
    const s = execStory();
    const one = (e: OcsfEvent) => {
      const l = summarize(e, C);
      expect(l).toHaveLength(1);
      return l[0]!;
    };
    expect(one(s.audit)).toMatchObject({
      roles: ["k8s_exec"],
      scope: s.scope,
      user: "minikube-user",
      request_uid: "ca1ed9f4-7bf4-4c85-81a8-1b11253d1ba6",
      title: "exec bash",
      command: "bash",
      container_name: "elasticsearch",
    });
    expect(one(s.shell)).toMatchObject({ roles: ["shell_alert", "alert"], scope: s.scope, title: "Terminal shell in container", container: "e6af4dff4ea3", binary: "sh" });
    expect(one(s.exec)).toMatchObject({ roles: ["exec"], scope: s.scope, binary: "/bin/bash", pid: 24200, exec_id: SHELL_EXEC_ID, container: "e6af4dff4ea3", container_name: "elasticsearch" });
    // cat and nc: children of `sh lifecycle.sh`, grandchildren of the bash (Tetragon's parent object names it)
    const sh = "bWluaWt1YmU6MzM0OTc2MDUxNjExMTozODMxMg==";
    expect(one(s.child)).toMatchObject({ roles: ["exec"], scope: s.scope, binary: "/usr/bin/cat", pid: 38313, parent_exec_id: sh, grandparent_exec_id: SHELL_EXEC_ID });
    expect(one(s.connect)).toMatchObject({ roles: ["connect"], scope: s.scope, dst: "64.225.45.153:443", parent_exec_id: sh, grandparent_exec_id: SHELL_EXEC_ID });
    // the process_exit of the same pod plays no part: not summarized, not sent
    expect(summarize(normalizeRecord(tetragonRecord("process_exit.ndjson", 1)), C)).toEqual([]);
    expect(summarize(normalizeRecord(tetragonCatSigkillRecord({}, "KPROBE_ACTION_POST")), C)).toEqual([]);
    for (const x of [s.audit, s.shell, s.exec, s.child, s.connect].flatMap((e) => summarize(e, C))) expect(JSON.stringify(x).length).toBeLessThan(1_000);
  });

  it("a failed exec (403) is no anchor; an incident (Tributary) is never summarized", () => {
    const rec = k8sExecRecord({ at: STORY_AT });
    rec.responseStatus = { code: 403, status: "Failure", reason: "Forbidden", metadata: {} };
    (rec.annotations as Record<string, string>)["authorization.k8s.io/decision"] = "forbid";
    expect(summarize(normalizeRecord(rec), C)).toEqual([]);
    const incident = { ...execStory().shell, metadata: { ...execStory().shell.metadata, product: { name: "Tributary", vendor_name: "Tributary" } } };
    expect(summarize(incident, C)).toEqual([]);
  });
});

describe("chain k8s_exec: kubectl exec -> Falco shell alert -> the shell's Tetragon exec and its descendants", () => {
  const inPod = (at: number) => ({ ns: STORY_NS, pod: STORY_POD, at });

  it("joins the five events of one pod into one incident, in time order", () => {
    const s = execStory();
    const found = correlate([s.connect, s.child, s.exec, s.shell, s.audit]);
    expect(found).toHaveLength(1);
    const m = found[0]!;
    expect(m.chain).toBe("k8s_exec");
    expect(m.scope).toBe(s.scope);
    expect(uids(m)).toEqual([uid(s.audit), uid(s.shell), uid(s.exec), uid(s.child), uid(s.connect)]);
    expect(m.members.map((x) => x.time)).toEqual([AUDIT_AT, ALERT_AT, SHELL_AT, STORY_AT, STORY_AT + 9]);
  });

  it("the exec and a Falco shell alert alone, or the exec and its shell's Tetragon exec alone, are a story; the exec alone is not", () => {
    const s = execStory();
    expect(correlate([s.audit, s.shell]).map(uids)).toEqual([[uid(s.audit), uid(s.shell)]]);
    expect(correlate([s.audit, s.exec]).map(uids)).toEqual([[uid(s.audit), uid(s.exec)]]);
    expect(correlate([s.audit])).toEqual([]);
    expect(correlate([s.audit, s.connect])).toEqual([]); // a connection without its shell's exec is not enough
    expect(correlate([s.audit, s.child])).toEqual([]); // nor a process start without it
    expect(correlate([s.shell, s.exec, s.child, s.connect])).toEqual([]); // no kubectl exec: no story
  });

  it("only the shell's descendants join: an unrelated curl and an app process in the same pod at the same time do not; the shell's own curl does", () => {
    const s = execStory();
    const unrelated = normalizeRecord(tetragonCurlExecRecord(inPod(STORY_AT + 50))); // curl from xwing's bash, renamed into the pod
    const app = normalizeRecord(tetragonAppExecRecord(inPod(STORY_AT + 1))); // started by containerd-shim
    const child = normalizeRecord(tetragonCurlChildRecord(inPod(STORY_AT + 60))); // parent_exec_id = the bash's exec_id
    for (const e of [unrelated, app, child]) expect(summarize(e, C)[0]!.scope).toBe(s.scope);
    const found = correlate([s.audit, s.shell, s.exec, s.child, s.connect, unrelated, app, child]);
    expect(found.map(uids)).toEqual([[uid(s.audit), uid(s.shell), uid(s.exec), uid(s.child), uid(s.connect), uid(child)]]);
    // descent is followed through every joined process: a process whose parent is the shell's curl joins too,
    // and the same process without that curl in the window does not
    const curlExecId = summarize(child, C)[0]!.exec_id!;
    const grandchild = normalizeRecord(reparent(tetragonAppExecRecord(inPod(STORY_AT + 70)), curlExecId));
    expect(uids(correlate([s.audit, s.exec, child, grandchild])[0]!)).toEqual([uid(s.audit), uid(s.exec), uid(child), uid(grandchild)]);
    expect(uids(correlate([s.audit, s.exec, grandchild])[0]!)).toEqual([uid(s.audit), uid(s.exec)]);
  });

  it("without the shell's exec no Tetragon event joins: the story is the kubectl exec and Falco's alert", () => {
    const s = execStory();
    const unrelated = normalizeRecord(tetragonCurlExecRecord(inPod(STORY_AT + 50)));
    const app = normalizeRecord(tetragonAppExecRecord(inPod(STORY_AT + 1)));
    expect(correlate([s.audit, s.shell, s.child, s.connect, unrelated, app]).map(uids)).toEqual([[uid(s.audit), uid(s.shell)]]);
    expect(correlate([s.audit, s.child, s.connect, unrelated, app])).toEqual([]);
  });

  it("a bash that is not the exec's shell starts no tree: another container named, another command, or beyond the skew", () => {
    const s = execStory();
    const sidecar = normalizeRecord(k8sExecRecord({ at: AUDIT_AT, container: "sidecar" }));
    expect(correlate([sidecar, s.exec, s.child, s.connect])).toEqual([]);
    const [audit] = summarize(s.audit, C);
    const tetragon = [s.exec, s.child, s.connect].flatMap((e) => summarize(e, C));
    expect(matchChains([{ ...audit!, command: "sh" }, ...tetragon], C)).toEqual([]);
    // the same bash started 40 s after the exec (skew 30 s): an app's shell, not the exec's
    const late = normalizeRecord(tetragonShellExecRecord({ at: AUDIT_AT + 40_000 }));
    expect(correlate([s.audit, s.shell, late, s.child, s.connect]).map(uids)).toEqual([[uid(s.audit), uid(s.shell)]]);
  });

  it("Falco's alert can name the shell (container and pid) when the request's command does not match", () => {
    const s = execStory();
    const [audit] = summarize(s.audit, C);
    const [alert] = summarize(s.shell, C);
    const tetragon = [s.exec, s.child, s.connect].flatMap((e) => summarize(e, C));
    const noCommand = { ...audit!, command: undefined };
    expect(matchChains([noCommand, { ...alert!, pid: 24200 }, ...tetragon], C).map(uids)).toEqual([[uid(s.audit), uid(s.shell), uid(s.exec), uid(s.child), uid(s.connect)]]);
    // the alert names `sh` (no pid): not the bash; another pid: not the bash either
    expect(matchChains([noCommand, alert!, ...tetragon], C).map(uids)).toEqual([[uid(s.audit), uid(s.shell)]]);
    expect(matchChains([noCommand, { ...alert!, pid: 4242 }, ...tetragon], C).map(uids)).toEqual([[uid(s.audit), uid(s.shell)]]);
  });

  it("a Falco shell alert joins near the exec and in the shell's container, or later when it names a process of the shell's tree", () => {
    const s = execStory();
    const otherContainer = normalizeRecord(falcoShellRecord({ at: ALERT_AT + 2, container: "0123456789ab" }));
    expect(correlate([s.audit, s.shell, s.exec, otherContainer]).map(uids)).toEqual([[uid(s.audit), uid(s.shell), uid(s.exec)]]);
    // no shell exec known: the container cannot be checked, the alert near the exec joins
    expect(correlate([s.audit, otherContainer]).map(uids)).toEqual([[uid(s.audit), uid(otherContainer)]]);
    // 40 s later (beyond the skew): only when it is about a process of the tree (cat: same container and pid)
    const [later] = summarize(normalizeRecord(falcoShellRecord({ at: AUDIT_AT + 40_000 })), C);
    const story = [s.audit, s.exec, s.child].flatMap((e) => summarize(e, C));
    expect(matchChains([...story, later!], C).map(uids)).toEqual([[uid(s.audit), uid(s.exec), uid(s.child)]]);
    expect(matchChains([...story, { ...later!, pid: 38313 }], C).map(uids)).toEqual([[uid(s.audit), uid(s.exec), uid(s.child), later!.uid]]);
    expect(matchChains([...summarize(s.audit, C), later!], C)).toEqual([]);
  });

  it("a Falco alert naming the pod only in k8smeta.* (the k8smeta plugin, Falco 0.37+) joins the exec's pod key and story", () => {
    const s = execStory();
    const rec = falcoShellRecord({ at: ALERT_AT });
    const of = rec.output_fields as Record<string, unknown>;
    for (const k of ["ns.name", "pod.name"]) {
      of[`k8smeta.${k}`] = of[`k8s.${k}`];
      delete of[`k8s.${k}`];
    }
    const meta = normalizeRecord(rec);
    expect(meta.metadata.correlation_uid).toBe(s.audit.metadata.correlation_uid);
    expect(meta.metadata.correlation_uid).toBe(s.exec.metadata.correlation_uid);
    expect(summarize(meta, C)[0]).toMatchObject({ roles: ["shell_alert", "alert"], scope: s.scope });
    expect(correlate([s.audit, meta, s.exec]).map(uids)).toEqual([[uid(s.audit), uid(meta), uid(s.exec)]]);
  });

  it("does not join events of other pods (same namespace, same time)", () => {
    const s = execStory();
    const otherShell = normalizeRecord(falcoShellRecord({ pod: "elasticsearch-56f8fc6988-sh8rm", at: ALERT_AT + 100 }));
    const curl = normalizeRecord(tetragonCurlExecRecord({ at: STORY_AT + 100 })); // default/xwing
    const kubecon = normalizeRecord(falcoShellKubeconRecord(ALERT_AT + 200)); // default/kubecon
    const found = correlate([s.audit, s.shell, otherShell, curl, kubecon, s.exec]);
    expect(found.map(uids)).toEqual([[uid(s.audit), uid(s.shell), uid(s.exec)]]);
    // and with the anchor moved to another pod, nothing of this pod joins it
    const elsewhere = normalizeRecord(k8sExecRecord({ pod: "somewhere-else", at: AUDIT_AT }));
    expect(correlate([elsewhere, s.shell, s.exec, s.connect])).toEqual([]);
  });

  it("does not join events outside the window: 20 minutes later, or before the exec (beyond the skew)", () => {
    const s = execStory();
    const late = normalizeRecord(falcoShellRecord({ at: AUDIT_AT + 20 * 60_000 }));
    expect(correlate([s.audit, late])).toEqual([]);
    const early = normalizeRecord(k8sExecRecord({ at: STORY_AT + 5 * 60_000 })); // the exec after the shell and processes
    expect(correlate([early, s.shell, s.exec, s.child, s.connect])).toEqual([]);
    // a window set to 30 s leaves the shell's connect 40 s after the exec out
    const cfg = parseConfig({ correlate: { chains: { k8s_exec: { windowSeconds: 30 } } } }).correlate;
    const at40 = normalizeRecord(tetragonNcConnectRecord({ at: AUDIT_AT + 40_000 }));
    expect(correlate([s.audit, s.exec, at40], cfg).map(uids)).toEqual([[uid(s.audit), uid(s.exec)]]);
    expect(correlate([s.audit, s.exec, at40]).map(uids)).toEqual([[uid(s.audit), uid(s.exec), uid(at40)]]);
  });

  it("Falco's own Attach/Exec Pod alert anchors the chain too (real pod names: default/kubecon), and merges with the audit event of the same exec", () => {
    const t = Date.parse("2023-05-25T13:44:04.000Z"); // one second before the shell alert's own time
    const attach = normalizeRecord(falcoAttachExecRecord(t));
    expect(summarize(attach, C)[0]).toMatchObject({ command: "sh" });
    const shell = normalizeRecord(falcoShellKubeconRecord(Date.parse("2023-05-25T13:44:05.478Z")));
    expect(correlate([attach, shell]).map(uids)).toEqual([[uid(attach), uid(shell)]]);
    // the audit event of the same exec (a few ms apart, same pod; different user names: audit says minikube-user)
    const audit = normalizeRecord(k8sExecRecord({ ns: "default", pod: "kubecon", at: t + 5 }));
    const both = correlate([attach, audit, shell]);
    expect(both).toHaveLength(2); // two users: two stories
    const sameUser = summarize(audit, C).map((x) => ({ ...x, user: "kubernetes-admin" }));
    const merged = matchChains([...summarize(attach, C), ...sameUser, ...summarize(shell, C)], C);
    expect(merged.map(uids)).toEqual([[uid(attach), uid(audit), uid(shell)]]);
  });

  it("is off when the chain is disabled, and lists at most maxRelated events (the earliest)", () => {
    const s = execStory();
    const off = parseConfig({ correlate: { chains: { k8s_exec: { enabled: false } } } }).correlate;
    expect(correlate([s.audit, s.shell, s.exec], off)).toEqual([]);
    const few = parseConfig({ correlate: { maxRelated: 2 } }).correlate;
    expect(correlate([s.audit, s.shell, s.exec, s.connect], few).map(uids)).toEqual([[uid(s.audit), uid(s.shell)]]);
  });

  it("the finding uid stays while the story grows; members are the same whatever the arrival order", () => {
    const s = execStory();
    const a = correlate([s.audit, s.shell])[0]!;
    const b = correlate([s.connect, s.shell, s.child, s.exec, s.audit])[0]!;
    const c = correlate([s.exec, s.audit, s.connect, s.child, s.shell])[0]!;
    expect(b.finding_uid).toBe(a.finding_uid);
    expect(uids(b)).toEqual(uids(c));
    expect(uids(b)).toHaveLength(5);
  });

  it("steps with absurd times (0, negative, year 9999) neither join nor block the story of correctly-timed sensors", () => {
    const s = execStory();
    const real = [s.audit, s.shell, s.exec, s.connect, s.child].flatMap((e) => summarize(e, C));
    const at = (x: Summary, time: number, tag: string): Summary => ({ ...x, uid: `${x.uid}-${tag}`, time });
    // each step again from a sensor with a broken clock: the exec's anchor, the alert, the shell's exec, its child
    const absurd = real.flatMap((x) => [at(x, 0, "zero"), at(x, -1, "neg"), at(x, Date.parse("9999-12-31T23:59:59Z"), "9999")]);
    const expected = matchChains(real, C);
    expect(expected.map((m) => uids(m).sort())).toEqual([real.map((x) => x.uid).sort()]);
    const found = matchChains([...absurd, ...real], C).filter((m) => m.members.some((x) => real.includes(x)));
    expect(found.map((m) => [m.finding_uid, ...uids(m)])).toEqual(expected.map((m) => [m.finding_uid, ...uids(m)]));
    // and no story mixes them: each absurd-time story holds absurd-time events only
    for (const m of matchChains([...absurd, ...real], C)) expect(m.members.every((x) => real.includes(x)) || m.members.every((x) => absurd.includes(x))).toBe(true);
  });
});

describe("chain aws_credential_new_ip: a credential action, then the credential used from a new IP", () => {
  it("GetFederationToken, then GetCallerIdentity with its token from another IP: one incident", () => {
    const [create, use] = federationRecords("200.249.253.51").map((r) => normalizeRecord(r));
    const found = correlate([use!, create!]);
    expect(found).toHaveLength(1);
    expect(found[0]!.chain).toBe("aws_credential_new_ip");
    expect(found[0]!.scope).toBe("aws.key:ASIASTJKC5GCM7ZE6LUP");
    expect(uids(found[0]!)).toEqual([uid(create!), uid(use!)]);
  });

  it("the capture as it is (the token used from the IP that asked for it) is no incident", () => {
    const [create, use] = federationRecords().map((r) => normalizeRecord(r));
    expect(correlate([create!, use!])).toEqual([]);
  });

  it("does not join calls made with other keys, or outside the window", () => {
    const [create] = federationRecords().map((r) => normalizeRecord(r));
    // calls of the Stratus get-password-data capture: another account's session key, from another IP
    const others = [
      ...normalizedFile("cloudtrail/stratus__credential-access.ec2-get-password-data.subset.json"),
      ...normalizedFile("cloudtrail/stratus__persistence.iam-create-admin-user.json"),
    ];
    expect(correlate([create!, ...others])).toEqual([]);
    const [, use] = federationRecords("200.249.253.51");
    use.eventTime = new Date(Date.parse(String(use.eventTime)) + 11 * 60_000).toISOString().replace(/\.\d{3}Z$/, "Z");
    expect(correlate([create!, normalizeRecord(use)])).toEqual([]);
  });

  it("a credential an AWS service asked for on the user's behalf (invokedBy) starts no chain", () => {
    const [createRec, useRec] = federationRecords("200.249.253.51");
    (createRec.userIdentity as Record<string, unknown>).invokedBy = "cloudformation.amazonaws.com";
    const create = normalizeRecord(createRec);
    expect((create.actor as { app_name?: string }).app_name).toBe("cloudformation.amazonaws.com");
    expect(correlate([create, normalizeRecord(useRec)])).toEqual([]);
  });

  it("each new IP joins once; a repeated IP adds nothing", () => {
    const [create, a] = federationRecords("200.249.253.51").map((r) => normalizeRecord(r));
    const [, bRec] = federationRecords("200.249.253.51");
    bRec.eventID = "00000000-0000-4000-8000-000000000001";
    bRec.eventTime = "2024-11-30T08:43:40Z";
    const b = normalizeRecord(bRec);
    const found = correlate([create!, a!, b]);
    expect(found.map(uids)).toEqual([[uid(create!), uid(a!)]]);
  });

  it("a credential action with an absurd time (0, year 9999) for the same credential does not hide the real one", () => {
    const [create, use] = federationRecords("200.249.253.51").map((r) => normalizeRecord(r));
    const c = summarize(create!, C).find((x) => x.roles.includes("cred_create"));
    const u = summarize(use!, C).find((x) => x.roles.includes("cred_use") && x.credential === c?.credential);
    const real = matchChains([c!, u!], C);
    expect(real.map(uids)).toEqual([[uid(create!), uid(use!)]]);
    const forged = [0, Date.parse("9999-12-31T23:59:59Z")].map((time) => ({ ...c!, uid: `forged-${time}`, time, ip: "198.51.100.7" }));
    const found = matchChains([...forged, c!, u!], C);
    expect(found.map((m) => [m.finding_uid, ...uids(m)])).toEqual(real.map((m) => [m.finding_uid, ...uids(m)]));
  });
});

function normalizedFile(name: string): OcsfEvent[] {
  return records(name).map((r) => normalizeRecord(r));
}

describe("chain enforcement_alert: a Tetragon Sigkill and the Falco alert for the same process", () => {
  const sigkill = () => normalizeRecord(tetragonCatSigkillRecord());
  const catAlert = (at = STORY_AT + 40) => normalizeRecord(falcoReadSensitiveRecord({ at }));

  it("joins the kill, the Falco alert on the same binary in the same pod, and the process's exec", () => {
    const kill = sigkill();
    const alert = catAlert();
    const exec = normalizeRecord(tetragonCatExecRecord());
    const found = correlate([alert, kill, exec]).filter((m) => m.chain === "enforcement_alert");
    expect(found).toHaveLength(1);
    expect(found[0]!.scope).toBe(`pod:default/tenant-jobs/${STORY_POD}`);
    expect(new Set(uids(found[0]!))).toEqual(new Set([uid(kill), uid(alert), uid(exec)]));
    expect(found[0]!.members.map((x) => x.time)).toEqual([...found[0]!.members.map((x) => x.time)].sort((a, b) => a - b));
  });

  it("a copy of the kill or of the exec with an absurd time (0, year 9999) neither heads the incident nor stretches its times", () => {
    const [kill] = summarize(sigkill(), C);
    const [alert] = summarize(catAlert(), C);
    const [exec] = summarize(normalizeRecord(tetragonCatExecRecord()), C);
    const real = matchChains([kill!, alert!, exec!], C).filter((m) => m.chain === "enforcement_alert");
    expect(real.map((m) => uids(m).sort())).toEqual([[kill!.uid, alert!.uid, exec!.uid].sort()]);
    const absurd = [kill!, exec!].flatMap((x) => [0, Date.parse("9999-12-31T23:59:59Z")].map((time) => ({ ...x, uid: `${x.uid}-${time}`, time })));
    const found = matchChains([...absurd, kill!, alert!, exec!], C).filter((m) => m.chain === "enforcement_alert");
    expect(found.map((m) => [m.finding_uid, ...uids(m)])).toEqual(real.map((m) => [m.finding_uid, ...uids(m)]));
  });

  it("does not join another binary's alert, an alert a minute away, or a hook that enforced nothing", () => {
    const kill = sigkill();
    const shell = normalizeRecord(falcoShellRecord({ at: STORY_AT + 10 })); // sh in the same pod
    expect(correlate([kill, shell]).filter((m) => m.chain === "enforcement_alert")).toEqual([]);
    expect(correlate([kill, catAlert(STORY_AT + 61_000)])).toEqual([]);
    const observed = normalizeRecord(tetragonCatSigkillRecord({}, "KPROBE_ACTION_POST"));
    expect(correlate([observed, catAlert()])).toEqual([]);
  });

  it("KPROBE_ACTION_OVERRIDE counts; the action list is configurable", () => {
    const override = normalizeRecord(tetragonCatSigkillRecord({}, "KPROBE_ACTION_OVERRIDE"));
    expect(correlate([override, catAlert()])).toHaveLength(1);
    const onlyKill = parseConfig({ correlate: { chains: { enforcement_alert: { actions: ["KPROBE_ACTION_SIGKILL"] } } } }).correlate;
    expect(correlate([override, catAlert()], onlyKill)).toEqual([]);
  });

  it("a pid known on both sides decides: same container and pid joins, another pid does not", () => {
    const [kill] = summarize(sigkill(), C);
    const [alert] = summarize(catAlert(), C);
    const withPid = (pid: number): Summary => ({ ...alert!, container: kill!.container, pid, binary: "/usr/bin/other" });
    expect(matchChains([kill!, withPid(38313)], C)).toHaveLength(1);
    expect(matchChains([kill!, withPid(4242)], C)).toEqual([]);
  });
});

describe("config", () => {
  it("defaults, and a bad shell pattern is refused with the field named", () => {
    expect(C).toMatchObject({ keys: true, enabled: true, windowSeconds: 600, maxEventsPerKey: 500, assigneeGroup: "unassigned" });
    expect(C.chains.enforcement_alert.windowSeconds).toBe(60);
    expect(() => parseConfig({ correlate: { chains: { k8s_exec: { shellPattern: "(" } } } })).toThrow(/correlate\.chains\.k8s_exec\.shellPattern: not a valid regular expression/);
    expect(() => parseConfig({ correlate: { windowSeconds: 0 } })).toThrow(/correlate\.windowSeconds/);
    expect(() => parseConfig({ correlate: { chain: {} } })).toThrow(/correlate/);
  });
});
