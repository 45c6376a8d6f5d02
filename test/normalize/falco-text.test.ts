// Falco text output (json_output: false): the rule's key=value fields read back as the Falco fields they print
// and mapped like the JSON alert of the same rule. Lines are those of the default rules of several Falco
// versions (the fixtures' "output" texts, and lines built from falcosecurity/rules outputs).
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { fixture } from "../support/fixtures";
import { validateOcsf } from "../support/ocsf-validator";
import { at } from "../support/at";
import { normalizeFalco, normalizeFalcoText } from "../../src/normalize/falco";
import { readFalcoTextFields } from "../../src/normalize/falco-text";
import { frame } from "../../src/routes/decode";
import { runPipeline } from "../../src/pipeline";
import { type JsonObject, parseJson, isObject } from "../../src/normalize/json";
import type { NormalizeContext } from "../../src/normalize/ocsf";

const CTX: NormalizeContext = { ocsfVersion: "1.3.0", receivedAt: Date.UTC(2026, 0, 2, 3, 4, 5, 678), tenant: "acme" };

/** Normalized and round-tripped through JSON (what the queue and the sinks see). */
function text(line: string): Record<string, unknown> {
  return JSON.parse(JSON.stringify(normalizeFalcoText(line, CTX))) as Record<string, unknown>;
}

function record(name: string): JsonObject {
  const r = parseJson(fixture(name));
  if (!isObject(r)) throw new Error(`no record in ${name}`);
  return r;
}

// Falco 0.41+ (rules 4.x: "<text> | <fields>", container fields from append_output), a real line
const NEW_FORM =
  "17:59:08.370713347: Notice A shell was spawned in a container with an attached terminal | evt_type=execve user=root user_uid=0 " +
  "user_loginuid=-1 process=sh proc_exepath=/bin/busybox parent=containerd-shim command=sh terminal=34816 exe_flags=EXE_WRITABLE|EXE_LOWER_LAYER " +
  "container_id=bc738f9c8490 container_name=pod container_image_repository=docker.io/library/nginx container_image_tag=alpine k8s_pod_name=pod k8s_ns_name=default";

// Falco 0.37 rules 3.x: "<text> (<fields> %container.info)" with -pk
const PK_037 =
  "03:03:23.573329751: Critical Executing binary not part of base image (proc_exe=/tmp/sleep proc_sname=bash gparent=containerd-shim " +
  "evt_type=execve user=root user_uid=0 user_loginuid=-1 process=sleep proc_exepath=/tmp/sleep parent=bash command=sleep 10000 terminal=34816 " +
  "exe_flags=EXE_WRITABLE container_id=0fdb3cd5b5fc container_image=ubuntu container_image_tag=latest container_name=optimistic_newton " +
  "k8s_ns=my_ns k8s_pod_name=my_pod_name)";

describe("Falco text output: key=value fields", () => {
  it("the 0.41+ form ('<text> | <fields>' and append_output's container fields): process, user, container, pod", () => {
    const ev = text(NEW_FORM);
    expect(validateOcsf(ev)).toEqual([]);
    expect(at(ev, "finding_info.title")).toBe("A shell was spawned in a container with an attached terminal");
    expect(at(ev, "finding_info.analytic.name")).toBe("Falco alert (text output)"); // the text has no rule name
    expect(at(ev, "evidences.0.process")).toMatchObject({
      name: "sh",
      cmd_line: "sh",
      file: { path: "/bin/busybox", name: "busybox" },
      parent_process: { name: "containerd-shim" },
      user: { name: "root", uid: "0" },
      session: { terminal: "34816" },
    });
    expect(at(ev, "evidences.0.container")).toEqual({
      uid: "bc738f9c8490",
      name: "pod",
      image: { uid: "docker.io/library/nginx:alpine", name: "docker.io/library/nginx", tag: "alpine" },
      orchestrator: "Kubernetes",
    });
    expect(at(ev, "resources")).toEqual([{ type: "Pod", name: "pod", namespace: "default" }]);
    expect(at(ev, "unmapped.output_fields")).toEqual({ "evt.type": "execve", "user.loginuid": "-1", "evt.arg.flags": "EXE_WRITABLE|EXE_LOWER_LAYER" });
    expect(Object.keys(at(ev, "unmapped.text_fields") as object)).toEqual([
      "evt_type", "user", "user_uid", "user_loginuid", "process", "proc_exepath", "parent", "command", "terminal", "exe_flags",
      "container_id", "container_name", "container_image_repository", "container_image_tag", "k8s_pod_name", "k8s_ns_name",
    ]);
    expect(at(ev, "unmapped.text_fields.command")).toBe("proc.cmdline");
    expect(at(ev, "unmapped.text_output")).toBe(true);
    expect(at(ev, "message")).toBe(NEW_FORM); // the line itself stays whole
  });

  it("the 0.37 form ('(<fields> %container.info)' with -pk): a command with spaces, the group's ')' not in the last value", () => {
    const ev = text(PK_037);
    expect(validateOcsf(ev)).toEqual([]);
    expect(at(ev, "finding_info.title")).toBe("Executing binary not part of base image");
    expect(at(ev, "evidences.0.process.cmd_line")).toBe("sleep 10000");
    expect(at(ev, "evidences.0.process.parent_process")).toMatchObject({ name: "bash", parent_process: { name: "containerd-shim" } });
    expect(at(ev, "evidences.0.container")).toMatchObject({ uid: "0fdb3cd5b5fc", name: "optimistic_newton", image: { name: "ubuntu", tag: "latest" } });
    expect(at(ev, "resources")).toEqual([{ type: "Pod", name: "my_pod_name", namespace: "my_ns" }]);
    expect(at(ev, "unmapped.output_fields")).toMatchObject({ "proc.exe": "/tmp/sleep", "proc.sname": "bash" });
  });

  it("only known keys split: '=' inside a command stays in it; a value runs to the next known key", () => {
    const ev = text("12:00:00.000000000: Warning Suspicious download | evt_type=execve user=root process=curl command=curl -d a=b -H X-Api=1 http://x.example/?q=1 terminal=0 container_id=host container_name=host");
    expect(at(ev, "evidences.0.process.cmd_line")).toBe("curl -d a=b -H X-Api=1 http://x.example/?q=1");
    expect(at(ev, "evidences.0.process.session")).toBeUndefined(); // terminal 0: no terminal
    expect(at(ev, "evidences.0.container")).toBeUndefined(); // container.id "host": not in a container
    expect(at(ev, "unmapped.output_fields")).toMatchObject({ "container.id": "host", "container.name": "host", "proc.tty": "0" });
    expect(Object.keys(at(ev, "unmapped.text_fields") as object)).not.toContain("a");
  });

  it("a value that holds ' <known key>=' is cut there (the documented limit)", () => {
    const ev = text("12:00:00: Warning Shell | process=env command=env user=x sh terminal=34816");
    expect(at(ev, "evidences.0.process.cmd_line")).toBe("env");
    expect(at(ev, "evidences.0.process.user.name")).toBe("x"); // user is one word: " sh" stays in the message only
  });

  it("'<NA>' is read as absent, as on the JSON path; the raw value stays in unmapped.output_fields", () => {
    const ev = text("23:39:44.834631763: Notice A shell was spawned in a container with an attached terminal (user=root user_loginuid=-1 k8s.ns=default k8s.pod=alpine container=5892b41bcf46 shell=sh parent=<NA> cmdline=sh terminal=34817 container_id=5892b41bcf46 image=<NA>) k8s.ns=default k8s.pod=alpine container=5892b41bcf46");
    expect(validateOcsf(ev)).toEqual([]);
    expect(at(ev, "evidences.0.process.parent_process")).toBeUndefined();
    expect(at(ev, "evidences.0.container")).toEqual({ uid: "5892b41bcf46", orchestrator: "Kubernetes" });
    expect(at(ev, "unmapped.output_fields")).toEqual({ "user.loginuid": "-1", "proc.pname": "<NA>", "container.image": "<NA>" });
  });

  it("unknown keys are not read: they stay in the message (and end no value); a one-word key's value stops at its space", () => {
    const line = "18:02:32.340307704: Notice NEW SHELL!!! user_id=0 repo=docker.io/library/nginx || A shell was spawned | user=root pod=web-1 process=sh";
    const ev = text(line);
    expect(at(ev, "finding_info.title")).toBe("NEW SHELL!!! user_id=0 repo=docker.io/library/nginx || A shell was spawned");
    expect(at(ev, "unmapped.text_fields")).toEqual({ user: "user.name", process: "proc.name" });
    expect(at(ev, "evidences.0.process.user.name")).toBe("root");
    expect(at(ev, "resources")).toBeUndefined();
    expect(at(ev, "message")).toBe(line);
  });

  it("older rules' container=%container.info (a name, not an id) is not read as the container id", () => {
    const r = readFalcoTextFields("Namespace change (setns) by unexpected program (user=root command=test_program container=k8s-kubelet)");
    expect(r).toMatchObject({ title: "Namespace change (setns) by unexpected program", fields: { "user.name": "root", "proc.cmdline": "test_program" } });
    expect(r?.fields["container.id"]).toBeUndefined();
  });

  it("k8saudit rules' keys (verb, uri, resp, resource, action...) mark a k8s_audit alert: user is the API user", () => {
    const ev = text("09:29:46.302906000: Notice Attach/Exec to pod (user=kubernetes-admin pod=nginx-676b6c5bbc-4xc6t resource=pods ns=hello-app action=exec command=cat)");
    expect(validateOcsf(ev)).toEqual([]);
    expect([at(ev, "metadata.log_name"), at(ev, "finding_info.title")]).toEqual(["k8s_audit", "Attach/Exec to pod"]);
    expect(at(ev, "evidences.0.actor.user.name")).toBe("kubernetes-admin");
    expect(at(ev, "evidences.0.process")).toBeUndefined();
    expect(at(ev, "evidences.0.api.operation")).toBe("exec");
    expect(at(ev, "resources")).toEqual([{ type: "pods", name: "nginx-676b6c5bbc-4xc6t", namespace: "hello-app", data: { subresource: "exec" } }]);
  });

  it("no known key: today's finding (title 'Falco alert (text output)', no text_fields)", () => {
    for (const line of ["12:00:00: Critical Falco internal: syscall event drop. 815508 system calls dropped in last second.", "12:00:00: Notice cmd=ls -la", "12:00:00: Notice m"]) {
      const ev = text(line);
      expect(at(ev, "finding_info.title"), line).toBe("Falco alert (text output)");
      expect(at(ev, "unmapped.text_fields"), line).toBeUndefined();
      expect(at(ev, "evidences"), line).toBeUndefined();
    }
  });
});

describe("any line of known and unknown keys", () => {
  const KEYS = ["user", "user_uid", "process", "parent", "command", "terminal", "file", "connection", "container_id", "container", "image",
    "k8s.ns", "k8s_pod_name", "gparent", "aname[5]", "verb", "resp", "target", "pod", "x", "a.b"];
  const value = fc.oneof(fc.constantFrom("<NA>", "", "root", "-1", "34816", "/etc/shadow", "10.0.0.1:1->10.0.0.2:443", "ee97d9c4186f", "a=b", "(x", "y)", "sh -c (a)"), fc.string({ maxLength: 12 }));
  const pair = fc.tuple(fc.constantFrom(...KEYS), value).map(([k, v]) => `${k}=${v}`);
  it("gives a valid finding whose message is the line (1,000 lines)", () => {
    fc.assert(
      fc.property(fc.constantFrom("", "T (", "T | ", "T "), fc.array(pair, { maxLength: 8 }), fc.constantFrom("", ")", ") k8s.ns=n"), (head, pairs, tail) => {
        const line = `12:00:00: Warning ${head}${pairs.join(" ")}${tail}`;
        const ev = text(line);
        // an evidence with only a container (container.* and no proc/user/fd field) is refused by 1.3.0 (its
        // "at least one of" list has no container): the JSON path makes the same one from such output_fields
        const onlyContainer = JSON.stringify(Object.keys((at(ev, "evidences.0") as object | undefined) ?? {})) === '["container"]';
        expect(validateOcsf(ev).filter((e) => !(onlyContainer && e.startsWith("evidences[0]: at least one of")))).toEqual([]);
        expect(at(ev, "message")).toBe(line.trim());
        expect(at(ev, "unmapped.text_output")).toBe(true);
      }),
      { numRuns: 1000, seed: 2026 },
    );
  });
});

describe("a text alert maps like the JSON alert of the same rule", () => {
  // the fixtures' output texts are Falco text lines; their output_fields are the fields those lines print.
  // differs: what the text cannot say the same way
  const cases: [string, string[]][] = [
    ["falco/terminal-shell-in-container__falco-docs.json", []],
    ["falco/terminal-shell-in-container__null-fields__kubeless-blog.json", []],
    ["falco/read-sensitive-file-untrusted__plugins-collector-readme.json", []],
    ["falco/write-below-binary-dir__falcosidekick-readme.json", []],
    // image=%container.image.repository:%container.image.tag prints one value: read as container.image
    ["falco/contact-k8s-api-server-from-container__openfaas-blog.json", ["container.image"]],
    ["falco-k8saudit/attach-exec-pod__ovh-blog.json", []],
    ["falco-k8saudit/attach-exec-pod__eks-blog.json", []],
  ];
  for (const [name, differs] of cases) {
    it(name, () => {
      const rec = record(name);
      const t = text(rec.output as string);
      // the same uid, so the process uids made from it agree
      const j = JSON.parse(JSON.stringify(normalizeFalco({ ...rec, uuid: at(t, "metadata.uid") as string }, CTX))) as Record<string, unknown>;
      expect(validateOcsf(t)).toEqual([]);
      expect(at(t, "metadata.log_name")).toBe(at(j, "metadata.log_name"));
      const te = { ...(at(t, "evidences.0") as object) } as Record<string, unknown>;
      const je = { ...(at(j, "evidences.0") as object) } as Record<string, unknown>;
      expect(Object.keys(te).length).toBeGreaterThan(0);
      for (const p of differs) {
        const [k, sub] = p.split(".");
        te[k!] = { ...(te[k!] as object), [sub!]: undefined };
        je[k!] = { ...(je[k!] as object), [sub!]: undefined };
      }
      expect(te).toEqual(je);
      expect(at(t, "resources")).toEqual(at(j, "resources"));
      const obs = (ev: unknown): unknown => (at(ev, "observables") as { name: string }[]).filter((o) => !o.name.startsWith("device."));
      expect(obs(t)).toEqual(obs(j));
    });
  }
});

describe("text output through the pipeline (text/plain body)", () => {
  it("the fixtures' text lines become findings with their fields; a non-Falco line is refused", () => {
    const lines = [
      record("falco/terminal-shell-in-container__falco-docs.json").output as string,
      "hello world",
      record("falco/read-sensitive-file-untrusted__plugins-collector-readme.json").output as string,
    ];
    const framed = frame(lines.join("\n") + "\n", "text/plain");
    expect(framed.textLines).toHaveLength(3);
    const r = runPipeline(framed.values, framed.paths, framed.textLines, { ctx: CTX });
    expect(r.errors.map((e) => [e.path, e.reason])).toEqual([["text line 2", "not a Falco text alert: expected '<time>: <Priority> <message>'"]]);
    const evs = r.events.map((e) => JSON.parse(JSON.stringify(e.event)) as Record<string, unknown>);
    expect(evs.map((e) => at(e, "finding_info.title"))).toEqual([
      "A shell was spawned in a container with an attached terminal",
      "Sensitive file opened for reading by non-trusted program",
    ]);
    expect(evs.map((e) => at(e, "evidences.0.process.name"))).toEqual(["sh", "cat"]);
    expect(at(evs[0], "evidences.0.container.uid")).toBe("ee97d9c4186f");
    expect(at(evs[1], "evidences.0.file.path")).toBe("/etc/shadow");
    expect(at(evs[1], "evidences.0.process.parent_process.parent_process.name")).toBe("sudo"); // gparent
  });
});
