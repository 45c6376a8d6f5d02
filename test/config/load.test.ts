// Where the config comes from: TRIBUTARY_CONFIG when it is set (it wins), else the bundled
// tributary.config.json (src/config/load.ts), parsed once per env object.
import { describe, expect, it, vi } from "vitest";
import { readFileSync } from "node:fs";
import { CONFIG_FILE, ConfigError, configFor, configSource, parseConfig, selectConfig } from "../../src/config/load";
import bundled from "../../tributary.config.json";

const example = JSON.parse(readFileSync("examples/routing.json", "utf8")) as unknown;
const small = { ocsf: { rawData: true }, metrics: { public: true } };

describe("configSource / selectConfig", () => {
  it("uses the bundled file when TRIBUTARY_CONFIG is absent, null or blank", () => {
    for (const empty of [undefined, null, "", "  \n"]) {
      expect(configSource(empty, example)).toEqual({ from: CONFIG_FILE, input: example });
      expect(Object.keys(selectConfig(empty, example).sinks).sort()).toEqual(["lake", "oncall", "splunk"]);
    }
  });

  it("uses TRIBUTARY_CONFIG when it is set, as a JSON string or a [vars] table, and ignores the file", () => {
    expect(configSource(JSON.stringify(small), example).from).toBe("TRIBUTARY_CONFIG");
    for (const v of [JSON.stringify(small), small]) {
      const c = selectConfig(v, example);
      expect(c.ocsf.rawData).toBe(true);
      expect(Object.keys(c.sinks)).toEqual([]);
    }
    // "{}" is set: defaults, not the file
    expect(Object.keys(selectConfig("{}", example).sinks)).toEqual([]);
  });

  it("names the bundled file in its errors; a bad TRIBUTARY_CONFIG keeps its own message", () => {
    expect(() => selectConfig("", { limits: { maxRecords: 0 } })).toThrow(ConfigError);
    expect(() => selectConfig("", { limits: { maxRecords: 0 } })).toThrow(/^tributary\.config\.json \(bundled; TRIBUTARY_CONFIG is empty\): invalid config: limits\.maxRecords/);
    expect(() => selectConfig('{"limits":{"maxRecords":0}}', example)).toThrow(/^invalid config: limits\.maxRecords/);
  });

  it("the committed tributary.config.json is a valid config, and configFor uses it when the var is empty, once per env", () => {
    const fromFile = selectConfig("", bundled);
    const env = { TRIBUTARY_CONFIG: "" };
    const c = configFor(env);
    expect(c).toEqual(fromFile);
    expect(configFor(env)).toBe(c); // cached: not parsed again
    const set = { TRIBUTARY_CONFIG: JSON.stringify(small) };
    expect(configFor(set).ocsf.rawData).toBe(true);
    expect(configFor(set)).toBe(configFor(set));
  });
});

describe('keys named "__proto__"', () => {
  // JSON.parse makes "__proto__" an own key; zod's records drop it without a word, so parseConfig refuses it.
  const REFUSED = 'a key named "__proto__" is refused (the parser would drop it); name it otherwise';
  const loki = { type: "loki", url: "http://127.0.0.1:3100" };
  const cases: Array<[string, string]> = [
    ["sinks.__proto__", '{"sinks":{"__proto__":{"type":"loki","url":"http://127.0.0.1:3100"}}}'],
    ["sinks.logs.labels.__proto__", JSON.stringify({ sinks: { logs: loki } }).replace('"url"', '"labels":{"__proto__":"severity"},"url"')],
    ["sinks.logs.staticLabels.__proto__", JSON.stringify({ sinks: { logs: loki } }).replace('"url"', '"staticLabels":{"__proto__":"x"},"url"')],
    ["sinks.logs.headers.__proto__", JSON.stringify({ sinks: { logs: loki } }).replace('"url"', '"headers":{"__proto__":"x"},"url"')],
    ["sinks.otel.resource.__proto__", '{"sinks":{"otel":{"type":"otlp_logs","endpoint":"http://127.0.0.1:4318","resource":{"__proto__":"x"}}}}'],
    ["enrich.inventory.inline.0.labels.__proto__", '{"enrich":{"inventory":{"inline":[{"match":"web-*","labels":{"__proto__":"x"}}]}}}'],
    ["enrich.context.clusters.__proto__", '{"enrich":{"context":{"clusters":{"__proto__":"prod"}}}}'],
    ["routes.0.match.host_labels.__proto__", '{"routes":[{"match":{"host_labels":{"__proto__":"*"}},"sinks":["archive"]}]}'],
    ["limits.__proto__", '{"limits":{"__proto__":{}}}'],
    ["__proto__", '{"__proto__":{"metrics":{"public":true}}}'],
  ];

  it("refuses one anywhere, naming its path once, in a TRIBUTARY_CONFIG string, a [vars] table and the bundled file", () => {
    for (const [path, text] of cases) {
      const line = `${path}: ${REFUSED}`;
      // in a record (all but the strict sections at the end) another name is valid: the key alone is the error
      if (!["limits.__proto__", "__proto__"].includes(path)) expect(() => parseConfig(text.replace('"__proto__"', '"job"'))).not.toThrow();
      expect(() => parseConfig(text)).toThrow(new ConfigError(`invalid config: ${line}`));
      expect(() => parseConfig(JSON.parse(text))).toThrow(new ConfigError(`invalid config: ${line}`));
      expect(() => selectConfig("", JSON.parse(text))).toThrow(new ConfigError(`${CONFIG_FILE} (bundled; TRIBUTARY_CONFIG is empty): invalid config: ${line}`));
    }
  });

  it("reports every such key and the config's other errors together; keys named constructor or prototype stay keys", () => {
    const text = '{"limits":{"maxRecords":0},"enrich":{"context":{"clusters":{"__proto__":"a","b":{"__proto__":1}}}}}';
    expect(() => parseConfig(text)).toThrow(
      new ConfigError(
        `invalid config: enrich.context.clusters.__proto__: ${REFUSED}; enrich.context.clusters.b.__proto__: ${REFUSED}; limits.maxRecords: Too small: expected number to be >0; enrich.context.clusters.b: Invalid input: expected string, received object`,
      ),
    );
    const c = parseConfig('{"enrich":{"context":{"clusters":{"constructor":"a","prototype":"b"}}}}');
    expect(c.enrich.context.clusters).toEqual({ constructor: "a", prototype: "b" });
  });
});

describe("secret fields", () => {
  it("name a missing secret as required and a wrong one by what it must be, not zod's bare \"Invalid input\"", () => {
    const base = { type: "webhook", url: "http://127.0.0.1:9/hook" };
    const line = (sink: object) => {
      try {
        parseConfig({ sinks: { hook: sink } });
      } catch (e) {
        return (e as Error).message;
      }
      return "accepted";
    };
    expect(line(base)).toBe('invalid config: sinks.hook.secret: required: {"env": "NAME"} (a Worker secret) or a string');
    expect(line({ ...base, secret: 42 })).toBe('invalid config: sinks.hook.secret: expected {"env": "NAME"} (a Worker secret) or a non-empty string');
    expect(line({ ...base, secret: { env: "WH_SECRET" } })).toBe("accepted");
    expect(() => parseConfig({ auth: { tokens: [{ tenant: "t1", token: { ENV: "X" } }] } })).toThrow('auth.tokens.0.token: expected {"env": "NAME"} (a Worker secret) or a non-empty string');
  });
});

describe("configFor with an invalid config", () => {
  it("throws the same error on every call and logs it once, naming the field", () => {
    const lines: string[] = [];
    const spy = vi.spyOn(console, "error").mockImplementation((s: unknown) => void lines.push(String(s)));
    try {
      const env = { TRIBUTARY_CONFIG: '{"sinks":{"hook":{"type":"webhook","url":"127.0.0.1:8816/hook","secret":{"env":"S"}}}}' };
      const first = (() => {
        try {
          configFor(env);
        } catch (e) {
          return e;
        }
      })();
      expect(first).toBeInstanceOf(ConfigError);
      expect((first as Error).message).toBe("invalid config: sinks.hook.url: Invalid URL");
      for (let i = 0; i < 3; i++) expect(() => configFor(env)).toThrow(first as Error);
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({ level: "error", error: "invalid config: sinks.hook.url: Invalid URL" });
      expect(JSON.parse(lines[0]!).msg).toMatch(/^config invalid: /);
    } finally {
      spy.mockRestore();
    }
  });
});
