// Where the config comes from: TRIBUTARY_CONFIG when it is set (it wins), else the bundled
// tributary.config.json (src/config/load.ts), parsed once per env object.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { CONFIG_FILE, ConfigError, configFor, configSource, selectConfig } from "../../src/config/load";
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
