// A minimal protocol-buffers wire-format writer and reader (https://protobuf.dev/programming-guides/encoding/):
// what the OTLP/HTTP binary encoding of otlp.ts needs and no more. Wire types: 0 varint, 1 fixed64 (8 bytes
// little-endian), 2 length-delimited (a varint length, then the bytes: strings as UTF-8, embedded messages,
// bytes), 5 fixed32. A field is its tag, (field number << 3) | wire type, as a varint, then its value. No
// dependency: a generated encoder (protobufjs) would be a large bundle for six small messages.

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lenientDec = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

/** Bytes of `n` (a non-negative safe integer) as a varint. */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Appends fields to a growing buffer (of `size` bytes to start with); finish() returns the message's bytes. */
export class ProtoWriter {
  private buf: Uint8Array;
  private n = 0;

  constructor(size = 256) {
    this.buf = new Uint8Array(Math.max(size, 1));
  }

  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.n + k) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
  }

  /** A non-negative safe integer as a varint (7 bits a byte, low first, high bit = more). */
  varint(v: number): this {
    this.room(varintSize(v));
    while (v >= 0x80) {
      this.buf[this.n++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.n++] = v;
    return this;
  }

  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  /** A varint field (uint32, uint64, an enum, a non-negative int32/int64). */
  uint(field: number, v: number): this {
    this.tag(field, 0);
    return this.varint(v);
  }

  /** An int64 field: a negative value is its 64-bit two's complement (10 bytes). */
  int64(field: number, v: bigint): this {
    this.tag(field, 0);
    let u = BigInt.asUintN(64, v);
    this.room(10);
    while (u >= 0x80n) {
      this.buf[this.n++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.buf[this.n++] = Number(u);
    return this;
  }

  /** A fixed64 field: 8 bytes, little-endian. */
  fixed64(field: number, v: bigint): this {
    this.tag(field, 1);
    this.room(8);
    new DataView(this.buf.buffer, this.buf.byteOffset).setBigUint64(this.n, BigInt.asUintN(64, v), true);
    this.n += 8;
    return this;
  }

  /** A length-delimited field's tag and length only: its `length` bytes of value are the fields written next. */
  head(field: number, length: number): this {
    this.tag(field, 2);
    return this.varint(length);
  }

  /** A length-delimited field of raw bytes (an embedded message's, or a bytes field). */
  bytes(field: number, b: Uint8Array): this {
    this.head(field, b.length);
    this.room(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
    return this;
  }

  /** A string field (UTF-8). */
  string(field: number, s: string): this {
    return this.bytes(field, enc.encode(s));
  }

  /** The bytes written: the buffer itself when they fill it (no copy; a later write grows a new one), else a copy. */
  finish(): Uint8Array {
    return this.n === this.buf.length ? this.buf : this.buf.slice(0, this.n);
  }
}

/** One field as read: varints and fixed64 as bigint, fixed32 as a number, length-delimited as bytes. */
export type ProtoField = { field: number; wire: 0 | 1; value: bigint } | { field: number; wire: 5; value: number } | { field: number; wire: 2; value: Uint8Array };

export class ProtoError extends Error {}

/** The fields of a message in order; throws ProtoError on bytes that are no message (cut, a group, a bad tag). */
export function readFields(b: Uint8Array): ProtoField[] {
  const out: ProtoField[] = [];
  let i = 0;
  const varint = (): bigint => {
    let v = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (i >= b.length) throw new ProtoError("truncated varint");
      const byte = b[i++]!;
      v |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return BigInt.asUintN(64, v);
    }
    throw new ProtoError("varint longer than 10 bytes");
  };
  const take = (k: number): Uint8Array => {
    if (k > b.length - i) throw new ProtoError("truncated field");
    const v = b.subarray(i, i + k);
    i += k;
    return v;
  };
  while (i < b.length) {
    const tag = varint();
    const field = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (field === 0) throw new ProtoError("field number 0");
    if (wire === 0) out.push({ field, wire, value: varint() });
    else if (wire === 1) out.push({ field, wire, value: new DataView(take(8).slice().buffer).getBigUint64(0, true) });
    else if (wire === 2) out.push({ field, wire, value: take(Number(varint())) });
    else if (wire === 5) out.push({ field, wire, value: new DataView(take(4).slice().buffer).getUint32(0, true) });
    else throw new ProtoError(`wire type ${wire} (groups are not read)`);
  }
  return out;
}

/** A length-delimited field's bytes as UTF-8 text; throws ProtoError when they are not UTF-8. */
export function utf8(b: Uint8Array): string {
  try {
    return dec.decode(b);
  } catch {
    throw new ProtoError("a string field is not UTF-8");
  }
}

/** A length-delimited field's bytes as UTF-8 text, each invalid sequence a U+FFFD (for text only shown, never a reason to drop the message). */
export function utf8Lenient(b: Uint8Array): string {
  return lenientDec.decode(b);
}
