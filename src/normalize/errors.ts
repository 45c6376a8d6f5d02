/** A record that cannot be mapped; the message names the reason and is returned to the sender. */
export class NormalizeError extends Error {
  override name = "NormalizeError";
}
