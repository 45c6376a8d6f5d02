// Incremental checksums of compressed-body trailers, computed over the decompressed chunks as they are
// handed out: CRC-32 (gzip, RFC 1952 8: ISO 3309 polynomial, reflected 0xEDB88320) and Adler-32 (zlib,
// RFC 1950 9). fflate checks neither in its streaming inflaters, so body.ts checks them itself.

/** Slicing-by-4 tables: T[k][b] is the CRC of byte b followed by k zero bytes. */
const T = (() => {
  const t = new Int32Array(4 * 256);
  for (let b = 0; b < 256; b++) {
    let c = b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[b] = c;
  }
  for (let b = 0; b < 256; b++) {
    for (let k = 1; k < 4; k++) t[k * 256 + b] = t[(k - 1) * 256 + b]! >>> 8 ^ t[t[(k - 1) * 256 + b]! & 0xff]!;
  }
  return t;
})();

/** CRC-32 of `d` continuing from `crc` (0 to start); unsigned. */
export function crc32(crc: number, d: Uint8Array): number {
  let c = ~crc;
  let i = 0;
  for (const n = d.length - 3; i < n; i += 4) {
    c ^= d[i]! | (d[i + 1]! << 8) | (d[i + 2]! << 16) | (d[i + 3]! << 24);
    c = T[768 + (c & 0xff)]! ^ T[512 + ((c >>> 8) & 0xff)]! ^ T[256 + ((c >>> 16) & 0xff)]! ^ T[c >>> 24]!;
  }
  for (; i < d.length; i++) c = T[(c ^ d[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** Adler-32 of `d` continuing from `adler` (1 to start); unsigned. */
export function adler32(adler: number, d: Uint8Array): number {
  let a = adler & 0xffff;
  let b = adler >>> 16;
  for (let i = 0; i < d.length; ) {
    // 5552 bytes is the most that cannot overflow 32 bits before the modulo (zlib's NMAX)
    for (const n = Math.min(i + 5552, d.length); i < n; i++) b += a += d[i]!;
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}
