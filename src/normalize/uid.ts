// Deterministic, synchronous identifiers for events (no I/O, no async crypto on the hot path).
// Four independently seeded cyrb53 hashes give 128 bits (122 after version/variant), formatted as a UUID (version 8, RFC 9562
// "custom"), so the same input always yields the same uid and SIEMs can deduplicate re-deliveries.

function cyrb53(s: string, seed: number): number {
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

/** A stable UUID-shaped id for any string. */
export function stableUid(s: string): string {
  // four 32-bit slices of two 53-bit hashes with different seeds -> 32 hex digits
  const a = cyrb53(s, 0x9e3779b9);
  const b = cyrb53(s, 0x85ebca6b);
  const c = cyrb53(s, 0xc2b2ae35);
  const d = cyrb53(s, 0x27d4eb2f);
  const h = hex(a % 4294967296, 8) + hex(b % 4294967296, 8) + hex(c % 4294967296, 8) + hex(d % 4294967296, 8);
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Short stable hex digest (for object keys and fingerprints). */
export function stableHex(s: string): string {
  return hex(cyrb53(s, 7), 14) + hex(cyrb53(s, 13), 14);
}
