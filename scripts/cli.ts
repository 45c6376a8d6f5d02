// Shared by the npm scripts: one-line error texts a user can act on.

/** The message of an error and of its cause (fetch's "fetch failed" hides ECONNREFUSED in the cause). */
export function errorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = e.cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return `${e.message}: ${typeof code === "string" && !cause.message.includes(code) ? `${code} ` : ""}${cause.message}`;
  }
  return e.message;
}

/** An HTTP answer that is not a success: the server is there, so no "is it running?" hint. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    body: string,
  ) {
    super(`${status} ${body}`);
  }
}

/** Whether the request never got an answer (fetch failed: refused, DNS, reset), not an HTTP error. */
export function isConnectionFailure(e: unknown): boolean {
  return e instanceof TypeError;
}

/** The running Tributary the admin CLIs talk to: TRIBUTARY_URL (no trailing slash), else the local `npm start`. */
export function serverUrl(): string {
  return (process.env.TRIBUTARY_URL ?? "http://127.0.0.1:8787").replace(/\/$/, "");
}

/** The admin API's authorization header, when TRIBUTARY_ADMIN_TOKEN (the config's delivery.adminToken) is set. */
export function adminAuth(): Record<string, string> {
  const token = process.env.TRIBUTARY_ADMIN_TOKEN;
  return token ? { authorization: `Bearer ${token}` } : {};
}

/**
 * Options taking a value (`--sink siem` or `--sink=siem`; the last one given wins) and the other arguments.
 * A flag at the end without its value is kept as "".
 */
export function parseOptions(argv: readonly string[], flags: readonly string[]): { opts: Record<string, string | undefined>; rest: string[] } {
  const opts: Record<string, string | undefined> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf("=");
    const flag = eq > 0 ? a.slice(0, eq) : a;
    if (!flags.includes(flag)) rest.push(a);
    else opts[flag] = eq > 0 ? a.slice(eq + 1) : (argv[++i] ?? "");
  }
  return { opts, rest };
}

/** The hint after an admin API error: no answer at all (is it running?), or a refused admin token. */
export function adminHint(e: unknown, url: string): string {
  if (isConnectionFailure(e)) return ` (is Tributary running at ${url}?)`;
  if (!(e instanceof HttpError) || (e.status !== 401 && e.status !== 403)) return "";
  return process.env.TRIBUTARY_ADMIN_TOKEN ? " (TRIBUTARY_ADMIN_TOKEN is not the server's delivery.adminToken)" : " (set TRIBUTARY_ADMIN_TOKEN to the server's delivery.adminToken)";
}
