// A secret value in config: a literal string, or `{ "env": "NAME" }` read from the Worker's
// secrets/vars. Kept in its own module (no imports but zod) so sink drivers can import it
// without an import cycle through the config schema, which imports the sink registry.
import { z } from "zod";

export const secretRef = z.union([z.string().min(1), z.object({ env: z.string().min(1) }).strict()]);
export type SecretRef = z.infer<typeof secretRef>;
