// An incremental JSON scanner for feeds too large to hold whole (MISP events, STIX bundles): text is
// pushed in pieces of any size (a decoded byte stream), and the scanner walks the containers a
// `JsonContainer` asks it to enter, hands over the exact text of each value it asks to capture (one
// array element at a time: the caller `JSON.parse`s it) and passes over everything else without
// keeping it. Only string/escape state, bracket depth and the path of entered containers are tracked
// across pieces, so memory is one captured value plus the current piece, whatever the document's size.
//
// Entered containers are checked for JSON structure here; captured values are checked by the
// caller's JSON.parse; skipped values only for balanced brackets and closed strings.

/** How the scanner treats a value inside an entered container (or the document's root value). */
export interface JsonContainer {
  /**
   * A member (its decoded key) of this object, or an element (key undefined) of this array, starts;
   * `first` is its first character's code (`{` 123, `[` 91, `"` 34, else a number or literal). Return a
   * container to enter it (only for an object or array), "capture" for its text, or "skip".
   */
  enter(key: string | undefined, first: number): JsonContainer | "capture" | "skip";
  /** A captured member's or element's exact text. */
  value?(key: string | undefined, text: string): void;
}

/** Thrown for text that is not JSON (`syntax`) or a captured value longer than allowed (`limit`). */
export class JsonScanError extends Error {
  override name = "JsonScanError";
  constructor(
    message: string,
    readonly kind: "syntax" | "limit",
  ) {
    super(message);
  }
}

const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const COLON = 58;
const LBRACKET = 91;
const RBRACKET = 93;
const LBRACE = 123;
const RBRACE = 125;

// scanner states
const S_VALUE = 0; // a value must start (root, after ":" or "," in an array)
const S_ARRAY_FIRST = 1; // after "[": a value or "]"
const S_OBJECT_FIRST = 2; // after "{": a key or "}"
const S_KEY = 3; // after "," in an object: a key
const S_IN_KEY = 4; // inside a key string
const S_COLON = 5; // after a key: ":"
const S_AFTER = 6; // after a value inside a container: "," or its closer
const S_RAW = 7; // inside a captured or skipped value
const S_DONE = 8; // the root value is complete: only whitespace may follow

// what a captured/skipped value is
const R_CONTAINER = 0;
const R_STRING = 1;
const R_SCALAR = 2;

const isWs = (c: number) => c === 32 || c === 10 || c === 13 || c === 9;

interface Frame {
  c: JsonContainer;
  array: boolean;
  /** The member being read (objects). */
  key: string | undefined;
}

export class JsonScanner {
  private state = S_VALUE;
  private readonly stack: Frame[] = [];
  private readonly root: Frame;
  /** Characters pushed before the current piece (error positions). */
  private consumed = 0;
  // raw value state
  private rawKind = R_CONTAINER;
  private rawCapture = false;
  private rawDepth = 0;
  private inString = false;
  private escape = false;
  /** The current raw value's or key's text from earlier pieces, and its length. */
  private parts: string[] = [];
  private partsLen = 0;
  /** Where the key being read or the value being captured started in the current piece. */
  private from = 0;

  /** `maxValueChars`: the longest value captured (or key read); longer ones throw a `limit` error. */
  constructor(
    root: JsonContainer,
    private readonly maxValueChars: number,
  ) {
    this.root = { c: root, array: false, key: undefined };
  }

  private fail(msg: string, at: number): never {
    throw new JsonScanError(`${msg} at character ${this.consumed + at}`, "syntax");
  }

  private tooLong(len: number): never {
    throw new JsonScanError(`a value of more than ${len} characters is over the ${this.maxValueChars} allowed for one element`, "limit");
  }

  private top(): Frame {
    return this.stack.length ? this.stack[this.stack.length - 1]! : this.root;
  }

  /** A value starts at text[i] (not whitespace) in the current container: enter, capture or skip it. */
  private startValue(text: string, i: number, c: number): number {
    const f = this.top();
    const what = f.c.enter(f.array ? undefined : f.key, c);
    if (typeof what === "object") {
      if (c === LBRACE) {
        this.stack.push({ c: what, array: false, key: undefined });
        this.state = S_OBJECT_FIRST;
        return i + 1;
      }
      if (c === LBRACKET) {
        this.stack.push({ c: what, array: true, key: undefined });
        this.state = S_ARRAY_FIRST;
        return i + 1;
      }
    }
    if (c === RBRACE || c === RBRACKET || c === COMMA || c === COLON) this.fail(`unexpected "${String.fromCharCode(c)}"`, i);
    this.state = S_RAW;
    this.rawCapture = what === "capture";
    this.parts = [];
    this.partsLen = 0;
    this.from = i;
    this.inString = false;
    this.escape = false;
    if (c === LBRACE || c === LBRACKET) {
      this.rawKind = R_CONTAINER;
      this.rawDepth = 1;
      return i + 1;
    }
    if (c === QUOTE) {
      this.rawKind = R_STRING;
      this.inString = true;
      return i + 1;
    }
    if (c !== 45 /* - */ && !(c >= 48 && c <= 57) && c !== 116 /* t */ && c !== 102 /* f */ && c !== 110 /* n */) this.fail(`unexpected "${String.fromCharCode(c)}"`, i);
    this.rawKind = R_SCALAR;
    return i + 1;
  }

  /** The raw value ended just before text[end]. */
  private endRaw(text: string, end: number): void {
    if (this.rawCapture) {
      const tail = text.slice(this.from, end);
      if (this.partsLen + tail.length > this.maxValueChars) this.tooLong(this.partsLen + tail.length);
      const value = this.parts.length ? this.parts.join("") + tail : tail;
      const f = this.top();
      f.c.value?.(f.array ? undefined : f.key, value);
    }
    this.parts = [];
    this.partsLen = 0;
    this.state = this.stack.length ? S_AFTER : S_DONE;
  }

  /** Scans a raw value from text[i]; returns where scanning goes on (n when the piece ran out). */
  private raw(text: string, i: number): number {
    const n = text.length;
    while (i < n) {
      let c = text.charCodeAt(i);
      if (this.inString) {
        if (this.escape) {
          this.escape = false;
          i++;
          continue;
        }
        while (c !== QUOTE && c !== BACKSLASH && ++i < n) c = text.charCodeAt(i);
        if (i === n) break;
        if (c === BACKSLASH) {
          this.escape = true;
          i++;
          continue;
        }
        this.inString = false;
        i++;
        if (this.rawKind === R_STRING) {
          this.endRaw(text, i);
          return i;
        }
        continue;
      }
      if (this.rawKind === R_SCALAR) {
        if (c === COMMA || c === RBRACKET || c === RBRACE || isWs(c)) {
          this.endRaw(text, i);
          return i; // the delimiter is read by the container
        }
        i++;
        continue;
      }
      if (c === QUOTE) this.inString = true;
      else if (c === LBRACE || c === LBRACKET) this.rawDepth++;
      else if (c === RBRACE || c === RBRACKET) {
        if (--this.rawDepth === 0) {
          this.endRaw(text, i + 1);
          return i + 1;
        }
      }
      i++;
    }
    return n; // the piece ran out inside the value: push() keeps its text
  }

  /** Scans the rest of a key string from text[i]. */
  private key(text: string, i: number): number {
    const n = text.length;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (this.escape) this.escape = false;
      else if (c === BACKSLASH) this.escape = true;
      else if (c === QUOTE) {
        const lit = (this.parts.length ? this.parts.join("") : "") + text.slice(this.from, i);
        this.parts = [];
        this.partsLen = 0;
        if (lit.length > this.maxValueChars) this.tooLong(lit.length);
        let key: string;
        try {
          key = lit.includes("\\") ? (JSON.parse(`"${lit}"`) as string) : lit;
        } catch {
          this.fail("bad escape in a key", i);
        }
        this.top().key = key;
        this.state = S_COLON;
        return i + 1;
      }
      i++;
    }
    return n; // the piece ran out inside the key: push() keeps its text
  }

  /** Scans the next piece of the document. */
  push(text: string): void {
    const n = text.length;
    let i = 0;
    while (i < n) {
      if (this.state === S_RAW) {
        i = this.raw(text, i);
        continue;
      }
      if (this.state === S_IN_KEY) {
        i = this.key(text, i);
        continue;
      }
      const c = text.charCodeAt(i);
      if (isWs(c) || (c === 0xfeff && this.consumed + i === 0)) {
        i++;
        continue;
      }
      switch (this.state) {
        case S_VALUE:
          i = this.startValue(text, i, c);
          break;
        case S_ARRAY_FIRST:
          if (c === RBRACKET) i = this.close(i, true);
          else i = this.startValue(text, i, c);
          break;
        case S_OBJECT_FIRST:
        case S_KEY:
          if (c === RBRACE && this.state === S_OBJECT_FIRST) i = this.close(i, false);
          else if (c === QUOTE) {
            this.state = S_IN_KEY;
            this.escape = false;
            this.parts = [];
            this.partsLen = 0;
            this.from = i + 1;
            i++;
          } else this.fail(`expected a key, found "${String.fromCharCode(c)}"`, i);
          break;
        case S_COLON:
          if (c !== COLON) this.fail(`expected ":", found "${String.fromCharCode(c)}"`, i);
          this.state = S_VALUE;
          i++;
          break;
        case S_AFTER: {
          const f = this.top();
          if (c === COMMA) {
            this.state = f.array ? S_VALUE : S_KEY;
            i++;
          } else if (c === (f.array ? RBRACKET : RBRACE)) i = this.close(i, f.array);
          else this.fail(`expected "," or "${f.array ? "]" : "}"}", found "${String.fromCharCode(c)}"`, i);
          break;
        }
        case S_DONE:
          this.fail(`unexpected "${String.fromCharCode(c)}" after the JSON value`, i);
      }
    }
    // the piece ended inside a captured value or a key (possibly right after its first character)
    if ((this.state === S_RAW && this.rawCapture) || this.state === S_IN_KEY) {
      const part = text.slice(this.from);
      this.partsLen += part.length;
      if (this.partsLen > this.maxValueChars) this.tooLong(this.partsLen);
      this.parts.push(part);
    }
    this.from = 0;
    this.consumed += n;
  }

  private close(i: number, array: boolean): number {
    const f = this.stack.pop();
    if (!f || f.array !== array) this.fail(`unexpected "${array ? "]" : "}"}"`, i);
    this.state = this.stack.length ? S_AFTER : S_DONE;
    return i + 1;
  }

  /** The document ended: throws when it is incomplete. */
  end(): void {
    if (this.state === S_RAW && this.rawKind === R_SCALAR && this.stack.length === 0) this.endRaw("", 0);
    if (this.state === S_VALUE && this.stack.length === 0) this.fail("no JSON value", 0);
    if (this.state !== S_DONE) this.fail("the JSON text ends early (truncated?)", 0);
  }
}
