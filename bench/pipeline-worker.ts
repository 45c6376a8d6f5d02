// The Worker bench/pipeline-workerd.ts bundles and runs in workerd (through Miniflare): POST an NDJSON
// body to /?mode=all|floor&reps=N and it runs the same steps as bench/pipeline.ts on it N times
// (mode=all: the whole ingest pipeline; mode=floor: JSON.parse + JSON.stringify of each line) and
// answers {"events": n} (events the pipeline produced per pass; lines for the floor). The caller times
// the dispatch; reading the body and splitting it happen once per request, outside the N passes.
import { run, defaultSteps, linesOf, jsonFloor, type Steps } from "./pipeline-steps";

const { enrich, route } = defaultSteps(); // once per isolate, as in the Worker
const full: Steps = { enrich, route, normalize: true, serialize: true };

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const mode = url.searchParams.get("mode");
    const reps = Number(url.searchParams.get("reps") ?? "1");
    if ((mode !== "all" && mode !== "floor") || !Number.isInteger(reps) || reps < 1 || reps > 10_000) {
      return new Response("mode=all|floor and reps=1..10000 expected", { status: 400 });
    }
    const text = await request.text();
    let events = 0;
    if (mode === "all") {
      for (let i = 0; i < reps; i++) events = run(text, full);
    } else {
      const lines = linesOf(text);
      for (let i = 0; i < reps; i++) jsonFloor(lines);
      events = lines.length;
    }
    return Response.json({ events });
  },
};
