// gzipLines (src/sinks/batch.ts): a storage object's body compressed from its lines in ~64 KB
// pieces is byte for byte gzipText of the joined text, and gunzips to the lines.
import { describe, it, expect } from "vitest";
import { gunzipSync, strFromU8 } from "fflate";
import { gzipLines, gzipText } from "../../src/sinks/batch";

describe("gzipLines", () => {
  it("gives the bytes of gzipText(lines joined + newline), across piece boundaries and multi-byte characters", async () => {
    for (const n of [1, 2, 50, 3000]) {
      const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ i, s: "é✓😀".repeat(i % 40), x: "y".repeat((i * 37) % 900) }));
      const text = lines.join("\n") + "\n";
      const body = await gzipLines(n, (k) => lines[k]!);
      expect(body).toEqual(await gzipText(text));
      expect(strFromU8(gunzipSync(body))).toBe(text);
    }
  });
});
