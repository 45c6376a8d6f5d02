// Kubernetes audit Event -> OCSF 1.3.0 API Activity (6003). Mapping tables: docs/mapping-k8s-audit.md.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { fixturesIn, fixture, type Fixture } from "../support/fixtures";
import { validateOcsf } from "../support/ocsf-validator";
import { lossOf } from "../support/field-maps";
import { frame } from "../../src/routes/decode";
import { runPipeline } from "../../src/pipeline";
import { normalizeK8sAudit, k8sSeverity, redactAuditRecord } from "../../src/normalize/k8s-audit";
import { normalize } from "../../src/normalize/index";
import { NormalizeError } from "../../src/normalize/errors";
import { detectKind } from "../../src/normalize/detect";
import type { Json, JsonObject } from "../../src/normalize/json";
import type { NormalizeContext, OcsfEvent } from "../../src/normalize/ocsf";

const CTX: NormalizeContext = { ocsfVersion: "1.3.0", receivedAt: 1700000000000, tenant: "test" };
const NEGATIVE = "k8s-audit/negative__falco-fuzz-kind-0.json";

function contentType(f: Fixture): string {
  return f.name.endsWith(".ndjson") ? "application/x-ndjson" : "application/json";
}

/** Every audit Event of the positive fixtures, parsed the way the ingest route frames bodies. */
const records: { name: string; rec: JsonObject }[] = fixturesIn("k8s-audit")
  .filter((f) => f.name !== NEGATIVE)
  .flatMap((f) => {
    const framed = frame(f.text, contentType(f));
    expect(framed.errors).toEqual([]);
    return framed.values.map((v, i) => ({ name: framed.values.length > 1 ? `${f.name}#${i + 1}` : f.name, rec: v as JsonObject }));
  });

function one(name: string, line = 0): JsonObject {
  const f = fixturesIn("k8s-audit").find((x) => x.name === `k8s-audit/${name}`);
  if (!f) throw new Error(`no fixture ${name}`);
  return frame(f.text, contentType(f)).values[line] as JsonObject;
}

/** A deep copy with some top-level fields replaced (undefined deletes the field). */
function variant(rec: JsonObject, patch: Record<string, Json | undefined>): JsonObject {
  const out = structuredClone(rec);
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  return out;
}

function expectValidAndLossless(rec: JsonObject, ev: OcsfEvent): void {
  expect(validateOcsf(ev)).toEqual([]);
  expect(lossOf("k8s_audit", rec, ev)).toEqual([]);
}

type Obj = Record<string, unknown>;
const o = (v: unknown): Obj => v as Obj;

describe("k8s audit fixtures -> OCSF API Activity", () => {
  it("reads all 18 audit events of the positive fixtures", () => {
    expect(records).toHaveLength(18);
    for (const r of records) expect(detectKind(r.rec), r.name).toBe("k8s_audit");
  });

  it.each(records)("$name: valid OCSF 1.3.0, nothing lost", ({ rec }) => {
    const ev = normalizeK8sAudit(rec, CTX);
    expectValidAndLossless(rec, ev);
    expect(ev.class_uid).toBe(6003);
    expect(ev.category_uid).toBe(6);
    expect(ev.type_uid).toBe(600300 + ev.activity_id);
    expect(o(o(ev.api).request).uid).toBe(rec.auditID);
    expect(ev.metadata.correlation_uid).toBe(rec.auditID);
    expect(ev.metadata.log_name).toBe("k8s_audit");
    expect(ev.metadata.tenant_uid).toBe("test");
    expect(ev.metadata.logged_time).toBe(CTX.receivedAt);
    expect(ev.metadata.product).toEqual({ name: "Kubernetes", vendor_name: "Kubernetes", feature: { name: "Audit" } });
    expect(ev.metadata.profiles).toBeUndefined();
    expect(ev.cloud).toBeUndefined();
    expect(ev.raw_data).toBeUndefined();
    expect(o(ev.unmapped).stage).toBe(rec.stage);
  });

  // Hand-checked expectations per event: [activity, severity, status, status_code, resource type, resource name, message].
  const EXPECTED: Record<string, [number, number, number, string, string | undefined, string | undefined, string]> = {
    "k8s-audit/audit2rbac-demo.ndjson#1": [2, 2, 2, "403", "pods", "pods", "system:admin as bob list pods in default (403)"],
    "k8s-audit/audit2rbac-demo.ndjson#2": [2, 2, 2, "403", "nodes", "nodes", "system:admin as system:serviceaccount:ns1:sa1 list nodes (403)"],
    "k8s-audit/audit2rbac-demo.ndjson#3": [2, 1, 1, "200", undefined, undefined, "system:admin as bob get /api (200)"],
    "k8s-audit/audit2rbac-demo.ndjson#4": [2, 1, 1, "200", "pods", "pods", "system:admin as bob list pods in default (200)"],
    "k8s-audit/audit2rbac-demo.ndjson#5": [2, 2, 2, "403", "pods", "pods", "system:admin as alice list pods in ns1 (403)"],
    "k8s-audit/falco-docs__configmap-create-v1beta1.json": [1, 2, 1, "201", "configmaps", "my-config", "minikube-user create configmaps default/my-config (201)"],
    "k8s-audit/falco-trace__anonymous_creates_namespace_foo.json": [1, 3, 1, "201", "namespaces", "foo", "system:anonymous create namespaces foo (201)"],
    "k8s-audit/falco-trace__attach_cluster_admin_role.json": [1, 3, 1, "201", "clusterrolebindings", "some-reader-binding", "minikube-user create clusterrolebindings some-reader-binding (201)"],
    "k8s-audit/falco-trace__attach_pod.json": [1, 3, 1, "101", "pods/attach", "nginx-deployment-7998647bdf-phvq7", "minikube-user create pods/attach default/nginx-deployment-7998647bdf-phvq7 (101)"],
    "k8s-audit/falco-trace__create_cluster_role_wildcard_verbs.json": [1, 3, 1, "201", "clusterroles", "some-reader", "minikube-user create clusterroles some-reader (201)"],
    "k8s-audit/falco-trace__create_configmap_sensitive_values.ndjson#1": [1, 2, 1, "201", "configmaps", "my-config", "minikube-user create configmaps default/my-config (201)"],
    "k8s-audit/falco-trace__create_configmap_sensitive_values.ndjson#2": [1, 2, 1, "201", "configmaps", "my-config", "minikube-user create configmaps default/my-config (201)"],
    "k8s-audit/falco-trace__create_nginx_pod_privileged.json": [1, 2, 1, "201", "pods", "nginx-deployment-5cdcc99dbf-rgw6z", "system:serviceaccount:kube-system:replicaset-controller create pods default/nginx-deployment-5cdcc99dbf-rgw6z (201)"],
    "k8s-audit/falco-trace__create_secret.json": [1, 3, 1, "201", "secrets", "example-secret", "minikube-user create secrets default/example-secret (201)"],
    "k8s-audit/falco-trace__create_service_account_token_secret.json": [1, 3, 1, "201", "secrets", "default-token-7v4pb", "system:kube-controller-manager create secrets test2/default-token-7v4pb (201)"],
    "k8s-audit/falco-trace__create_serviceaccount_kube_system_namespace.json": [1, 2, 1, "201", "serviceaccounts", "myacct", "minikube-user create serviceaccounts kube-system/myacct (201)"],
    "k8s-audit/falco-trace__delete_namespace_foo.json": [4, 2, 1, "200", "namespaces", "foo", "minikube-user delete namespaces foo/foo (200)"],
    "k8s-audit/falco-trace__exec_pod.json": [1, 3, 1, "101", "pods/exec", "nginx-deployment-7998647bdf-phvq7", "minikube-user create pods/exec default/nginx-deployment-7998647bdf-phvq7 (101)"],
  };

  it.each(records)("$name: activity, severity, status, resource and message", ({ name, rec }) => {
    const want = EXPECTED[name];
    expect(want, `no expectation for ${name}`).toBeDefined();
    const [activity, severity, status, code, type, resName, message] = want!;
    const ev = normalizeK8sAudit(rec, CTX);
    expect([ev.activity_id, ev.severity_id, ev.status_id, ev.status_code]).toEqual([activity, severity, status, code]);
    expect(o(o(ev.api).response).code).toBe(Number(code));
    const res = ev.resources as Obj[] | undefined;
    expect(res?.[0]?.type).toBe(type);
    expect(res?.[0]?.name).toBe(resName);
    expect(ev.message).toBe(message);
  });

  it("times: time = stageTimestamp (ms), start_time = requestReceivedTimestamp, microseconds kept", () => {
    const rec = one("falco-docs__configmap-create-v1beta1.json");
    const ev = normalizeK8sAudit(rec, CTX);
    expect(ev.time).toBe(Date.UTC(2018, 9, 20, 0, 18, 28, 428));
    expect(ev.start_time).toBe(Date.UTC(2018, 9, 20, 0, 18, 28, 420));
    expect(ev.metadata.original_time).toBe("2018-10-20T00:18:28.428398Z");
    expect(o(ev.unmapped).requestReceivedTimestamp).toBe("2018-10-20T00:18:28.420807Z");
    // v1 events from 2017 have only the (second-precision) v1beta1-style `timestamp`
    const old = normalizeK8sAudit(one("audit2rbac-demo.ndjson"), CTX);
    expect(old.time).toBe(Date.UTC(2017, 8, 11, 19, 55, 5));
    expect(old.start_time).toBeUndefined();
    expect(old.metadata.original_time).toBe("2017-09-11T19:55:05Z");
    // no timestamp at all: the receive time
    const none = normalizeK8sAudit(variant(rec, { stageTimestamp: undefined, requestReceivedTimestamp: undefined, timestamp: undefined }), CTX);
    expect(none.time).toBe(CTX.receivedAt);
    expect(none.metadata.original_time).toBeUndefined();
  });

  it("v1beta1 RequestResponse: request/response objects in api.request.data / api.response.data (json_t)", () => {
    const rec = one("falco-docs__configmap-create-v1beta1.json");
    const ev = normalizeK8sAudit(rec, CTX);
    expect(ev.metadata.log_version).toBe("audit.k8s.io/v1beta1");
    expect(ev.metadata.log_level).toBe("RequestResponse");
    const api = o(ev.api);
    expect(api.operation).toBe("create");
    expect(api.version).toBe("v1");
    expect(o(api.request).data).toEqual(rec.requestObject);
    expect(o(api.response).data).toEqual(rec.responseObject);
    // the uid the server assigned (responseObject.metadata.uid), not the one in objectRef copied from the
    // client's request object; that one stays in unmapped.objectRef.uid
    expect(ev.resources).toEqual([
      { type: "configmaps", name: "my-config", namespace: "default", uid: "ab04e510-d3fd-11e8-8645-080027728ac4" },
    ]);
    expect(o(ev.unmapped).objectRef).toEqual({ uid: "b4952dc3-d670-11e5-8cd0-68f728db1985" });
    expect(o(ev.actor).authorizations).toEqual([{ decision: "allow" }]);
    // the empty authorization reason is not invented into a policy: it stays in unmapped
    expect(o(ev.unmapped).annotations).toEqual({ "authorization.k8s.io/reason": "" });
    expect(ev.observables).toEqual([
      { name: "actor.user.name", type_id: 4, type: "User Name", value: "minikube-user" },
      { name: "src_endpoint.ip", type_id: 2, type: "IP Address", value: "192.168.99.1" },
      { name: "resources[0].uid", type_id: 10, type: "Resource UID", value: "ab04e510-d3fd-11e8-8645-080027728ac4" },
    ]);
  });

  it("resources[0].uid: the response's uid only when the response is the same object (not a Status, not a subresource)", () => {
    const rec = one("falco-docs__configmap-create-v1beta1.json");
    const refUid = "b4952dc3-d670-11e5-8cd0-68f728db1985";
    const status = normalizeK8sAudit(variant(rec, { responseObject: { kind: "Status", metadata: { name: "my-config", uid: "x" } } }), CTX);
    expect(o((status.resources as unknown[])[0]).uid).toBe(refUid);
    const other = normalizeK8sAudit(variant(rec, { responseObject: { metadata: { name: "another", uid: "y" } } }), CTX);
    expect(o((other.resources as unknown[])[0]).uid).toBe(refUid);
    expect(o(other.unmapped).objectRef).toBeUndefined();
    expectValidAndLossless(variant(rec, { responseObject: { metadata: { name: "another", uid: "y" } } }), other);
    const { uid: _ignored, ...refWithoutUid } = rec.objectRef as JsonObject;
    const same = normalizeK8sAudit(variant(rec, { objectRef: refWithoutUid }), CTX);
    expectValidAndLossless(variant(rec, { objectRef: refWithoutUid }), same);
    expect(o((same.resources as unknown[])[0]).uid).toBe("ab04e510-d3fd-11e8-8645-080027728ac4");
  });

  it("impersonation: the impersonated user is actor.user, the real user stays whole in unmapped.user (no actor.invoked_by)", () => {
    const rec = one("audit2rbac-demo.ndjson", 1);
    const ev = normalizeK8sAudit(rec, CTX);
    const actor = o(ev.actor);
    expect(actor.user).toEqual({
      name: "system:serviceaccount:ns1:sa1",
      groups: [{ name: "system:serviceaccounts" }, { name: "system:serviceaccounts:ns1" }, { name: "system:authenticated" }],
      type_id: 3,
      type: "System",
    });
    expect(actor).not.toHaveProperty("invoked_by");
    expect(o(ev.unmapped).user).toEqual({ username: "system:admin", groups: ["system:masters", "system:authenticated"] });
    expect(ev.observables).toContainEqual({ name: "unmapped.user.username", type_id: 4, type: "User Name", value: "system:admin" });
    expect(ev.message).toMatch(/^system:admin as system:serviceaccount:ns1:sa1 list/);
    expect(ev.status_detail).toBe('nodes is forbidden: User "system:serviceaccount:ns1:sa1" cannot list nodes at the cluster scope');
    expect(o(o(ev.api).response).error).toBe("Forbidden");
    expect(o(ev.unmapped).responseStatus).toEqual({ metadata: {}, details: { kind: "nodes" } });
  });

  it("credential id: user.extra credential-id (bound service-account token, 1.30+) or EKS accessKeyId -> actor.user.credential_uid", () => {
    const base = one("falco-trace__create_secret.json");
    const SA = "system:serviceaccount:default:builder";
    const saExtra = {
      "authentication.kubernetes.io/credential-id": ["JTI=7d3b9c1e-5f2a-4e8b-9a61-0c2d4e6f8a10"],
      "authentication.kubernetes.io/node-name": ["kind-worker"],
      "authentication.kubernetes.io/pod-name": ["builder-6c8f9d7b5-x2k4p"],
    };
    const saRec = variant(base, { user: { username: SA, uid: "0b6f2a44-9c1d-4f3e-8a27-5e6d7c8b9a01", extra: saExtra } });
    const sa = normalizeK8sAudit(saRec, CTX);
    expect(o(sa.actor).user).toEqual({ name: SA, uid: "0b6f2a44-9c1d-4f3e-8a27-5e6d7c8b9a01", type_id: 3, type: "System", credential_uid: "JTI=7d3b9c1e-5f2a-4e8b-9a61-0c2d4e6f8a10" });
    // the other extra keys stay where they were
    expect(o(sa.unmapped).user).toEqual({
      extra: { "authentication.kubernetes.io/node-name": ["kind-worker"], "authentication.kubernetes.io/pod-name": ["builder-6c8f9d7b5-x2k4p"] },
    });
    expect(sa.observables).toContainEqual({ name: "actor.user.credential_uid", type_id: 19, type: "User Credential ID", value: "JTI=7d3b9c1e-5f2a-4e8b-9a61-0c2d4e6f8a10" });
    expectValidAndLossless(saRec, sa);
    // the lossless check sees the credential: without it the input path is reported
    const cut = structuredClone(sa);
    delete o(o(cut.actor).user).credential_uid;
    expect(lossOf("k8s_audit", saRec, cut).map((l) => l.split(":")[0])).toEqual(['user.extra["authentication.kubernetes.io/credential-id"][0]']);

    // EKS (aws-iam-authenticator): the IAM access key id; the credential the only extra key: no unmapped.user left
    const eksUser = { username: "arn:aws:sts::111122223333:assumed-role/Admin/alice", uid: "aws-iam-authenticator:111122223333:AROAEXAMPLEID", groups: ["system:authenticated"] };
    const eksRec = variant(base, { user: { ...eksUser, extra: { accessKeyId: ["ASIAIOSFODNN7EXAMPLE"] } } });
    const eks = normalizeK8sAudit(eksRec, CTX);
    expect(o(o(eks.actor).user).credential_uid).toBe("ASIAIOSFODNN7EXAMPLE");
    expect(o(eks.unmapped ?? {}).user).toBeUndefined();
    expectValidAndLossless(eksRec, eks);

    // not one non-empty string: nothing mapped, extra stays as it is
    for (const v of [["a", "b"], [], [""], "ASIAIOSFODNN7EXAMPLE", [7]]) {
      const rec = variant(base, { user: { ...eksUser, extra: { accessKeyId: v } } });
      const ev = normalizeK8sAudit(rec, CTX);
      expect(o(o(ev.actor).user).credential_uid, JSON.stringify(v)).toBeUndefined();
      expect(o(ev.unmapped).user).toEqual({ extra: { accessKeyId: v } });
      expectValidAndLossless(rec, ev);
    }

    // impersonating: the credential is the real user's, who stays whole in unmapped.user; the impersonated
    // user's extra (sent by the impersonator as Impersonate-Extra-* headers) is not a credential
    const impRec = variant(saRec, { impersonatedUser: { username: "bob", extra: { accessKeyId: ["ASIAIOSFODNN7EXAMPLE"] } } });
    const imp = normalizeK8sAudit(impRec, CTX);
    expect(o(imp.actor).user).toEqual({ name: "bob" });
    expect(o(imp.unmapped).user).toEqual(saRec.user);
    expect(o(imp.unmapped).impersonatedUser).toEqual({ extra: { accessKeyId: ["ASIAIOSFODNN7EXAMPLE"] } });
    expectValidAndLossless(impRec, imp);
  });

  it("user uid, service-account type and RBAC reason as authorization policy", () => {
    const pod = normalizeK8sAudit(one("falco-trace__create_nginx_pod_privileged.json"), CTX);
    expect(o(o(pod.actor).user).uid).toBe("8d5e1349-d30f-11e8-96d9-080027728ac4");
    expect(o(o(pod.actor).user).type_id).toBe(3);
    // generateName: the name comes from the created object (objectRef has none)
    expect(o((pod.resources as Obj[])[0]).uid).toBe("8c845395-d85f-11e8-88b6-080027728ac4");
    const sa = normalizeK8sAudit(one("falco-trace__create_service_account_token_secret.json"), CTX);
    expect(o(sa.actor).authorizations).toEqual([
      {
        decision: "allow",
        policy: {
          name: 'RBAC: allowed by ClusterRoleBinding "system:kube-controller-manager" of ClusterRole "system:kube-controller-manager" to User "system:kube-controller-manager"',
        },
      },
    ]);
    expect(o(sa.http_request).user_agent).toBe("kube-controller-manager/v1.17.3 (linux/amd64) kubernetes/06ad960/tokens-controller");
    expect(sa.observables).toContainEqual({ name: "http_request.user_agent", type_id: 16, type: "HTTP User-Agent", value: "kube-controller-manager/v1.17.3 (linux/amd64) kubernetes/06ad960/tokens-controller" });
  });

  it("subresource and query string: pods/exec with url path and query split", () => {
    const rec = one("falco-trace__exec_pod.json");
    const ev = normalizeK8sAudit(rec, CTX);
    expect(o(ev.http_request).url).toEqual({
      url_string: rec.requestURI,
      path: "/api/v1/namespaces/default/pods/nginx-deployment-7998647bdf-phvq7/exec",
      query_string: "command=bash&container=nginx1&container=nginx1&stdin=true&stdout=true&tty=true",
    });
    expect(o(ev.unmapped).objectRef).toEqual({ resource: "pods", subresource: "exec" });
    expect(o(ev.unmapped).stage).toBe("ResponseStarted");
    expect(ev.status).toBe("Success"); // 101 Switching Protocols: the stream was opened
  });

  it("RBAC objects keep their API group (api.group and resources[].group)", () => {
    const ev = normalizeK8sAudit(one("falco-trace__attach_cluster_admin_role.json"), CTX);
    expect(o(ev.api).group).toEqual({ name: "rbac.authorization.k8s.io" });
    expect(o((ev.resources as Obj[])[0]).group).toEqual({ name: "rbac.authorization.k8s.io" });
  });
});

describe("verbs, identity and edge cases", () => {
  const base = one("falco-trace__create_secret.json");

  it.each([
    ["create", 1, "Create"],
    ["get", 2, "Read"],
    ["list", 2, "Read"],
    ["watch", 2, "Read"],
    ["update", 3, "Update"],
    ["patch", 3, "Update"],
    ["delete", 4, "Delete"],
    ["deletecollection", 4, "Delete"],
    ["impersonate", 99, "impersonate"],
    ["escalate", 99, "escalate"],
    ["bind", 99, "bind"],
    ["approve", 99, "approve"],
    ["valueOf", 99, "valueOf"],
  ])("verb %s -> activity %i (%s)", (verb, id, name) => {
    const rec = variant(base, { verb });
    const ev = normalizeK8sAudit(rec, CTX);
    expectValidAndLossless(rec, ev);
    expect(ev.activity_id).toBe(id);
    expect(ev.activity_name).toBe(name);
    expect(ev.type_uid).toBe(600300 + id);
    expect(ev.type_name).toBe(`API Activity: ${id === 99 ? "Other" : name}`);
    expect(o(ev.api).operation).toBe(verb);
  });

  it("severity table", () => {
    // [verb, resource, subresource, denied, anonymousAllowed] -> severity
    const cases: [string, string | undefined, string | undefined, boolean, boolean, number][] = [
      ["get", "pods", undefined, false, false, 1],
      ["list", undefined, undefined, false, false, 1],
      ["create", "configmaps", undefined, false, false, 2],
      ["delete", "namespaces", undefined, false, false, 2],
      ["list", "pods", undefined, true, false, 2],
      ["get", "secrets", undefined, false, false, 3],
      ["list", "secrets", undefined, true, false, 3],
      ["create", "pods", "exec", false, false, 3],
      ["create", "pods", "attach", false, false, 3],
      ["create", "pods", "portforward", false, false, 3],
      ["get", "nodes", "proxy", false, false, 3],
      ["create", "serviceaccounts", "token", false, false, 3],
      ["get", "pods", "log", false, false, 1],
      ["create", "clusterrolebindings", undefined, false, false, 3],
      ["patch", "roles", undefined, false, false, 3],
      ["list", "clusterroles", undefined, false, false, 1],
      ["impersonate", "users", undefined, false, false, 3],
      ["escalate", "clusterroles", undefined, false, false, 3],
      ["create", "namespaces", undefined, false, true, 3],
      ["approve", "signers", undefined, false, false, 2],
    ];
    for (const [verb, res, sub, denied, anon, want] of cases) expect(k8sSeverity(verb, res, sub, denied, anon), `${verb} ${res}/${sub}`).toBe(want);
  });

  it("metadata.uid: same auditID + stage -> same uid (retries), another stage -> another uid", () => {
    const a = normalizeK8sAudit(base, CTX);
    const retry = normalizeK8sAudit(JSON.parse(JSON.stringify(base)) as JsonObject, { ...CTX, receivedAt: CTX.receivedAt + 60_000 });
    expect(retry.metadata.uid).toBe(a.metadata.uid);
    const started = normalizeK8sAudit(variant(base, { stage: "RequestReceived", responseStatus: undefined }), CTX);
    expect(started.metadata.uid).not.toBe(a.metadata.uid);
    expect(started.metadata.correlation_uid).toBe(a.metadata.correlation_uid);
    expect(started.status_id).toBe(0);
    expect(started.status).toBe("Unknown");
    expect(started.message).toBe("minikube-user create secrets default/example-secret (RequestReceived)");
    expect(validateOcsf(started)).toEqual([]);
    const other = normalizeK8sAudit(variant(base, { auditID: "00000000-0000-0000-0000-000000000000" }), CTX);
    expect(other.metadata.uid).not.toBe(a.metadata.uid);
    // the API server takes the audit ID from a client's Audit-ID header: another request sent with the same one
    // (later, or to another URI) is another event, not a duplicate the sinks would drop
    const reused = [
      { requestReceivedTimestamp: "2020-04-21T14:24:03.551000Z", stageTimestamp: "2020-04-21T14:24:03.571000Z" },
      { requestURI: "/api/v1/namespaces/default/secrets/other-secret" },
      { verb: "get" },
      { stageTimestamp: undefined, requestReceivedTimestamp: undefined, timestamp: "2020-04-21T14:24:03Z" },
    ];
    const uids = new Set([a.metadata.uid, started.metadata.uid]);
    for (const change of reused) {
      const ev = normalizeK8sAudit(variant(base, change), CTX);
      expect(o(o(ev.api).request).uid).toBe(base.auditID);
      uids.add(ev.metadata.uid);
    }
    expect(uids.size).toBe(2 + reused.length);
    expect(a.metadata.uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it("sourceIPs: first is src_endpoint.ip, the rest intermediate_ips; missing or bad -> src_endpoint {name: unknown}", () => {
    const multi = variant(base, { sourceIPs: ["10.0.0.7", "192.168.64.1", "2001:db8::1"] });
    const ev = normalizeK8sAudit(multi, CTX);
    expectValidAndLossless(multi, ev);
    expect(ev.src_endpoint).toEqual({ ip: "10.0.0.7", intermediate_ips: ["192.168.64.1", "2001:db8::1"] });
    expect(ev.observables).toContainEqual({ name: "src_endpoint.intermediate_ips", type_id: 2, type: "IP Address", value: "2001:db8::1" });
    for (const sourceIPs of [undefined, [], ["not-an-ip"], ["10.0.0.1", 7], ["256.1.1.1"], ["fe80::1::2"], ["0000:0000:0000:0000:0000:0000:255.255.255.255"]] as (Json | undefined)[]) {
      const rec = variant(base, { sourceIPs });
      const e = normalizeK8sAudit(rec, CTX);
      expectValidAndLossless(rec, e);
      expect(e.src_endpoint).toEqual({ name: "unknown" });
      if (sourceIPs !== undefined) expect(o(e.unmapped).sourceIPs).toEqual(sourceIPs);
    }
  });

  it("no user at all still gives a valid actor; odd user shapes stay in unmapped", () => {
    for (const user of [undefined, {}, { username: "" }, "alice", { username: 7, groups: "x" }] as (Json | undefined)[]) {
      const rec = variant(base, { user });
      const ev = normalizeK8sAudit(rec, CTX);
      expectValidAndLossless(rec, ev);
      expect(o(ev.actor).user).toEqual({ name: "unknown", type_id: 0, type: "Unknown" });
      expect(ev.observables?.some((x) => x.name === "actor.user.name")).toBe(false);
      if (user !== undefined) expect(o(ev.unmapped).user).toEqual(user);
    }
    // extra (e.g. EKS IAM identity) is kept next to the mapped user, but for the credential id
    const arn = ["arn:aws:iam::111122223333:user/admin"];
    const withExtra = variant(base, { user: { username: "kubernetes-admin", uid: "aws-iam-authenticator:1", groups: [], extra: { accessKeyId: ["AKIAEXAMPLE"], arn } } });
    const ev = normalizeK8sAudit(withExtra, CTX);
    expectValidAndLossless(withExtra, ev);
    expect(o(ev.actor).user).toEqual({ name: "kubernetes-admin", uid: "aws-iam-authenticator:1", credential_uid: "AKIAEXAMPLE" });
    expect(o(ev.unmapped).user).toEqual({ groups: [], extra: { arn } });
  });

  it("responseStatus: failure without code, odd codes kept, forbid decision", () => {
    const failed = variant(base, { responseStatus: { status: "Failure", reason: "AlreadyExists", message: "secrets \"example-secret\" already exists" } });
    const ev = normalizeK8sAudit(failed, CTX);
    expectValidAndLossless(failed, ev);
    expect([ev.status_id, ev.status, ev.status_code]).toEqual([2, "Failure", undefined]);
    expect(ev.status_detail).toBe('secrets "example-secret" already exists');
    const odd = variant(base, { responseStatus: { code: "201" } });
    const e2 = normalizeK8sAudit(odd, CTX);
    expectValidAndLossless(odd, e2);
    expect(e2.status_id).toBe(0);
    expect(o(e2.unmapped).responseStatus).toEqual({ code: "201" });
    const forbid = variant(one("audit2rbac-demo.ndjson", 1), { annotations: { "authorization.k8s.io/decision": "forbid", "authorization.k8s.io/reason": "" } });
    const e3 = normalizeK8sAudit(forbid, CTX);
    expectValidAndLossless(forbid, e3);
    expect(o(e3.actor).authorizations).toEqual([{ decision: "forbid" }]);
  });

  it('a "__proto__" key (an own property after JSON.parse) is kept in unmapped, not turned into a prototype', () => {
    const rec = JSON.parse('{"auditID":"a-1","verb":"get","__proto__":{"polluted":1},"responseStatus":{"code":200,"__proto__":null}}') as JsonObject;
    const ev = normalizeK8sAudit(rec, CTX);
    expectValidAndLossless(rec, ev);
    expect(Object.getPrototypeOf(ev.unmapped)).toBe(Object.prototype);
    const text = JSON.stringify(ev.unmapped);
    expect(text).toContain('"__proto__":{"polluted":1}');
    expect(text).toContain('"responseStatus":{"__proto__":null}');
  });

  it("raw_data only when asked", () => {
    const text = fixture("k8s-audit/falco-trace__create_secret.json");
    const ev = normalizeK8sAudit(base, { ...CTX, rawData: true, rawText: text });
    expect(ev.raw_data).toBe(text);
    expect(normalizeK8sAudit(base, { ...CTX, rawData: true }).raw_data).toBe(JSON.stringify(base));
  });

  it("rejects what is not an audit Event, with a reason", () => {
    const neg = JSON.parse(fixture(NEGATIVE)) as JsonObject;
    expect(() => normalizeK8sAudit(neg, CTX)).toThrow(NormalizeError);
    expect(() => normalizeK8sAudit(neg, CTX)).toThrow('not a Kubernetes audit Event: kind is 0, expected "Event" (keys: kind)');
    expect(() => normalizeK8sAudit({ kind: "Event", apiVersion: "v1", reason: "Scheduled" }, CTX)).toThrow(/apiVersion is "v1"/);
    expect(() => normalizeK8sAudit({ kind: "Event", apiVersion: "audit.k8s.io/v1", auditID: "x" }, CTX)).toThrow(/missing string field verb/);
    expect(() => normalizeK8sAudit(variant(base, { auditID: undefined }), CTX)).toThrow(/missing string field auditID/);
    expect(() => normalize([], "k8s_audit", CTX)).toThrow(NormalizeError);
  });
});

describe("audit webhook EventList through frame() + runPipeline()", () => {
  const items = records.map((r) => r.rec);
  const bare = items.map((r) => variant(r, { kind: undefined, apiVersion: undefined }));

  function post(body: Json, kind?: "k8s_audit") {
    const framed = frame(JSON.stringify(body), "application/json");
    expect(framed.errors).toEqual([]);
    return runPipeline(framed.values, framed.paths, framed.textLines, kind ? { ctx: CTX, kind } : { ctx: CTX });
  }

  it.each([
    ["items with kind/apiVersion", items],
    ["items without kind/apiVersion", bare],
  ])("%s: every item becomes a valid event, no errors", (_label, list) => {
    const body: JsonObject = { kind: "EventList", apiVersion: "audit.k8s.io/v1", metadata: {}, items: list };
    const res = post(body);
    expect(res.errors).toEqual([]);
    expect(res.total).toBe(list.length);
    expect(res.events).toHaveLength(list.length);
    res.events.forEach(({ event }, i) => {
      expect(event.class_uid).toBe(6003);
      expect(o(o(event.api).request).uid).toBe(list[i]!.auditID);
      expect(validateOcsf(event)).toEqual([]);
      expect(lossOf("k8s_audit", list[i]!, event)).toEqual([]);
    });
    // the same body on the source-specific route (no detection)
    const routed = post(body, "k8s_audit");
    expect(routed.errors).toEqual([]);
    expect(routed.events.map((e) => e.event)).toEqual(res.events.map((e) => e.event));
  });

  it("the negative fixture gives exactly one error with a reason, the good items beside it are kept", () => {
    const neg = JSON.parse(fixture(NEGATIVE)) as Json;
    const body: JsonObject = { kind: "EventList", apiVersion: "audit.k8s.io/v1", items: [bare[0]!, neg, items[5]!] };
    const res = post(body);
    expect(res.events).toHaveLength(2);
    expect(res.errors).toHaveLength(1);
    expect(res.errors[0]).toMatchObject({ index: 1, path: ".items[1]", reason: expect.stringMatching(/unrecognised record.*keys: kind/) as unknown });
    const routed = post(body, "k8s_audit");
    expect(routed.events).toHaveLength(2);
    expect(routed.errors).toHaveLength(1);
    expect(routed.errors[0]).toMatchObject({ index: 1, path: ".items[1]", reason: 'not a Kubernetes audit Event: kind is 0, expected "Event" (keys: kind)', source: "k8s_audit" });
    // alone, as a whole body
    const alone = post(neg);
    expect(alone.events).toEqual([]);
    expect(alone.errors).toHaveLength(1);
    expect(alone.errors[0]!.reason).toMatch(/unrecognised record/);
  });
});

describe("property: any Event-shaped record is mapped losslessly to valid OCSF or rejected with a NormalizeError", () => {
  const str = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom("", "system:anonymous", "system:serviceaccount:ns:sa", "pods", "secrets", "exec", "__proto__", "constructor", "toString"));
  const ts = fc.oneof(
    fc.date({ min: new Date("2015-01-01T00:00:00Z"), max: new Date("2035-01-01T00:00:00Z"), noInvalidDate: true }).map((d) => d.toISOString().replace("Z", "123Z")),
    str,
  );
  const user = fc.oneof(
    fc.record({ username: str, uid: str, groups: fc.oneof(fc.array(str, { maxLength: 3 }), fc.jsonValue({ maxDepth: 1 })), extra: fc.dictionary(fc.oneof(str, fc.constantFrom("authentication.kubernetes.io/credential-id", "accessKeyId")), fc.array(str)) }, { requiredKeys: [] }),
    fc.jsonValue({ maxDepth: 1 }),
  );
  const rec = fc.record(
    {
      // fields of audit.k8s.io Event, each with well-formed and odd values
      kind: fc.oneof({ arbitrary: fc.constant("Event"), weight: 8 }, { arbitrary: fc.constantFrom("EventList", 0), weight: 1 }),
      apiVersion: fc.oneof({ arbitrary: fc.constantFrom("audit.k8s.io/v1", "audit.k8s.io/v1beta1"), weight: 8 }, { arbitrary: fc.constant("v1"), weight: 1 }),
      level: fc.oneof(fc.constantFrom("Metadata", "Request", "RequestResponse"), fc.jsonValue({ maxDepth: 0 })),
      auditID: fc.oneof({ arbitrary: fc.uuid(), weight: 4 }, { arbitrary: str, weight: 1 }),
      stage: fc.oneof(fc.constantFrom("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"), fc.jsonValue({ maxDepth: 0 })),
      requestURI: fc.oneof(fc.constantFrom("/api/v1/pods?watch=true", "/healthz", ""), str, fc.integer()),
      verb: fc.oneof({ arbitrary: fc.constantFrom("get", "list", "create", "patch", "delete", "impersonate"), weight: 4 }, { arbitrary: str, weight: 1 }),
      user,
      impersonatedUser: user,
      sourceIPs: fc.oneof(fc.array(fc.oneof(fc.ipV4(), fc.ipV6(), str), { maxLength: 3 }), fc.jsonValue({ maxDepth: 1 })),
      userAgent: fc.oneof(str, fc.jsonValue({ maxDepth: 0 })),
      objectRef: fc.oneof(
        fc.record(
          { resource: str, subresource: str, name: str, namespace: str, uid: str, apiGroup: str, apiVersion: str, resourceVersion: fc.oneof(str, fc.integer()) },
          { requiredKeys: [] },
        ),
        fc.jsonValue({ maxDepth: 1 }),
      ),
      responseStatus: fc.oneof(
        fc.record(
          { metadata: fc.constant({}), status: fc.constantFrom("Success", "Failure", "x"), message: str, reason: str, code: fc.oneof(fc.integer({ min: 100, max: 599 }), fc.integer(), fc.double(), str) },
          { requiredKeys: [] },
        ),
        fc.jsonValue({ maxDepth: 1 }),
      ),
      // the API server always logs objects here (runtime.Unknown of a Kubernetes object), or nothing
      requestObject: fc.oneof(fc.dictionary(str, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }), fc.constant(null)),
      responseObject: fc.oneof(fc.record({ metadata: fc.record({ name: str, uid: str }, { requiredKeys: [] }) }), fc.dictionary(str, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 })),
      requestReceivedTimestamp: ts,
      stageTimestamp: ts,
      timestamp: ts,
      annotations: fc.oneof(
        fc.record({ "authorization.k8s.io/decision": fc.oneof(fc.constantFrom("allow", "forbid"), str), "authorization.k8s.io/reason": str, other: str }, { requiredKeys: [] }),
        fc.jsonValue({ maxDepth: 1 }),
      ),
      metadata: fc.jsonValue({ maxDepth: 1 }),
    },
    { requiredKeys: ["auditID", "verb"] },
  );

  it("holds for 400 generated records", () => {
    let mapped = 0;
    fc.assert(
      fc.property(rec, (r) => {
        const input = JSON.parse(JSON.stringify(r)) as JsonObject; // as parsed from a body (no -0, no undefined)
        let ev: OcsfEvent;
        try {
          ev = normalizeK8sAudit(input, CTX);
        } catch (e) {
          expect(e).toBeInstanceOf(NormalizeError);
          return;
        }
        mapped++;
        expect(validateOcsf(ev)).toEqual([]);
        expect(lossOf("k8s_audit", input, ev)).toEqual([]);
      }),
      { numRuns: 400, seed: 4242 },
    );
    expect(mapped).toBeGreaterThan(200);
  });
});

describe("golden files (hand-reviewed)", () => {
  it.each([
    ["falco-docs__configmap-create-v1beta1.json", 0, "configmap-create-v1beta1"],
    ["audit2rbac-demo.ndjson", 0, "impersonated-list-forbidden"],
    ["falco-trace__exec_pod.json", 0, "pods-exec"],
  ])("%s -> %s.ocsf.json", async (name, line, golden) => {
    const ev = normalizeK8sAudit(one(name, line), CTX);
    await expect(JSON.stringify(ev, null, 2)).toMatchFileSnapshot(`../golden/k8s-audit/${golden}.ocsf.json`);
  });
});

describe("credentials in request and response bodies are redacted (docs/mapping-k8s-audit.md, Secret values)", () => {
  const b64 = (s: string): string => Buffer.from(s).toString("base64");
  const PASSWORD = "hunter2-SuperSecret"; // 19 bytes
  const applied = JSON.stringify({ apiVersion: "v1", kind: "Secret", data: { password: b64(PASSWORD) }, metadata: { name: "example-secret", namespace: "default" } });
  const secret = {
    kind: "Secret",
    apiVersion: "v1",
    metadata: { name: "example-secret", namespace: "default", uid: "8c1c8bd4-1111-2222-3333-444455556666", annotations: { "kubectl.kubernetes.io/last-applied-configuration": applied } },
    data: { password: b64(PASSWORD), empty: "" },
    stringData: { user: "admin-plaintext" },
    type: "Opaque",
  };
  // the fixture's Metadata-level create, as a RequestResponse policy logs it
  const created = variant(one("falco-trace__create_secret.json"), { level: "RequestResponse", requestObject: secret, responseObject: secret });
  const leaks = (ev: OcsfEvent): boolean => /hunter2|admin-plaintext|SIGNED-TOKEN/.test(JSON.stringify(ev)) || JSON.stringify(ev).includes(b64(PASSWORD));

  it("Secret data and stringData (and kubectl's last-applied copy) keep their keys and sizes, not their values", () => {
    const ev = normalizeK8sAudit(created, { ...CTX, rawData: true, rawText: JSON.stringify(created) });
    expect(leaks(ev)).toBe(false);
    const req = o(o(ev.api).request).data as Obj;
    expect(req.data).toEqual({ password: "[redacted: 19 bytes]", empty: "" });
    expect(req.stringData).toEqual({ user: "[redacted: 15 bytes]" });
    expect(req.type).toBe("Opaque");
    const ann = o(o(req.metadata).annotations)["kubectl.kubernetes.io/last-applied-configuration"] as string;
    expect(JSON.parse(ann)).toEqual({ ...JSON.parse(applied), data: { password: "[redacted: 19 bytes]" } });
    expect(o(o(o(ev.api).response).data).data).toEqual({ password: "[redacted: 19 bytes]", empty: "" });
    expect(o(ev.unmapped).tributary).toEqual({
      redacted: [
        "api.request.data.data.password",
        "api.request.data.stringData.user",
        'api.request.data.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"].data.password',
        "api.response.data.data.password",
        "api.response.data.stringData.user",
        'api.response.data.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"].data.password',
      ],
    });
    // the resource uid from the response and the rest of the mapping are unchanged; the input is not modified
    expect(o((ev.resources as unknown[])[0]).uid).toBe("8c1c8bd4-1111-2222-3333-444455556666");
    expect((created.requestObject as Obj).data).toEqual(secret.data);
    expect(validateOcsf(ev)).toEqual([]);
    // exactly the redacted values are missing from the event, nothing else
    expect(lossOf("k8s_audit", created, ev).map((l) => l.split(":")[0])).toEqual([
      "requestObject.metadata.annotations[\"kubectl.kubernetes.io/last-applied-configuration\"]",
      "requestObject.data.password",
      "requestObject.stringData.user",
      "responseObject.metadata.annotations[\"kubectl.kubernetes.io/last-applied-configuration\"]",
      "responseObject.data.password",
      "responseObject.stringData.user",
    ]);
  });

  it("SecretList items, merge and JSON patches on secrets, TokenRequest and TokenReview tokens", () => {
    const list = variant(created, {
      verb: "list",
      objectRef: { resource: "secrets", namespace: "default", apiVersion: "v1" },
      requestObject: undefined,
      responseObject: { kind: "SecretList", apiVersion: "v1", metadata: {}, items: [{ metadata: { name: "a" }, data: { k: b64(PASSWORD) } }] },
    });
    const mergePatch = variant(created, { verb: "patch", requestObject: { data: { password: b64(PASSWORD) } }, responseObject: undefined });
    const jsonPatch = variant(created, {
      verb: "patch",
      requestObject: [
        { op: "replace", path: "/data/password", value: b64(PASSWORD) },
        { op: "add", path: "/metadata/labels/team", value: "payments" },
      ],
      responseObject: undefined,
    });
    const tokenRequest = variant(created, {
      objectRef: { resource: "serviceaccounts", subresource: "token", namespace: "default", name: "builder", apiVersion: "v1" },
      requestObject: { kind: "TokenRequest", apiVersion: "authentication.k8s.io/v1", spec: { expirationSeconds: 3600 }, status: { token: "" } },
      responseObject: { kind: "TokenRequest", apiVersion: "authentication.k8s.io/v1", spec: { expirationSeconds: 3600 }, status: { token: "eyJ.SIGNED-TOKEN.sig", expirationTimestamp: "2020-04-21T18:57:05Z" } },
    });
    const tokenReview = variant(created, {
      objectRef: { resource: "tokenreviews", apiGroup: "authentication.k8s.io", apiVersion: "v1" },
      requestObject: { kind: "TokenReview", apiVersion: "authentication.k8s.io/v1", spec: { token: "eyJ.SIGNED-TOKEN.sig" } },
      responseObject: { kind: "TokenReview", apiVersion: "authentication.k8s.io/v1", spec: { token: "eyJ.SIGNED-TOKEN.sig" }, status: { authenticated: true, user: { username: "bob" } } },
    });
    const redacted = (r: JsonObject): unknown => {
      const ev = normalizeK8sAudit(r, CTX);
      expect(leaks(ev)).toBe(false);
      expect(validateOcsf(ev)).toEqual([]);
      return o(o(ev.unmapped).tributary).redacted;
    };
    expect(redacted(list)).toEqual(["api.response.data.items[0].data.k"]);
    expect(redacted(mergePatch)).toEqual(["api.request.data.data.password"]);
    expect(redacted(jsonPatch)).toEqual(["api.request.data[0].value"]);
    const patched = normalizeK8sAudit(jsonPatch, CTX);
    expect(o(o(patched.api).request).data).toEqual([
      { op: "replace", path: "/data/password", value: "[redacted: 19 bytes]" },
      { op: "add", path: "/metadata/labels/team", value: "payments" },
    ]);
    expect(redacted(tokenRequest)).toEqual(["api.response.data.status.token"]);
    expect(redacted(tokenReview)).toEqual(["api.request.data.spec.token", "api.response.data.spec.token"]);
  });

  it("Table rows (kubectl get), metadata-only objects, v1 Lists, JSON patches at the root or /metadata, last-applied that is no object", () => {
    const listed = (responseObject: Json) => variant(created, { verb: "list", objectRef: { resource: "secrets", namespace: "default", apiVersion: "v1" }, requestObject: undefined, responseObject });
    const meta = { name: "example-secret", annotations: { "kubectl.kubernetes.io/last-applied-configuration": applied } };
    const table = listed({
      kind: "Table",
      apiVersion: "meta.k8s.io/v1",
      rows: [
        { cells: ["a"], object: { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: meta } },
        { cells: ["b"], object: { ...secret, metadata: { name: "b" } } },
      ],
    });
    const metaList = listed({ kind: "PartialObjectMetadataList", apiVersion: "meta.k8s.io/v1", items: [{ metadata: meta }] });
    const v1List = listed({ kind: "List", apiVersion: "v1", items: [{ ...secret, metadata: { name: "c" } }] });
    const patch = (requestObject: Json) => variant(created, { verb: "patch", requestObject, responseObject: undefined });
    const rootPatch = patch([{ op: "replace", path: "", value: { ...secret, metadata: { name: "d" } } }]);
    const metaPatch = patch([{ op: "add", path: "/metadata", value: { name: "e", labels: { team: "x" }, annotations: { note: PASSWORD } } }]);
    const notObject = variant(created, { requestObject: { ...secret, data: {}, stringData: {}, metadata: { annotations: { "kubectl.kubernetes.io/last-applied-configuration": JSON.stringify(PASSWORD) } } }, responseObject: undefined });
    const redacted = (r: JsonObject): unknown => {
      const ev = normalizeK8sAudit(r, { ...CTX, rawData: true, rawText: JSON.stringify(r) });
      expect(leaks(ev)).toBe(false);
      expect(validateOcsf(ev)).toEqual([]);
      return o(o(ev.unmapped).tributary).redacted;
    };
    const LA = '.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"].data.password';
    expect(redacted(table)).toEqual([`api.response.data.rows[0].object${LA}`, "api.response.data.rows[1].object.data.password", "api.response.data.rows[1].object.stringData.user"]);
    expect(redacted(metaList)).toEqual([`api.response.data.items[0]${LA}`]);
    expect(redacted(v1List)).toEqual(["api.response.data.items[0].data.password", "api.response.data.items[0].stringData.user"]);
    expect(redacted(rootPatch)).toEqual(["api.request.data[0].value.data.password", "api.request.data[0].value.stringData.user"]);
    expect(redacted(metaPatch)).toEqual(["api.request.data[0].value.annotations"]);
    expect(o(o(normalizeK8sAudit(metaPatch, CTX).api).request).data).toEqual([
      { op: "add", path: "/metadata", value: { name: "e", labels: { team: "x" }, annotations: "[redacted: 30 bytes]" } },
    ]);
    expect(redacted(notObject)).toEqual(['api.request.data.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]']);
    // a mutating webhook's JSON patch on the Secret, logged in an event annotation (Request level and up)
    const webhookKey = "patch.webhook.admission.k8s.io/round_0_index_0";
    const webhookPatch = JSON.stringify({ configuration: "inject", webhook: "inject.example.com", patch: [{ op: "add", path: "/data/token", value: b64(PASSWORD) }], patchType: "JSONPatch" });
    const mutated = variant(created, { annotations: { "authorization.k8s.io/decision": "allow", [webhookKey]: webhookPatch }, responseObject: undefined });
    expect(redacted(mutated)).toEqual([
      "api.request.data.data.password",
      "api.request.data.stringData.user",
      'api.request.data.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"].data.password',
      `unmapped.annotations["${webhookKey}"].patch[0].value`,
    ]);
    const mutatedEv = normalizeK8sAudit(mutated, CTX);
    expect(JSON.parse(o(o(mutatedEv.unmapped).annotations)[webhookKey] as string)).toEqual({ ...JSON.parse(webhookPatch), patch: [{ op: "add", path: "/data/token", value: "[redacted: 19 bytes]" }] });
    // a last-applied copy with nothing to redact is kept byte for byte (not re-serialized)
    const plain = JSON.stringify({ kind: "Secret", metadata: { name: "p" } }, null, 1) + "\n";
    const kept = variant(created, { requestObject: { kind: "Secret", metadata: { annotations: { "kubectl.kubernetes.io/last-applied-configuration": plain } } }, responseObject: undefined });
    const ev = normalizeK8sAudit(kept, CTX);
    expect(o(ev.unmapped).tributary).toBeUndefined();
    expect(lossOf("k8s_audit", kept, ev)).toEqual([]);
  });

  it("other objects are left alone: a ConfigMap, a Metadata-level secret event, a kind-less body on another resource", () => {
    const configMap = variant(created, {
      objectRef: { resource: "configmaps", namespace: "default", name: "cm", apiVersion: "v1" },
      requestObject: { kind: "ConfigMap", apiVersion: "v1", metadata: { name: "cm" }, data: { password: "visible" } },
      responseObject: undefined,
    });
    const other = variant(configMap, { requestObject: { data: { password: "visible" } } });
    for (const r of [configMap, other, one("falco-trace__create_secret.json")]) {
      const ev = normalizeK8sAudit(r, CTX);
      expect(o(ev.unmapped).tributary).toBeUndefined();
      expect(lossOf("k8s_audit", r, ev)).toEqual([]);
    }
  });

  it("redactAuditRecord (the quarantine's copy) redacts the record at its own paths; normalizing that copy gives the same event", () => {
    const webhookKey = "patch.webhook.admission.k8s.io/round_0_index_0";
    const rec = variant(created, {
      annotations: { [webhookKey]: JSON.stringify({ patch: [{ op: "add", path: "/data/token", value: b64(PASSWORD) }] }) },
    });
    const red = redactAuditRecord(rec)!;
    expect(red.redacted).toEqual([
      "requestObject.data.password",
      "requestObject.stringData.user",
      'requestObject.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"].data.password',
      "responseObject.data.password",
      "responseObject.stringData.user",
      'responseObject.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"].data.password',
      `annotations["${webhookKey}"].patch[0].value`,
    ]);
    const copy = red.record as JsonObject;
    expect(/hunter2|admin-plaintext/.test(JSON.stringify(copy)) || JSON.stringify(copy).includes(b64(PASSWORD))).toBe(false);
    expect((copy.requestObject as Obj).data).toEqual({ password: "[redacted: 19 bytes]", empty: "" });
    // everything else is the record as sent; the input is not modified
    expect({ ...copy, requestObject: rec.requestObject, responseObject: rec.responseObject, annotations: rec.annotations }).toEqual(rec);
    expect((rec.requestObject as Obj).data).toEqual(secret.data);
    // a redacted value is kept, not redacted again into another size: the same event, the same paths listed
    for (const rawData of [false, true]) {
      const ctx = { ...CTX, rawData };
      expect(normalizeK8sAudit(copy, ctx)).toEqual(normalizeK8sAudit(rec, ctx));
    }
    expect(redactAuditRecord(copy)).toEqual(red);
    // an EventList and an array of events: paths by item; a record without credentials: undefined
    const list = { kind: "EventList", apiVersion: "audit.k8s.io/v1", items: [one("falco-trace__create_secret.json"), rec] };
    expect(redactAuditRecord(list)!.redacted[0]).toBe("items[1].requestObject.data.password");
    expect(redactAuditRecord([rec])!.redacted[0]).toBe("[0].requestObject.data.password");
    for (const v of [one("falco-trace__create_secret.json"), { rule: "x", output_fields: { "k8s.ns.name": "default" } }, "text", null, [1, [2]]] as Json[]) expect(redactAuditRecord(v)).toBeUndefined();
    // a Secret or a TokenRequest sent to ingest in place of an audit event (kubectl get -o json by mistake)
    expect(redactAuditRecord(secret)!.redacted).toEqual(["data.password", "stringData.user", 'metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"].data.password']);
    expect(redactAuditRecord([{ kind: "TokenRequest", status: { token: "SIGNED-TOKEN" } }])).toEqual({ record: [{ kind: "TokenRequest", status: { token: "[redacted: 12 bytes]" } }], redacted: ["[0].status.token"] });
    expect(redactAuditRecord({ kind: "ConfigMap", data: { password: "visible" } })).toBeUndefined();
  });

  it("a kind-less Secret body is redacted when objectRef is malformed but requestURI names the core secrets resource", () => {
    const patch = variant(created, { verb: "patch", objectRef: "secrets", requestURI: "/api/v1/namespaces/default/secrets/example-secret?fieldManager=kubectl", requestObject: { data: { password: b64(PASSWORD) } }, responseObject: undefined });
    expect(o(o(o(normalizeK8sAudit(patch, CTX).api).request).data).data).toEqual({ password: "[redacted: 19 bytes]" });
    expect(redactAuditRecord(patch)!.redacted).toEqual(["requestObject.data.password"]);
    // a subresource or another resource's URI is not the Secret itself
    for (const uri of ["/api/v1/namespaces/default/secrets/x/status", "/api/v1/namespaces/default/configmaps/x", "/apis/example.com/v1/secrets"]) expect(redactAuditRecord(variant(patch, { requestURI: uri }))).toBeUndefined();
  });
});
