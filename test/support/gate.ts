// A fault-injecting HTTP proxy on 127.0.0.1 (Node). It forwards requests unchanged (Host header
// included, so SigV4 signatures stay valid) to a real upstream — s3rver, a fake SIEM — unless a
// script says otherwise. Scripts are kept per key, the first path segment (the bucket for
// path-style S3, or a per-test prefix that is stripped before forwarding for HTTP sinks), so tests
// running in parallel do not disturb each other. Tests (also inside workerd) drive it over HTTP:
//   POST   /__gate/<key>   body: GateStep[]   append steps; each answers (or breaks) one request
//   GET    /__gate/<key>                      { pending, log, maxOpen }   what happened to each request
// Keys "<group>~<name>" share a group (the text before "~"): maxOpen is the most requests the
// group's keys had open at once (a bound on connections across sinks).
//   DELETE /__gate/<key>                      forget the key
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync, strFromU8 } from "fflate";

export interface GateStep {
  /** Answer with this status instead of forwarding (with headers and body). */
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  /** Never answer (until the client gives up or 60 s pass): a slow or hung sink. */
  hang?: boolean;
  /** Close the connection without an answer: a network error. */
  drop?: boolean;
  /** Wait this long, then forward the request: a slow but working sink. */
  delayMs?: number;
}

export interface GateLogEntry {
  method: string;
  path: string;
  /** "forwarded" (also after a delay), "scripted", "hung" or "dropped". */
  action: string;
  status?: number;
  /** Request body text (gunzipped) for forwarded requests when the gate records bodies. */
  body?: string;
}

export interface GateState {
  pending: number;
  log: GateLogEntry[];
  /** The most requests open at once among the keys of this key's group (see the head of this file). */
  maxOpen: number;
}

export interface Gate {
  url: string;
  close(): Promise<void>;
}

const HANG_LIMIT_MS = 60_000;

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function bodyText(raw: Buffer, encoding: string | undefined): string {
  try {
    return encoding === "gzip" ? strFromU8(gunzipSync(new Uint8Array(raw))) : raw.toString("utf8");
  } catch {
    return "";
  }
}

export async function startGate(upstream: string, opts: { strip: boolean; recordBodies?: boolean }): Promise<Gate> {
  const up = new URL(upstream);
  const keys = new Map<string, { script: GateStep[]; log: GateLogEntry[] }>();
  const open = new Map<string, { now: number; max: number }>();
  const openOf = (k: string) => {
    const g = k.split("~")[0]!;
    let o = open.get(g);
    if (!o) open.set(g, (o = { now: 0, max: 0 }));
    return o;
  };
  const stateOf = (k: string) => {
    let s = keys.get(k);
    if (!s) keys.set(k, (s = { script: [], log: [] }));
    return s;
  };

  const control = async (req: IncomingMessage, res: ServerResponse, key: string) => {
    const s = stateOf(key);
    if (req.method === "POST") {
      const steps = JSON.parse((await readBody(req)).toString("utf8")) as GateStep[];
      s.script.push(...steps);
    } else if (req.method === "DELETE") keys.delete(key);
    else await readBody(req);
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ pending: s.script.length, log: s.log, maxOpen: openOf(key).max } satisfies GateState));
  };

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://gate");
      const segments = url.pathname.split("/");
      if (segments[1] === "__gate") return control(req, res, decodeURIComponent(segments[2] ?? ""));
      const key = decodeURIComponent(segments[1] ?? "");
      const path = opts.strip ? "/" + segments.slice(2).join("/") + url.search : (req.url ?? "/");
      const s = stateOf(key);
      const o = openOf(key);
      o.max = Math.max(o.max, ++o.now);
      res.on("close", () => o.now--);
      const raw = await readBody(req);
      const step = s.script.shift();
      if (step?.drop) {
        s.log.push({ method: req.method ?? "", path, action: "dropped" });
        req.socket.destroy();
        return;
      }
      if (step?.hang) {
        s.log.push({ method: req.method ?? "", path, action: "hung" });
        const t = setTimeout(() => req.socket.destroy(), HANG_LIMIT_MS);
        req.socket.on("close", () => clearTimeout(t));
        return;
      }
      if (step?.delayMs !== undefined) await new Promise((r) => setTimeout(r, step.delayMs));
      if (step && step.delayMs === undefined) {
        s.log.push({ method: req.method ?? "", path, action: "scripted", status: step.status ?? 500 });
        res.writeHead(step.status ?? 500, step.headers ?? {}).end(step.body ?? "");
        return;
      }
      const headers = { ...req.headers };
      if (opts.strip) headers.host = up.host;
      const fwd = httpRequest({ host: up.hostname, port: up.port, method: req.method, path, headers }, (upRes) => {
        const entry: GateLogEntry = { method: req.method ?? "", path, action: "forwarded", status: upRes.statusCode };
        if (opts.recordBodies) entry.body = bodyText(raw, req.headers["content-encoding"]);
        s.log.push(entry);
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      });
      fwd.on("error", (e) => {
        s.log.push({ method: req.method ?? "", path, action: "forwarded", status: 502 });
        res.writeHead(502).end(`gate: upstream error ${e.message}`);
      });
      fwd.end(raw);
    })().catch((e: unknown) => {
      res.writeHead(500).end(`gate: ${(e as Error).message}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
