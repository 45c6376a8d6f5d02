// Redaction of secrets in event text (src/enrich/redact.ts, config `redact`): the credentials preset pattern by
// pattern (what it masks and what it leaves), custom rules (groups, no groups, binary, fields), what is recorded,
// the long-text windows, config errors, and "off": no `redact`, no step and every fixture's events unchanged.
import { describe, expect, it } from "vitest";
import { makeRedactor, MASK, WINDOW, OVERLAP, PRESETS, secretKey } from "../../src/enrich/redact";
import { redactSchema, type RedactConfig } from "../../src/config/redact";
import { makeEnricher } from "../../src/enrich/index";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { ConfigError } from "../../src/config/load";
import { fixture, fixtures } from "../support/fixtures";
import { NEGATIVE_FIXTURES, FIXED_CTX, contentTypeOf } from "../support/fixture-pipeline";
import { frame } from "../../src/routes/decode";
import { runPipeline } from "../../src/pipeline";
import { config, enrichedFixture } from "./helpers";
import { masked, kept } from "./redact-corpus";

function redactor(r: unknown): (e: OcsfEvent) => OcsfEvent {
  const f = makeRedactor(redactSchema.parse(r));
  if (!f) throw new Error("no redactor");
  return f;
}

/** A minimal event: its text in `message`, and whatever else is given. */
function ev(extra: Record<string, unknown> = {}): OcsfEvent {
  return {
    activity_id: 1,
    category_uid: 2,
    class_uid: 2004,
    type_uid: 200401,
    severity_id: 1,
    time: 1,
    metadata: { version: "1.3.0", uid: "u-1", product: { name: "Falco" } },
    ...extra,
  } as OcsfEvent;
}

const preset = redactor({ presets: ["credentials"] });
const redactMessage = (text: string): string => preset(ev({ message: text })).message!;

describe("credentials preset", () => {
  it.each(masked)("masks %s", (text, want) => {
    expect(redactMessage(text)).toBe(want);
  });

  it.each(kept)("leaves %s", (text) => {
    expect(redactMessage(text)).toBe(text);
  });

  it("is idempotent: a redacted text redacted again is the same", () => {
    for (const [text] of masked) expect(redactMessage(redactMessage(text))).toBe(redactMessage(text));
  });

  it("has the patterns docs/config.md lists", () => {
    expect(PRESETS.credentials).toHaveLength(12);
  });

  it("secretKey: key names ending in a secret's word, in any case style", () => {
    for (const k of ["DB_PASSWORD", "password", "sessionToken", "client-secret", "MYSQL_PWD", "secretAccessKey", "api_key", "apiKey", "passphrase", "credentials", "SECRET_KEY", "STRIPE_SECRET_KEY", "secret_key", "jwtSecretKey", "PRIVATE_KEY", "privateKey"]) expect(secretKey(k), k).toBe(true);
    for (const k of ["secretName", "tokenType", "max_tokens", "PWD", "token_type", "passwordFile", "key", "name", "authorization.k8s.io/decision", "public_key", "publicKey", "key_id", "access_key_id", "accessKeyId", "secretKeyRef"]) expect(secretKey(k), k).toBe(false);
  });

  it("masks the string value of a secret-named key, or of a name/value pair naming a secret, in structured data the fields cover", () => {
    const event = ev({
      message: "a message",
      api: {
        request: {
          data: {
            spec: { containers: [{ env: [{ name: "DB_PASSWORD", value: "s3" }, { name: "DB_HOST", value: "db" }], args: ["--token", "t0"] }] },
            stringData: { db_password: "x1", secretName: "y", clientSecret: "z2", token: "[redacted: 5 bytes]", apiKey: 42 },
          },
        },
      },
      unmapped: { process_exec: { process: { environment_variables: [{ key: "AWS_SECRET_ACCESS_KEY", value: "k3" }, { key: "HOME", value: "/root" }] } } },
      resources: [{ data: { password: "outside the default fields" } }],
    });
    const out = preset(event);
    expect(out.api).toEqual({
      request: {
        data: {
          spec: { containers: [{ env: [{ name: "DB_PASSWORD", value: MASK }, { name: "DB_HOST", value: "db" }], args: ["--token", "t0"] }] },
          stringData: { db_password: MASK, secretName: "y", clientSecret: MASK, token: "[redacted: 5 bytes]", apiKey: 42 },
        },
      },
    });
    expect(out.unmapped!.process_exec).toEqual({ process: { environment_variables: [{ key: "AWS_SECRET_ACCESS_KEY", value: MASK }, { key: "HOME", value: "/root" }] } });
    expect(out.resources).toEqual(event.resources);
    expect((out.unmapped!.tributary as { redacted: string[] }).redacted).toEqual([
      "api.request.data.spec.containers[0].env[0].value",
      "api.request.data.stringData.db_password",
      "api.request.data.stringData.clientSecret",
      "unmapped.process_exec.process.environment_variables[0].value",
    ]);
    // custom rules alone do not mask keys: only the preset does
    expect(redactor({ rules: [{ pattern: "never(x)" }] })(event)).toBe(event);
  });

  it("masks a container's STRIPE_SECRET_KEY in CloudTrail RegisterTaskDefinition requestParameters, keeps the others", () => {
    const env = [{ name: "STRIPE_SECRET_KEY", value: "sk_live_6" }, { name: "PUBLIC_KEY", value: "pk_7" }, { name: "AWS_ACCESS_KEY_ID", value: "AKIA8" }];
    const out = preset(ev({ api: { request: { data: { family: "web", containerDefinitions: [{ name: "app", environment: env }], secret_key: "sk9" } } } }));
    expect((out.api as { request: { data: unknown } }).request.data).toEqual({ family: "web", containerDefinitions: [{ name: "app", environment: [{ ...env[0], value: MASK }, env[1], env[2]] }], secret_key: MASK });
  });

  it("masks a secret-named Tetragon environment variable as the JSON export writes them (EnvVar {Key, Value}, left in unmapped), raw_data included", () => {
    // api/v1 tetragon.proto: Process.environment_variables is a repeated EnvVar {string Key; string Value} (exported
    // with --enable-process-environment-variables); the normalizer maps none of it, so it stays in unmapped
    const record = JSON.parse(fixture("tetragon/process_exec.ndjson").split("\n")[0]!) as { process_exec: Record<string, Record<string, unknown>> };
    record.process_exec.process!.environment_variables = [
      { Key: "DB_PASSWORD", Value: "s3cr3t-1" },
      { Key: "HOME", Value: "/root" },
      { Key: "GITHUB_TOKEN", Value: "ghp_x2" },
    ];
    record.process_exec.parent!.environment_variables = [{ Key: "AWS_SECRET_ACCESS_KEY", Value: "wJal-3" }];
    const framed = frame(JSON.stringify(record), "application/json");
    const [event] = runPipeline(framed.values, framed.paths, framed.textLines, { ctx: { ...FIXED_CTX, rawData: true }, enrich: makeEnricher(config({ redact: { presets: ["credentials"] } })) }, framed.texts).events.map((e) => e.event);
    const um = event!.unmapped as { process_exec: { process: { environment_variables: unknown }; parent: { environment_variables: unknown } }; tributary: { redacted: string[] } };
    expect(um.process_exec.process.environment_variables).toEqual([
      { Key: "DB_PASSWORD", Value: MASK },
      { Key: "HOME", Value: "/root" },
      { Key: "GITHUB_TOKEN", Value: MASK },
    ]);
    expect(um.process_exec.parent.environment_variables).toEqual([{ Key: "AWS_SECRET_ACCESS_KEY", Value: MASK }]);
    expect(JSON.stringify(event)).not.toMatch(/s3cr3t-1|ghp_x2|wJal-3/);
    expect(event!.raw_data).toContain(`{"Key":"DB_PASSWORD","Value":"${MASK}"},{"Key":"HOME","Value":"/root"}`);
    expect(um.tributary.redacted).toEqual([
      "unmapped.process_exec.process.environment_variables[0].Value",
      "unmapped.process_exec.process.environment_variables[2].Value",
      "unmapped.process_exec.parent.environment_variables[0].Value",
      "raw_data",
    ]);
  });
});

describe("credentials preset: argument strings without the program's name", () => {
  /** The record normalized, enriched with the preset (raw_data on), and its unmapped. */
  function run(record: unknown): { event: OcsfEvent; text: string; redacted: string[] } {
    const framed = frame(JSON.stringify(record), "application/json");
    const [event] = runPipeline(framed.values, framed.paths, framed.textLines, { ctx: { ...FIXED_CTX, rawData: true }, enrich: makeEnricher(config({ redact: { presets: ["credentials"] } })) }, framed.texts).events.map((e) => e.event);
    const own = (event!.unmapped as { tributary?: { redacted?: string[] } }).tributary;
    return { event: event!, text: JSON.stringify(event), redacted: own?.redacted ?? [] };
  }
  /** A Tetragon process_exec (the fixture's first) with this process binary and arguments, and a parent's. */
  function tetragon(binary: string, args: string, parent?: { binary: string; arguments: string }): unknown {
    const record = JSON.parse(fixture("tetragon/process_exec.ndjson").split("\n")[0]!) as { process_exec: Record<string, Record<string, unknown>> };
    Object.assign(record.process_exec.process!, { binary, arguments: args });
    if (parent) Object.assign(record.process_exec.parent!, parent);
    return record;
  }
  /** A Falco alert (a fixture's) whose process is proc.name with proc.args. */
  function falco(name: string, args: string): unknown {
    const record = JSON.parse(fixture("falco/terminal-shell-in-container__falco-docs.json")) as { output_fields: Record<string, unknown> };
    Object.assign(record.output_fields, { "proc.name": name, "proc.args": args, "proc.cmdline": `${name} ${args}`, "proc.exepath": `/usr/bin/${name}` });
    return record;
  }

  it("masks a mysql client's -p<password> and sshpass's -p in Tetragon's arguments and Falco's proc.args, raw_data too", () => {
    const my = run(tetragon("/usr/bin/mysql", "-h db.prod -u root -pTetraMysqlPw11 shop", { binary: "/bin/bash", arguments: "-c mkdir -p /tmp/x" }));
    expect(my.text).not.toContain("TetraMysqlPw11");
    expect((my.event.unmapped as { process_exec: unknown }).process_exec).toMatchObject({ process: { arguments: `-h db.prod -u root -p${MASK} shop` }, parent: { arguments: "-c mkdir -p /tmp/x" } });
    expect(my.redacted).toEqual(expect.arrayContaining(["unmapped.process_exec.process.arguments", "raw_data", "process.cmd_line"]));
    expect(my.event.raw_data).toContain(`"arguments":"-h db.prod -u root -p${MASK} shop"`);
    expect(my.event.raw_data).toContain(`"arguments":"-c mkdir -p /tmp/x"`);

    const sp = run(tetragon("/usr/bin/sshpass", "-p SshpassPw42 ssh -p 22 root@host"));
    expect(sp.text).not.toContain("SshpassPw42");
    expect((sp.event.unmapped as { process_exec: unknown }).process_exec).toMatchObject({ process: { arguments: `-p ${MASK} ssh -p 22 root@host` } });
    expect(sp.event.raw_data).toContain(`"arguments":"-p ${MASK} ssh -p 22 root@host"`);

    const fa = run(falco("mysql", "-h db -u root -pFalcoArgsPw40 app"));
    expect(fa.text).not.toContain("FalcoArgsPw40");
    expect((fa.event.unmapped as { output_fields: Record<string, unknown> }).output_fields["proc.args"]).toBe(`-h db -u root -p${MASK} app`);
    expect(fa.redacted).toEqual(expect.arrayContaining(['unmapped.output_fields["proc.args"]', "raw_data"]));
    expect(run(falco("sshpass", "-p FalcoSshpass1 ssh host")).text).not.toContain("FalcoSshpass1");
    // Falco's JSON has its output fields sorted: the program named after the arguments in raw_data
    const sorted = JSON.parse(fixture("falco/terminal-shell-in-container__falco-docs.json")) as { output_fields: Record<string, unknown> };
    const { "proc.name": _name, "proc.cmdline": _cmd, ...rest } = sorted.output_fields;
    sorted.output_fields = { ...rest, "proc.args": "-u root -pSortedPw3 db", "proc.cmdline": "mysql -u root -pSortedPw3 db", "proc.exepath": "/usr/bin/mysql", "proc.name": "mysql" };
    const so = run(sorted);
    expect(so.text).not.toContain("SortedPw3");
    expect(so.event.raw_data).toContain(`"proc.args":"-u root -p${MASK} db"`);
  });

  it("masks a mysql client's -p<password> after quoted arguments, in a command line, its arguments and raw_data", () => {
    for (const args of [`-e "select 1" -pQuotedPw1 shop`, `-e 'select 1' -u root -pQuotedPw1`, `--execute="show tables;" -pQuotedPw1`]) {
      const t = run(tetragon("/usr/bin/mysql", args));
      expect(t.text, args).not.toContain("QuotedPw1");
      const f = run(falco("mysql", args));
      expect(f.text, args).not.toContain("QuotedPw1");
      expect((f.event.unmapped as { output_fields: Record<string, string> }).output_fields["proc.args"]).toBe(args.replace("QuotedPw1", MASK));
      expect(redactMessage(`mysql ${args}`)).toBe(`mysql ${args.replace("QuotedPw1", MASK)}`);
    }
    // not across the next command, nor to another program's -p, nor a prompting -p / a port
    for (const text of [`mysql -e "select 1" shop; mkdir -pv /tmp/x`, `mysql -e "select 1" -p shop`, `mysql -e 'x' -P3306 shop`, `mkdir -p "a b" -pq`]) {
      expect(redactMessage(text), text).toBe(text);
    }
  });

  it("leaves other programs' -p, and a mysql -p that prompts", () => {
    for (const [binary, args] of [
      ["/bin/mkdir", "-p /tmp/x"],
      ["/usr/bin/ssh", "-p 22 root@host"],
      ["/usr/bin/mysql", "-u root -p shop"],
      ["/usr/bin/mysql", "-P3306 -u root shop"],
    ] as const) {
      const r = run(tetragon(binary, args));
      expect((r.event.unmapped as { process_exec: unknown }).process_exec, binary).toMatchObject({ process: { arguments: args } });
      expect(r.redacted, binary).toEqual([]);
    }
    // ssh started by sshpass: the parent is sshpass, the event's process (and its arguments) is ssh's
    const child = run(tetragon("/usr/bin/ssh", "-p 22 root@host", { binary: "/usr/bin/sshpass", arguments: "-p ParentPw9 ssh -p 22 root@host" }));
    expect((child.event.unmapped as { process_exec: unknown }).process_exec).toMatchObject({ process: { arguments: "-p 22 root@host" }, parent: { arguments: `-p ${MASK} ssh -p 22 root@host` } });
    expect(child.text).not.toContain("ParentPw9");
    for (const [name, args] of [["ssh", "-p 2222 host"], ["mkdir", "-p /var/run/x"], ["mysql", `-e "select 1" -p shop`], ["mysql", `-e 'select 1' -P3306 shop`]] as const) {
      const r = run(falco(name, args));
      expect((r.event.unmapped as { output_fields: Record<string, unknown> }).output_fields["proc.args"]).toBe(args);
      expect(r.event.raw_data).toContain(`"proc.args":${JSON.stringify(args)}`);
    }
  });
});

describe("custom rules", () => {
  it("replaces each capture group, or the whole match without groups; (?i) is a flag", () => {
    const r = redactor({
      rules: [{ pattern: String.raw`secret-(\w+)-(\d+)` }, { pattern: String.raw`hunter\d` }, { pattern: "(?i)pin=(\\d+)" }, { pattern: "k((a)b)c" }],
    });
    expect(r(ev({ message: "x secret-abc-12 y hunter2 PIN=1234 kabc" })).message).toBe(`x secret-${MASK}-${MASK} y ${MASK} PIN=${MASK} k${MASK}c`);
  });

  it("binary: only the processes whose binary matches; text outside a process when any process matches", () => {
    const r = redactor({ rules: [{ pattern: String.raw`mysql\S* \S+ (\S+)`, binary: "/mysql$" }] });
    const event = ev({
      message: "mysql -u S3cret",
      process: {
        name: "mysql",
        file: { path: "/usr/bin/mysql" },
        cmd_line: "mysql -u S3cret",
        parent_process: { name: "bash", file: { path: "/bin/bash" }, cmd_line: "bash -c mysql -u S3cret" },
      },
    });
    const out = r(event) as OcsfEvent & { process: { cmd_line: string; parent_process: { cmd_line: string } } };
    expect(out.process.cmd_line).toBe(`mysql -u ${MASK}`);
    expect(out.process.parent_process.cmd_line).toBe("bash -c mysql -u S3cret");
    expect(out.message).toBe(`mysql -u ${MASK}`);
    // no process of the event is mysql: nothing
    const other = ev({ message: "mysql -u S3cret", process: { name: "bash", cmd_line: "mysql -u S3cret" } });
    expect(r(other)).toBe(other);
    // Tetragon's own process left in unmapped (its `binary`) counts too
    const teg = ev({ unmapped: { process_exec: { process: { binary: "/usr/bin/mysql", arguments: "-u S3cret" } } }, message: "mysql -u S3cret" });
    expect(r(teg).message).toBe(`mysql -u ${MASK}`);
  });

  it("fields: narrow to some paths, extend the default set, walk arrays, ** at any depth", () => {
    const event = ev({
      message: "token=a1",
      evidences: [{ process: { cmd_line: "x token=a2" } }, { process: { cmd_line: "y token=a3" } }],
      resources: [{ data: { note: "token=a4" } }],
    });
    const only = redactor({ rules: [{ pattern: "token=(\\w+)", fields: ["message"] }] })(event);
    expect(JSON.stringify(only)).not.toContain("a1");
    expect(JSON.stringify(only.evidences)).toContain("a2");
    const each = redactor({ rules: [{ pattern: "token=(\\w+)", fields: ["evidences.process.cmd_line"] }] })(event);
    expect(each.evidences).toEqual([{ process: { cmd_line: `x token=${MASK}` } }, { process: { cmd_line: `y token=${MASK}` } }]);
    expect(each.message).toBe("token=a1");
    const more = redactor({ rules: [{ pattern: "token=(\\w+)", fields: ["default", "resources"] }] })(event);
    expect(JSON.stringify(more)).not.toMatch(/a[1-4]/);
    // without resources: the default set leaves resources[].data
    expect(JSON.stringify(redactor({ rules: [{ pattern: "token=(\\w+)" }] })(event).resources)).toContain("a4");
    const star = redactor({ rules: [{ pattern: "token=(\\w+)", fields: ["resources.*.note"] }] })(event);
    expect(star.resources).toEqual([{ data: { note: `token=${MASK}` } }]);
  });

  it("never touches metadata (uid) or finding_info.uid, even with fields **", () => {
    const event = ev({ message: "uid u-1", finding_info: { uid: "u-1", title: "u-1" } });
    const out = redactor({ rules: [{ pattern: "u-1", fields: ["**"] }] })(event);
    expect(out.metadata).toEqual(event.metadata);
    expect(out.finding_info).toEqual({ uid: "u-1", title: MASK });
    expect(out.message).toBe(`uid ${MASK}`);
  });

  it("records the paths in unmapped.tributary.redacted (appended), redacts the observables naming them, and copies (the input is unchanged)", () => {
    const event = ev({
      evidences: [{ process: { cmd_line: "app --password=hunter2" } }],
      observables: [{ name: "evidences[0].process.cmd_line", type_id: 13, type: "Command Line", value: "app --password=hunter2" }],
      unmapped: { output_fields: { "proc.args": "--password=hunter2" }, tributary: { redacted: ["api.request.data.data.x"] } },
    });
    const before = JSON.stringify(event);
    const out = preset(event);
    expect(JSON.stringify(event)).toBe(before);
    expect(JSON.stringify(out)).not.toContain("hunter2");
    expect((out.unmapped!.tributary as { redacted: string[] }).redacted).toEqual([
      "api.request.data.data.x",
      "evidences[0].process.cmd_line",
      'unmapped.output_fields["proc.args"]',
      "observables[0].value",
    ]);
    // an event with nothing to redact is returned as it is
    const clean = ev({ message: "nothing here" });
    expect(preset(clean)).toBe(clean);
  });

  it("matches a long text in overlapping windows: secrets anywhere, across a window's end too", () => {
    const filler = "x".repeat(WINDOW - 10);
    const text = `${filler} --password=hunter2 ${"y ".repeat(WINDOW)} token=abc ${"z".repeat(OVERLAP * 3)} api_key=last`;
    const out = redactMessage(text);
    expect(out).not.toMatch(/hunter2|abc|last/);
    expect(out).toBe(`${filler} --password=${MASK} ${"y ".repeat(WINDOW)} token=${MASK} ${"z".repeat(OVERLAP * 3)} api_key=${MASK}`);
  });

  it("a preset's match longer than OVERLAP is masked whole wherever it starts (the presets match the whole text)", () => {
    const jwt = `eyJ${"A".repeat(1200)}`;
    for (const at of [0, WINDOW - 1100, WINDOW - 400, WINDOW - 200, 2 * WINDOW]) {
      const out = redactMessage(`${"x".repeat(at)} curl -H 'Authorization: Bearer ${jwt}' https://h --token ${jwt}`);
      expect(out, String(at)).toBe(`${"x".repeat(at)} curl -H 'Authorization: Bearer ${MASK}' https://h --token ${MASK}`);
    }
  });

  it("a custom rule's match that reaches a window's end is matched again from its start (up to WINDOW characters)", () => {
    const r = redactor({ rules: [{ pattern: String.raw`secret:(\w+)` }] });
    const long = "S".repeat(1500);
    for (const at of [WINDOW - 1200, WINDOW - 300, 2 * (WINDOW - OVERLAP) - 700]) {
      const out = (r(ev({ message: `${"-".repeat(at)} secret:${long} end` })) as { message: string }).message;
      expect(out, String(at)).toBe(`${"-".repeat(at)} secret:${MASK} end`);
    }
    // longer than WINDOW (the documented bound): masked for WINDOW characters from the match's start only
    const out = (r(ev({ message: `secret:${"S".repeat(3 * WINDOW)}` })) as { message: string }).message;
    expect(out).toBe(`secret:${MASK}${"S".repeat(3 * WINDOW - (WINDOW - "secret:".length))}`);
  });

  it("a custom rule's match that reaches a window's end stays masked when its lookbehind does not hold at its own start", () => {
    // matched again from its start, (?<=token=) sees no token= there: the window's match (to the window's end) is
    // still masked; the rest, in the next window without its token=, is the documented lookbehind limit
    const r = redactor({ rules: [{ pattern: String.raw`(?<=token=)\S+` }] });
    const at = WINDOW - 600;
    const head = `${"x".repeat(at - "token=".length)}token=`;
    const out = (r(ev({ message: `${head}${"S".repeat(1000)} end` })) as { message: string }).message;
    expect(out).toBe(`${head}${MASK}${"S".repeat(400)} end`);
  });
});

/** The strings of `before` that `after` has as MASK at the same place. */
function maskedWhole(before: unknown, after: unknown, out: string[] = []): string[] {
  if (typeof before === "string" && after === MASK && before !== MASK) out.push(before);
  else if (before !== null && typeof before === "object" && after !== null && typeof after === "object") {
    for (const [k, v] of Object.entries(before)) maskedWhole(v, (after as Record<string, unknown>)[k], out);
  }
  return out;
}

describe("redact config", () => {
  const errorOf = (redact: unknown): string => {
    try {
      config({ redact });
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message;
    }
    throw new Error("accepted");
  };

  it("names the field at fault", () => {
    expect(errorOf({ rules: [{ pattern: "ok" }, { pattern: "(unclosed" }] })).toContain("redact.rules.1.pattern: not a valid regular expression");
    expect(errorOf({ rules: [{ pattern: "(a+)+b" }] })).toContain("redact.rules.0.pattern: a repeated group");
    expect(errorOf({ rules: [{ pattern: "x", binary: "[" }] })).toContain("redact.rules.0.binary: not a valid regular expression");
    expect(errorOf({ rules: [{ pattern: "x", fields: ["evidences[0].process.cmd_line"] }] })).toContain("redact.rules.0.fields.0: no [index]");
    expect(errorOf({ rules: [{ pattern: "x", fields: [] }] })).toContain("redact.rules.0.fields");
    expect(errorOf({ presets: ["everything"] })).toContain("redact.presets.0");
    expect(errorOf({ rules: [{ pattern: "x", replace: "y" }] })).toContain("redact.rules.0");
  });

  it("off: no `redact` (or nothing in it) adds no step; every fixture's events are as without it", () => {
    expect(makeRedactor(undefined)).toBeUndefined();
    expect(makeRedactor(redactSchema.parse({}))).toBeUndefined();
    const off = config({});
    const none = config({ redact: { rules: [{ pattern: "(?!)never" }] } });
    let n = 0;
    for (const f of fixtures) {
      if (NEGATIVE_FIXTURES.has(f.name)) continue;
      const a = enrichedFixture(f.name, off);
      expect(JSON.stringify(enrichedFixture(f.name, none)), f.name).toBe(JSON.stringify(a));
      n += a.length;
    }
    expect(n).toBeGreaterThan(50);
  });

  it("on: every fixture keeps its uids; an event changes only where it lists a redaction (raw_data kept too)", () => {
    const off = makeEnricher(config({}));
    const on = makeEnricher(config({ redact: { presets: ["credentials"] } }));
    /** The fixture's events with raw_data (ocsf.rawData on). */
    const events = (name: string, enrich: (e: OcsfEvent) => OcsfEvent): OcsfEvent[] => {
      const framed = frame(fixture(name), contentTypeOf(name));
      return runPipeline(framed.values, framed.paths, framed.textLines, { ctx: { ...FIXED_CTX, rawData: true }, enrich }, framed.texts).events.map((e) => e.event);
    };
    let redacted = 0;
    let whole = 0;
    for (const f of fixtures) {
      if (NEGATIVE_FIXTURES.has(f.name)) continue;
      const a = events(f.name, off);
      const b = events(f.name, on);
      expect(b.map((e) => e.metadata.uid), f.name).toEqual(a.map((e) => e.metadata.uid));
      b.forEach((e, i) => {
        const listed = (e.unmapped?.tributary as { redacted?: string[] } | undefined)?.redacted ?? [];
        const had = (a[i]!.unmapped?.tributary as { redacted?: string[] } | undefined)?.redacted ?? [];
        if (listed.length === had.length) expect(JSON.stringify(e), f.name).toBe(JSON.stringify(a[i]));
        else {
          redacted++;
          // a value masked whole (a secret-named key's) is nowhere else in the event either: raw_data included
          const text = JSON.stringify(e);
          for (const v of maskedWhole(a[i], e)) {
            expect(text, `${f.name}: ${v}`).not.toContain(v);
            whole++;
          }
        }
      });
    }
    // the Kubernetes fixtures that write a ConfigMap holding "aws_secret_access_key = MY-KEY" (body, echo, raw_data),
    // and the two CloudTrail records whose responseElements.credentials carry an STS sessionToken
    expect(redacted).toBe(5);
    expect(whole).toBe(2);
  });

  it("runs first in the enricher chain, before the correlation keys", () => {
    const enrich = makeEnricher(config({ redact: { presets: ["credentials"] } } as { redact: RedactConfig }));
    const out = enrich(ev({ message: "--password=hunter2", evidences: [{ process: { cmd_line: "app --password=hunter2" } }] }));
    expect(JSON.stringify(out)).not.toContain("hunter2");
  });
});
