// Routing: event -> sink names, from the declarative rules in config (docs/routing.md). Pure.
// Built once per config: every route's match is compiled to a predicate, and the sink lists the
// router returns are shared per combination of matched routes (sorted, without duplicates), so
// events with the same destinations pack into the same queue messages.
import type { OcsfEvent } from "../normalize/ocsf";
import type { Config } from "../config/schema";
import { ARCHIVE_SINK } from "../config/routing";
import { compileMatch, EventView, type Predicate } from "./rules";

export type Router = (e: OcsfEvent) => string[];

interface CompiledRoute {
  test: Predicate;
  sinks: string[];
  continue: boolean;
}

export function makeRouter(cfg: Config): Router {
  const routes: CompiledRoute[] = cfg.routes.map((r) => ({ test: compileMatch(r.match), sinks: r.sinks, continue: r.continue }));
  const base = cfg.archive_all ? [ARCHIVE_SINK] : [];
  const sinkSet = (names: string[]): string[] => [...new Set(names)].sort();
  const defaults = sinkSet([...base, ...cfg.default_sinks]);
  if (routes.length === 0) return () => defaults;

  // The result depends only on which routes matched: one shared array per combination, keyed by a
  // bit mask of the matched routes (a string of their indices beyond 30 routes).
  const wide = routes.length > 30;
  const cache = new Map<number | string, string[]>();
  const build = (matched: number[]): string[] => sinkSet([...base, ...matched.flatMap((i) => routes[i]!.sinks)]);
  return (e) => {
    const view = new EventView(e);
    let mask = 0;
    let key = "";
    let any = false;
    for (let i = 0; i < routes.length; i++) {
      const r = routes[i]!;
      if (!r.test(view)) continue;
      any = true;
      if (wide) key += `${i},`;
      else mask |= 1 << i;
      if (!r.continue) break;
    }
    if (!any) return defaults;
    const k = wide ? key : mask;
    let hit = cache.get(k);
    if (!hit) {
      const matched = wide ? key.split(",").filter(Boolean).map(Number) : routes.map((_, i) => i).filter((i) => mask & (1 << i));
      hit = build(matched);
      if (cache.size < 4096) cache.set(k, hit);
    }
    return hit;
  };
}
