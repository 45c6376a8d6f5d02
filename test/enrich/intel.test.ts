import { describe, it, expect } from "vitest";
import { validateOcsf } from "../support/ocsf-validator";
import { config, enrichedFixture, plainFixture } from "./helpers";
import { raiseSeverity, reputationFor } from "../../src/enrich/intel";
import { makeEnricher } from "../../src/enrich/index";
import { buildFromFeedText } from "../../src/enrich/compiled";
import type { OcsfEvent, Enrichment } from "../../src/normalize/ocsf";

const intelHits = (e: OcsfEvent): Enrichment[] => (e.enrichments ?? []).filter((x) => x.type === "threat_intel");

function cfgWith(feeds: unknown[], extra: Record<string, unknown> = {}) {
  return config({ enrich: { intel: { feeds, ...extra } } });
}

/** A Falco finding (real fixture) whose evidence gets a file with a SHA-256 and a URL, enriched with cfg. */
function enrichFalcoWithFileAndUrl(cfg: ReturnType<typeof cfgWith>, sha: string, url: string) {
  const [base] = plainFixture("falco/write-below-binary-dir__falcosidekick-readme.json");
  const e = structuredClone(base!) as OcsfEvent & { evidences: Record<string, unknown>[] };
  e.evidences[0]!.file = { name: "sh", path: "/bin/sh", type_id: 1, type: "Regular File", hashes: [{ algorithm_id: 3, algorithm: "SHA-256", value: sha }] };
  e.evidences[0]!.url = { url_string: url };
  const out = makeEnricher(cfg)(e);
  expect(validateOcsf(out)).toEqual([]);
  return { base: base!, out };
}

describe("threat intel on real events", () => {
  it("Tetragon connect to a listed IP: reputation on the observable, an enrichment naming the feed, severity raised", () => {
    const cfg = cfgWith([{ name: "c2-ips", indicators: ["64.225.45.153", "203.0.113.9"], confidence: 90, severityRaise: 2 }]);
    const [e] = enrichedFixture("tetragon/process_connect.ndjson", cfg);
    const [plain] = plainFixture("tetragon/process_connect.ndjson");
    expect(validateOcsf(e)).toEqual([]);
    const obs = e!.observables!.find((o) => o.name === "dst_endpoint.ip")!;
    expect(obs.reputation).toEqual({ base_score: 90, score_id: 10, score: "Malicious", provider: "c2-ips" });
    expect(e!.observables!.find((o) => o.name === "src_endpoint.ip")!.reputation).toBeUndefined();
    const [hit] = intelHits(e!);
    expect(hit).toMatchObject({
      name: "dst_endpoint.ip",
      value: "64.225.45.153",
      provider: "c2-ips",
      data: { feed: "c2-ips", indicator: "64.225.45.153", indicator_type: "ipv4", confidence: 90 },
    });
    // Informational (1) + 2 = Medium (3); the original is kept in the enrichment
    expect(plain!.severity_id).toBe(1);
    expect(e!.severity_id).toBe(3);
    expect(e!.severity).toBe("Medium");
    expect(hit!.data.severity_raised_from).toEqual({ severity_id: 1, severity: "Informational" });
  });

  it("CIDR hit on a CloudTrail source IP adds the observable when the normalizer did not list one", () => {
    const cfg = cfgWith([{ name: "bad-nets", indicators: ["72.21.192.0/19"], confidence: 60 }]);
    const events = enrichedFixture("cloudtrail/records__create-key-pair__aws-docs.json", cfg);
    const e = events[0]!;
    expect(validateOcsf(e)).toEqual([]);
    const [hit] = intelHits(e);
    expect(hit).toMatchObject({ name: "src_endpoint.ip", value: "72.21.198.64", data: { indicator: "72.21.192.0/19", indicator_type: "cidr4", confidence: 60 } });
    const obs = e.observables!.filter((o) => o.name === "src_endpoint.ip");
    expect(obs).toHaveLength(1);
    expect(obs[0]!.reputation).toMatchObject({ score_id: 8, score: "Possibly Malicious" });
    // confidence 60 < minConfidence 80: no severity change
    expect(e.severity_id).toBe(plainFixture("cloudtrail/records__create-key-pair__aws-docs.json")[0]!.severity_id);
    expect(hit!.data.severity_raised_from).toBeUndefined();
  });

  it("domain suffix hit on the service endpoint of a CloudTrail event (Stratus Red Team fixture)", () => {
    const cfg = cfgWith([{ name: "doms", indicators: ["apiso-northsouth-3r.amazonaws.com"], type: "domain" }]);
    const events = enrichedFixture("cloudtrail/stratus__credential-access.ec2-get-password-data.subset.json", cfg);
    for (const e of events) expect(validateOcsf(e)).toEqual([]);
    const hits = events.flatMap(intelHits);
    expect(hits.length).toBe(events.length);
    expect(hits[0]).toMatchObject({ name: "dst_endpoint.hostname", data: { indicator: "apiso-northsouth-3r.amazonaws.com", indicator_type: "domain" } });
    expect(hits.map((h) => h.value)).toContain("ec2.apiso-northsouth-3r.amazonaws.com");
  });

  it("IPv6 hit on a Kubernetes audit source address; Falco connection tuples in evidences", () => {
    const cfg = cfgWith([{ name: "v6", indicators: ["0:0:0:0:0:0:0:1", "10.96.0.0/12"] }]);
    const audit = enrichedFixture("k8s-audit/audit2rbac-demo.ndjson", cfg);
    expect(intelHits(audit[0]!)[0]).toMatchObject({ name: "src_endpoint.ip", value: "::1", data: { indicator_type: "ipv6" } });
    for (const e of audit) expect(validateOcsf(e)).toEqual([]);
    const [falco] = enrichedFixture("falco/contact-k8s-api-server-from-container__openfaas-blog.json", cfg);
    expect(validateOcsf(falco)).toEqual([]);
    expect(intelHits(falco!)).toEqual([
      expect.objectContaining({ name: "evidences[0].dst_endpoint.ip", value: "10.96.0.1", data: expect.objectContaining({ indicator: "10.96.0.0/12" }) }),
    ]);
    // Falco Notice (2) raised by one level to Medium (3)
    expect(falco!.severity_id).toBe(3);
  });

  it("an IPv6 hit names the listed address in RFC 5952 form, whatever the event's spelling", () => {
    // seen on npm start: a feed listing 2001:db8::dead hit an event's 2001:0db8:0:0:0:0:0:dead and data.indicator
    // said the feed listed "2001:0db8:0:0:0:0:0:dead" (the event's text), which a grep of the feed does not find
    const cfg = cfgWith([{ name: "v6", indicators: ["2001:db8::dead"], confidence: 90 }]);
    const [base] = plainFixture("falco/contact-k8s-api-server-from-container__openfaas-blog.json");
    for (const spelling of ["2001:0DB8:0:0:0:0:0:dead", "[2001:db8:0::dead]", "2001:db8::dead%eth0"]) {
      const e = structuredClone(base!) as OcsfEvent & { evidences: { dst_endpoint: { ip: string } }[] };
      e.evidences[0]!.dst_endpoint.ip = spelling;
      const out = makeEnricher(cfg)(e);
      expect(intelHits(out)).toEqual([
        expect.objectContaining({
          name: "evidences[0].dst_endpoint.ip",
          value: spelling,
          short_desc: "ipv6 2001:db8::dead listed by v6 (confidence 90)",
          data: expect.objectContaining({ indicator: "2001:db8::dead", indicator_type: "ipv6" }),
        }),
      ]);
    }
  });

  it("file hash and URL hits on hand-made OCSF events (shaped like the normalizers' output)", () => {
    const sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const cfg = cfgWith([
      { name: "hashes", indicators: [sha.toUpperCase()], confidence: 95, severityRaise: 3 },
      { name: "urls", indicators: ["http://dl.badcorp.example/payload.sh"], confidence: 70 },
    ]);
    const { base, out } = enrichFalcoWithFileAndUrl(cfg, sha, "https://dl.badcorp.example/payload.sh?x=1");
    const hits = intelHits(out);
    expect(hits.map((h) => [h.name, h.provider, h.data.indicator_type])).toEqual([
      ["evidences[0].file.hashes[0].value", "hashes", "sha256"],
      ["evidences[0].url.url_string", "urls", "url"],
    ]);
    // Error (4) + 3, capped at Critical (5)
    expect(base.severity_id).toBe(4);
    expect(out.severity_id).toBe(5);
    expect(out.observables!.find((o) => o.name === "evidences[0].file.hashes[0].value")).toMatchObject({ type_id: 8, reputation: { score_id: 10 } });
  });

  it("a domain or address listed in a feed hits a URL whose host it is (plain list, MISP domain/hostname), on the URL's attribute", () => {
    const cfg = cfgWith([{ name: "doms", indicators: ["badcorp.example", "203.0.113.66", "2001:db8::/32"], type: "auto", confidence: 90, severityRaise: 0 }]);
    const url = "https://dl.badcorp.example/payload.sh?x=1";
    const { out } = enrichFalcoWithFileAndUrl(cfg, "0".repeat(64), url);
    const [hit] = intelHits(out);
    expect(hit).toEqual({
      name: "evidences[0].url.url_string",
      value: url,
      type: "threat_intel",
      provider: "doms",
      short_desc: "domain badcorp.example (URL host dl.badcorp.example) listed by doms (confidence 90)",
      data: { feed: "doms", indicator: "badcorp.example", indicator_type: "domain", confidence: 90, url_part: "host", url_host: "dl.badcorp.example" },
      reputation: { base_score: 90, score_id: 10, score: "Malicious", provider: "doms" },
      created_time: out.metadata.logged_time,
    });
    expect(out.observables!.find((o) => o.name === "evidences[0].url.url_string")).toMatchObject({ type_id: 6, value: url, reputation: { provider: "doms" } });
    // address hosts, with a port and in brackets; the listed name elsewhere in the URL is no hit
    for (const [u, indicator, type] of [
      ["http://203.0.113.66:8080/stage2", "203.0.113.66", "ipv4"],
      ["http://[2001:db8::beef]:8443/x", "2001:db8::/32", "cidr6"],
      ["https://cdn.example/mirror/dl.badcorp.example/payload.sh", undefined, undefined],
      ["https://cdn.example/?next=https://badcorp.example/", undefined, undefined],
    ] as const) {
      const hits = intelHits(enrichFalcoWithFileAndUrl(cfg, "0".repeat(64), u).out);
      expect(hits.map((h) => [h.data.indicator, h.data.indicator_type]), u).toEqual(indicator ? [[indicator, type]] : []);
    }

    // a MISP feed's hostname and domain attributes, on an http_request.url
    const mispCfg = cfgWith([{ name: "misp", url: "https://misp.example/feed.json", format: "misp", confidence: 80 }]);
    const misp = JSON.stringify({
      Event: {
        info: "drop site",
        Attribute: [
          { type: "hostname", value: "dl.badcorp.example", to_ids: true },
          { type: "domain", value: "evil.example", to_ids: true },
        ],
      },
    });
    const { set } = buildFromFeedText(misp, mispCfg.enrich.intel!.feeds[0]!);
    const enrich = makeEnricher(mispCfg, { intel: { feeds: [{ name: "misp", set, severityRaise: 1 }], minConfidence: 80 } });
    const [base] = plainFixture("cloudtrail/records__create-key-pair__aws-docs.json"); // API Activity: has http_request
    const e = structuredClone(base!) as OcsfEvent & { http_request?: Record<string, unknown> };
    e.http_request = { ...e.http_request, url: { url_string: "http://DL.BadCorp.example:8000/p" } };
    e.observables = [...(e.observables ?? []), { name: "unmapped.referer", type_id: 6, type: "URL String", value: "https://www.evil.example/" }];
    const out2 = enrich(e);
    expect(validateOcsf(out2)).toEqual([]);
    expect(intelHits(out2).map((h) => [h.name, h.data.indicator, h.data.indicator_type, h.data.url_host])).toEqual([
      ["unmapped.referer", "evil.example", "domain", "www.evil.example"],
      ["http_request.url.url_string", "dl.badcorp.example", "domain", "DL.BadCorp.example"],
    ]);
  });

  it("an observable the enricher adds carries its type caption, as the normalizers' do", () => {
    // seen on npm start: a CloudTrail host header hit and a Tetragon ima_hash hit added observables with
    // type_id but no type, so a query on observables.type = "Hostname" / "Hash" missed exactly the flagged ones
    const sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const cfg = cfgWith([{ name: "mixed", indicators: [sha, "http://dl.badcorp.example/payload.sh"], confidence: 95 }]);
    const { base, out } = enrichFalcoWithFileAndUrl(cfg, sha, "https://dl.badcorp.example/payload.sh");
    const added = out.observables!.filter((o) => !base.observables?.some((b) => b.name === o.name && b.value === o.value));
    expect(added.map((o) => [o.name, o.type_id, o.type])).toEqual([
      ["evidences[0].file.hashes[0].value", 8, "Hash"],
      ["evidences[0].url.url_string", 6, "URL String"],
    ]);
    expect(added.every((o) => o.reputation?.provider === "mixed")).toBe(true);
  });

  it("several feeds listing the same address each get an enrichment; the observable takes the most confident", () => {
    const cfg = cfgWith([
      { name: "low", indicators: ["64.225.45.0/24"], confidence: 40 },
      { name: "high", indicators: ["64.225.45.153"], confidence: 85 },
    ]);
    const [e] = enrichedFixture("tetragon/process_connect.ndjson", cfg);
    expect(intelHits(e!).map((h) => h.provider)).toEqual(["low", "high"]);
    expect(e!.observables!.find((o) => o.name === "dst_endpoint.ip")!.reputation!.provider).toBe("high");
  });

  it("several feeds listing a name and its parent domain each get an entry naming their own indicator", () => {
    const fx = "cloudtrail/stratus__credential-access.ec2-get-password-data.subset.json";
    const ec2 = "ec2.apiso-northsouth-3r.amazonaws.com";
    const parent = "apiso-northsouth-3r.amazonaws.com";
    const feeds = [
      // the most specific name, weakly; the parent, strongly; a feed listing both reports only the more specific
      { name: "exact-low", indicators: [ec2], type: "domain", confidence: 30, severityRaise: 0 },
      { name: "parent-high", indicators: [parent], type: "domain", confidence: 95, severityRaise: 2 },
      { name: "both", indicators: ["amazonaws.com", parent], type: "domain", confidence: 50 },
    ];
    const cfg = cfgWith(feeds);
    const events = enrichedFixture(fx, cfg);
    const plain = plainFixture(fx);
    const hosts = new Set<string>();
    events.forEach((e, i) => {
      expect(validateOcsf(e)).toEqual([]);
      const host = String((plain[i] as unknown as { dst_endpoint: { hostname: string } }).dst_endpoint.hostname);
      hosts.add(host);
      const hits = intelHits(e).filter((h) => h.name === "dst_endpoint.hostname");
      expect(hits.map((h) => [h.provider, h.value, h.data.indicator, h.data.confidence])).toEqual([
        ...(host === ec2 ? [["exact-low", host, ec2, 30]] : []),
        ["parent-high", host, parent, 95],
        ["both", host, parent, 50],
      ]);
      expect(e.observables!.find((o) => o.name === "dst_endpoint.hostname")!.reputation).toMatchObject({ provider: "parent-high", score_id: 10 });
      // the parent feed's confident hit raises by its 2 levels and records it
      expect(e.severity_id).toBe(raiseSeverity(plain[i]!.severity_id, 2));
      expect(hits.find((h) => h.provider === "parent-high")!.data.severity_raised_to).toBe(e.severity_id);
    });
    expect([...hosts].sort()).toEqual([ec2, "sts.apiso-northsouth-3r.amazonaws.com"]);
    // the same feeds in the other order: the same hits, in feed order
    const reversed = enrichedFixture(fx, cfgWith([...feeds].reverse()));
    const ec2At = plain.findIndex((p) => (p as unknown as { dst_endpoint: { hostname: string } }).dst_endpoint.hostname === ec2);
    expect(intelHits(reversed[ec2At]!).filter((h) => h.name === "dst_endpoint.hostname").map((h) => h.provider)).toEqual(["both", "parent-high", "exact-low"]);
  });

  it("several feeds listing a URL with and without its query, and the same hash, each get an entry", () => {
    const sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const cfg = cfgWith([
      { name: "with-query", indicators: ["http://dl.badcorp.example/payload.sh?x=1", sha], confidence: 40, severityRaise: 0 },
      { name: "bare", indicators: ["http://dl.badcorp.example/payload.sh", sha.toUpperCase()], confidence: 90, severityRaise: 1 },
      { name: "both-urls", indicators: ["https://dl.badcorp.example/payload.sh", "https://dl.badcorp.example/payload.sh?x=1"], confidence: 60 },
    ]);
    const { out } = enrichFalcoWithFileAndUrl(cfg, sha, "https://dl.badcorp.example/payload.sh?x=1");
    const hits = intelHits(out);
    expect(hits.filter((h) => h.name === "evidences[0].url.url_string").map((h) => [h.provider, h.data.indicator, h.data.confidence])).toEqual([
      ["with-query", "dl.badcorp.example/payload.sh?x=1", 40],
      ["bare", "dl.badcorp.example/payload.sh", 90],
      ["both-urls", "dl.badcorp.example/payload.sh?x=1", 60],
    ]);
    expect(out.observables!.find((o) => o.name === "evidences[0].url.url_string")!.reputation).toMatchObject({ provider: "bare", base_score: 90 });
    expect(hits.filter((h) => h.name === "evidences[0].file.hashes[0].value").map((h) => [h.provider, h.data.indicator])).toEqual([
      ["with-query", sha],
      ["bare", sha],
    ]);
  });

  it("misses leave the event exactly as the other enrichers made it", () => {
    const withFeed = config({ enrich: { intel: { feeds: [{ name: "x", indicators: ["198.51.100.1", "nothing.example"] }] } } });
    const without = config({});
    for (const name of ["tetragon/process_connect.ndjson", "cloudtrail/records__create-key-pair__aws-docs.json"]) {
      const [e] = enrichedFixture(name, withFeed);
      const [p] = enrichedFixture(name, without);
      expect(e).toEqual(p);
      expect(intelHits(e!)).toEqual([]);
    }
  });
});

describe("severity rule", () => {
  it("raises by levels, caps at Critical, never lowers, leaves Fatal", () => {
    expect(raiseSeverity(1, 1)).toBe(2);
    expect(raiseSeverity(4, 1)).toBe(5);
    expect(raiseSeverity(5, 2)).toBe(5);
    expect(raiseSeverity(6, 1)).toBe(6);
    expect(raiseSeverity(0, 1)).toBe(2);
    expect(raiseSeverity(99, 2)).toBe(3);
    expect(raiseSeverity(3, 0)).toBe(3);
  });
  it("maps confidence to reputation scores", () => {
    expect([95, 80, 60, 30, 10].map((c) => reputationFor(c, "p").score_id)).toEqual([10, 9, 8, 7, 6]);
  });
});

describe("enrichments[].created_time", () => {
  it("every entry a pass adds has the event's metadata.logged_time (its receipt); earlier entries and events without it are left alone", () => {
    const cfg = config({
      enrich: {
        inventory: { inline: [{ match: "*", owner: "alice@example.com" }] },
        intel: { feeds: [{ name: "c2", indicators: ["64.225.45.153"], confidence: 90 }] },
      },
    });
    const enrich = makeEnricher(cfg);
    const [plain] = plainFixture("tetragon/process_connect.ndjson");
    const input = structuredClone(plain!);
    input.metadata.labels = [...(input.metadata.labels ?? []), "attack.t1071"]; // an activity event: ATT&CK goes to enrichments[]
    const earlier = { name: "x", value: "y", type: "sensor", data: {} };
    input.enrichments = [earlier];
    const out = enrich(structuredClone(input));
    expect(validateOcsf(out)).toEqual([]);
    const added = out.enrichments!.slice(1);
    expect(added.map((x) => x.type)).toEqual(["asset_inventory", "mitre_attack", "threat_intel"]);
    for (const x of added) expect((x as { created_time?: number }).created_time, x.type).toBe(plain!.metadata.logged_time);
    expect(out.enrichments![0]).toEqual(earlier);
    // pure: the same input enriched again is the same output
    expect(enrich(structuredClone(input))).toEqual(out);
    // no receipt time: no created_time
    delete input.metadata.logged_time;
    const none = enrich(structuredClone(input));
    expect(none.enrichments!.slice(1).every((x) => !("created_time" in x))).toBe(true);
  });
});
