// Security Lake custom source locations: a `sources` entry is a name (ext/{name}/...), { name, version }
// or the location Security Lake prints (s3://<bucket>/ext/<name>/<version>/), the version being a key
// segment after the name. Keys checked from encode and from objects written to s3rver on 127.0.0.1.
import { describe, it, expect, inject } from "vitest";
import { securityLakeDriver, securityLakeSchema, sourcePrefix, type SecurityLakeConfig } from "../../src/sinks/security-lake";
import { parseConfig } from "../../src/config/load";
import { unsentOutcomes, type SinkContext } from "../../src/sinks/types";
import { fixtureEvents, NOW } from "../support/siem-servers";
import { freshBucket, readBucket } from "../support/s3-read";
import { readParquet } from "../support/lake-read";

const endpoint = inject("s3Endpoint");
const ctx: SinkContext = { env: { LAKE_SECRET: "S3RVER" }, now: NOW };
const base = { bucket: "lake-bucket", region: "eu-west-1", accessKeyId: "a", secretAccessKey: "s", accountId: "123456789012" };
const parse = (sources: Record<string, unknown>, bucket = base.bucket) => securityLakeSchema.safeParse({ ...base, bucket, sources });
const issues = (sources: Record<string, unknown>, bucket?: string) => {
  const r = parse(sources, bucket);
  expect(r.success).toBe(false);
  return r.error!.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
};

const findings = fixtureEvents().filter((e) => e.class_uid === 2004);
const dirOf = (url: string) => url.slice(0, url.lastIndexOf("/"));

describe("security lake: custom source location", () => {
  it("a name keeps today's key (ext/{name}/region=...); { name, version } and the printed location add the version segment", async () => {
    expect(findings.length).toBeGreaterThan(0);
    const keys = async (entry: unknown) => {
      const cfg = parse({ "2004": entry }).data!;
      return (await securityLakeDriver.encode(findings, cfg, ctx)).map((r) => r.url);
    };
    const plain = await keys("tributary_findings");
    const day = "eventDay=" + /eventDay=(\d{8})/.exec(plain[0]!)![1];
    expect(plain.map(dirOf)).toContain(`ext/tributary_findings/region=eu-west-1/accountId=123456789012/${day}`);
    const versioned = await keys({ name: "tributary_findings", version: "1.0" });
    expect(versioned.map(dirOf)).toContain(`ext/tributary_findings/1.0/region=eu-west-1/accountId=123456789012/${day}`);
    expect(versioned).toHaveLength(plain.length);
    // the printed location, with or without s3://<bucket>/ and the trailing slash, gives the same keys
    for (const loc of ["s3://lake-bucket/ext/tributary_findings/1.0/", "ext/tributary_findings/1.0/", "ext/tributary_findings/1.0"]) expect(await keys(loc), loc).toEqual(versioned);
    for (const loc of ["ext/tributary_findings/", "s3://lake-bucket/ext/tributary_findings"]) expect(await keys(loc), loc).toEqual(plain);
    // { name } alone is the name
    expect(await keys({ name: "tributary_findings" })).toEqual(plain);
  });

  it("the deterministic id of a name-only source is unchanged; a versioned source's id follows its own directory", async () => {
    const a = parse({ "2004": "falco" }).data!;
    const b = parse({ "2004": { name: "falco", version: "2" } }).data!;
    const ra = await securityLakeDriver.encode(findings, a, ctx);
    const rb = await securityLakeDriver.encode(findings, b, ctx);
    // same events, same key twice over
    expect((await securityLakeDriver.encode([...findings].reverse(), b, ctx)).map((r) => r.url).sort()).toEqual(rb.map((r) => r.url).sort());
    expect(rb.map((r) => r.url.replace("ext/falco/2/", "ext/falco/"))).not.toEqual(ra.map((r) => r.url));
    expect(sourcePrefix(a, 2004)).toBe("ext/falco");
    expect(sourcePrefix(b, 2004)).toBe("ext/falco/2");
    expect(sourcePrefix(b, 1007)).toBeUndefined();
  });

  it("takes AWS's sourceVersion (1-32 of [A-Za-z0-9-._]) and names the exact field it refuses", () => {
    for (const v of ["1.0", "v2", "2024-01_a", "x".repeat(32)]) expect(parse({ "2004": { name: "f", version: v } }).success, v).toBe(true);
    for (const v of ["", ".", "..", "1/0", "1 0", "1:0", "x".repeat(33)]) expect(issues({ "2004": { name: "f", version: v } }).map((i) => i.path), v).toEqual(["sources.2004.version"]);
    expect(issues({ "2004": { name: "a b", version: "1.0" } }).map((i) => i.path)).toEqual(["sources.2004.name"]);
    expect(issues({ "2004": { name: "f", version: "1.0", prefix: "x" } }).map((i) => i.path)).toEqual(["sources.2004"]);
    expect(issues({ "2004": { version: "1.0" } }).map((i) => i.path)).toEqual(["sources.2004"]);
  });

  it("checks a location: its shape, its name and version, and its bucket against the sink's", () => {
    for (const bad of ["s3://lake-bucket/ext/f/1.0/more/", "s3://lake-bucket/other/f/1.0/", "ext//1.0/", "ext/f/../", "ext/a b/1.0/", "https://lake-bucket/ext/f/1.0/", "s3://Lake_Bucket/ext/f/"]) {
      const got = issues({ "2004": bad });
      expect(got.map((i) => i.path), bad).toEqual(["sources.2004"]);
      expect(got[0]!.message, bad).toContain("location");
    }
    const other = issues({ "2004": "s3://aws-security-data-lake-us-east-1-xyz/ext/f/1.0/" });
    expect(other).toEqual([{ path: "sources.2004", message: expect.stringContaining(`not in the sink's bucket "lake-bucket"`) }]);
    expect(parse({ "2004": "s3a://lake-bucket/ext/f/1.0/" }).success).toBe(true);
  });

  it("keeps one class per custom source on the name, whatever the form", () => {
    for (const second of ["same", { name: "same", version: "1.0" }, "ext/same/2.0/"]) {
      const got = issues({ "2004": "same", "1007": second });
      expect(got.filter((i) => /^sources\.(1007|2004)$/.test(i.path)), JSON.stringify(second)).toHaveLength(1);
      expect(got[0]!.message).toContain(`source "same" is already used`);
    }
  });

  it("is accepted by the routing config loader in both forms", () => {
    const cfg = parseConfig({
      sinks: { lake: { type: "security_lake", bucket: "lake-bucket", accessKeyId: "AKIA", secretAccessKey: "s", accountId: "external", sources: { "2004": { name: "falco", version: "1.0" }, "1007": "s3://lake-bucket/ext/tetragon/1.0/", "3006": "groups" } } },
    });
    expect(cfg.sinks.lake).toBeDefined();
  });

  it("a Parquet file written with a version lands under the versioned prefix (s3rver)", async () => {
    const bucket = await freshBucket(endpoint, "lake-version");
    const cfg: SecurityLakeConfig = securityLakeSchema.parse({
      bucket, region: "eu-west-1", endpoint, forcePathStyle: true, accessKeyId: "S3RVER", secretAccessKey: { env: "LAKE_SECRET" }, accountId: "123456789012",
      sources: { "2004": `s3://${bucket}/ext/tributary_findings/1.0/` },
    });
    const reqs = await securityLakeDriver.encode(findings, cfg, ctx);
    expect(unsentOutcomes(securityLakeDriver, findings, reqs, cfg, ctx).size).toBe(0);
    for (const req of reqs) expect(securityLakeDriver.classify(await securityLakeDriver.send!(req, cfg, ctx), req, cfg).outcome).toEqual({ kind: "delivered" });
    const objects = await readBucket(endpoint, bucket, "", reqs.length);
    expect(objects.length).toBe(reqs.length);
    for (const o of objects) expect(o.key).toMatch(/^ext\/tributary_findings\/1\.0\/region=eu-west-1\/accountId=123456789012\/eventDay=\d{8}\/[0-9a-f]{28}\.parquet$/);
    const rows = (await Promise.all(objects.map((o) => readParquet(o.bytes)))).flat();
    expect(rows.map((r) => r.class_uid)).toEqual(findings.map(() => 2004));
  });
});
