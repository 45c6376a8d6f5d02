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

/** The admin API's authorization header, when TRIBUTARY_ADMIN_TOKEN (the config's delivery.adminToken) is set. */
export function adminAuth(): Record<string, string> {
  const token = process.env.TRIBUTARY_ADMIN_TOKEN;
  return token ? { authorization: `Bearer ${token}` } : {};
}
