// A secret value in config: a literal string, or `{ "env": "NAME" }` read from the Worker's
// secrets/vars. Kept in its own module (no imports but zod) so sink drivers can import it
// without an import cycle through the config schema, which imports the sink registry.
import { z } from "zod";

// zod's own message for a union neither branch takes is a bare "Invalid input"; a missing secret (e.g. a
// webhook without `secret`) says it is required
export const secretRef = z.union([z.string().min(1), z.object({ env: z.string().min(1) }).strict()], {
  error: (iss) => (iss.input === undefined ? 'required: {"env": "NAME"} (a Worker secret) or a string' : 'expected {"env": "NAME"} (a Worker secret) or a non-empty string'),
});
export type SecretRef = z.infer<typeof secretRef>;
