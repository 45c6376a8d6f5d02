// Sink request slots: a small semaphore shared by every delivery of one consumer invocation.
// Workers let an invocation wait on 6 open connections at a time and queue the rest inside the
// runtime; a request queued there would spend its own timeout (timeoutMs) waiting for a connection,
// be classed as a timeout and mark its sink down. So the consumer holds at most SINK_SLOTS sink
// requests in flight (one connection left for the R2 and queue calls the same invocation makes),
// and a request's timer starts once it has a slot (src/deliver/attempt.ts).
// A slot is held while one batch is encoded and sent, so it also bounds how many encoded bodies
// exist at once across sinks (docs/delivery.md, "Connections and memory").

/** Sink requests one consumer invocation has in flight at most. */
export const SINK_SLOTS = 5;

export class Slots {
  private used = 0;
  private readonly waiting: (() => void)[] = [];
  /** The most slots held at once (for tests and benchmarks). */
  peak = 0;

  constructor(readonly size: number = SINK_SLOTS) {
    if (!(size >= 1)) throw new RangeError("Slots: size must be at least 1");
  }

  /** Waits for a slot (first come, first served); call the returned function exactly once to give it back. */
  async acquire(): Promise<() => void> {
    if (this.used < this.size) this.used++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve)); // the releaser hands its slot over
    this.peak = Math.max(this.peak, this.used);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.used--;
    };
  }

  /** Runs `fn` holding a slot. */
  async use<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
