// Routing: event -> sink names, from declarative rules in config. Pure.
import type { OcsfEvent } from "../normalize/ocsf";
import type { Config } from "../config/schema";

export type Router = (e: OcsfEvent) => string[];

export function makeRouter(_cfg: Config): Router {
  return () => ["archive"];
}
