// A sink name template with {tenant} (an Elasticsearch index, a Loki org, a Splunk source, a Datadog service)
// keeps tenants apart only while their tenants expand to different names. {tenant} is nameSafe(tenant_uid)
// (src/sinks/batch.ts): "team a" and "team_a" both become "team_a", names sharing their first MAX_NAME_PART
// characters become one, and a tenant named "none" becomes the name of events sent without a tenant.
// Elasticsearch/OpenSearch lower-case the index (the driver does, index names must be lower case) and
// Datadog lower-cases tags (ddsource and service become the source and service tags), so there
// "Team-A" and "team-a" meet as well. Such a config is refused at load: one tenant's events would land in
// another's index, org or stream.
import { driverFor } from "../sinks/index";
import { MAX_NAME_PART, nameSafe, NO_TENANT } from "../sinks/batch";
import type { SinkEntry } from "./sinks";

/** The name-template fields of each sink type (canonical driver type) and whether the receiver folds case. */
const TENANT_FIELDS: Record<string, { fields: string[]; foldsCase: boolean }> = {
  elasticsearch: { fields: ["index"], foldsCase: true },
  opensearch: { fields: ["index"], foldsCase: true },
  datadog_logs: { fields: ["ddsource", "service"], foldsCase: true },
  splunk_hec: { fields: ["source", "sourcetype"], foldsCase: false },
  loki: { fields: ["tenant"], foldsCase: false },
};

/** What {tenant} becomes for a tenant in a sink that does or does not fold case. */
function tenantName(tenant: string, foldsCase: boolean): string {
  const n = nameSafe(tenant);
  return foldsCase ? n.toLowerCase() : n;
}

/**
 * Refuses two configured tenants (those of the ingest credentials, credentialRows) that one sink's {tenant}
 * template gives the same name, or a tenant given the name of the events without a tenant.
 */
export function checkTenantNames(
  configured: string[],
  sinks: Record<string, SinkEntry>,
  ctx: { addIssue(issue: { code: "custom"; path: (string | number)[]; message: string }): void },
): void {
  const tenants = [...new Set(configured)];
  if (tenants.length === 0) return;
  for (const [sink, entry] of Object.entries(sinks)) {
    const spec = TENANT_FIELDS[driverFor(entry.type)?.type ?? entry.type];
    if (spec === undefined || typeof entry.config !== "object" || entry.config === null) continue;
    for (const field of spec.fields) {
      const template = (entry.config as Record<string, unknown>)[field];
      if (typeof template !== "string" || !template.includes("{tenant}")) continue;
      const none = tenantName(NO_TENANT, spec.foldsCase);
      const first = new Map<string, string>();
      for (const tenant of tenants) {
        const name = tenantName(tenant, spec.foldsCase);
        const other = first.get(name);
        let message: string | undefined;
        if (name === none) {
          message = `{tenant} of tenant "${tenant}" is "${name}", the name given to events sent without a tenant: rename the tenant`;
        } else if (other !== undefined) {
          message = `{tenant} of tenants "${other}" and "${tenant}" is the same "${name}" (letters, digits, "_" and "-" kept, others made "_", cut to ${MAX_NAME_PART} characters${spec.foldsCase ? ", lower-cased" : ""}), so their events would share one ${field}: rename one tenant`;
        } else first.set(name, tenant);
        if (message !== undefined) ctx.addIssue({ code: "custom", path: ["sinks", sink, field], message });
      }
    }
  }
}
