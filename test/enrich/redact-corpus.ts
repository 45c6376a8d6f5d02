// The credentials preset's test corpus (test/enrich/redact.test.ts checks each text, redact-outputs.test.ts
// records what every text becomes in several places of an event).
import { createHash } from "node:crypto";
import { MASK } from "../../src/enrich/redact";
import { redactSchema, type RedactConfig } from "../../src/config/redact";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { frame } from "../../src/routes/decode";
import { runPipeline } from "../../src/pipeline";
import { fixtures } from "../support/fixtures";
import { NEGATIVE_FIXTURES, FIXED_CTX, contentTypeOf } from "../support/fixture-pipeline";

/** Texts the credentials preset masks, and what it makes of them. */
export const masked: [string, string][] = [
  // password options
  ["app --password=hunter2 --verbose", `app --password=${MASK} --verbose`],
  ["app --password hunter2", `app --password ${MASK}`],
  ["psql --db-password 'a b c' -h db", `psql --db-password '${MASK}' -h db`],
  ['run --passwd="x y"', `run --passwd="${MASK}"`],
  ["keytool -list -storepass changeit -keystore k.jks", `keytool -list -storepass ${MASK} -keystore k.jks`],
  ["gpg --passphrase s3cr3t --batch", `gpg --passphrase ${MASK} --batch`],
  // mysql clients' -p<password>, sshpass -p
  ["mysql -u root -pS3cret shop", `mysql -u root -p${MASK} shop`],
  ["/usr/bin/mysqldump -h db -pS3cret shop", `/usr/bin/mysqldump -h db -p${MASK} shop`],
  ["sshpass -p hunter2 ssh root@host", `sshpass -p ${MASK} ssh root@host`],
  // Authorization headers
  ["curl -H 'Authorization: Bearer eyJhbGciOi.eyJzdWIi.sig_1' https://api", `curl -H 'Authorization: Bearer ${MASK}' https://api`],
  ["Proxy-Authorization: Basic dXNlcjpwYXNz", `Proxy-Authorization: Basic ${MASK}`],
  // key=value
  ["GITHUB_TOKEN=ghp_abc123 make release", `GITHUB_TOKEN=${MASK} make release`],
  ["curl https://api.example/x?api_key=abc123&page=2", `curl https://api.example/x?api_key=${MASK}&page=2`],
  ["kubectl create secret generic s --from-literal=password=abc", `kubectl create secret generic s --from-literal=password=${MASK}`],
  ["MYSQL_PWD=hunter2 mysql -u root", `MYSQL_PWD=${MASK} mysql -u root`],
  ["oauth --client_secret=xyz", `oauth --client_secret=${MASK}`],
  // names ending in secret key / private key; --token, --api-key, --secret-key with a space
  ["SECRET_KEY=x1 ./manage.py runserver", `SECRET_KEY=${MASK} ./manage.py runserver`],
  ["STRIPE_SECRET_KEY=sk_live_1 JWT_SECRET_KEY=j2 PRIVATE_KEY=p3 node app.js", `STRIPE_SECRET_KEY=${MASK} JWT_SECRET_KEY=${MASK} PRIVATE_KEY=${MASK} node app.js`],
  ["app --secret-key s3 --region eu", `app --secret-key ${MASK} --region eu`],
  ["curl --api-key k1 https://api", `curl --api-key ${MASK} https://api`],
  ["kubectl --token t1 get pods", `kubectl --token ${MASK} get pods`],
  ["oauth --client-secret cs1 -v", `oauth --client-secret ${MASK} -v`],
  ["tool --secret-access-key sak2 --region eu", `tool --secret-access-key ${MASK} --region eu`],
  ['{"secret_key": "sk4","key_id":"k"}', `{"secret_key": "${MASK}","key_id":"k"}`],
  ['{"name":"STRIPE_SECRET_KEY","value":"sk_live_5"}', `{"name":"STRIPE_SECRET_KEY","value":"${MASK}"}`],
  // URL userinfo: the password, the user stays
  ["git clone https://deploy:pa55w0rd@github.com/org/repo", `git clone https://deploy:${MASK}@github.com/org/repo`],
  ["postgres://app:hunter2@db:5432/shop", `postgres://app:${MASK}@db:5432/shop`],
  // AWS secrets
  ["AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY aws s3 ls", `AWS_SECRET_ACCESS_KEY=${MASK} aws s3 ls`],
  ["aws_secret_access_key = wJalrXUtnFEMI/K7MDENG", `aws_secret_access_key = ${MASK}`],
  ["AWS_SESSION_TOKEN: FwoGZXIvYXdzE", `AWS_SESSION_TOKEN: ${MASK}`],
  // a JSON text (raw_data): the value ends with its string
  ['{"proc.cmdline":"mysql --password=hunter2","proc.pid":7}', `{"proc.cmdline":"mysql --password=${MASK}","proc.pid":7}`],
  ['{"cmd":"run --password \\"a b\\" now"}', `{"cmd":"run --password \\"${MASK}\\" now"}`],
  // JSON keys naming a secret, and name/value pairs
  ['{"user":"a","password":"hunter2","n":1}', `{"user":"a","password":"${MASK}","n":1}`],
  ['{"credentials":{"accessKeyId":"ASIA1","sessionToken": "IQoJb3","expiration":"x"}}', `{"credentials":{"accessKeyId":"ASIA1","sessionToken": "${MASK}","expiration":"x"}}`],
  ['"env":[{"name":"DB_PASSWORD","value":"s3cr3t"},{"name":"DB_HOST","value":"db"}]', `"env":[{"name":"DB_PASSWORD","value":"${MASK}"},{"name":"DB_HOST","value":"db"}]`],
  // ... and after a JSON escape (\n): a file's lines in a Kubernetes request body's raw_data
  ['{"f":"id = x\\naws_secret_access_key = MY-KEY\\nGITHUB_TOKEN=ghp_1\\n--password=p"}', `{"f":"id = x\\naws_secret_access_key = ${MASK}\\nGITHUB_TOKEN=${MASK}\\n--password=${MASK}"}`],
];

/** Texts the credentials preset leaves as they are. */
export const kept = [
  // -p that is no password
  "mkdir -pv /tmp/x",
  "ssh -p2222 host",
  "docker run -p8080:80 nginx",
  "mysql -P3306 -u root",
  "mysql -u root -p shop",
  // password options without a value here
  "docker login --password-stdin -u ci",
  "pg_dump --no-password shop",
  "tool --password-file /etc/pw",
  "app --password --user x",
  "passwd root",
  "ftp --passive host",
  // key=value that is no secret
  "PWD=/root OLDPWD=/",
  "llm --max_tokens=5 --token_type=bearer",
  "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
  "tokens=3 secrets=none",
  "public_key=pub1 key_id=k1 access_key_id=ak1",
  '{"public_key":"pub","keyId":"k","accessKeyId":"AKIA1"}',
  // options naming a file or another thing than a secret, or with no value here
  "kubectl --token-file /var/run/token get pods",
  "llm --max-tokens 5 --token-type bearer",
  "docker build --secret id=npmrc,src=.npmrc .",
  "app --token --verbose",
  // URLs without a password, headers without credentials
  "git clone ssh://git@github.com/org/repo",
  "curl https://github.com:443/x",
  "authorization: none given",
  '{"secretName":"db-creds","tokenExpirationSeconds":3600,"token_type":"Bearer"}',
  '{"token":"[redacted: 12 bytes]"}',
  '{"name":"DB_HOST","value":"db"}',
  "Terminal shell in container (user=root container_id=abc shell=bash parent=runc cmdline=bash -il)",
];

/** The configs redact-outputs.test.ts records: the preset alone, and with custom rules (binary, fields, no groups). */
export const RECORDED_CONFIGS: Record<string, RedactConfig> = {
  preset: redactSchema.parse({ presets: ["credentials"] }),
  mixed: redactSchema.parse({
    presets: ["credentials"],
    rules: [{ pattern: String.raw`(?i)user=(\w+)` }, { pattern: String.raw`\b(\d{1,3})\.\d{1,3}\.\d{1,3}\.\d{1,3}\b`, binary: "sh$" }, { pattern: "root", fields: ["default", "actor", "**.name"] }],
  }),
};

/** An event for a corpus text: in the message, a command line, unmapped, raw_data and an env pair. */
function corpusEvent(text: string): OcsfEvent {
  return {
    activity_id: 1,
    category_uid: 1,
    class_uid: 1007,
    type_uid: 100701,
    severity_id: 1,
    time: 1,
    metadata: { version: "1.3.0", uid: "u-1", product: { name: "Falco", vendor_name: "Falcosecurity" } },
    message: text,
    process: { name: "sh", file: { path: "/bin/sh" }, cmd_line: text },
    raw_data: JSON.stringify({ output: text }),
    unmapped: { env: [{ name: "X_TOKEN", value: text }, { name: "X", value: text }], output_fields: { "proc.args": text } },
  } as OcsfEvent;
}

/** More texts for the record: case, non-ASCII letters that lower-case to ASCII (Kelvin sign), text past a window. */
const edges = [
  "MySQL -u root -pX db",
  "MYSQL_PWD=x MariaDB -pY",
  "--PassWord=Hunter2 Authorization: BEARER abc",
  "api_\u212Aey=1 sessionTo\u212Aen=2 --pa\u017Fsword=3",
  `${"x ".repeat(2500)} GITHUB_TOKEN=ghp_1 ${"y".repeat(4000)} --password=p https://u:p@h/ ${"z ".repeat(300)}AWS_SESSION_TOKEN: t`,
];

const sha = (v: unknown): string => createHash("sha256").update(JSON.stringify(v)).digest("hex").slice(0, 16);

/**
 * What the redactors of `make` (one per RECORDED_CONFIGS) make of every fixture's events (raw_data on) and of the
 * corpus texts: a hash per fixture and config, and one per config for the corpus.
 */
export function redactedOutputs(make: (cfg: RedactConfig) => ((e: OcsfEvent) => OcsfEvent) | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, cfg] of Object.entries(RECORDED_CONFIGS)) {
    const redact = make(cfg)!;
    for (const f of fixtures) {
      if (NEGATIVE_FIXTURES.has(f.name)) continue;
      const framed = frame(f.text, contentTypeOf(f.name));
      const events = runPipeline(framed.values, framed.paths, framed.textLines, { ctx: { ...FIXED_CTX, rawData: true } }, framed.texts).events.map((e) => redact(e.event));
      out[`${name} ${f.name}`] = sha(events);
    }
    out[`${name} corpus`] = sha([...masked.map(([t]) => t), ...kept, ...edges].map((t) => redact(corpusEvent(t))));
  }
  return out;
}
