// Tetragon JSON export -> OCSF 1.3.0 (src/normalize/tetragon.ts, docs/mapping-tetragon.md).
// Every fixture line and every synthesized event must be a valid OCSF 1.3.0 event that loses no input field.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { fixturesIn } from "../support/fixtures";
import { validateOcsf } from "../support/ocsf-validator";
import { lossOf } from "../support/field-maps";
import { parseJson, isObject, type Json, type JsonObject } from "../../src/normalize/json";
import { normalizeTetragon, TETRAGON_SEVERITY } from "../../src/normalize/tetragon";
import { NormalizeError } from "../../src/normalize/errors";
import { tetragonEventKeys, detectKind } from "../../src/normalize/detect";
import type { NormalizeContext, OcsfEvent } from "../../src/normalize/ocsf";
import { frame } from "../../src/routes/decode";
import { runPipeline } from "../../src/pipeline";
import { shortContainerId } from "../../src/correlate/keys";

const CTX: NormalizeContext = { ocsfVersion: "1.3.0", receivedAt: 1700000000000, tenant: "test" };

const files = fixturesIn("tetragon");
const lines = new Map<string, string>(); // "process_kprobe.ndjson:1" -> line text
for (const f of files) {
  f.text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .forEach((l, i) => lines.set(`${f.name.replace(/^tetragon\//, "")}:${i + 1}`, l));
}
function rec(key: string): JsonObject {
  const l = lines.get(key);
  if (l === undefined) throw new Error(`no fixture line ${key}`);
  return parseJson(l) as JsonObject;
}
function norm(r: JsonObject, ctx: NormalizeContext = CTX): OcsfEvent {
  return normalizeTetragon(r, ctx);
}
/** Reads a nested value of an event by dotted path ("actor.process.uid", "observables.0.name"). */
function at(v: unknown, path: string): unknown {
  let cur = v;
  for (const k of path.split(".")) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}
function expectGood(r: JsonObject, ev: OcsfEvent): void {
  expect(validateOcsf(ev)).toEqual([]);
  expect(lossOf("tetragon", r, ev)).toEqual([]);
}

// ---------------------------------------------------------------------------------------------------------
// Fixtures

/** Expected class / activity / severity of every fixture line. */
const EXPECTED: Record<string, [number, number, number]> = {
  "process_exec.ndjson:1": [1007, 1, 1],
  "process_exec.ndjson:2": [1007, 1, 1],
  "process_exec.ndjson:3": [1007, 1, 1],
  "process_exec.ndjson:4": [1007, 1, 1],
  "process_exec.ndjson:5": [1007, 1, 1],
  "process_exec.ndjson:6": [1007, 1, 1],
  "process_exec.ndjson:7": [1007, 1, 1],
  "process_exec.ndjson:8": [1007, 1, 1],
  "process_exit.ndjson:1": [1007, 2, 1],
  "process_exit.ndjson:2": [1007, 2, 1],
  "process_exit.ndjson:3": [1007, 2, 1],
  "process_kprobe.ndjson:1": [1001, 3, 3], // security_file_permission, mask 2 MAY_WRITE, policy file-monitoring
  "process_kprobe.ndjson:2": [1002, 1, 2], // security_kernel_read_file id 2 READING_MODULE
  "process_kprobe.ndjson:3": [1002, 1, 2], // find_module_sections
  "process_kprobe.ndjson:4": [1002, 2, 2], // free_module
  "process_kprobe.ndjson:5": [1007, 5, 2], // commit_creds
  "process_kprobe.ndjson:6": [1007, 5, 2], // __x64_sys_setgid
  "process_kprobe.ndjson:7": [1007, 5, 2], // __x64_sys_setuid
  "process_kprobe.ndjson:8": [1003, 4, 2], // cap_capable
  "process_kprobe.ndjson:9": [1003, 4, 3], // __x64_sys_setns, policy namespace-access
  "process_kprobe.ndjson:10": [1001, 2, 2], // __x64_sys_read
  "process_kprobe.ndjson:11": [1001, 3, 2], // __x64_sys_write
  "process_kprobe.ndjson:12": [1001, 3, 2], // __x64_sys_write
  "process_connect.ndjson:1": [4001, 1, 1],
  "process_close.ndjson:1": [4001, 2, 1],
  "process_close.ndjson:2": [4001, 2, 1],
  "process_listen.ndjson:1": [4001, 7, 1],
  "process_listen.ndjson:2": [4001, 7, 1],
  "process_throttle.ndjson:1": [1008, 7, 2],
};

describe("Tetragon fixtures", () => {
  it("has an expectation for every fixture line", () => {
    expect([...lines.keys()].sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  for (const [key, [cls, act, sev]] of Object.entries(EXPECTED)) {
    it(`${key} -> ${cls}/${act}, severity ${sev}, valid 1.3.0, nothing lost`, () => {
      const r = rec(key);
      const ev = norm(r);
      expect([ev.class_uid, ev.activity_id, ev.severity_id]).toEqual([cls, act, sev]);
      expect(ev.type_uid).toBe(cls * 100 + act);
      expectGood(r, ev);
      expect(ev.metadata.product).toEqual({ name: "Tetragon", vendor_name: "Cilium" });
      expect(ev.metadata.log_name).toBe(Object.keys(r).find((k) => k.startsWith("process_")));
      expect(ev.metadata.tenant_uid).toBe("test");
      expect(ev.metadata.logged_time).toBe(1700000000000);
      expect(ev.raw_data).toBeUndefined();
    });
  }
});

describe("process_exec", () => {
  it("maps the launched process, its parent as actor, ancestry ids, container and time", () => {
    const r = rec("process_exec.ndjson:4");
    const body = r.process_exec as JsonObject;
    const p = body.process as JsonObject;
    const par = body.parent as JsonObject;
    const ev = norm(r);
    expect(ev.time).toBe(Date.parse("2023-10-06T22:03:57.700Z"));
    expect(ev.metadata.original_time).toBe("2023-10-06T22:03:57.700326678Z");
    expect(at(ev, "process.uid")).toBe(p.exec_id);
    expect(at(ev, "process.parent_process.uid")).toBe(p.parent_exec_id);
    expect(at(ev, "process.parent_process.uid")).toBe(par.exec_id);
    expect(at(ev, "actor.process.uid")).toBe(par.exec_id);
    expect(at(ev, "actor.process.parent_process.uid")).toBe(par.parent_exec_id);
    expect(at(ev, "process.pid")).toBe(52699);
    expect(at(ev, "process.name")).toBe("curl");
    expect(at(ev, "process.cmd_line")).toBe("/usr/bin/curl https://ebpf.io/applications/#tetragon");
    expect(at(ev, "process.file")).toEqual({ name: "curl", path: "/usr/bin/curl", type_id: 1, type: "Regular File" });
    expect(at(ev, "process.created_time")).toBe(Date.parse("2023-10-06T22:03:57.700Z"));
    expect(at(ev, "process.created_time_dt")).toBe("2023-10-06T22:03:57.700327580Z");
    expect(at(ev, "process.user")).toEqual({ uid: "0" });
    expect(at(ev, "process.namespace_pid")).toBe(49);
    expect(at(ev, "process.container")).toEqual({
      // pod.container.id "containerd://551e...": the id without its scheme, which is the runtime
      uid: "551e161c47d8ff0eb665438a7bcd5b4e3ef5a297282b40a92b7c77d6bd168eb3",
      runtime: "containerd",
      name: "spaceship",
      image: {
        uid: "docker.io/tgraf/netperf@sha256:8e86f744bfea165fd4ce68caa05abc96500f40130b857773186401926af7e9e6",
        name: "docker.io/tgraf/netperf:latest",
        tag: "latest",
      },
      orchestrator: "Kubernetes",
    });
    expect(ev.device).toEqual({ hostname: "gke-john-632-default-pool-7041cac0-9s95", type_id: 0, type: "Unknown" });
    expect(ev.metadata.profiles).toEqual(["host", "container", "datetime"]);
    // the pod has no slot in these 1.3.0 classes: it stays, as sent, in unmapped
    expect(at(ev, "unmapped.process_exec.process.pod")).toEqual({
      namespace: "default",
      name: "xwing",
      container: { start_time: "2023-10-06T21:52:41Z" },
      pod_labels: { "app.kubernetes.io/name": "xwing", class: "xwing", org: "alliance" },
      workload: "xwing",
    });
    expect(ev.observables).toEqual([
      { name: "device.hostname", type_id: 1, type: "Hostname", value: "gke-john-632-default-pool-7041cac0-9s95" },
      { name: "process.name", type_id: 9, type: "Process Name", value: "curl" },
      { name: "process.pid", type_id: 15, type: "Process ID", value: "52699" },
      { name: "process.cmd_line", type_id: 13, type: "Command Line", value: "/usr/bin/curl https://ebpf.io/applications/#tetragon" },
      // an observable naming an object carries no value (1.3.0)
      { name: "process.container", type_id: 27, type: "Container" },
      { name: "actor.process.name", type_id: 9, type: "Process Name", value: "bash" },
    ]);
  });

  it("uses the process start as the time when the event has no `time` (and sets no original_time)", () => {
    const ev = norm(rec("process_exec.ndjson:1"));
    expect(ev.time).toBe(Date.parse("2022-10-18T03:16:18.273Z"));
    expect(ev.metadata.original_time).toBeUndefined();
  });

  it("a host process (kernel parent, no pod) has no container", () => {
    const ev = norm(rec("process_exec.ndjson:6"));
    expect(at(ev, "process.container")).toBeUndefined();
    expect(at(ev, "actor.process.name")).toBe("<kernel>");
    expect(at(ev, "actor.process.file")).toBeUndefined();
    expect(ev.metadata.profiles).toEqual(["host", "datetime"]);
  });

  it("without a parent object, the actor is the parent known by parent_exec_id", () => {
    const r = rec("process_exec.ndjson:5");
    delete (r.process_exec as JsonObject).parent;
    const ev = norm(r);
    expectGood(r, ev);
    expect(at(ev, "actor.process")).toEqual({ uid: "a2luZC1jb250cm9sLXBsYW5lOjkwNzkyMjU2MjMyNjk6NDM4NzI=" });
    expect(at(ev, "process.parent_process")).toEqual({ uid: "a2luZC1jb250cm9sLXBsYW5lOjkwNzkyMjU2MjMyNjk6NDM4NzI=" });
  });

  it("without pod metadata, the `docker` id prefix is the container uid", () => {
    const ev = norm(rec("process_exec.ndjson:8"));
    expect(at(ev, "process.container")).toEqual({ uid: "a51959123c3ba99a9f50a700" });
  });

  it("the `docker` prefix (31 characters, cut by the agent) joins the full id on the 12-character container key, not on uid equality", () => {
    const r = rec("process_exec.ndjson:1");
    const p = (r.process_exec as JsonObject).process as JsonObject;
    const full = ((p.pod as JsonObject).container as JsonObject).id as string;
    expect([p.docker, full]).toEqual(["19a02291e106ce6227b684197be232e", "containerd://19a02291e106ce6227b684197be232ea57c4e1a5ab2604a12608c325d701c7f4"]);
    const withPod = at(norm(r), "process.container.uid") as string;
    delete p.pod;
    const dockerOnly = at(norm(r), "process.container.uid") as string;
    expect(dockerOnly).toBe("19a02291e106ce6227b684197be232e");
    expect(withPod.startsWith(dockerOnly) && withPod !== dockerOnly).toBe(true);
    expect(shortContainerId(dockerOnly)).toBe(shortContainerId(withPod));
  });

  it("container.uid is pod.container.id without its runtime scheme (the form Falco's container.full_id has); nothing else cut", () => {
    const withId = (id: string): OcsfEvent => {
      const r = rec("process_exec.ndjson:4");
      (((r.process_exec as JsonObject).process as JsonObject).pod as JsonObject).container = { id, name: "c" };
      const ev = norm(r);
      expectGood(r, ev);
      return ev;
    };
    const full = "e6af4dff4ea3b8d50313c59fbaa442e377da35671e79f43b8dc53c5efcc9b659";
    for (const rt of ["containerd", "docker", "cri-o"]) {
      expect(at(withId(`${rt}://${full}`), "process.container")).toMatchObject({ uid: full, runtime: rt });
    }
    // no scheme: unchanged, no runtime
    expect(at(withId(full), "process.container.uid")).toBe(full);
    expect(at(withId(full), "process.container.runtime")).toBeUndefined();
    // an empty id behind the scheme, a scheme shortContainerId would not cut, a nested one: kept whole
    expect(at(withId("containerd://"), "process.container")).toMatchObject({ uid: "containerd://", runtime: "containerd" });
    expect(at(withId(`x y://${full}`), "process.container")).toMatchObject({ uid: `x y://${full}`, runtime: "x y" });
    expect(at(withId(`docker://containerd://${full}`), "process.container.uid")).toBe(`docker://containerd://${full}`);
  });

  it("cutting the scheme loses nothing and keeps the container key (runtime + '://' + uid is the id sent)", () => {
    const ids = fc.tuple(
      fc.constantFrom("", "containerd://", "docker://", "cri-o://", "a.b_c://", "x y://", "://", "docker:/", "docker://docker://"),
      fc.string({ unit: fc.constantFrom("0", "9", "a", "f", "A", "g", ":", "/"), maxLength: 70 }),
    );
    fc.assert(
      fc.property(ids, ([scheme, rest]) => {
        const id = scheme + rest;
        const r = rec("process_exec.ndjson:4");
        (((r.process_exec as JsonObject).process as JsonObject).pod as JsonObject).container = { id };
        const ev = norm(r);
        const c = at(ev, "process.container") as { uid?: string; runtime?: string } | undefined;
        // an empty id is no id (the `docker` fallback may then give the uid)
        if (id === "") return lossOf("tetragon", r, ev).length === 0;
        const whole = c?.uid === id || (c?.runtime !== undefined && `${c.runtime}://${c.uid}` === id);
        return whole && shortContainerId(c?.uid) === shortContainerId(id) && lossOf("tetragon", r, ev).length === 0;
      }),
      { numRuns: 500 },
    );
  });
});

describe("process_exit", () => {
  it("maps a Terminate with the exiting process and its parent", () => {
    const r = rec("process_exit.ndjson:2");
    const ev = norm(r);
    expect(at(ev, "process.uid")).toBe("bWluaWt1YmU6MzM0OTc2NjQ2MjgyMjozODMxMw==");
    expect(at(ev, "process.parent_process.uid")).toBe("bWluaWt1YmU6MzM0OTc2MDUxNjExMTozODMxMg==");
    expect(at(ev, "actor.process")).toEqual({ uid: "bWluaWt1YmU6MzM0OTc2NjQ2MjgyMjozODMxMw==", pid: 38313, name: "cat", user: { uid: "0" } });
  });

  it("maps status to exit_code, the exit time to terminated_time, and keeps the signal", () => {
    const r = rec("process_exit.ndjson:2");
    const body = r.process_exit as JsonObject;
    body.signal = "SIGKILL";
    body.status = 137;
    body.time = "2022-02-01T18:01:56.411123456Z";
    const ev = norm(r);
    expectGood(r, ev);
    expect(ev.exit_code).toBe(137);
    expect(at(ev, "process.terminated_time")).toBe(Date.parse("2022-02-01T18:01:56.411Z"));
    expect(at(ev, "process.terminated_time_dt")).toBe("2022-02-01T18:01:56.411123456Z");
    expect(at(ev, "unmapped.process_exit.signal")).toBe("SIGKILL");
    expect(ev.message).toContain("SIGKILL");
  });

  it("an exit without status and signal is exit_code 0 (protojson leaves out a zero status); a signalled one has none", () => {
    // the fixture lines are such exits: Tetragon omits status 0
    const r = rec("process_exit.ndjson:1");
    expect((r.process_exit as JsonObject).status).toBeUndefined();
    const ev = norm(r);
    expectGood(r, ev);
    expect(ev.exit_code).toBe(0);
    expect(ev.message).toBe("process_exit /usr/bin/whoami --version (status 0)");
    const killed = rec("process_exit.ndjson:1");
    (killed.process_exit as JsonObject).signal = "SIGKILL";
    const kev = norm(killed);
    expectGood(killed, kev);
    expect(kev.exit_code).toBeUndefined();
    expect(kev.message).toBe("process_exit /usr/bin/whoami --version (SIGKILL)");
    const odd = rec("process_exit.ndjson:1");
    (odd.process_exit as JsonObject).status = "x";
    const oev = norm(odd);
    expect(oev.exit_code).toBeUndefined();
    expect(at(oev, "unmapped.process_exit.status")).toBe("x");
  });
});

describe("process_kprobe fixtures", () => {
  it("security_file_permission: file, access mask, policy, Allowed/Logged, return value as status", () => {
    const ev = norm(rec("process_kprobe.ndjson:1"));
    // the mode string "-rw-r--r--" says a regular file (it stays in unmapped, below)
    expect(ev.file).toEqual({ name: "passwd", path: "/etc/passwd", type_id: 1, type: "Regular File" });
    expect(ev.access_mask).toBe(2);
    expect(at(ev, "actor.process.name")).toBe("vi");
    expect(at(ev, "actor.process.parent_process.name")).toBe("sh");
    expect([ev.action_id, ev.action, ev.disposition_id, ev.disposition]).toEqual([1, "Allowed", 17, "Logged"]);
    expect(ev.authorizations).toEqual([{ decision: "Allowed", policy: { name: "file-monitoring" } }]);
    expect([ev.status_id, ev.status, ev.status_code]).toEqual([1, "Success", "0"]);
    expect(ev.metadata.event_code).toBe("security_file_permission");
    expect(ev.metadata.profiles).toContain("security_control");
    expect(at(ev, "unmapped.process_kprobe.action")).toBe("KPROBE_ACTION_POST");
    expect(at(ev, "unmapped.process_kprobe.args")).toEqual([{ file_arg: { permission: "-rw-r--r--" } }, null]);
  });

  it("file type from the mode string of file_arg / path_arg: symlink, folder, device; none or odd -> Unknown", () => {
    const typeOf = (permission: Json | undefined, function_name = "security_file_permission") => {
      const file_arg: JsonObject = permission === undefined ? { path: "/etc/x" } : { path: "/etc/x", permission };
      const r = hookEvent("process_kprobe", { function_name, args: [{ file_arg }, { int_arg: 4 }], policy_name: "fim" });
      const ev = norm(r);
      expectGood(r, ev);
      expect(at(ev, "unmapped.process_kprobe.args.0.file_arg.permission")).toBe(permission);
      return [at(ev, "file.type_id"), at(ev, "file.type")];
    };
    expect(typeOf("lrwxrwxrwx")).toEqual([7, "Symbolic Link"]);
    expect(typeOf("drwxr-xr-x")).toEqual([2, "Folder"]);
    expect(typeOf("crw-rw-rw-")).toEqual([3, "Character Device"]);
    expect(typeOf(undefined)).toEqual([0, "Unknown"]);
    expect(typeOf("?rw-------")).toEqual([0, "Unknown"]);
    expect(typeOf(7)).toEqual([0, "Unknown"]);
    // a mkdir hook's file is the new folder whatever the mode string says
    expect(typeOf("-rw-r--r--", "security_path_mkdir")).toEqual([2, "Folder"]);
  });

  it("security_kernel_read_file of a module: Kernel Extension Load with the .ko file; no node_name -> unknown device", () => {
    const ev = norm(rec("process_kprobe.ndjson:2"));
    expect(ev.driver).toEqual({
      file: { name: "kernel_module_hello.ko", path: "/home/tixxdz/tetragon/contrib/tester-progs/kernel_module_hello.ko", type_id: 1, type: "Regular File" },
    });
    expect(ev.device).toEqual({ name: "unknown", type_id: 0, type: "Unknown" });
  });

  it("module_arg: the module name; tainted flags and signature state stay in unmapped", () => {
    const load = norm(rec("process_kprobe.ndjson:3"));
    expect(at(load, "driver.file.name")).toBe("xfs");
    // who loaded it, as in the other classes' messages
    expect(load.message).toBe(`find_module_sections xfs by ${String(at(load, "actor.process.file.path"))}`);
    expect(at(load, "unmapped.process_kprobe.args.0.module_arg.signature_ok")).toBe(true);
    const unload = norm(rec("process_kprobe.ndjson:4"));
    expect(at(unload, "driver.file.name")).toBe("kernel_module_hello");
    expect(at(unload, "unmapped.process_kprobe.args.0.module_arg.tainted")).toEqual(["TAINT_OUT_OF_TREE_MODULE", "TAINT_UNSIGNED_MODULE"]);
  });

  it("commit_creds / setuid: Set User ID, the new user on the process, the old one on the actor", () => {
    const creds = norm(rec("process_kprobe.ndjson:5"));
    expect(at(creds, "actor.process.user.uid")).toBe("11");
    expect(at(creds, "process.user.uid")).toBe("0");
    const setuid = norm(rec("process_kprobe.ndjson:7"));
    expect(at(setuid, "process.user.uid")).toBe("0");
    const setgid = norm(rec("process_kprobe.ndjson:6"));
    expect(at(setgid, "unmapped.process_kprobe.args")).toEqual([{ int_arg: 0 }]);
  });

  it("other hooks: Kernel Activity Invoke, kernel.name = function, system_call for syscalls", () => {
    const cap = norm(rec("process_kprobe.ndjson:8"));
    expect(cap.kernel).toEqual({ name: "cap_capable", type_id: 2, type: "System Call" });
    expect([cap.status_id, cap.status_code]).toEqual([2, "-1"]);
    // the capability has no 1.3.0 attribute (it stays in unmapped): the message names it
    expect(cap.message).toMatch(/^cap_capable CAP_SYSLOG by \//);
    expect(at(cap, "unmapped.process_kprobe.args.1.capability_arg.name")).toBe("CAP_SYSLOG");
    expect(norm(rec("process_kprobe.ndjson:9")).message).toMatch(/^__x64_sys_setns by \//);
    const setns = norm(rec("process_kprobe.ndjson:9"));
    expect(setns.kernel).toEqual({ name: "__x64_sys_setns", type_id: 2, type: "System Call", system_call: "setns" });
    expect(setns.authorizations).toEqual([{ decision: "Allowed", policy: { name: "namespace-access" } }]);
  });

  it("read/write syscalls with a followed fd: Read / Update of the file", () => {
    expect(at(norm(rec("process_kprobe.ndjson:10")), "file.path")).toBe("usr/share/elasticsearch/config/elasticsearch.keystore");
    expect(at(norm(rec("process_kprobe.ndjson:12")), "file.name")).toBe("passwd");
  });

  it("an empty parent object is kept as sent", () => {
    const ev = norm(rec("process_kprobe.ndjson:12"));
    expect(at(ev, "unmapped.process_kprobe.parent")).toEqual({});
    const parentExecId = ((rec("process_kprobe.ndjson:12").process_kprobe as JsonObject).process as JsonObject).parent_exec_id;
    expect(at(ev, "actor.process.parent_process")).toEqual({ uid: parentExecId });
  });
});

describe("legacy network events and throttle", () => {
  it("process_connect: Open, outbound, endpoints, protocol", () => {
    const ev = norm(rec("process_connect.ndjson:1"));
    expect(ev.src_endpoint).toEqual({ ip: "10.88.0.6", port: 48416 });
    expect(ev.dst_endpoint).toEqual({ ip: "64.225.45.153", port: 443 });
    expect(ev.connection_info).toEqual({
      direction_id: 2,
      direction: "Outbound",
      protocol_name: "tcp",
      protocol_num: 6,
      protocol_ver_id: 4,
      protocol_ver: "Internet Protocol version 4 (IPv4)",
    });
  });

  it("process_close: traffic counters", () => {
    const ev = norm(rec("process_close.ndjson:2"));
    expect(ev.traffic).toEqual({ bytes_out: 3265, bytes_in: 3165, packets_out: 21, packets_in: 30, bytes: 6430, packets: 51 });
    expect(at(ev, "unmapped.process_close.stats")).toEqual({ srtt: 48787 });
  });

  it("process_listen: Listen, the listening address is the destination (responder)", () => {
    const ev = norm(rec("process_listen.ndjson:1"));
    expect(ev.dst_endpoint).toEqual({ ip: "0.0.0.0", port: 80 });
    expect(ev.src_endpoint).toBeUndefined();
  });

  it("process_throttle: Event Log Activity Stop (export of the cgroup's events stops)", () => {
    const ev = norm(rec("process_throttle.ndjson:1"));
    expect([ev.log_provider, ev.log_type_id, ev.log_type]).toEqual(["Tetragon", 2, "Application"]);
    expect(ev.message).toBe("Tetragon throttles events of cgroup session-429.scope");
    expect(ev.unmapped).toEqual({ process_throttle: { type: "THROTTLE_START", cgroup: "session-429.scope" } });
  });
});

// ---------------------------------------------------------------------------------------------------------
// Synthesized events (no real fixtures exist for these hooks): modelled on the kprobe fixture's shape,
// with Tetragon's proto field names.

const BASE = rec("process_kprobe.ndjson:1").process_kprobe as JsonObject;
const TIME = "2024-04-14T02:18:20.123456789Z";
const NODE = "tetragon-dev-control-plane";

function hookEvent(type: string, fields: JsonObject, extra: JsonObject = {}): JsonObject {
  return { [type]: { process: structuredClone(BASE.process!), parent: structuredClone(BASE.parent!), ...fields }, node_name: NODE, time: TIME, ...extra };
}

const SOCK_OUT = {
  family: "AF_INET",
  type: "SOCK_STREAM",
  protocol: "IPPROTO_TCP",
  saddr: "10.244.0.12",
  daddr: "104.198.14.52",
  sport: 41234,
  dport: 443,
  cookie: "18446620598367913152",
  state: "TCP_SYN_SENT",
};

/** sys_symlinkat(target, newdirfd, linkpath) arguments. */
const SYMLINK_ARGS: Json[] = [{ string_arg: "/etc/passwd" }, { int_arg: -100 }, { string_arg: "/tmp/passwd-link" }];

/** A connection accepted by a server listening on 10.244.0.12:8080 (the local side). */
const SOCK_ACCEPTED = { ...SOCK_OUT, saddr: "10.244.0.12", sport: 8080, daddr: "10.244.0.9", dport: 51234 };

interface Synth {
  name: string;
  record: JsonObject;
  expect: [number, number, number];
  check?: (ev: OcsfEvent) => void;
}

const SYNTH: Synth[] = [
  {
    name: "kprobe tcp_connect (sock_arg)",
    record: hookEvent("process_kprobe", {
      function_name: "tcp_connect",
      args: [{ sock_arg: SOCK_OUT }],
      action: "KPROBE_ACTION_POST",
      policy_name: "monitor-network-activity-outside-cluster",
    }),
    expect: [4001, 1, TETRAGON_SEVERITY.policyMatch],
    check: (ev) => {
      expect(ev.src_endpoint).toEqual({ ip: "10.244.0.12", port: 41234 });
      expect(ev.dst_endpoint).toEqual({ ip: "104.198.14.52", port: 443 });
      expect(at(ev, "connection_info.direction_id")).toBe(2);
      expect(at(ev, "connection_info.uid")).toBe("18446620598367913152");
      expect(at(ev, "connection_info.protocol_num")).toBe(6);
      expect(ev.metadata.event_code).toBe("tcp_connect");
    },
  },
  {
    name: "kprobe tcp_sendmsg (sock_arg, size)",
    record: hookEvent("process_kprobe", {
      function_name: "tcp_sendmsg",
      args: [{ sock_arg: { ...SOCK_OUT, state: "TCP_ESTABLISHED" } }, { int_arg: 1448 }],
      action: "KPROBE_ACTION_POST",
      policy_name: "monitor-tcp",
    }),
    expect: [4001, 6, TETRAGON_SEVERITY.policyMatch],
    check: (ev) => expect(ev.traffic).toEqual({ bytes_out: 1448, bytes: 1448 }),
  },
  {
    name: "kprobe tcp_close (sock_arg)",
    record: hookEvent("process_kprobe", {
      function_name: "tcp_close",
      args: [{ sock_arg: { ...SOCK_OUT, state: "TCP_CLOSE" } }],
      action: "KPROBE_ACTION_POST",
      policy_name: "monitor-tcp",
    }),
    expect: [4001, 2, TETRAGON_SEVERITY.policyMatch],
  },
  {
    // examples/tracingpolicy/symlink-observe.yaml: sys_symlinkat(target, newdirfd, linkpath)
    name: "kprobe __x64_sys_symlinkat (target and link path)",
    record: hookEvent("process_kprobe", {
      function_name: "__x64_sys_symlinkat",
      args: SYMLINK_ARGS,
      action: "KPROBE_ACTION_POST",
      policy_name: "sys-symlink-passwd",
    }),
    expect: [1001, 1, TETRAGON_SEVERITY.policyMatch],
    check: (ev) => {
      expect(at(ev, "file.path")).toBe("/etc/passwd");
      expect(ev.file_result).toEqual({ name: "passwd-link", path: "/tmp/passwd-link", type_id: 7, type: "Symbolic Link" });
      expect(ev.message).toBe("__x64_sys_symlinkat /etc/passwd -> /tmp/passwd-link by /bin/vi");
    },
  },
  {
    // examples/tracingpolicy/symlink-override.yaml: the call is refused, so no link results
    name: "kprobe __x64_sys_symlinkat with Override (no file_result)",
    record: hookEvent("process_kprobe", {
      function_name: "__x64_sys_symlinkat",
      args: SYMLINK_ARGS,
      action: "KPROBE_ACTION_OVERRIDE",
      policy_name: "sys-symlink-passwd",
    }),
    expect: [1001, 1, TETRAGON_SEVERITY.enforcement],
    check: (ev) => {
      expect(ev.file_result).toBeUndefined();
      expect(at(ev, "unmapped.process_kprobe.args.2.string_arg")).toBe("/tmp/passwd-link");
      expect(ev.message).toBe("__x64_sys_symlinkat /etc/passwd -> /tmp/passwd-link by /bin/vi");
    },
  },
  {
    // examples/tracingpolicy/hardlink-observe.yaml: sys_linkat(olddirfd, oldpath, newdirfd, newpath, flags); and a
    // relative new path, which names no file by itself
    name: "kprobe __x64_sys_linkat (old and new path; relative new path stays in unmapped)",
    record: hookEvent("process_kprobe", {
      function_name: "__x64_sys_linkat",
      args: [{ int_arg: -100 }, { string_arg: "/etc/passwd" }, { int_arg: -100 }, { string_arg: "/tmp/hard" }, { int_arg: 0 }],
      action: "KPROBE_ACTION_POST",
      policy_name: "sys-linkat-passwd",
    }),
    expect: [1001, 1, TETRAGON_SEVERITY.policyMatch],
    check: (ev) => {
      expect(ev.file_result).toEqual({ name: "hard", path: "/tmp/hard", type_id: 0, type: "Unknown" });
      const rel = hookEvent("process_kprobe", { function_name: "__x64_sys_renameat2", args: [{ int_arg: -100 }, { string_arg: "/etc/passwd" }, { int_arg: 3 }, { string_arg: "p" }] });
      const ev2 = norm(rel);
      expect([ev2.class_uid, ev2.activity_id, ev2.file_result]).toEqual([1001, 5, undefined]);
      expectGood(rel, ev2);
    },
  },
  {
    // examples/tracingpolicy/tcp-accept.yaml style: returnArg type sock, the accepted connection is the return value
    name: "kprobe inet_csk_accept (returned sock_arg)",
    record: hookEvent("process_kprobe", {
      function_name: "inet_csk_accept",
      args: [],
      return: { sock_arg: { ...SOCK_ACCEPTED, state: "TCP_ESTABLISHED" } },
      action: "KPROBE_ACTION_POST",
      policy_name: "accept",
    }),
    expect: [4001, 1, TETRAGON_SEVERITY.policyMatch],
    check: (ev) => {
      // the accepting (local) socket is the responder
      expect(ev.src_endpoint).toEqual({ ip: "10.244.0.9", port: 51234 });
      expect(ev.dst_endpoint).toEqual({ ip: "10.244.0.12", port: 8080 });
      expect(at(ev, "connection_info.direction_id")).toBe(1);
      expect(at(ev, "connection_info.uid")).toBe("18446620598367913152");
      expect(at(ev, "unmapped.process_kprobe.return.sock_arg.state")).toBe("TCP_ESTABLISHED");
      expect(at(ev, "unmapped.process_kprobe.return.sock_arg.daddr")).toBeUndefined();
    },
  },
  {
    // the listening socket is the argument (no peer), the new connection the return value
    name: "kprobe tcp_create_openreq_child (listener sock_arg, returned child sock_arg)",
    record: hookEvent("process_kprobe", {
      function_name: "tcp_create_openreq_child",
      args: [{ sock_arg: { ...SOCK_OUT, saddr: "10.244.0.12", sport: 8080, daddr: "0.0.0.0", dport: 0, state: "TCP_LISTEN" } }],
      return: { sock_arg: { ...SOCK_ACCEPTED, cookie: "7", state: "TCP_SYN_RECV" } },
      action: "KPROBE_ACTION_POST",
      policy_name: "accept",
    }),
    expect: [4001, 1, TETRAGON_SEVERITY.policyMatch],
    check: (ev) => {
      expect(ev.src_endpoint).toEqual({ ip: "10.244.0.9", port: 51234 });
      expect(ev.dst_endpoint).toEqual({ ip: "10.244.0.12", port: 8080 });
      expect(at(ev, "connection_info.uid")).toBe("7");
      expect(at(ev, "unmapped.process_kprobe.args.0.sock_arg.saddr")).toBe("10.244.0.12");
    },
  },
  {
    name: "kprobe security_socket_connect (sockaddr_arg) with SIGKILL",
    record: hookEvent("process_kprobe", {
      function_name: "security_socket_connect",
      args: [
        { sock_arg: { family: "AF_INET", type: "SOCK_DGRAM", protocol: "IPPROTO_UDP", saddr: "0.0.0.0", daddr: "0.0.0.0", sport: 0, dport: 0 } },
        { sockaddr_arg: { family: "AF_INET", addr: "1.1.1.1", port: 53 } },
      ],
      action: "KPROBE_ACTION_SIGKILL",
      policy_name: "block-external-dns",
      message: "DNS to a resolver outside the cluster",
      tags: ["observability.network", "enforcement"],
    }),
    expect: [4001, 1, TETRAGON_SEVERITY.enforcement],
    check: (ev) => {
      expect(ev.dst_endpoint).toEqual({ ip: "1.1.1.1", port: 53 });
      expect(ev.src_endpoint).toBeUndefined();
      expect([ev.action_id, ev.action, ev.disposition_id, ev.disposition]).toEqual([2, "Denied", 2, "Blocked"]);
      expect([ev.status_id, ev.status, ev.status_code]).toEqual([2, "Failure", undefined]);
      expect(ev.authorizations).toEqual([{ decision: "Denied", policy: { name: "block-external-dns" } }]);
      expect(ev.message).toBe("DNS to a resolver outside the cluster");
      expect(ev.metadata.labels).toEqual(["observability.network", "enforcement"]);
      expect(at(ev, "connection_info.protocol_name")).toBe("udp");
    },
  },
  {
    name: "kprobe inet_csk_listen_start (listening sock_arg)",
    record: hookEvent("process_kprobe", {
      function_name: "inet_csk_listen_start",
      args: [{ sock_arg: { family: "AF_INET6", type: "SOCK_STREAM", protocol: "IPPROTO_TCP", saddr: "::", daddr: "::", sport: 8080, dport: 0, state: "TCP_LISTEN" } }],
      action: "KPROBE_ACTION_POST",
      policy_name: "monitor-listen",
    }),
    expect: [4001, 7, TETRAGON_SEVERITY.policyMatch],
    check: (ev) => {
      expect(ev.dst_endpoint).toEqual({ ip: "::", port: 8080 });
      expect(at(ev, "connection_info.protocol_ver_id")).toBe(6);
    },
  },
  {
    name: "kprobe ip_output (skb_arg)",
    record: hookEvent("process_kprobe", {
      function_name: "ip_output",
      args: [{ skb_arg: { hash: 0, len: 512, priority: 0, mark: 0, saddr: "10.244.0.12", daddr: "10.96.0.10", sport: 51515, dport: 53, proto: 17, sec_path_len: 0, sec_path_olen: 0 } }],
      action: "KPROBE_ACTION_POST",
      policy_name: "monitor-skb",
    }),
    expect: [4001, 6, TETRAGON_SEVERITY.policyMatch],
    check: (ev) => {
      expect(ev.traffic).toEqual({ bytes: 512 });
      expect(at(ev, "connection_info.protocol_name")).toBe("udp");
    },
  },
  {
    name: "kprobe fd_install with FOLLOWFD",
    record: hookEvent("process_kprobe", {
      function_name: "fd_install",
      args: [{ int_arg: 3 }, { file_arg: { path: "/etc/shadow", flags: "" } }],
      action: "KPROBE_ACTION_FOLLOWFD",
      policy_name: "sensitive-files",
    }),
    expect: [1001, 14, TETRAGON_SEVERITY.policyMatch],
    check: (ev) => expect(at(ev, "file.path")).toBe("/etc/shadow"),
  },
  {
    name: "kprobe security_file_permission read with OVERRIDE",
    record: hookEvent("process_kprobe", {
      function_name: "security_file_permission",
      args: [{ file_arg: { path: "/etc/shadow", permission: "-rw-r-----" } }, { int_arg: 4 }],
      return: { int_arg: -1 },
      action: "KPROBE_ACTION_OVERRIDE",
      policy_name: "file-monitoring-enforce",
      return_action: "KPROBE_ACTION_POST",
    }),
    expect: [1001, 2, TETRAGON_SEVERITY.enforcement],
    check: (ev) => {
      expect([ev.action_id, ev.disposition_id]).toEqual([2, 2]);
      expect([ev.status_id, ev.status, ev.status_code]).toEqual([2, "Failure", "-1"]);
      expect(ev.access_mask).toBe(4);
    },
  },
  {
    name: "kprobe security_path_unlink (path_arg)",
    record: hookEvent("process_kprobe", {
      function_name: "security_path_unlink",
      args: [{ path_arg: { mount: "", path: "/var/log/audit/audit.log", flags: "", permission: "-rw-------" } }],
      action: "KPROBE_ACTION_POST",
      policy_name: "log-tampering",
    }),
    expect: [1001, 4, TETRAGON_SEVERITY.policyMatch],
  },
  {
    name: "kprobe security_kernel_module_request (string_arg)",
    record: hookEvent("process_kprobe", {
      function_name: "security_kernel_module_request",
      args: [{ string_arg: "fs-xfs" }],
      return: { int_arg: 0 },
      action: "KPROBE_ACTION_POST",
      policy_name: "monitor-kernel-modules",
    }),
    expect: [1002, 1, TETRAGON_SEVERITY.policyMatch],
    check: (ev) => expect(at(ev, "driver.file.name")).toBe("fs-xfs"),
  },
  {
    name: "kprobe __x64_sys_setreuid",
    record: hookEvent("process_kprobe", {
      function_name: "__x64_sys_setreuid",
      args: [{ int_arg: -1 }, { int_arg: 1000 }],
      action: "KPROBE_ACTION_POST",
      policy_name: "privileges-raise",
    }),
    expect: [1007, 5, TETRAGON_SEVERITY.policyMatch],
    check: (ev) => {
      expect(at(ev, "process.user.uid")).toBe("1000");
      expect(at(ev, "unmapped.process_kprobe.args")).toEqual([{ int_arg: -1 }, null]);
    },
  },
  {
    name: "kprobe with NOTIFYENFORCER on an unknown function (no argument kind): Kernel Activity",
    record: hookEvent("process_kprobe", {
      function_name: "__x64_sys_ptrace",
      args: [{ int_arg: 16 }, { int_arg: 4242 }],
      action: "KPROBE_ACTION_NOTIFYENFORCER",
      policy_name: "block-ptrace",
    }),
    expect: [1003, 4, TETRAGON_SEVERITY.enforcement],
    check: (ev) => expect(ev.kernel).toEqual({ name: "__x64_sys_ptrace", type_id: 2, type: "System Call", system_call: "ptrace" }),
  },
  {
    name: "tracepoint syscalls/sys_enter_openat (string_arg filename)",
    record: hookEvent("process_tracepoint", {
      subsys: "syscalls",
      event: "sys_enter_openat",
      args: [{ int_arg: -100 }, { string_arg: "/etc/shadow" }, { int_arg: 0 }],
      policy_name: "openat-shadow",
      action: "KPROBE_ACTION_POST",
    }),
    expect: [1001, 14, TETRAGON_SEVERITY.policyMatch],
    check: (ev) => {
      expect(at(ev, "file.path")).toBe("/etc/shadow");
      expect(ev.metadata.event_code).toBe("sys_enter_openat");
      expect(at(ev, "unmapped.process_tracepoint.subsys")).toBe("syscalls");
    },
  },
  {
    name: "tracepoint raw_syscalls/sys_enter (syscall_id)",
    record: hookEvent("process_tracepoint", {
      subsys: "raw_syscalls",
      event: "sys_enter",
      args: [{ syscall_id: { id: 59, abi: "x64" } }],
      policy_name: "raw-syscalls",
      action: "KPROBE_ACTION_POST",
    }),
    expect: [1003, 4, TETRAGON_SEVERITY.policyMatch],
    check: (ev) => {
      expect(ev.kernel).toEqual({ name: "sys_enter", type_id: 2, type: "System Call" });
      expect(at(ev, "unmapped.process_tracepoint.args")).toEqual([{ syscall_id: { id: 59, abi: "x64" } }]);
    },
  },
  {
    name: "lsm bprm_check_security with OVERRIDE and an IMA hash",
    record: hookEvent("process_lsm", {
      function_name: "bprm_check_security",
      policy_name: "block-netcat",
      args: [{ linux_binprm_arg: { path: "/usr/bin/nc", permission: "-rwxr-xr-x" } }],
      action: "KPROBE_ACTION_OVERRIDE",
      ima_hash: "sha256:5b1e0d4f7fd1b7a7ef94e0c3b6fe37ea4b0fbd1ec0e0a1fe5a0f7e5fd2b1d0c3",
    }),
    expect: [1007, 1, TETRAGON_SEVERITY.enforcement],
    check: (ev) => {
      expect(at(ev, "process.file.path")).toBe("/usr/bin/nc");
      expect(at(ev, "process.pid")).toBe(64746);
      expect(at(ev, "process.file.hashes")).toEqual([
        { algorithm_id: 3, algorithm: "SHA-256", value: "5b1e0d4f7fd1b7a7ef94e0c3b6fe37ea4b0fbd1ec0e0a1fe5a0f7e5fd2b1d0c3" },
      ]);
      expect(at(ev, "actor.process.name")).toBe("vi");
      expect([ev.action_id, ev.disposition_id]).toEqual([2, 2]);
    },
  },
  {
    name: "lsm file_open with message and tags",
    record: hookEvent("process_lsm", {
      function_name: "file_open",
      policy_name: "lsm-file-open",
      message: "sensitive file opened",
      args: [{ file_arg: { path: "/etc/passwd", permission: "-rw-r--r--" } }],
      action: "KPROBE_ACTION_POST",
      tags: ["observability.filesystem"],
    }),
    expect: [1001, 14, TETRAGON_SEVERITY.policyMatch],
    check: (ev) => {
      expect(ev.message).toBe("sensitive file opened");
      expect(ev.metadata.labels).toEqual(["observability.filesystem"]);
    },
  },
  {
    name: "uprobe /bin/bash readline",
    record: hookEvent("process_uprobe", {
      path: "/bin/bash",
      symbol: "readline",
      policy_name: "bash-readline",
      message: "interactive bash input",
      args: [],
      tags: ["observability.process"],
    }),
    expect: [1007, 99, TETRAGON_SEVERITY.policyMatch],
    check: (ev) => {
      expect(ev.metadata.event_code).toBe("readline");
      expect(at(ev, "unmapped.process_uprobe.path")).toBe("/bin/bash");
      expect(at(ev, "unmapped.process_uprobe.args")).toEqual([]);
    },
  },
  {
    name: "usdt",
    record: hookEvent("process_usdt", { path: "/usr/lib/libc.so.6", provider: "libc", name: "setjmp", policy_name: "usdt-setjmp", args: [{ uint_arg: 7 }] }),
    expect: [1007, 99, TETRAGON_SEVERITY.policyMatch],
  },
  {
    name: "loader (library mapped)",
    record: {
      process_loader: { process: structuredClone(BASE.process!), path: "/usr/lib/x86_64-linux-gnu/libssl.so.3", buildid: "q83vEjRWeJq83vEjRWeJq83vEjQ=" },
      node_name: NODE,
      time: TIME,
    },
    expect: [1005, 1, TETRAGON_SEVERITY.lifecycle],
    check: (ev) => expect(at(ev, "module.file.name")).toBe("libssl.so.3"),
  },
  {
    name: "throttle stop",
    record: { process_throttle: { type: "THROTTLE_STOP", cgroup: "session-429.scope" }, node_name: "ubuntu-22", time: "2024-07-26T13:07:48.178407128Z" },
    expect: [1008, 6, TETRAGON_SEVERITY.lifecycle],
  },
  {
    name: "rate_limit_info (kind given by the route)",
    record: { rate_limit_info: { number_of_dropped_process_events: "1234" }, node_name: NODE, time: TIME },
    expect: [1008, 99, TETRAGON_SEVERITY.exportLoss],
    check: (ev) => expect(ev.message).toBe("Tetragon export rate limit: 1234 events dropped"),
  },
  {
    name: "aggregated legacy connect with cluster_name and node_labels",
    record: {
      ...rec("process_connect.ndjson:1"),
      aggregation_info: { count: 3 },
      cluster_name: "prod-eu-1",
      node_labels: { "kubernetes.io/hostname": "minikube", "topology.kubernetes.io/zone": "eu-west-1a" },
    },
    expect: [4001, 1, TETRAGON_SEVERITY.lifecycle],
    check: (ev) => {
      expect(ev.count).toBe(3);
      expect(at(ev, "unmapped.cluster_name")).toBe("prod-eu-1");
      expect(at(ev, "unmapped.node_labels.topology.kubernetes.io/zone")).toBeUndefined(); // dotted key: read directly
      expect((ev.unmapped as JsonObject).node_labels).toEqual({ "kubernetes.io/hostname": "minikube", "topology.kubernetes.io/zone": "eu-west-1a" });
    },
  },
  {
    name: "exec with a pod uid, pod annotations, workload kind and process_credentials",
    record: (() => {
      const r = rec("process_exec.ndjson:4");
      const p = (r.process_exec as JsonObject).process as JsonObject;
      const pod = p.pod as JsonObject;
      pod.uid = "1d8b7a4e-1f55-4a0b-9c3e-6f0d2d3c8b71";
      pod.workload_kind = "Deployment";
      pod.pod_annotations = { "kubectl.kubernetes.io/default-container": "spaceship" };
      p.process_credentials = { uid: 0, gid: 0, euid: 0, egid: 0, suid: 0, sgid: 0, fsuid: 0, fsgid: 0 };
      p.user = { name: "root" };
      p.in_init_tree = false;
      return r;
    })(),
    expect: [1007, 1, TETRAGON_SEVERITY.lifecycle],
    check: (ev) => {
      expect(at(ev, "process.container.pod_uuid")).toBe("1d8b7a4e-1f55-4a0b-9c3e-6f0d2d3c8b71");
      expect(at(ev, "process.user")).toEqual({ uid: "0", name: "root" });
      expect(ev.observables).toContainEqual({ name: "process.user.name", type_id: 4, type: "User Name", value: "root" });
    },
  },
];

describe("synthesized Tetragon events", () => {
  for (const s of SYNTH) {
    it(`${s.name} -> ${s.expect[0]}/${s.expect[1]}, severity ${s.expect[2]}, valid 1.3.0, nothing lost`, () => {
      const ev = norm(s.record);
      expect([ev.class_uid, ev.activity_id, ev.severity_id]).toEqual(s.expect);
      expectGood(s.record, ev);
      s.check?.(ev);
    });
  }
});

// ---------------------------------------------------------------------------------------------------------
// Common rules

describe("common rules", () => {
  it("severity: enforcement > policy match > hook without policy > exec/exit", () => {
    expect(TETRAGON_SEVERITY.enforcement).toBeGreaterThan(TETRAGON_SEVERITY.policyMatch);
    expect(TETRAGON_SEVERITY.policyMatch).toBeGreaterThan(TETRAGON_SEVERITY.hook);
    expect(TETRAGON_SEVERITY.hook).toBeGreaterThan(TETRAGON_SEVERITY.lifecycle);
    // an enforcing return action counts too
    const r = hookEvent("process_kprobe", { function_name: "security_file_permission", args: [{ file_arg: { path: "/etc/x" } }, { int_arg: 2 }], return_action: "KPROBE_ACTION_OVERRIDE" });
    expect(norm(r).severity_id).toBe(TETRAGON_SEVERITY.enforcement);
    // numeric enum values (protojson with UseEnumNumbers) are understood
    const n = hookEvent("process_kprobe", { function_name: "security_file_permission", args: [{ file_arg: { path: "/etc/x" } }, { int_arg: 2 }], action: 3 });
    expect(norm(n).disposition_id).toBe(2);
  });

  it("metadata.uid is deterministic and distinguishes events", () => {
    const a = norm(rec("process_kprobe.ndjson:1")).metadata.uid;
    expect(norm(rec("process_kprobe.ndjson:1")).metadata.uid).toBe(a);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const all = [...lines.keys()].map((k) => norm(rec(k)).metadata.uid);
    expect(new Set(all).size).toBe(all.length);
    // re-serialised differently (whitespace): the same event, the same uid
    const text = lines.get("process_exec.ndjson:2")!;
    const spaced = JSON.stringify(JSON.parse(text), null, 2);
    expect(norm(parseJson(spaced) as JsonObject, { ...CTX, rawText: spaced }).metadata.uid).toBe(norm(rec("process_exec.ndjson:2")).metadata.uid);
  });

  it("time: epoch ms (truncated), the nanosecond original in metadata.original_time", () => {
    const ev = norm(rec("process_kprobe.ndjson:1"));
    expect(ev.time).toBe(1713061094376);
    expect(ev.metadata.original_time).toBe("2024-04-14T02:18:14.376304204Z");
  });

  it("raw_data when asked for", () => {
    const text = lines.get("process_throttle.ndjson:1")!;
    const ev = norm(parseJson(text) as JsonObject, { ...CTX, rawData: true, rawText: text });
    expect(ev.raw_data).toBe(text);
    expect(norm(rec("process_throttle.ndjson:1"), { ...CTX, rawData: true }).raw_data).toBe(JSON.stringify(rec("process_throttle.ndjson:1")));
  });

  it("a node name that is not a DNS name goes to device.name", () => {
    const r = rec("process_throttle.ndjson:1");
    r.node_name = "node_with_underscores";
    const ev = norm(r);
    expect(ev.device).toEqual({ name: "node_with_underscores", type_id: 0, type: "Unknown" });
    expectGood(r, ev);
  });

  it("without node_name, the node encoded in exec_id names the device", () => {
    const r = rec("process_exec.ndjson:5");
    delete r.node_name;
    expect(norm(r).device).toEqual({ hostname: "kind-control-plane", type_id: 0, type: "Unknown" });
  });
});

describe("ancestors (--enable-process-ancestors): process.lineage", () => {
  // Tetragon lists the ancestors beyond the parent nearest first, each the parent_exec_id of the one before
  // (pkg/process GetAncestorProcessesInternal); OCSF 1.3.0's lineage is oldest first.
  function withAncestors(key: string, type: string): { r: JsonObject; ancestors: JsonObject[] } {
    const r = rec(key);
    const body = r[type] as JsonObject;
    const parent = body.parent as JsonObject;
    const ancestors: JsonObject[] = [
      { exec_id: parent.parent_exec_id!, pid: 4321, binary: "/usr/bin/containerd", flags: "procFS", start_time: "2022-10-18T03:00:00Z", parent_exec_id: "bm9kZToxMDAwOjE=" },
      { exec_id: "bm9kZToxMDAwOjE=", pid: 1, binary: "/usr/lib/systemd/systemd", flags: "procFS", start_time: "2022-10-18T02:00:00Z", parent_exec_id: "bm9kZTowOjA=" },
    ];
    body.ancestors = structuredClone(ancestors);
    return { r, ancestors };
  }

  it("process_exec: the ancestors' binaries, oldest first, then the parent's; the ancestors stay whole in unmapped", () => {
    const { r, ancestors } = withAncestors("process_exec.ndjson:1", "process_exec");
    const ev = norm(r);
    expect(at(ev, "process.lineage")).toEqual(["/usr/lib/systemd/systemd", "/usr/bin/containerd", "/usr/bin/containerd-shim-runc-v2"]);
    expect(at(ev, "unmapped.process_exec.ancestors")).toEqual(ancestors);
    // only the launched process has it: the actor (its parent) and the parent reference do not
    expect(at(ev, "actor.process.lineage")).toBeUndefined();
    expect(at(ev, "process.parent_process.lineage")).toBeUndefined();
    expectGood(r, ev);
    // the same event without ancestors is unchanged but for lineage and unmapped.ancestors
    const plain = norm(rec("process_exec.ndjson:1"));
    expect(at(plain, "process.lineage")).toBeUndefined();
    const stripped = structuredClone(ev) as unknown as { process: { lineage?: unknown }; unmapped: { process_exec: { ancestors?: unknown } } };
    delete stripped.process.lineage;
    delete stripped.unmapped.process_exec.ancestors;
    expect(stripped).toEqual(plain);
  });

  it("a kprobe's process (actor.process in File System Activity) gets its lineage the same way", () => {
    const { r } = withAncestors("process_kprobe.ndjson:1", "process_kprobe");
    const ev = norm(r);
    expect(at(ev, "actor.process.lineage")).toEqual(["/usr/lib/systemd/systemd", "/usr/bin/containerd", "/bin/sh"]);
    expectGood(r, ev);
  });

  it("no lineage when the order cannot be checked in the record; the ancestors still stay in unmapped", () => {
    const cases: [string, (a: JsonObject[], body: JsonObject) => void][] = [
      ["reversed (the chain breaks)", (a) => a.reverse()],
      ["an ancestor without a binary", (a) => delete a[1]!.binary],
      ["an ancestor without an exec_id", (a) => delete a[0]!.exec_id],
      ["an element that is no object", (a) => a.push(null as unknown as JsonObject)],
      ["no parent object", (_a, body) => delete body.parent],
      ["a parent without a binary", (_a, body) => delete (body.parent as JsonObject).binary],
      ["an empty list", (a) => a.splice(0)],
    ];
    for (const [what, change] of cases) {
      const r = rec("process_exec.ndjson:1");
      const body = r.process_exec as JsonObject;
      const { ancestors } = withAncestors("process_exec.ndjson:1", "process_exec");
      change(ancestors, body);
      body.ancestors = ancestors;
      const ev = norm(r);
      expect(at(ev, "process.lineage"), what).toBeUndefined();
      expect(at(ev, "unmapped.process_exec.ancestors"), what).toEqual(ancestors);
      expectGood(r, ev);
    }
    // not a list at all: kept as sent
    const r = rec("process_exec.ndjson:1");
    (r.process_exec as JsonObject).ancestors = "x";
    expect(at(norm(r), "process.lineage")).toBeUndefined();
    expect(at(norm(r), "unmapped.process_exec.ancestors")).toBe("x");
  });
});

describe("bad input", () => {
  it("rejects a record that is not a Tetragon event, naming what it saw", () => {
    expect(() => norm({ foo: 1, bar: {} })).toThrow(NormalizeError);
    expect(() => norm({ foo: 1, bar: {} })).toThrow(/not a supported Tetragon event.*keys: foo, bar/);
    expect(() => norm({ process_dns: { process: {} } })).toThrow(NormalizeError);
  });

  it("says how to unwrap a Tetragon line shipped as text in a log shipper's envelope (Vector's file source without the remap)", () => {
    // what Vector's file source makes of an export line: {"file", "host", "message": "<the line>", "source_type", "timestamp"}
    const line = lines.get("process_exit.ndjson:1")!;
    const wrapped = { file: "/var/run/cilium/tetragon/tetragon.log", host: "node-1", message: line, source_type: "file", timestamp: "2025-01-01T00:00:00.123Z" };
    expect(() => norm(wrapped)).toThrow(NormalizeError);
    expect(() => norm(wrapped)).toThrow(/keys: file, host, message, source_type, timestamp\); the event is the text in "message".*parse_json!\(string!\(\.message\)\)/);
    // a message that holds no Tetragon event gets no such hint
    expect(() => norm({ message: "hello", host: "node-1" })).toThrow(/\(keys: message, host\)$/);
    expect(() => norm({ message: '{"rule":"x"}' })).toThrow(/\(keys: message\)$/);
  });

  it("rejects a record with two or more process_* event keys, naming them (a Tetragon line carries exactly one)", () => {
    const exec = rec("process_exec.ndjson:1");
    const kprobe = rec("process_kprobe.ndjson:1");
    const two = { ...exec, process_kprobe: kprobe.process_kprobe! };
    expect(() => norm(two)).toThrow(NormalizeError);
    expect(() => norm(two)).toThrow("ambiguous Tetragon record: 2 event keys (process_exec, process_kprobe); a Tetragon export line carries exactly one process_* event");
    // unknown process_* keys and rate_limit_info count too; null members do not
    expect(() => norm({ ...exec, process_future: {}, rate_limit_info: {} })).toThrow(/3 event keys \(process_exec, process_future, rate_limit_info\)/);
    expect(norm({ ...exec, process_exit: null }).activity_id).toBe(norm(exec).activity_id);
    expect(tetragonEventKeys(two)).toEqual(["process_exec", "process_kprobe"]);
    expect(tetragonEventKeys(exec)).toEqual(["process_exec"]);
    // the sender's key names are quoted bounded (each at 40 characters, the first 5), the count in full
    const many: Record<string, unknown> = { ...exec };
    for (let i = 0; i < 50; i++) many[`process_${i}_${"x".repeat(3000)}`] = {};
    let reason = "";
    try {
      norm(many as typeof exec);
    } catch (e) {
      reason = (e as Error).message;
    }
    expect(reason).toMatch(/^ambiguous Tetragon record: 51 event keys \(process_exec, process_0_x{30}…\(\+\d+ chars\), /);
    expect(reason.length).toBeLessThan(400);
  });

  it("detects rate_limit_info lines as Tetragon (no route needed); two event keys stay ambiguous", () => {
    const notice = { rate_limit_info: { number_of_dropped_process_events: "1234" }, node_name: "n1", time: "2024-07-26T13:07:48.178407128Z" };
    expect(detectKind(notice)).toBe("tetragon");
    expect(detectKind({ rate_limit_info: null })).toBeUndefined();
    expect(detectKind({ rate_limit_info: 5 })).toBeUndefined();
    const res = runPipeline([notice, { ...rec("process_exec.ndjson:1"), rate_limit_info: {} }], ["line 1", "line 2"], [], { ctx: CTX });
    expect(res.events.map((e) => [e.event.class_uid, e.event.activity_id])).toEqual([[1008, 99]]);
    expect(res.errors).toMatchObject([{ index: 1, source: "tetragon", reason: expect.stringMatching(/^ambiguous Tetragon record: 2 event keys \(process_exec, rate_limit_info\)/) as unknown as string }]);
  });

  it("rejects events that lack what their class requires", () => {
    expect(() => norm({ process_exec: {} })).toThrow(/process_exec has no process object/);
    expect(() => norm({ process_exit: { process: "x" } })).toThrow(/process_exit has no process object/);
    expect(() => norm({ process_connect: { source_ip: "10.0.0.1" } })).toThrow(/no destination address/);
    expect(() => norm({ process_loader: { process: {} } })).toThrow(/process_loader has no path/);
  });

  it("mutated fixture records: either a clear NormalizeError or a valid event that loses nothing", () => {
    const records = [...lines.keys()].map((k) => rec(k)).concat(SYNTH.map((s) => s.record));
    const DELETE = Symbol("delete");
    const mutation = fc.tuple(fc.nat(), fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(DELETE)));
    fc.assert(
      fc.property(fc.nat({ max: records.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), (ri, muts) => {
        const r = structuredClone(records[ri]!);
        // fast-check reuses generated values across runs: insert copies, never the value itself
        for (const [pick, value] of muts) mutate(r, pick, value === DELETE ? undefined : structuredClone(value as Json));
        let ev: OcsfEvent;
        try {
          ev = normalizeTetragon(r, CTX);
        } catch (e) {
          expect(e).toBeInstanceOf(NormalizeError);
          return;
        }
        expect(validateOcsf(ev)).toEqual([]);
        expect(lossOf("tetragon", r, ev)).toEqual([]);
      }),
      { numRuns: 400, seed: 4242 },
    );
  });
});

/** Replaces (or deletes, when value is undefined) the pick-th node of the record, in depth-first order. */
function mutate(root: JsonObject, pick: number, value: Json | undefined): void {
  const slots: [JsonObject | Json[], string | number][] = [];
  const walk = (v: Json) => {
    if (Array.isArray(v)) v.forEach((x, i) => (slots.push([v, i]), walk(x)));
    else if (isObject(v)) for (const k of Object.keys(v)) (slots.push([v, k]), walk(v[k]!));
  };
  walk(root);
  if (!slots.length) return;
  const [parent, key] = slots[pick % slots.length]!;
  if (Array.isArray(parent)) {
    if (value === undefined) parent.splice(key as number, 1);
    else parent[key as number] = value;
  } else if (value === undefined) delete parent[key as string];
  else parent[key as string] = value;
}

// ---------------------------------------------------------------------------------------------------------
// Golden files (reviewed by hand; see docs/mapping-tetragon.md)

describe("golden files", () => {
  const golden: [string, () => JsonObject][] = [
    ["process_exec", () => rec("process_exec.ndjson:4")],
    ["process_kprobe_file", () => rec("process_kprobe.ndjson:1")],
    ["process_kprobe_connect_sigkill", () => SYNTH.find((s) => s.name.startsWith("kprobe security_socket_connect"))!.record],
    ["process_throttle", () => rec("process_throttle.ndjson:1")],
  ];
  for (const [name, get] of golden) {
    it(name, async () => {
      const ev = norm(get());
      await expect(JSON.stringify(ev, null, 2)).toMatchFileSnapshot(`../golden/tetragon/${name}.ocsf.json`);
    });
  }
});

// ---------------------------------------------------------------------------------------------------------
// Through the pipeline: framing, detection (no kind), normalization

describe("pipeline", () => {
  for (const f of files) {
    it(`${f.name}: every line detected as tetragon and normalized, no errors`, () => {
      const fr = frame(f.text, "application/x-ndjson");
      expect(fr.errors).toEqual([]);
      const res = runPipeline(fr.values, fr.paths, fr.textLines, { ctx: CTX });
      expect(res.errors).toEqual([]);
      const n = f.text.split("\n").filter((l) => l.trim() !== "").length;
      expect(res.total).toBe(n);
      expect(res.events).toHaveLength(n);
      for (const { event } of res.events) {
        expect(event.metadata.product.name).toBe("Tetragon");
        expect(validateOcsf(event)).toEqual([]);
      }
    });
  }

  it("a Vector `codec: json` batch (one JSON array of every fixture line) with a bad record in the middle", () => {
    const all = [...lines.values()].map((l) => JSON.parse(l) as unknown);
    all.splice(3, 0, { process_exec: "not an object", node_name: "x" });
    const fr = frame(JSON.stringify(all), "application/json");
    const res = runPipeline(fr.values, fr.paths, fr.textLines, { ctx: CTX });
    expect(res.events).toHaveLength(lines.size);
    expect(res.errors).toHaveLength(1);
    expect(res.errors[0]!.index).toBe(3);
    expect(res.errors[0]!.reason).toMatch(/unrecognised record/);
  });

  it("a record with two process_* keys is rejected (detected or by kind), the good records beside it kept", () => {
    const two = { ...rec("process_exec.ndjson:1"), process_exit: rec("process_exit.ndjson:1").process_exit! };
    const body = [lines.get("process_exec.ndjson:1")!, JSON.stringify(two), lines.get("process_exit.ndjson:1")!].join("\n");
    for (const kind of [undefined, "tetragon" as const]) {
      const fr = frame(body, "application/x-ndjson");
      const res = runPipeline(fr.values, fr.paths, fr.textLines, { ctx: CTX, kind });
      expect(res.events.map((e) => e.event.activity_id)).toEqual([1, 2]);
      expect(res.errors).toEqual([
        { index: 1, path: "line 2", source: "tetragon", record: two, reason: "ambiguous Tetragon record: 2 event keys (process_exec, process_exit); a Tetragon export line carries exactly one process_* event" },
      ]);
    }
  });

  it("with kind tetragon, a record of another source is rejected with the normalizer's reason", () => {
    const fr = frame(`${lines.get("process_exit.ndjson:1")!}\n{"rule":"x","output":"y","priority":"Warning"}\n`, "application/x-ndjson");
    const res = runPipeline(fr.values, fr.paths, fr.textLines, { ctx: CTX, kind: "tetragon" });
    expect(res.events).toHaveLength(1);
    expect(res.errors).toEqual([expect.objectContaining({ index: 1, path: "line 2", source: "tetragon", reason: expect.stringMatching(/not a supported Tetragon event/) })]);
  });
});
