// Deterministic, synchronous identifiers for events (no I/O, no async crypto on the hot path).
// Four independently seeded cyrb53 hashes give 128 bits (122 after version/variant), formatted as a UUID (version 8, RFC 9562
// "custom"), so the same input always yields the same uid and SIEMs can deduplicate re-deliveries.

/** cyrb53 (a fast 53-bit string hash) under a seed. */
export function cyrb53(s: string, seed: number): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0").slice(-width);
}

/** Low 32 bits of cyrb53 (its h1 after mixing), from the two running states. */
function low32(h1: number, h2: number): number {
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  return h1 >>> 0;
}

/** Character codes of the hex digits. */
const HEX = Array.from("0123456789abcdef", (c) => c.charCodeAt(0));
/** The hex digit of n's 4 bits at `shift`, as a character code. */
const hd = (n: number, shift: number) => HEX[(n >>> shift) & 15]!;

// the four seeds' initial states (0xdeadbeef ^ seed, 0x41c6ce57 ^ seed)
const SEEDS = [0x9e3779b9, 0x85ebca6b, 0xc2b2ae35, 0x27d4eb2f];
const [A1, B1, C1, D1] = SEEDS.map((s) => 0xdeadbeef ^ s) as [number, number, number, number];
const [A2, B2, C2, D2] = SEEDS.map((s) => 0x41c6ce57 ^ s) as [number, number, number, number];

/**
 * A stable UUID-shaped id for any string: the low 32 bits of cyrb53 under four seeds, as 32 hex digits
 * with the version (8) and variant bits set. The four hashes are computed in one pass over the string.
 */
export function stableUid(s: string): string {
  let a1 = A1, a2 = A2, b1 = B1, b2 = B2, c1 = C1, c2 = C2, d1 = D1, d2 = D2;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    a1 = Math.imul(a1 ^ ch, 2654435761);
    a2 = Math.imul(a2 ^ ch, 1597334677);
    b1 = Math.imul(b1 ^ ch, 2654435761);
    b2 = Math.imul(b2 ^ ch, 1597334677);
    c1 = Math.imul(c1 ^ ch, 2654435761);
    c2 = Math.imul(c2 ^ ch, 1597334677);
    d1 = Math.imul(d1 ^ ch, 2654435761);
    d2 = Math.imul(d2 ^ ch, 1597334677);
  }
  const a = low32(a1, a2);
  const b = low32(b1, b2);
  const c = low32(c1, c2);
  const d = low32(d1, d2);
  // hex digits 0-7: a; 8-15: b (digit 12 becomes the version 8); 16-23: c (digit 16 becomes the variant); 24-31: d.
  // One flat string from character codes: a template of table lookups made ~20 intermediate strings.
  return String.fromCharCode(
    hd(a, 28), hd(a, 24), hd(a, 20), hd(a, 16), hd(a, 12), hd(a, 8), hd(a, 4), hd(a, 0), 45,
    hd(b, 28), hd(b, 24), hd(b, 20), hd(b, 16), 45,
    56, hd(b, 8), hd(b, 4), hd(b, 0), 45,
    HEX[((c >>> 28) & 0x3) | 0x8]!, hd(c, 24), hd(c, 20), hd(c, 16), 45,
    hd(c, 12), hd(c, 8), hd(c, 4), hd(c, 0), hd(d, 28), hd(d, 24), hd(d, 20), hd(d, 16), hd(d, 12), hd(d, 8), hd(d, 4), hd(d, 0),
  );
}

/** Short stable hex digest (for object keys and fingerprints). */
export function stableHex(s: string): string {
  return hex(cyrb53(s, 7), 14) + hex(cyrb53(s, 13), 14);
}
