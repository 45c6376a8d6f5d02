// Body decoding (Node): header checks, decompression in bounded steps, caps, strict UTF-8.
import { describe, it, expect } from "vitest";
import { gzipSync, zlibSync, deflateSync, strToU8 } from "fflate";
import { bodyFormat, readText, readBody, readBytes, streamOf, BodyError, type BodyFormat } from "../../src/routes/body";
import { limitsSchema, type Limits } from "../../src/config/schema";

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
        expect(r.bad!.get(last)!.reason).toMatch(new RegExp(`^body ends mid-record: the ${enc} stream is truncated \\((unexpected EOF|invalid zlib data)\\) after \\d+ decompressed bytes`));
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
    expect((await fails(readBody(streamOf(gz.slice(0, gz.length / 2)), { framing: "json", encodings: ["gzip"] }, limits()))).message).toMatch(/gzip body could not be decompressed: unexpected EOF/);
  });

  it("an absent body is empty", async () => {
    expect(await readText(null, fmt(), limits())).toBe("");
    expect((await readBytes(null, limits())).length).toBe(0);
  });
});
