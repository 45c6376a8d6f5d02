// The incident event: a valid OCSF 1.3.0 Incident Finding (2005) for every chain, Create and Update,
// deterministic, with the related event uids in time order.
import { describe, it, expect } from "vitest";
import { validateOcsf } from "../support/ocsf-validator";
import { matchChains, type ChainMatch } from "../../src/correlate/chains";
import { groupByKey } from "../../src/correlate/feed";
import { buildIncident, incidentUid, INCIDENT_CLASS_UID } from "../../src/correlate/incident";
import { stableUid } from "../../src/normalize/uid";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { CFG, STORY_AT, execStory, normalizeRecord, falcoReadSensitiveRecord, tetragonCatSigkillRecord, tetragonCatExecRecord, federationRecords } from "./story";

const C = CFG.correlate;
const OPTS = { activity: 1 as const, ocsfVersion: "1.3.0", assigneeGroup: "soc-tier1" };

function matches(events: OcsfEvent[]): ChainMatch[] {
  return [...groupByKey(events, C).values()].flatMap((l) => matchChains(l, C));
}

function stories(): ChainMatch[] {
  const s = execStory();
  const aws = federationRecords("200.249.253.51").map((r) => normalizeRecord(r));
  const kill = [normalizeRecord(tetragonCatSigkillRecord()), normalizeRecord(falcoReadSensitiveRecord({ at: STORY_AT + 40 })), normalizeRecord(tetragonCatExecRecord())];
  const out = [...matches([s.audit, s.shell, s.exec, s.connect]), ...matches(aws), ...matches(kill).filter((m) => m.chain === "enforcement_alert")];
  expect(out.map((m) => m.chain).sort()).toEqual(["aws_credential_new_ip", "enforcement_alert", "k8s_exec"]);
  return out;
}

type FindingInfo = { uid: string; title: string; related_events?: { uid: string; type_uid: number }[]; analytic?: { name: string } };

describe("incident events", () => {
  it("every chain's incident, Create and Update, validates against OCSF 1.3.0", () => {
    for (const m of stories()) {
      for (const activity of [1, 2] as const) {
        const ev = buildIncident(m, { ...OPTS, activity });
        expect(validateOcsf(ev), `${m.chain} activity ${activity}`).toEqual([]);
        expect(ev.class_uid).toBe(INCIDENT_CLASS_UID);
        expect(ev.type_uid).toBe(200500 + activity);
        expect(ev.activity_name).toBe(activity === 1 ? "Create" : "Update");
      }
    }
  });

  it("k8s_exec: related events in time order, the Falco finding listed, story in desc, pod labels and observables", () => {
    const s = execStory();
    const m = matches([s.connect, s.exec, s.shell, s.audit])[0]!;
    const ev = buildIncident(m, OPTS);
    const list = ev.finding_info_list as FindingInfo[];
    expect(list[0]!.title).toBe("Tributary correlation: k8s_exec");
    expect(list[0]!.analytic!.name).toBe("Tributary correlation: k8s_exec");
    expect(list[0]!.uid).toBe(m.finding_uid);
    expect(list[0]!.related_events!.map((r) => r.uid)).toEqual([s.audit, s.shell, s.exec, s.connect].map((e) => e.metadata.uid));
    expect(list[0]!.related_events!.map((r) => r.type_uid)).toEqual([600301, 200401, 100701, 400101]);
    // the Falco alert is a member finding of the incident
    expect(list.slice(1)).toEqual([
      expect.objectContaining({ uid: s.shell.metadata.uid, title: "Terminal shell in container", related_events: [{ uid: s.shell.metadata.uid, type_uid: 200401 }] }),
    ]);
    expect(ev.time).toBe(STORY_AT + 9);
    expect(ev.start_time).toBe(STORY_AT - 1410);
    expect(ev.end_time).toBe(STORY_AT + 9);
    expect(ev.severity_id).toBe(5); // the Falco alert is Critical
    expect(ev.priority_id).toBe(4);
    expect(ev.status_id).toBe(1);
    expect(ev.assignee_group).toEqual({ name: "soc-tier1" });
    expect(ev.desc).toBe("minikube-user exec'd into pod default/tenant-jobs/elasticsearch-56f8fc6988-65smb; then 1 Falco shell alert, 1 process start, 1 outbound connection");
    expect(ev.metadata).toMatchObject({
      product: { name: "Tributary", vendor_name: "Tributary", feature: { name: "correlation" } },
      correlation_uid: s.audit.metadata.correlation_uid, // the pod's: the SIEM joins the incident with its events
      tenant_uid: "acme",
      labels: ["tributary.correlation", "correlation.chain:k8s_exec", "k8s.cluster:default", "k8s.namespace:tenant-jobs", "k8s.pod:elasticsearch-56f8fc6988-65smb"],
    });
    expect(ev.unmapped).toEqual({
      tributary: {
        correlation: {
          chain: "k8s_exec",
          key: s.scope,
          related: [s.audit, s.shell, s.exec, s.connect].map((e) => e.metadata.uid),
          pods: ["default/tenant-jobs/elasticsearch-56f8fc6988-65smb"],
          users: ["minikube-user"],
          ips: ["192.168.99.1"],
          containers: ["e6af4dff4ea3"],
        },
      },
    });
    expect(ev.observables?.map((o) => [o.name, o.type_id, o.value])).toEqual([
      ["unmapped.tributary.correlation.users[0]", 4, "minikube-user"],
      ["unmapped.tributary.correlation.ips[0]", 2, "192.168.99.1"],
      ["unmapped.tributary.correlation.containers[0]", 10, "e6af4dff4ea3"],
    ]);
  });

  it("is deterministic: metadata.uid from the chain and the related uids; the finding uid from the chain and the anchor", () => {
    const s = execStory();
    const small = matches([s.audit, s.shell])[0]!;
    const big = matches([s.audit, s.shell, s.exec, s.connect])[0]!;
    const a = buildIncident(small, OPTS);
    expect(buildIncident(matches([s.shell, s.audit])[0]!, OPTS)).toEqual(a);
    expect(a.metadata.uid).toBe(incidentUid(small));
    expect(a.metadata.uid).toBe(stableUid(`tributary/incident/k8s_exec/${s.audit.metadata.uid},${s.shell.metadata.uid}`));
    const b = buildIncident(big, { ...OPTS, activity: 2 });
    expect(b.metadata.uid).not.toBe(a.metadata.uid);
    expect((b.finding_info_list as FindingInfo[])[0]!.uid).toBe((a.finding_info_list as FindingInfo[])[0]!.uid);
    expect((a.finding_info_list as FindingInfo[])[0]!.uid).toBe(stableUid(`tributary/k8s_exec/${s.audit.metadata.uid}`));
  });

  it("aws_credential_new_ip and enforcement_alert tell their story", () => {
    const [aws, kill] = [stories().find((m) => m.chain === "aws_credential_new_ip")!, stories().find((m) => m.chain === "enforcement_alert")!];
    const a = buildIncident(aws, OPTS);
    expect(a.desc).toBe(
      "GetFederationToken by arn:aws:iam::742491224508:user/stratus-red-team-user-federation-user from 255.90.254.5 handed out aws.key:ASIASTJKC5GCM7ZE6LUP; then it was used from 200.249.253.51",
    );
    expect(a.severity_id).toBe(4);
    expect(a.observables?.find((o) => o.type_id === 19)?.value).toBe("ASIASTJKC5GCM7ZE6LUP");
    expect(a.metadata.labels).toEqual(["tributary.correlation", "correlation.chain:aws_credential_new_ip"]);
    const k = buildIncident(kill, OPTS);
    expect(k.desc).toBe("Tetragon KPROBE_ACTION_SIGKILL on /usr/bin/cat in default/tenant-jobs/elasticsearch-56f8fc6988-65smb, and Falco alerted: Read sensitive file untrusted");
    expect(k.severity_id).toBe(4);
  });
});
