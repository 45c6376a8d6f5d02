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
