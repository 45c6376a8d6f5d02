// Body framing: one JSON value, a JSON array, NDJSON (with or without a trailing newline), or
// Falco's plain-text output. Pure (string in, values out) so benchmarks can run it too.
import { type Json, parseJson } from "../normalize/json";

export interface FrameError {
  index: number;
  path: string;
  reason: string;
}

export interface Framed {
  /** JSON values in body order (arrays are kept whole; ../normalize/detect unwraps them). */
  values: Json[];
  /** Paths of the values, parallel to `values` ("" for a single body value, "line N" for NDJSON). */
  paths: string[];
  /** Plain-text lines (Falco json_output: false). */
  textLines: string[];
  errors: FrameError[];
}

function firstChar(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== " " && c !== "\n" && c !== "\r" && c !== "\t" && c !== "\uFEFF") return c;
  }
  return "";
}

export function frame(text: string, contentType: string): Framed {
  const out: Framed = { values: [], paths: [], textLines: [], errors: [] };
  const first = firstChar(text);
  if (first === "") return out;
  const ct = contentType.toLowerCase();
  if (first !== "{" && first !== "[") {
    if (ct.startsWith("text/plain") || ct === "") {
      for (const line of text.split("\n")) {
        const t = line.trim();
        if (t) out.textLines.push(t);
      }
      return out;
    }
    out.errors.push({ index: 0, path: "", reason: "body is not JSON: expected an object, an array or NDJSON lines" });
    return out;
  }
  const ndjson = ct.includes("ndjson") || ct.includes("jsonlines") || ct.includes("json-seq");
  if (!ndjson) {
    try {
      out.values.push(parseJson(text));
      out.paths.push("");
      return out;
    } catch {
      // not one JSON value: fall through to NDJSON (Vector newline_delimited often says application/json)
    }
  }
  let start = 0;
  let line = 0;
  const n = text.length;
  while (start <= n) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = n;
    const raw = text.slice(start, end).trim();
    if (raw !== "") {
      try {
        out.values.push(parseJson(raw));
        out.paths.push(`line ${line + 1}`);
      } catch (e) {
        out.errors.push({ index: line, path: `line ${line + 1}`, reason: `invalid JSON: ${(e as Error).message}` });
      }
    }
    line++;
    start = end + 1;
  }
  return out;
}
