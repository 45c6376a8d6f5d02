// Liveness endpoints: Falcosidekick's /healthz and /ping, and Vector's healthcheck (HEAD).
import { Hono } from "hono";
import type { AppEnv } from "./ingest";

export const healthRoutes = new Hono<AppEnv>();

healthRoutes.get("/healthz", (c) => c.json({ status: "ok" }));
healthRoutes.get("/ping", (c) => c.text("pong\n"));
// Hono answers HEAD with the GET handler, so these also serve HEAD / and HEAD /v1/events.
healthRoutes.get("/", (c) => c.text("tributary\n"));
healthRoutes.get("/v1/events", (c) => c.json({ status: "ok", accepts: "POST" }));
