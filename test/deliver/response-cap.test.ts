// A sink's answer is read up to MAX_RESPONSE_BYTES: an endpoint that streams without end (or a huge error
// page) cannot fill the isolate's memory. A real HTTP server on 127.0.0.1 offers 256 MB; the reader stops
// after the cap and closes the stream, so the server never gets to write it all.
import { afterEach, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { cappedText } from "../../src/deliver/attempt";

const CHUNK = 64 * 1024;
const CHUNKS = 4096; // 256 MB offered at most

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

/** Serves `x` repeated, CHUNK bytes at a time, waiting for the socket to drain; reports how much it wrote and whether it finished. */
function endless(): Promise<{ url: string; stats: { written: number; finished: boolean; closed: Promise<void> } }> {
  let closedResolve!: () => void;
  const stats = { written: 0, finished: false, closed: new Promise<void>((r) => (closedResolve = r)) };
  server = createServer((_req, res) => {
    res.writeHead(500, { "content-type": "text/plain" });
    const chunk = Buffer.alloc(CHUNK, "x");
    let sent = 0;
    const pump = () => {
      while (sent < CHUNKS) {
        sent++;
        stats.written += CHUNK;
        if (!res.write(chunk)) return void res.once("drain", pump);
      }
      stats.finished = true;
      res.end();
    };
    res.on("close", () => closedResolve());
    pump();
  });
  return new Promise((resolve) => server!.listen(0, "127.0.0.1", () => resolve({ url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}/`, stats })));
}

describe("sink answers are read up to a cap", () => {
  it("stops reading after the cap and closes the stream: the server does not get to write its 256 MB", async () => {
    const { url, stats } = await endless();
    const res = await fetch(url);
    const text = await cappedText(res, 1024 * 1024);
    expect(text.length).toBe(1024 * 1024 + 1);
    expect(text.endsWith("x…")).toBe(true);
    await stats.closed;
    expect(stats.finished).toBe(false);
    expect(stats.written).toBeLessThan(CHUNK * CHUNKS);
  });

  it("a short answer is read whole", async () => {
    const res = new Response("ok é");
    expect(await cappedText(res, 1024)).toBe("ok é");
    expect(await cappedText(new Response(null))).toBe("");
  });
});
