// Shared by the webhook globalSetup (Node) and the noise worker tests (workerd): no imports.

/** The Standard Webhooks receiver's secret (literal in the test configs: the NoiseWindow object has its own env). */
export const NOISE_WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
