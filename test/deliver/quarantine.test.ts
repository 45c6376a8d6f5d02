// Quarantine layout (Node, pure part) and its writer.
import { describe, it, expect } from "vitest";
import { quarantineObjects, quarantineUniq, writeQuarantine, QUARANTINE_SINGLE_OBJECTS, type Rejected } from "../../src/deliver/quarantine";
import { redactSchema, type RedactConfig } from "../../src/config/redact";

const meta = { requestId: "8a1b2c3d4e5f6a7b-SJC", uniq: "0123456789ab", tenant: "team-a", receivedAt: Date.UTC(2026, 10, 22, 23, 59), route: "/v1/events" };

describe("quarantineObjects", () => {
  it("one object per rejected record under quarantine/<day>/<request id>-<uniq>-<index>.json", () => {
    const objs = quarantineObjects([{ index: 4, path: "line 5", reason: "invalid JSON: x", raw: "{nope" }], meta);
    expect(objs).toHaveLength(1);
    expect(objs[0]!.key).toBe("quarantine/20261122/8a1b2c3d4e5f6a7b-SJC-0123456789ab-4.json");
    expect(JSON.parse(objs[0]!.body)).toEqual({ reason: "invalid JSON: x", path: "line 5", index: 4, tenant: "team-a", request_id: meta.requestId, quarantine_id: "0123456789ab", route: "/v1/events", received_at: "2026-11-22T23:59:00.000Z", raw: "{nope" });
  });

  it("past the per-request cap, the rest share one NDJSON object; request ids are made key-safe", () => {
    const many: Rejected[] = Array.from({ length: QUARANTINE_SINGLE_OBJECTS + 5 }, (_, i) => ({ index: i, path: `[${i}]`, reason: "r", record: { i } }));
    const objs = quarantineObjects(many, { ...meta, requestId: "a/b c" });
    expect(objs).toHaveLength(QUARANTINE_SINGLE_OBJECTS + 1);
    expect(objs[0]!.key).toBe("quarantine/20261122/a_b_c-0123456789ab-0.json");
    const rest = objs.at(-1)!;
    expect(rest.key).toBe("quarantine/20261122/a_b_c-0123456789ab-rest.ndjson");
    expect(rest.body.trim().split("\n").map((l) => (JSON.parse(l) as { record: { i: number } }).record.i)).toEqual([25, 26, 27, 28, 29]);
  });

  it("two requests with the same request id get different keys (the uniq part), so neither overwrites the other", () => {
    const r: Rejected[] = [{ index: 0, path: "line 1", reason: "r", raw: "x" }];
    const a = quarantineObjects(r, { ...meta, uniq: quarantineUniq() });
    const b = quarantineObjects(r, { ...meta, uniq: quarantineUniq() });
    expect(a[0]!.key).toMatch(/^quarantine\/20261122\/8a1b2c3d4e5f6a7b-SJC-[0-9a-f]{12}-0\.json$/);
    expect(a[0]!.key).not.toBe(b[0]!.key);
  });

  it("keeps the reason when a record cannot be serialized", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 1_000_000; i++) deep = [deep];
    const [o] = quarantineObjects([{ index: 0, path: "(body)", reason: "too deep", record: deep as never }], meta);
    const b = JSON.parse(o!.body) as Record<string, unknown>;
    expect(b.reason).toBe("too deep");
    expect(b.record_error).toMatch(/could not be serialized/);
  });
});

describe("writeQuarantine", () => {
  it("writes every object and reports the first failure after trying them all", async () => {
    const keys: string[] = [];
    const many: Rejected[] = Array.from({ length: 8 }, (_, i) => ({ index: i, path: "", reason: "r", raw: "x" }));
    expect(await writeQuarantine({ put: async (k) => void keys.push(k) }, many, meta)).toBe(8);
    expect(keys).toHaveLength(8);
    let tried = 0;
    await expect(writeQuarantine({ put: async () => { tried++; throw new Error("down"); } }, many, meta)).rejects.toThrow("down");
    expect(tried).toBe(8);
  });

  it("gives each object the content type of its key: .json objects application/json, the rest .ndjson application/x-ndjson", async () => {
    const types = new Map<string, string | undefined>();
    const many: Rejected[] = Array.from({ length: QUARANTINE_SINGLE_OBJECTS + 2 }, (_, i) => ({ index: i, path: "", reason: "r", raw: "x" }));
    await writeQuarantine({ put: async (k, _v, o) => void types.set(k, o?.httpMetadata?.contentType) }, many, meta);
    expect(types.size).toBe(QUARANTINE_SINGLE_OBJECTS + 1);
    for (const [k, t] of types) expect(t).toBe(k.endsWith("-rest.ndjson") ? "application/x-ndjson" : "application/json");
    expect([...types.values()].filter((t) => t === "application/x-ndjson")).toHaveLength(1);
  });
});

describe("Kubernetes credentials in rejected records (docs/ingest.md#quarantine)", () => {
  const b64 = (s: string): string => Buffer.from(s).toString("base64");
  const PASSWORD = "quarantined-SuperSecret-pw"; // 26 bytes
  const TOKEN = "eyJhbGciOiJSUzI1NiJ9.SIGNED-TOKEN-quarantine";
  const secret = { kind: "Secret", apiVersion: "v1", metadata: { name: "db", namespace: "default" }, data: { password: b64(PASSWORD) }, stringData: { user: "plain-admin-user" } };
  // a Secret create at RequestResponse level, rejected by ingest (here: no auditID)
  const create = {
    kind: "Event",
    apiVersion: "audit.k8s.io/v1",
    level: "RequestResponse",
    stage: "ResponseComplete",
    verb: "create",
    requestURI: "/api/v1/namespaces/default/secrets",
    objectRef: { resource: "secrets", namespace: "default", name: "db", apiVersion: "v1" },
    requestObject: secret,
    responseObject: secret,
    stageTimestamp: "2026-11-22T23:58:00.000000Z",
  };
  const { responseObject: _none, ...request } = create;
  const tokenReview = { ...request, objectRef: { resource: "tokenreviews", apiGroup: "authentication.k8s.io", apiVersion: "v1" }, requestObject: { kind: "TokenReview", spec: { token: TOKEN } } };
  /** Every byte the quarantine would store for these records: keys, bodies, metadata. */
  function stored(rejected: Rejected[]): string {
    return quarantineObjects(rejected, meta).map((o) => `${o.key}\n${o.reason}\n${o.body}`).join("\n");
  }
  const leaks = (s: string): boolean => [PASSWORD, b64(PASSWORD), "plain-admin-user", TOKEN, "SIGNED-TOKEN"].some((x) => s.includes(x));

  it("a rejected Secret create (a line as received) is kept redacted, as parsed JSON with the redacted paths; no byte of the values is stored", () => {
    const raw = JSON.stringify(create);
    const r: Rejected = { index: 0, path: "line 1", reason: "not a Kubernetes audit Event: missing string field auditID", source: "k8s_audit", raw };
    expect(leaks(raw)).toBe(true);
    const text = stored([r]);
    expect(leaks(text)).toBe(false);
    const body = JSON.parse(quarantineObjects([r], meta)[0]!.body) as { raw?: string; record: typeof create; redacted: string[]; reason: string };
    expect(body.raw).toBeUndefined();
    expect(body.reason).toBe(r.reason);
    expect(body.redacted).toEqual(["requestObject.data.password", "requestObject.stringData.user", "responseObject.data.password", "responseObject.stringData.user"]);
    expect(body.record.requestObject.data).toEqual({ password: "[redacted: 26 bytes]" });
    expect(body.record.requestObject.stringData).toEqual({ user: "[redacted: 16 bytes]" });
    // the rest of the record is as sent
    expect({ ...body.record, requestObject: create.requestObject, responseObject: create.responseObject }).toEqual(create);
  });

  it("parsed records (an EventList item), a whole EventList body, a TokenReview, and records past the single objects: all redacted", () => {
    const many: Rejected[] = Array.from({ length: QUARANTINE_SINGLE_OBJECTS + 2 }, (_, i) => ({ index: i, path: `items[${i}]`, reason: "r", record: i % 2 ? create : tokenReview }));
    const list = { kind: "EventList", apiVersion: "audit.k8s.io/v1", items: [create, tokenReview] };
    const whole: Rejected = { index: 99, path: "(body)", reason: "r", raw: JSON.stringify(list, null, 2) };
    // a Secret posted in place of an audit event (kubectl get secret -o json)
    const bare: Rejected = { index: 100, path: "line 1", reason: "r", raw: JSON.stringify({ kind: "Secret", data: secret.data }) };
    expect(JSON.parse(quarantineObjects([bare], meta)[0]!.body)).toMatchObject({ redacted: ["data.password"], record: { kind: "Secret", data: { password: "[redacted: 26 bytes]" } } });
    const text = stored([...many, whole, bare]);
    expect(leaks(text)).toBe(false);
    const objs = quarantineObjects([whole, ...many], meta);
    expect((JSON.parse(objs[0]!.body) as { redacted: string[] }).redacted).toContain("items[1].requestObject.spec.token");
    expect((JSON.parse(objs[1]!.body) as { redacted: string[]; record: { requestObject: { spec: { token: string } } } }).record.requestObject.spec.token).toBe(`[redacted: ${TOKEN.length} bytes]`);
    const rest = objs.at(-1)!.body.trim().split("\n").map((l) => JSON.parse(l) as { redacted?: string[] });
    expect(rest.every((e) => e.redacted !== undefined && e.redacted.length > 0)).toBe(true);
  });

  it("records without credentials, and text that is not JSON, are kept as received", () => {
    const falco = '{"rule":"Terminal shell in container","output":"x","output_fields":{"evt.time":1684997616000000000}}';
    const { requestObject: _req, ...metadataOnly } = request;
    const metadataLevel = JSON.stringify({ ...metadataOnly, level: "Metadata" });
    const cut = JSON.stringify(create).slice(0, 300); // a line cut inside the body: not JSON
    const rejected: Rejected[] = [
      { index: 0, path: "line 1", reason: "r", raw: falco },
      { index: 1, path: "line 2", reason: "r", raw: metadataLevel },
      { index: 2, path: "line 3", reason: "r", raw: cut },
      { index: 3, path: "line 4", reason: "r", rawBase64: b64("\xff") },
      { index: 4, path: "[4]", reason: "r", record: { rule: "x" } },
    ];
    const bodies = quarantineObjects(rejected, meta).map((o) => JSON.parse(o.body) as Record<string, unknown>);
    expect(bodies.map((b) => b.raw ?? b.raw_base64 ?? b.record)).toEqual([falco, metadataLevel, cut, b64("\xff"), { rule: "x" }]);
    expect(bodies.some((b) => "redacted" in b)).toBe(false);
  });

  it("a record whose credentials cannot be redacted (lists nested past the stack) is not kept, the reason is", () => {
    let body: unknown = secret;
    for (let i = 0; i < 200_000; i++) body = { kind: "List", items: [body] };
    const [o] = quarantineObjects([{ index: 0, path: "line 1", reason: "too deep", record: { ...create, requestObject: body } as never }], meta);
    const b = JSON.parse(o!.body) as Record<string, unknown>;
    expect(b.reason).toBe("too deep");
    expect(b.record).toBeUndefined();
    expect(b.record_error).toMatch(/could not be redacted/);
    expect(leaks(o!.body)).toBe(false);
  });
});

describe("the config's redact rules over what the quarantine keeps (docs/ingest.md#quarantine)", () => {
  const cfg = (c: unknown): RedactConfig => redactSchema.parse(c);
  const creds = cfg({ presets: ["credentials"] });
  const falcoLine = JSON.stringify({ rule: "Drop and execute new binary", output: "curl --password=hunter2 -H 'Authorization: Bearer abc.def' https://x", output_fields: { "proc.cmdline": "mysql -u root -pS3cretpw db" } });
  const body = (r: Rejected, c?: RedactConfig) => JSON.parse(quarantineObjects([r], meta, c)[0]!.body) as { raw?: string; raw_base64?: string; record?: Record<string, unknown>; redacted?: string[] };

  it("no redact config, or one that masks nothing in the record: the entry is byte for byte what it was", () => {
    const rs: Rejected[] = [
      { index: 0, path: "line 1", reason: "record is 9 bytes, more than limits.maxRecordBytes (4)", source: "falco", raw: falcoLine },
      { index: 1, path: "items[0]", reason: "x", record: { output: "--password=hunter2" } },
      { index: 2, path: "line 3", reason: "line is not valid UTF-8", rawBase64: Buffer.from("--password=hunter2 \xff").toString("base64") },
    ];
    const plain = quarantineObjects(rs, meta);
    expect(quarantineObjects(rs, meta, undefined)).toEqual(plain);
    expect(quarantineObjects(rs, meta, cfg({ rules: [{ pattern: "never-in-these-records-(\\d+)" }] }))).toEqual(plain);
    expect(quarantineObjects(rs, meta, cfg({}))).toEqual(plain);
    expect(plain[0]!.body).toContain("hunter2");
  });

  it("the reason is masked as the record beside it, in the entry and the object's metadata", () => {
    const r: Rejected = { index: 0, path: "line 1", reason: "unrecognised record: output --password=hunter2 token=abc", raw: '{"output":"--password=hunter2 token=abc"' };
    const [o] = quarantineObjects([r], meta, creds);
    const b = JSON.parse(o!.body) as { reason: string; raw: string };
    expect(b.reason).toBe("unrecognised record: output --password=***** token=*****");
    expect(o!.reason).toBe(b.reason);
    expect(o!.body).not.toMatch(/hunter2|abc/);
    // past QUARANTINE_SINGLE_OBJECTS, in the -rest.ndjson lines too
    const many = quarantineObjects(Array.from({ length: QUARANTINE_SINGLE_OBJECTS + 2 }, (_, i) => ({ ...r, index: i })), meta, creds);
    for (const x of many) expect(x.body).not.toMatch(/hunter2|abc/);
    // without redact: as given
    expect(quarantineObjects([r], meta)[0]!.reason).toBe(r.reason);
  });

  it("a line kept as received: the preset masks its text, `redacted` says raw; what no rule matches stays", () => {
    const b = body({ index: 0, path: "line 1", reason: "too big", source: "falco", raw: falcoLine }, creds);
    expect(b.redacted).toEqual(["raw"]);
    for (const s of ["hunter2", "abc.def", "S3cretpw"]) expect(b.raw).not.toContain(s);
    expect(b.raw).toBe(falcoLine.replace("hunter2", "*****").replace("abc.def", "*****").replace("S3cretpw", "*****"));
  });

  it("a parsed record: every string of it, secret-named keys' values whole, with the record paths changed", () => {
    const record = { output: "run --password=hunter2 now", output_fields: { "proc.cmdline": "sshpass -p topsecret ssh h", db_password: "plain" }, n: 3 };
    const b = body({ index: 0, path: "items[0]", reason: "x", record }, creds);
    expect(b.record).toEqual({ output: "run --password=***** now", output_fields: { "proc.cmdline": "sshpass -p ***** ssh h", db_password: "*****" }, n: 3 });
    expect(b.redacted).toEqual(["output", 'output_fields["proc.cmdline"]', "output_fields.db_password"]);
  });

  it("bytes that are not UTF-8 (raw_base64): masked, every other byte kept", () => {
    const bytes = Buffer.concat([Buffer.from("x --password=hunter2 "), Buffer.from([0xff, 0xfe, 0x00, 0xc3])]);
    const b = body({ index: 0, path: "line 1", reason: "line is not valid UTF-8", rawBase64: bytes.toString("base64") }, creds);
    expect(b.redacted).toEqual(["raw_base64"]);
    expect(Buffer.from(b.raw_base64!, "base64")).toEqual(Buffer.concat([Buffer.from("x --password=***** "), Buffer.from([0xff, 0xfe, 0x00, 0xc3])]));
  });

  it("custom rules: `fields` and `binary` do not narrow them here (a record is not normalized): the whole text", () => {
    const c = cfg({ rules: [{ pattern: " -a ?(\\S+)", binary: "/redis-cli$", fields: ["**.cmd_line"] }] });
    const b = body({ index: 0, path: "line 1", reason: "x", raw: '{"output":"redis-cli -a s3cr3t get k"}' }, c);
    expect(b.raw).toBe('{"output":"redis-cli -a ***** get k"}');
  });

  it("a Kubernetes record: the audit redaction and the text rules both, their paths in one list", () => {
    const rec = { kind: "Secret", apiVersion: "v1", metadata: { name: "db", annotations: { note: "--password=hunter2" } }, data: { password: Buffer.from("pw").toString("base64") } };
    const b = body({ index: 0, path: "line 1", reason: "x", raw: JSON.stringify(rec) }, creds);
    expect(b.redacted).toEqual(["data.password", "metadata.annotations.note"]);
    expect(JSON.stringify(b)).not.toContain("hunter2");
  });
});
