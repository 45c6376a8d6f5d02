// Every body shape the issue lists, on the real fixtures: framings, encodings, containers,
// detection, explicit routes, Falcosidekick's POST /, Falco text output.
import { env } from "cloudflare:test";
import { describe, it, expect } from "vitest";
import { fixture, fixturesIn } from "../support/fixtures";
import { readArchive, waitFor } from "../support/archive";
import { CaptureQueue, call, post, linesOf, productOf, gzip, quarantined } from "./helpers";
import { parseJson } from "../../src/normalize/json";

const falcoLines = linesOf("falco");
const tetragonLines = linesOf("tetragon");
const k8sLines = linesOf("k8s-audit", (n) => !n.includes("negative__"));
const ctRecords: Record<string, unknown>[] = fixturesIn("cloudtrail")
  .filter((f) => f.name.includes("/record__"))
  .map((f) => JSON.parse(f.text) as Record<string, unknown>);

async function ingest(path: string, body: BodyInit, headers?: Record<string, string>) {
  const queue = new CaptureQueue();
  const r = await call(post(path, body, headers), { queue });
  return { ...r, queue };
}

describe("framings", () => {
  it("takes one JSON object per request (Falco http_output)", async () => {
    const r = await ingest("/v1/events", fixture("falco/terminal-shell-in-container__falco-docs.json"));
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ accepted: 1, rejected: 0, errors: [] });
    expect(r.queue.events().map(productOf)).toEqual(["Falco"]);
  });

  it("takes a JSON array (Vector codec: json), one record per element", async () => {
    const r = await ingest("/v1/events", `[${falcoLines.join(",")}]`);
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ accepted: falcoLines.length, rejected: 0, errors: [] });
    expect(r.queue.count()).toBe(falcoLines.length);
  });

  it("takes NDJSON with and without a trailing newline, with LF or CRLF", async () => {
    for (const [sep, tail] of [["\n", "\n"], ["\n", ""], ["\r\n", "\r\n"]] as const) {
      const r = await ingest("/v1/events", tetragonLines.join(sep) + tail, { "content-type": "application/x-ndjson" });
      expect(r.status, JSON.stringify(r.body.errors.slice(0, 3))).toBe(202);
      expect(r.body).toEqual({ accepted: tetragonLines.length, rejected: 0, errors: [] });
      expect(new Set(r.queue.events().map(productOf))).toEqual(new Set(["Tetragon"]));
    }
  });

  it("takes NDJSON sent as application/json (Vector newline_delimited with a json content type), and JSON text sequences", async () => {
    const r = await ingest("/v1/events", k8sLines.join("\n"), { "content-type": "application/json" });
    expect(r.body).toEqual({ accepted: k8sLines.length, rejected: 0, errors: [] });
    const seq = await ingest("/v1/events", k8sLines.map((l) => `\u001e${l}\n`).join(""), { "content-type": "application/json-seq" });
    expect(seq.body).toEqual({ accepted: k8sLines.length, rejected: 0, errors: [] });
  });

  it("takes a pretty-printed single record (CloudTrail docs examples)", async () => {
    for (const f of fixturesIn("cloudtrail").filter((x) => x.name.includes("/record__"))) {
      const r = await ingest("/v1/events", f.text);
      expect(r.body, f.name).toEqual({ accepted: 1, rejected: 0, errors: [] });
      expect(r.queue.events().map(productOf)).toEqual(["CloudTrail"]);
    }
  });

  it("keeps Falco text output (json_output: false, text/plain) as Detection Findings with the message", async () => {
    const lines = [
      "17:40:31.160465000: Warning Shell spawned in a container (user=root container_id=2bd8b7a2a0e5 shell=bash parent=runc)",
      "17:40:32.000000000: Notice Unexpected connection to K8s API Server from container (command=curl connection=10.0.0.2:5432->10.96.0.1:443)",
    ];
    const r = await ingest("/", lines.join("\n") + "\n", { "content-type": "text/plain" });
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ accepted: 2, rejected: 0, errors: [] });
    const evs = r.queue.events();
    expect(evs.map((e) => e.class_uid)).toEqual([2004, 2004]);
    expect(JSON.stringify(evs[0])).toContain("Shell spawned in a container");
    expect(evs.map((e) => e.severity_id)).toEqual([3, 2]);
  });

  it("refuses a text line that is not Falco output (line N, quarantined), keeps the Falco lines beside it; both time forms pass", async () => {
    const id = `text-${crypto.randomUUID()}`;
    const lines = ["13:44:05.478445995: Critical A shell was spawned (user=root)", "hello world", "2016-08-04T16:17:57.881781397+0000: Warning An open was seen (command=cat /dev/null)"];
    const r = await call(post("/v1/events/falco", lines.join("\n") + "\n", { "content-type": "text/plain", "x-request-id": id }), { queue: new CaptureQueue() });
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ accepted: 2, rejected: 1, errors: [{ index: 1, path: "line 2", source: "falco", reason: "not a Falco text alert: expected '<time>: <Priority> <message>'" }] });
    const found = await quarantined(env.ARCHIVE, id);
    expect(found.map((f) => f.part)).toEqual(["1"]);
    const q = JSON.parse(await (await env.ARCHIVE.get(found[0]!.key))!.text()) as { raw: string; reason: string; path: string };
    expect([q.raw, q.path, q.reason]).toEqual(["hello world", "line 2", r.body.errors[0]!.reason]);
    // nothing but non-Falco text: 400, nothing queued (an HTTP request line sent as octet-stream to /v1/events)
    const http = new CaptureQueue();
    const only = await call(post("/v1/events", "GET / HTTP/1.1\r\nHost: x\r\n", { "content-type": "application/octet-stream" }), { queue: http });
    expect(only.status).toBe(400);
    expect(only.body).toMatchObject({ accepted: 0, rejected: 2, errors: [{ index: 0, path: "line 1", reason: expect.stringMatching(/^not a Falco text alert/) as unknown as string }, { index: 1, path: "line 2" }] });
    expect(http.count()).toBe(0);
  });
});

describe("content encodings", () => {
  const body = tetragonLines.join("\n");
  for (const [coding, format] of [["gzip", "gzip"], ["x-gzip", "gzip"], ["deflate", "deflate"], ["deflate", "deflate-raw"]] as const) {
    it(`decompresses Content-Encoding: ${coding} (${format} stream)`, async () => {
      const r = await ingest("/v1/events", await gzip(body, format), { "content-type": "application/x-ndjson", "content-encoding": coding });
      expect(r.status).toBe(202);
      expect(r.body).toEqual({ accepted: tetragonLines.length, rejected: 0, errors: [] });
    });
  }

  it("takes identity, and a gzip file posted as application/gzip (a relayed CloudTrail .json.gz)", async () => {
    const id = await ingest("/v1/events", body, { "content-type": "application/x-ndjson", "content-encoding": "identity" });
    expect(id.body.accepted).toBe(tetragonLines.length);
    const file = fixture("cloudtrail/records__iam-create-user__aws-docs.json");
    const n = (JSON.parse(file) as { Records: unknown[] }).Records.length;
    const gz = await ingest("/v1/events/cloudtrail", await gzip(file), { "content-type": "application/gzip" });
    expect(gz.body).toEqual({ accepted: n, rejected: 0, errors: [] });
  });

  it("answers 415 naming the coding for anything else (br, zstd, snappy)", async () => {
    for (const coding of ["br", "zstd", "snappy", "gzip, br"]) {
      const r = await ingest("/v1/events", body, { "content-type": "application/x-ndjson", "content-encoding": coding });
      expect(r.status, coding).toBe(415);
      expect(r.body.accepted).toBe(0);
      expect(r.body.errors[0]!.reason).toMatch(/Content-Encoding "(br|zstd|snappy)" is not supported/);
    }
  });

  it("answers 415 for content types it cannot read, with a hint for curl's default", async () => {
    const xml = await ingest("/v1/events", "<event/>", { "content-type": "application/xml" });
    expect(xml.status).toBe(415);
    expect(xml.body.errors[0]!.reason).toMatch(/Content-Type "application\/xml" is not supported/);
    const form = await ingest("/v1/events", falcoLines[0]!, { "content-type": "application/x-www-form-urlencoded" });
    expect(form.status).toBe(415);
    expect(form.body.errors[0]!.reason).toMatch(/curl/);
  });
});

describe("containers", () => {
  it("unwraps a Kubernetes audit EventList whose items lack kind/apiVersion (the audit webhook's batch)", async () => {
    const items = k8sLines.map((l) => {
      const { kind: _k, apiVersion: _a, ...rest } = JSON.parse(l) as Record<string, unknown>;
      return rest;
    });
    const list = { kind: "EventList", apiVersion: "audit.k8s.io/v1", metadata: {}, items };
    for (const path of ["/v1/events", "/v1/events/k8s-audit"]) {
      const r = await ingest(path, JSON.stringify(list));
      expect(r.status, JSON.stringify(r.body.errors.slice(0, 2))).toBe(202);
      expect(r.body).toEqual({ accepted: items.length, rejected: 0, errors: [] });
      expect(new Set(r.queue.events().map(productOf))).toEqual(new Set(["Kubernetes"]));
    }
  });

  it("unwraps CloudTrail log files ({\"Records\": [...]}) and bare arrays of records", async () => {
    for (const f of fixturesIn("cloudtrail").filter((x) => x.name.includes("/records__") || x.name.includes("/stratus__"))) {
      const v = JSON.parse(f.text) as { Records: unknown[] } | unknown[];
      const n = Array.isArray(v) ? v.length : v.Records.length;
      const r = await ingest("/v1/events", f.text);
      expect(r.body, f.name).toEqual({ accepted: n, rejected: 0, errors: [] });
      expect(new Set(r.queue.events().map(productOf))).toEqual(new Set(["CloudTrail"]));
    }
  });

  it("unwraps EventBridge envelopes (detail holds the CloudTrail record) and keeps the envelope", async () => {
    for (const f of fixturesIn("cloudtrail").filter((x) => x.name.includes("/eventbridge__"))) {
      const r = await ingest("/v1/events", f.text);
      expect(r.body, f.name).toEqual({ accepted: 1, rejected: 0, errors: [] });
      const ev = r.queue.events()[0]!;
      expect(productOf(ev)).toBe("CloudTrail");
      expect((ev.unmapped as { eventbridge?: Record<string, unknown> }).eventbridge?.["detail-type"]).toBe((JSON.parse(f.text) as Record<string, unknown>)["detail-type"]);
    }
  });
});

describe("nested arrays and empty containers: every element of a batch is accounted for", () => {
  const a = falcoLines[0]!;
  const NESTED = /^an array inside an array or container is not unwrapped/;
  /** The quarantined parts of request `id` and what each holds. */
  async function quarantine(id: string): Promise<Record<string, { index: number; path: string; reason: string; record?: unknown; raw?: string }>> {
    const out: Record<string, { index: number; path: string; reason: string; record?: unknown; raw?: string }> = {};
    for (const f of await quarantined(env.ARCHIVE, id)) out[f.part] = JSON.parse(await (await env.ARCHIVE.get(f.key))!.text()) as (typeof out)[string];
    return out;
  }

  it("[[a,a],[],[[a]]]: the element arrays are unwrapped, the array inside one is rejected and quarantined, [] is listed as empty", async () => {
    for (const [body, headers, at] of [
      [`[[${a},${a}],[],[[${a}]]]`, undefined, (p: string) => p],
      [[`[${a},${a}]`, "[]", `[[${a}]]`].join("\n"), { "content-type": "application/x-ndjson" }, (p: string) => p.replace(/^\[(\d)\]/, (_, n: string) => `line ${Number(n) + 1}`)],
    ] as const) {
      const id = `nested-${crypto.randomUUID()}`;
      const r = await ingest("/v1/events", body, { "content-type": "application/json", ...headers, "cf-ray": id });
      expect(r.status, body).toBe(202);
      expect(r.body, body).toMatchObject({ accepted: 2, rejected: 1, errors: [{ index: 2, path: at("[2][0]"), reason: expect.stringMatching(NESTED) }], empty: [at("[1]")] });
      expect(r.queue.events().map(productOf)).toEqual(["Falco", "Falco"]);
      const q = await quarantine(id);
      expect(Object.keys(q)).toEqual(["2"]);
      expect(q["2"]).toMatchObject({ index: 2, path: at("[2][0]"), record: [parseJson(a)] }); // parsed as the quarantine keeps it (long integers as strings)
    }
  });

  it('[a,{foo},a,"str",null,[]]: accepted 2, rejected 3 (each quarantined), the [] at index 5 listed as empty', async () => {
    const id = `mixed-${crypto.randomUUID()}`;
    const r = await ingest("/v1/events", `[${a},{"foo":1},${a},"str",null,[]]`, { "content-type": "application/json", "cf-ray": id });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ accepted: 2, rejected: 3, empty: ["[5]"] });
    expect(r.body.errors.map((e) => [e.index, e.path])).toEqual([[1, "[1]"], [3, "[3]"], [4, "[4]"]]);
    expect(Object.keys(await quarantine(id)).sort()).toEqual(["1", "3", "4"]);
  });

  it("an empty EventList or Records: [] in a batch is no error: listed under empty, the other records accepted", async () => {
    const list = (items: string[]) => `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[${items.join(",")}]}`;
    const ndjson = [list([]), list([k8sLines[0]!]), '{"Records":[]}', JSON.stringify(ctRecords[0])].join("\n");
    const r = await ingest("/v1/events", ndjson, { "content-type": "application/x-ndjson" });
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ accepted: 2, rejected: 0, errors: [], empty: ["line 1.items", "line 3.Records"] });
    const arr = await ingest("/v1/events", `[${list([])},{"Records":[]},${a}]`);
    expect(arr.body).toEqual({ accepted: 1, rejected: 0, errors: [], empty: ["[0].items", "[1].Records"] });
    // a body of empty containers only: nothing to do and nothing wrong, 200 with each of them listed
    const none = await ingest("/v1/events", `[[],{"Records":[]}]`);
    expect(none.status).toBe(200);
    expect(none.body).toEqual({ accepted: 0, rejected: 0, errors: [], empty: ["[0]", "[1].Records"] });
  });

  it("a bare array of CloudTrail records as an element of the body's array is a container, as the same array is as a body or a line", async () => {
    const stratus = fixture("cloudtrail/stratus__persistence.iam-create-admin-user.json").trim();
    const n = (JSON.parse(stratus) as unknown[]).length;
    for (const [body, headers] of [
      [stratus, undefined],
      [`[${stratus},${stratus}]`, undefined],
      [`${JSON.stringify(JSON.parse(stratus))}\n${JSON.stringify(JSON.parse(stratus))}`, { "content-type": "application/x-ndjson" }],
    ] as const) {
      const r = await ingest("/v1/events", body, headers);
      expect(r.body).toEqual({ accepted: body === stratus ? n : 2 * n, rejected: 0, errors: [] });
    }
  });

  it("lists at most maxReportedErrors empty containers and counts the others", async () => {
    const r = await call(post("/v1/events", `${a}\n[]\n[]\n[]\n[]\n`, { "content-type": "application/x-ndjson" }), { queue: new CaptureQueue(), config: { limits: { maxReportedErrors: 2 } } });
    expect(r.body).toEqual({ accepted: 1, rejected: 0, errors: [], empty: ["line 2", "line 3"], empty_omitted: 2 });
  });
});

describe("detection and routes", () => {
  it("classifies each record of a mixed batch (Falco of every source, Tetragon, k8s audit, CloudTrail)", async () => {
    const falcoPlugins = [...linesOf("falco-k8saudit"), ...linesOf("falco-cloudtrail")];
    const lines = [falcoLines[0]!, ...falcoPlugins, tetragonLines[0]!, k8sLines[0]!, JSON.stringify(ctRecords[0])];
    const r = await ingest("/v1/events", lines.join("\n"), { "content-type": "application/x-ndjson" });
    expect(r.body).toEqual({ accepted: lines.length, rejected: 0, errors: [] });
    const products = r.queue.events().map(productOf);
    expect(products.filter((p) => p === "Falco")).toHaveLength(1 + falcoPlugins.length);
    expect(products.filter((p) => p !== "Falco").sort()).toEqual(["CloudTrail", "Kubernetes", "Tetragon"]);
    const features = r.queue.events().filter((e) => productOf(e) === "Falco").map((e) => (e.metadata as { product: { feature: { name: string } } }).product.feature.name);
    expect(new Set(features)).toEqual(new Set(["syscall", "k8s_audit", "aws_cloudtrail"]));
  });

  it("classifies Falco internal alerts (source: internal)", async () => {
    const r = await ingest("/v1/events", fixture("falco/falco-internal-syscall-event-drop__falcosidekick-test.json"));
    expect(r.body).toEqual({ accepted: 1, rejected: 0, errors: [] });
    expect((r.queue.events()[0]!.metadata as { product: { feature: { name: string } } }).product.feature.name).toBe("internal");
  });

  it("explicit routes skip detection: each takes its own source", async () => {
    const cases: [string, string, string, number][] = [
      ["/v1/events/falco", falcoLines.join("\n"), "Falco", falcoLines.length],
      ["/v1/events/tetragon", tetragonLines.join("\n"), "Tetragon", tetragonLines.length],
      ["/v1/events/k8s-audit", k8sLines.join("\n"), "Kubernetes", k8sLines.length],
      ["/v1/events/cloudtrail", ctRecords.map((x) => JSON.stringify(x)).join("\n"), "CloudTrail", ctRecords.length],
    ];
    for (const [path, body, product, n] of cases) {
      const r = await ingest(path, body, { "content-type": "application/x-ndjson" });
      expect(r.body, path).toEqual({ accepted: n, rejected: 0, errors: [] });
      expect(new Set(r.queue.events().map(productOf))).toEqual(new Set([product]));
    }
  });

  it("an explicit route does not detect: a record of another source is rejected with the normalizer's reason", async () => {
    const r = await ingest("/v1/events/tetragon", `${tetragonLines[0]}\n${JSON.stringify(ctRecords[0])}\n`, { "content-type": "application/x-ndjson" });
    expect(r.status).toBe(202);
    expect(r.body.accepted).toBe(1);
    expect(r.body.errors).toHaveLength(1);
    expect(r.body.errors[0]).toMatchObject({ index: 1, path: "line 2", source: "tetragon" });
    const txt = await ingest("/v1/events/tetragon", "12:00:00.000: Warning something\n", { "content-type": "text/plain" });
    expect(txt.status).toBe(400);
    expect(txt.body.errors[0]!.reason).toMatch(/only accepted as Falco output/);
  });

  it("a Tetragon rate_limit_info line is detected on /v1/events (Event Log Activity), as on /v1/events/tetragon; with a process_* key too it is ambiguous", async () => {
    const execLine = tetragonLines.find((l) => l.startsWith('{"process_exec"'))!;
    const notice = JSON.stringify({ rate_limit_info: { number_of_dropped_process_events: "1234" }, node_name: "node-a", time: "2024-07-26T13:07:48.178407128Z" });
    const both = JSON.stringify({ ...(JSON.parse(execLine) as Record<string, unknown>), rate_limit_info: { number_of_dropped_process_events: "1" } });
    for (const path of ["/v1/events", "/v1/events/tetragon"]) {
      const r = await ingest(path, [execLine, notice, both].join("\n"), { "content-type": "application/x-ndjson" });
      expect(r.status, path).toBe(202);
      expect(r.body, path).toMatchObject({ accepted: 2, rejected: 1, errors: [{ index: 2, path: "line 3", source: "tetragon" }] });
      expect(r.body.errors[0]!.reason, path).toMatch(/^ambiguous Tetragon record: 2 event keys \(process_exec, rate_limit_info\)/);
      const evs = r.queue.events();
      expect(evs.map(productOf), path).toEqual(["Tetragon", "Tetragon"]);
      expect(evs[1], path).toMatchObject({ class_uid: 1008, activity_id: 99, message: "Tetragon export rate limit: 1234 events dropped" });
    }
  });

  it("a Tetragon record with two process_* keys is rejected and quarantined on /v1/events and /v1/events/tetragon; the good ones are kept", async () => {
    const exec = JSON.parse(tetragonLines.find((l) => l.startsWith('{"process_exec"'))!) as Record<string, unknown>;
    const kprobeLine = tetragonLines.find((l) => l.startsWith('{"process_kprobe"'))!;
    const two = JSON.stringify({ ...exec, process_kprobe: (JSON.parse(kprobeLine) as Record<string, unknown>).process_kprobe });
    const reason = "ambiguous Tetragon record: 2 event keys (process_exec, process_kprobe); a Tetragon export line carries exactly one process_* event";
    for (const path of ["/v1/events", "/v1/events/tetragon"]) {
      const id = `two-keys-${crypto.randomUUID()}`;
      const r = await ingest(path, [JSON.stringify(exec), two, kprobeLine].join("\n"), { "content-type": "application/x-ndjson", "cf-ray": id });
      expect(r.status, path).toBe(202);
      expect(r.body, path).toEqual({ accepted: 2, rejected: 1, errors: [{ index: 1, path: "line 2", source: "tetragon", reason }] });
      expect(r.queue.events().map(productOf), path).toEqual(["Tetragon", "Tetragon"]);
      expect(r.queue.events()[0]!.class_uid, path).toBe(1007);
      const found = await quarantined(env.ARCHIVE, id);
      expect(found.map((f) => f.part), path).toEqual(["1"]);
      const q = await env.ARCHIVE.get(found[0]!.key);
      expect(q, path).not.toBeNull();
      expect(JSON.parse(await q!.text())).toMatchObject({ index: 1, path: "line 2", reason, raw: two });
    }
  });

  it("answers Vector's healthcheck (HEAD <uri>) on every ingest URL", async () => {
    for (const path of ["/", "/v1/events", "/v1/events/falco", "/v1/events/tetragon", "/v1/events/k8s-audit", "/v1/events/cloudtrail"]) {
      const r = await call(new Request(`http://tributary${path}`, { method: "HEAD" }));
      expect(r.status, path).toBe(200);
    }
    expect((await call(new Request("http://tributary/v1/events/nope", { method: "HEAD" }))).status).toBe(404);
  });

  it("answers 404 for an unknown source route", async () => {
    const r = await ingest("/v1/events/syslog", falcoLines[0]!);
    expect(r.status).toBe(404);
    expect(String(r.body.error)).toMatch(/unknown source "syslog"/);
  });

  it("takes Falcosidekick's endpoint shape: POST / with a Falco alert", async () => {
    const r = await ingest("/", fixture("falco/falcosidekick-test-event__falcosidekick-test.json"));
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ accepted: 1, rejected: 0, errors: [] });
  });
});

describe("round trip through the real queue", () => {
  it("gzip NDJSON of Tetragon events reaches the archive with the dev tenant", async () => {
    const { SELF } = await import("cloudflare:test");
    const res = await SELF.fetch("http://tributary/v1/events", {
      method: "POST",
      headers: { "content-type": "application/x-ndjson", "content-encoding": "gzip" },
      body: await gzip(tetragonLines.join("\n") + "\n"),
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: tetragonLines.length, rejected: 0, errors: [] });
    const events = await waitFor(async () => {
      const objs = await readArchive(env.ARCHIVE, "ocsf/");
      const evs = objs.flatMap((o) => o.events).filter((e) => productOf(e) === "Tetragon");
      return evs.length >= tetragonLines.length ? evs : undefined;
    });
    expect(events).toHaveLength(tetragonLines.length);
    for (const e of events) expect((e.metadata as { tenant_uid?: string }).tenant_uid).toBe("dev");
  });
});
