// Body decoding (Node): header checks, decompression in bounded steps, caps, strict UTF-8.
import { describe, it, expect } from "vitest";
import { gzipSync, zlibSync, deflateSync, strToU8 } from "fflate";
import { bodyFormat, readText, readBody, readBytes, streamOf, BodyError, type BodyFormat } from "../../src/routes/body";
import { limitsSchema, type Limits } from "../../src/config/schema";
import { fixturesIn } from "../support/fixtures";
import * as nodeZlib from "node:zlib";

const limits = (o: Partial<Limits> = {}): Limits => ({ ...limitsSchema.parse({}), ...o });
const h = (o: Record<string, string>) => new Headers(o);

function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= bytes.length) return c.close();
      c.enqueue(bytes.slice(at, at + size));
      at += size;
    },
  });
}

async function fails(p: Promise<unknown>): Promise<BodyError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof BodyError) return e;
    throw e;
  }
  throw new Error("expected a BodyError");
}

function failsSync(f: () => unknown): BodyError {
  try {
    f();
  } catch (e) {
    if (e instanceof BodyError) return e;
    throw e;
  }
  throw new Error("expected a BodyError");
}

describe("bodyFormat", () => {
  it("maps content types to framings", () => {
    expect(bodyFormat(h({ "content-type": "application/json; charset=utf-8" }), limits()).framing).toBe("json");
    expect(bodyFormat(h({ "content-type": "Application/X-NDJSON" }), limits()).framing).toBe("ndjson");
    expect(bodyFormat(h({ "content-type": "application/jsonl" }), limits()).framing).toBe("ndjson");
    expect(bodyFormat(h({ "content-type": "text/plain" }), limits()).framing).toBe("text");
    expect(bodyFormat(h({}), limits()).framing).toBe("sniff");
    expect(bodyFormat(h({ "content-type": "application/cloudevents+json" }), limits()).framing).toBe("json");
    expect(bodyFormat(h({ "content-type": "application/gzip" }), limits())).toEqual({ framing: "sniff", encodings: ["gzip"] });
  });

  it("undoes stacked codings in reverse order and ignores identity", () => {
    expect(bodyFormat(h({ "content-encoding": "deflate, gzip" }), limits()).encodings).toEqual(["gzip", "deflate"]);
    expect(bodyFormat(h({ "content-encoding": "identity" }), limits()).encodings).toEqual([]);
    expect(bodyFormat(h({ "content-encoding": "X-GZIP" }), limits()).encodings).toEqual(["gzip"]);
  });

  it("415 for unknown codings and types, 413 for a Content-Length over the limit", () => {
    expect(failsSync(() => bodyFormat(h({ "content-encoding": "br" }), limits()))).toMatchObject({ status: 415 });
    expect(failsSync(() => bodyFormat(h({ "content-encoding": "gzip, gzip, gzip, gzip" }), limits()))).toMatchObject({ status: 415 });
    expect(failsSync(() => bodyFormat(h({ "content-type": "image/png" }), limits()))).toMatchObject({ status: 415 });
    expect(failsSync(() => bodyFormat(h({ "content-type": "text/plain; charset=ISO-8859-1" }), limits())).message).toMatch(/charset "iso-8859-1" is not supported: send UTF-8/);
    expect(bodyFormat(h({ "content-type": 'application/json; charset="UTF-8"' }), limits()).framing).toBe("json");
    const e = failsSync(() => bodyFormat(h({ "content-length": "5000" }), limits({ maxBodyBytes: 4999 })));
    expect(e.status).toBe(413);
    expect(e.message).toMatch(/5000 bytes, more than limits.maxBodyBytes \(4999\)/);
  });
});

describe("readText", () => {
  const text = '{"rule":"Terminal shell in container","output":"café ☕ 🚀"}\n'.repeat(200);
  const fmt = (...encodings: BodyFormat["encodings"]): BodyFormat => ({ framing: "ndjson", encodings });

  it("decodes identity, gzip (also multi-member), zlib and raw deflate, in any chunking", async () => {
    const u8 = strToU8(text);
    const gz = gzipSync(u8);
    const cases: [Uint8Array, BodyFormat][] = [
      [u8, fmt()],
      [gz, fmt("gzip")],
      [new Uint8Array([...gzipSync(u8.slice(0, 1000)), ...gzipSync(u8.slice(1000))]), fmt("gzip")],
      [zlibSync(u8), fmt("deflate")],
      [deflateSync(u8), fmt("deflate")],
      [gzipSync(zlibSync(u8)), fmt("gzip", "deflate")],
    ];
    for (const [bytes, f] of cases) {
      for (const size of [1, 7, 4096, 1 << 20]) {
        expect(await readText(chunked(bytes, size), f, limits())).toBe(text); // line by line (NDJSON)
        expect(await readText(chunked(bytes, size), { ...f, framing: "json" }, limits())).toBe(text); // whole-body decoding
      }
    }
  });

  it("413 past maxDecompressedBytes, also for stacked codings (a gzip of a gzip bomb)", async () => {
    const zeros = new Uint8Array(30_000_000);
    const bomb = gzipSync(zeros);
    const e = await fails(readText(chunked(bomb, 65536), fmt("gzip"), limits({ maxDecompressedBytes: 1_000_000 })));
    expect(e).toMatchObject({ status: 413 });
    const nested = gzipSync(gzipSync(zeros));
    expect(nested.length).toBeLessThan(5000);
    expect(await fails(readText(chunked(nested, 65536), fmt("gzip", "gzip"), limits({ maxDecompressedBytes: 1_000_000 })))).toMatchObject({ status: 413 });
  });

  it("413 past maxBodyBytes while streaming (no Content-Length)", async () => {
    const e = await fails(readText(chunked(strToU8(text), 100), fmt(), limits({ maxBodyBytes: 1000 })));
    expect(e.status).toBe(413);
    expect(e.message).toMatch(/maxBodyBytes \(1000 bytes\)/);
    expect((await fails(readBytes(chunked(strToU8(text), 100), limits({ maxBodyBytes: 1000 })))).status).toBe(413);
  });

  it("400 for invalid UTF-8 and for corrupt or truncated compressed data", async () => {
    const bad = new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x7d]);
    const e = await fails(readText(streamOf(bad), fmt(), limits()));
    expect(e.status).toBe(400);
    expect(e.message).toMatch(/not valid UTF-8/);
    expect((await fails(readText(streamOf(strToU8("not gzip")), fmt("gzip"), limits()))).message).toMatch(/gzip body could not be decompressed/);
    const gz = gzipSync(strToU8(text));
    expect((await fails(readText(streamOf(gz.slice(0, Math.floor(gz.length / 2))), fmt("gzip"), limits()))).status).toBe(400);
  });

  it("drops a BOM; a body cut inside a multi-byte character ends with U+FFFD", async () => {
    expect(await readText(streamOf(new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d])), fmt(), limits())).toBe("{}");
    const cut = strToU8('{"a":"é');
    expect(await readText(streamOf(cut.slice(0, cut.length - 1)), { framing: "json", encodings: [] }, limits())).toBe('{"a":"\uFFFD');
    expect(await readBody(streamOf(new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d, 0x0a, 0x5b, 0x5d])), fmt(), limits())).toEqual({ text: "{}\n[]" });
  });

  it("NDJSON and text bodies: a line that is not UTF-8 is set aside with its bytes (base64), the others decode, in any chunking", async () => {
    const l1 = strToU8('{"a":"é"}');
    const l2 = new Uint8Array([0x7b, 0x22, 0x62, 0x22, 0x3a, 0x22, 0xff, 0xc3, 0x22, 0x7d]); // {"b":"<ff><c3>"}
    const l3 = strToU8('{"c":"🚀"}');
    const body = new Uint8Array([...l1, 0x0a, ...l2, 0x0d, 0x0a, 0x0a, ...l3, 0x0a, 0xf0, 0x9f]); // CRLF, a blank line, a cut 4-byte char
    for (const framing of ["ndjson", "text"] as const) {
      for (const size of [1, 3, 7, 4096]) {
        const r = await readBody(chunked(body, size), { framing, encodings: [] }, limits());
        const lines = r.text.split("\n");
        expect(lines, `${framing} ${size}`).toHaveLength(5);
        expect([lines[0], lines[2], lines[3]]).toEqual(['{"a":"é"}', "", '{"c":"🚀"}']);
        expect(lines[1]).toContain("\uFFFD");
        expect([...r.bad!.keys()]).toEqual([2, 5]);
        const b2 = r.bad!.get(2)!;
        expect(b2.reason).toMatch(/^line is not valid UTF-8/);
        expect(Buffer.from(b2.rawBase64!, "base64")).toEqual(Buffer.from([...l2, 0x0d])); // exactly the bytes of the line
        expect(Buffer.from(r.bad!.get(5)!.rawBase64!, "base64")).toEqual(Buffer.from([0xf0, 0x9f]));
      }
    }
    // a JSON document is all or nothing
    expect((await fails(readBody(streamOf(body), { framing: "json", encodings: [] }, limits()))).message).toMatch(/not valid UTF-8/);
    // readText (no lines set aside) refuses it whole, naming the line
    expect((await fails(readText(streamOf(body), fmt(), limits()))).message).toMatch(/^line 2: line is not valid UTF-8/);
  });

  it("a truncated gzip/deflate NDJSON body keeps the complete lines and sets the cut one aside, naming the truncation", async () => {
    const lines = Array.from({ length: 400 }, (_, i) => `{"n":${i},"pad":"${"é".repeat(i % 50)}"}`);
    const whole = lines.join("\n") + "\n";
    for (const [enc, pack] of [["gzip", gzipSync], ["deflate", zlibSync], ["deflate", deflateSync]] as const) {
      const packed = pack(strToU8(whole), { level: 6 });
      for (const frac of [0.3, 0.5, 0.9]) {
        const r = await readBody(chunked(packed.slice(0, Math.floor(packed.length * frac)), 1000), fmt(enc), limits());
        const got = r.text.split("\n");
        const last = got.length; // the set-aside line is the last one, numbered by its position
        expect([...r.bad!.keys()], `${enc} ${frac}`).toEqual([last]);
        expect(r.bad!.get(last)!.reason).toMatch(new RegExp(`^body ends mid-record: the ${enc} stream is truncated \\(the input ends inside the deflate data\\) after \\d+ decompressed bytes`));
        // every line before it is complete and in order
        expect(got.slice(0, -1)).toEqual(lines.slice(0, last - 1));
        expect(last - 1, `${enc} ${frac}`).toBeGreaterThan(0);
        // the incomplete line is a prefix of the real one
        const tail = r.bad!.get(last)!;
        const tailText = tail.raw ?? new TextDecoder().decode(Buffer.from(tail.rawBase64!, "base64")).replace(/\uFFFD+$/, "");
        expect(lines[last - 1]!.startsWith(tailText), JSON.stringify(tail)).toBe(true);
      }
    }
    // a JSON document cut short stays a 400
    const gz = gzipSync(strToU8(whole));
    expect((await fails(readBody(streamOf(gz.slice(0, gz.length / 2)), { framing: "json", encodings: ["gzip"] }, limits()))).message).toMatch(/gzip body could not be decompressed: the input ends inside the deflate data/);
  });

  describe("every way a compressed body can end short or carry a wrong trailer is reported, never taken as whole", () => {
    const lines = Array.from({ length: 40 }, (_, i) => `{"n":${i},"s":"${"abcdé".repeat(i % 7)}","h":"${((i * 2654435761) >>> 0).toString(36)}"}`);
    const whole = lines.join("\n") + "\n";
    const u8 = strToU8(whole);
    const truncatedReason = (enc: string) => new RegExp(`^body ends mid-record: the ${enc} stream is truncated \\(the input ends inside (a gzip header|the deflate data|the (gzip|zlib) trailer)( of member \\d+)?\\) after \\d+ decompressed bytes`);

    /** What a body cut at `n` of `packed` must give: the whole body at the end, else a truncation. */
    async function checkCut(packed: Uint8Array, n: number, enc: "gzip" | "deflate", boundaries: Set<number>): Promise<void> {
      const cut = packed.slice(0, n);
      const r = await readBody(chunked(cut, 61), fmt(enc), limits());
      if (n === packed.length) {
        expect(r, `${enc} whole`).toEqual({ text: whole });
        return;
      }
      if (n === 0 || boundaries.has(n)) {
        // nothing at all (an empty body), or a multi-member body cut between members: a valid stream
        expect(r.bad, `${enc} ${n}`).toBeUndefined();
        expect(whole.startsWith(r.text)).toBe(true);
        return;
      }
      const got = r.text.split("\n");
      const last = got.length;
      expect([...(r.bad?.keys() ?? [])], `${enc} cut at ${n} of ${packed.length}`).toEqual([last]);
      expect(r.bad!.get(last)!.reason, `${enc} ${n}`).toMatch(truncatedReason(enc));
      expect(got.slice(0, -1)).toEqual(lines.slice(0, last - 1));
      // a JSON document cut anywhere is a 400 naming the truncation
      const e = await fails(readBody(streamOf(cut), { framing: "json", encodings: [enc] }, limits()));
      expect(e.message, `${enc} ${n}`).toMatch(new RegExp(`^${enc} body could not be decompressed: the input ends inside`));
    }

    it("gzip (fflate and node's zlib, one and two members), zlib and raw deflate: every cut point", async () => {
      const half = u8.length >> 1;
      const first = gzipSync(u8.slice(0, half));
      const cases: [string, Uint8Array, "gzip" | "deflate", Set<number>][] = [
        ["fflate gzip", gzipSync(u8, { level: 6 }), "gzip", new Set()],
        ["node gzip", new Uint8Array(nodeZlib.gzipSync(u8)), "gzip", new Set()],
        ["node gzip, stored blocks", new Uint8Array(nodeZlib.gzipSync(u8, { level: 0 })), "gzip", new Set()],
        ["two members", new Uint8Array([...first, ...gzipSync(u8.slice(half))]), "gzip", new Set([first.length])],
        ["zlib", zlibSync(u8), "deflate", new Set()],
        ["node zlib", new Uint8Array(nodeZlib.deflateSync(u8)), "deflate", new Set()],
        ["raw deflate", deflateSync(u8), "deflate", new Set()],
      ];
      let cuts = 0;
      for (const [name, packed, enc, boundaries] of cases) {
        expect(packed.length, name).toBeLessThan(3000); // bounded: every cut is tried
        for (let n = 0; n <= packed.length; n++, cuts++) await checkCut(packed, n, enc, boundaries);
      }
      expect(cuts).toBeGreaterThan(4000);
    });

    it("a real gzip of the Tetragon fixtures cut where fflate raised nothing (3000, 3050 bytes) and short by 1-8 trailer bytes", async () => {
      const text = fixturesIn("tetragon").filter((f) => f.name.endsWith(".ndjson")).map((f) => f.text).join("");
      const gz = new Uint8Array(nodeZlib.gzipSync(strToU8(text)));
      const cuts = [3000, 3050, ...Array.from({ length: 8 }, (_, i) => gz.length - 1 - i)];
      for (const n of cuts) {
        const r = await readBody(chunked(gz.slice(0, n), 4096), fmt("gzip"), limits());
        const got = r.text.split("\n");
        expect([...(r.bad?.keys() ?? [])], String(n)).toEqual([got.length]);
        expect(r.bad!.get(got.length)!.reason, String(n)).toMatch(truncatedReason("gzip"));
        expect(text.startsWith(got.slice(0, -1).join("\n"))).toBe(true);
      }
      // the trailer dropped whole: every line is complete, still reported (as an empty last line)
      const r = await readBody(streamOf(gz.slice(0, gz.length - 8)), fmt("gzip"), limits());
      expect(r.text.slice(0, -1)).toBe(text);
      expect(r.bad!.get(r.text.split("\n").length)!.reason).toMatch(/the input ends inside the gzip trailer/);
    });

    it("a wrong trailer (CRC-32, ISIZE, Adler-32), data after the end, or a wrong header is a 400 for the body", async () => {
      const gz = gzipSync(u8);
      for (let i = gz.length - 8; i < gz.length; i++) {
        const bad = gz.slice();
        bad[i] = bad[i]! ^ 0x01;
        const e = await fails(readBody(streamOf(bad), fmt("gzip"), limits()));
        expect(e.status).toBe(400);
        expect(e.message, String(i)).toMatch(i < gz.length - 4 ? /^gzip body could not be decompressed: gzip CRC-32 mismatch \(trailer [0-9a-f]{8}, data [0-9a-f]{8}\): the stream is corrupt$/ : /^gzip body could not be decompressed: gzip ISIZE mismatch/);
      }
      const z = zlibSync(u8);
      for (let i = z.length - 4; i < z.length; i++) {
        const bad = z.slice();
        bad[i] = bad[i]! ^ 0x80;
        expect((await fails(readBody(streamOf(bad), fmt("deflate"), limits()))).message).toMatch(/^deflate body could not be decompressed: zlib Adler-32 mismatch/);
      }
      // the second member of a multi-member body is checked too
      const two = new Uint8Array([...gz, ...gz]);
      two[two.length - 5] = two[two.length - 5]! ^ 0x01;
      expect((await fails(readBody(streamOf(two), fmt("gzip"), limits()))).message).toMatch(/CRC-32 mismatch/);
      // bytes after the end: not a gzip member / nothing may follow zlib or raw deflate
      for (const tail of [[0], [0x1f, 0x8c], [0, 0, 0, 0]]) {
        expect((await fails(readBody(streamOf(new Uint8Array([...gz, ...tail])), fmt("gzip"), limits()))).message).toMatch(/invalid gzip data/);
      }
      expect((await fails(readBody(streamOf(new Uint8Array([...z, 0x0a])), fmt("deflate"), limits()))).message).toMatch(/data after the end of the zlib stream/);
      expect((await fails(readBody(streamOf(new Uint8Array([...deflateSync(u8), 0x0a])), fmt("deflate"), limits()))).message).toMatch(/data after the end of the deflate stream/);
      // a gzip header with another compression method, a zlib stream that needs a preset dictionary
      const method = gz.slice();
      method[2] = 7;
      expect((await fails(readBody(streamOf(method), fmt("gzip"), limits()))).message).toMatch(/compression method 7/);
      expect((await fails(readBody(streamOf(new Uint8Array([0x78, 0xbb, 0, 0, 0, 1, 1])), fmt("deflate"), limits()))).message).toMatch(/preset dictionary/);
    });

    it("gzip headers with FEXTRA, FNAME, FCOMMENT and FHCRC, in any chunking", async () => {
      const gz = gzipSync(u8);
      const extra = [4, 0, 0x41, 0x42, 0x43, 0x44];
      const withFields = new Uint8Array([0x1f, 0x8b, 8, 4 | 8 | 16 | 2, ...gz.slice(4, 10), ...extra, ...strToU8("events.ndjson"), 0, ...strToU8("a comment"), 0, 0xaa, 0xbb, ...gz.slice(10)]);
      for (const size of [1, 5, 13, 4096]) expect(await readBody(chunked(withFields, size), fmt("gzip"), limits())).toEqual({ text: whole });
      // a file name that never ends is refused once the header passes 256 KB, not held to the end of the body
      const endless = new Uint8Array(1_000_000).fill(0x41);
      endless.set([0x1f, 0x8b, 8, 8, 0, 0, 0, 0, 0, 3]);
      const e = await fails(readBody(chunked(endless, 32 * 1024), fmt("gzip"), limits()));
      expect([e.status, e.message]).toEqual([400, "gzip body could not be decompressed: invalid gzip data (a header longer than 262144 bytes)"]);
    });
  });

  it("an absent body is empty", async () => {
    expect(await readText(null, fmt(), limits())).toBe("");
    expect((await readBytes(null, limits())).length).toBe(0);
  });
});
