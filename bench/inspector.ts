// A minimal client of workerd's V8 inspector (Chrome DevTools Protocol over a WebSocket), enough to
// ask an isolate for its heap usage (Runtime.getHeapUsage) while a benchmark runs. Raw sockets
// (RFC 6455 framing, text frames, masked from the client), so no dependency is needed; Node 20's
// experimental WebSocket is refused by workerd's inspector.
import { connect, type Socket } from "node:net";
import { randomBytes } from "node:crypto";
import { readFileSync, readdirSync, readlinkSync } from "node:fs";

export interface HeapUsage {
  usedSize: number;
  totalSize: number;
  embedderHeapUsedSize?: number;
  backingStorageSize?: number;
}

export interface Inspector {
  heapUsage(): Promise<HeapUsage>;
  /** Any DevTools Protocol command (e.g. "Profiler.start"). */
  send(method: string, params?: Record<string, unknown>): Promise<unknown>;
  close(): void;
}

/** TCP ports a process listens on (Linux /proc). */
export function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const ports: number[] = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === "0A" && inodes.has(f[9] ?? "")) ports.push(parseInt(f[1]!.split(":")[1]!, 16)); // 0A = LISTEN
    }
  }
  return ports;
}

/** The inspector WebSocket URL of the isolate running the Worker `name` in workerd process `pid`. */
export async function findInspector(pid: number, name: string): Promise<string | undefined> {
  for (const port of listeningPorts(pid)) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/json`, { signal: AbortSignal.timeout(1500) });
      const list = (await r.json()) as { id?: string; webSocketDebuggerUrl?: string }[];
      const hit = Array.isArray(list) ? list.find((t) => t.id === `core:user:${name}`) : undefined;
      if (hit?.webSocketDebuggerUrl) return hit.webSocketDebuggerUrl;
    } catch {
      // not the inspector
    }
  }
  return undefined;
}

function frame(text: string): Buffer {
  const payload = Buffer.from(text, "utf8");
  const mask = randomBytes(4);
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x81, 0x80 | n]) : n < 65536 ? Buffer.from([0x81, 0x80 | 126, n >> 8, n & 255]) : Buffer.concat([Buffer.from([0x81, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; })()]);
  for (let i = 0; i < n; i++) payload[i]! ^= mask[i & 3]!;
  return Buffer.concat([head, mask, payload]);
}

/**
 * An inspector that reconnects when its session is closed (wrangler attaches its own session to the
 * isolate some time after startup, which can end an earlier one). At most `retries` reconnections per call.
 */
export async function openInspector(wsUrl: string, timeoutMs = 5000, retries = 5): Promise<Inspector> {
  let cur = await openSession(wsUrl, timeoutMs);
  const retrying = async <T>(fn: (s: Inspector) => Promise<T>): Promise<T> => {
    for (let i = 0; ; i++) {
      try {
        return await fn(cur);
      } catch (e) {
        if (i >= retries || !/closed/.test((e as Error).message)) throw e;
        cur.close();
        await new Promise((r) => setTimeout(r, 300));
        cur = await openSession(wsUrl, timeoutMs).catch(() => cur);
      }
    }
  };
  return {
    heapUsage: () => retrying((s) => s.heapUsage()),
    send: (method, params) => retrying((s) => s.send(method, params)),
    close: () => cur.close(),
  };
}

async function openSession(wsUrl: string, timeoutMs: number): Promise<Inspector> {
  const u = new URL(wsUrl);
  const sock: Socket = connect({ host: u.hostname, port: Number(u.port) });
  const key = randomBytes(16).toString("base64");
  let buf = Buffer.alloc(0);
  let upgraded = false;
  let id = 0;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let message = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    if (!upgraded) {
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = buf.subarray(0, end).toString("latin1");
      if (!/^HTTP\/1\.1 101/.test(head)) {
        sock.destroy(new Error(`inspector refused the upgrade: ${head.split("\r\n")[0]}`));
        return;
      }
      upgraded = true;
      buf = buf.subarray(end + 4);
      sock.emit("upgraded");
    }
    for (;;) {
      if (buf.length < 2) return;
      const fin = (buf[0]! & 0x80) !== 0;
      const op = buf[0]! & 0x0f;
      let len = buf[1]! & 0x7f;
      let at = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        at = 10;
      }
      if (buf.length < at + len) return;
      const payload = buf.subarray(at, at + len);
      buf = buf.subarray(at + len);
      if (op === 0x8) {
        sock.end();
        return;
      }
      if (op !== 0x1 && op !== 0x0) continue; // pings and binary frames are not used here
      message = Buffer.concat([message, payload]);
      if (!fin) continue;
      const text = message.toString("utf8");
      message = Buffer.alloc(0);
      const msg = JSON.parse(text) as { id?: number; result?: unknown; error?: { message: string } };
      const w = msg.id !== undefined ? waiting.get(msg.id) : undefined;
      if (w) {
        waiting.delete(msg.id!);
        if (msg.error) w.reject(new Error(msg.error.message));
        else w.resolve(msg.result);
      }
    }
  };
  sock.on("data", onData);
  sock.on("close", () => {
    for (const w of waiting.values()) w.reject(new Error("inspector connection closed"));
    waiting.clear();
  });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("inspector: no upgrade")), timeoutMs);
    sock.once("error", (e) => {
      clearTimeout(t);
      reject(e);
    });
    sock.once("upgraded", () => {
      clearTimeout(t);
      resolve();
    });
    sock.once("connect", () => {
      sock.write(`GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
  });
  const call = (method: string, params: Record<string, unknown> = {}): Promise<unknown> =>
    new Promise((resolve, reject) => {
      if (sock.destroyed || !sock.writable) return reject(new Error("inspector connection closed"));
      const i = ++id;
      const t = setTimeout(() => {
        waiting.delete(i);
        reject(new Error(`inspector: ${method} timed out`));
      }, timeoutMs);
      waiting.set(i, {
        resolve: (v) => {
          clearTimeout(t);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
      sock.write(frame(JSON.stringify({ id: i, method, params })));
    });
  return {
    heapUsage: () => call("Runtime.getHeapUsage") as Promise<HeapUsage>,
    send: (method, params) => call(method, params),
    close: () => sock.destroy(),
  };
}
