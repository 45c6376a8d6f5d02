// Routing: event -> sink names, from the declarative rules in config (docs/routing.md). Pure.
// Built once per config: every route's match is compiled to a predicate, and the sink lists the
// router returns are interned, so events with the same destinations share one array (and pack
// into the same queue messages).
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
  const archiveAll = cfg.archive_all;
  const interned = new Map<string, string[]>();
  const intern = (names: Iterable<string>): string[] => {
    const arr = [...new Set(names)].sort();
    const key = arr.join("\u0000");
    let hit = interned.get(key);
    if (!hit && interned.size < 4096) interned.set(key, (hit = arr));
    return hit ?? arr;
  };
  const defaults = intern(archiveAll ? [ARCHIVE_SINK, ...cfg.default_sinks] : cfg.default_sinks);
  if (routes.length === 0) return () => defaults;

  return (e) => {
    const view = new EventView(e);
    let out: string[] | undefined;
    for (const r of routes) {
      if (!r.test(view)) continue;
      (out ??= archiveAll ? [ARCHIVE_SINK] : []).push(...r.sinks);
      if (!r.continue) break;
    }
    return out ? intern(out) : defaults;
  };
}
