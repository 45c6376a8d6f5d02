// npm run archive:ls [-- prefix]        lists objects in the local archive (R2) of a running `npm start`
// npm run archive:cat -- <key|prefix>   prints the OCSF NDJSON in one object, or in every object under a prefix
import { adminAuth, errorText, HttpError, isConnectionFailure, serverUrl } from "./cli";
import { ARCHIVE_PREFIX } from "../src/deliver/archive";
const [cmd, arg] = process.argv.slice(2);
const url = serverUrl();
// a dev server with delivery.adminToken configured wants it here too (src/routes/admin.ts)
const headers = adminAuth();

/** GET /v1/archive/list's rows: `holds` says what an object holds ("12 events", "1 rejected record", ...). */
interface Listed {
  key: string;
  size: number;
  events?: string;
  holds?: string;
}

async function list(prefix: string): Promise<Listed[]> {
  const res = await fetch(`${url}/v1/archive/list?prefix=${encodeURIComponent(prefix)}`, { headers });
  if (!res.ok) throw new HttpError(res.status, await res.text());
  const body = (await res.json()) as { objects: Listed[]; more?: boolean };
  if (body.more) {
    console.error(`archive: the listing stopped after ${body.objects.length} objects (more are under "${prefix}"): give a longer prefix`);
    process.exitCode = 1;
  }
  return body.objects;
}

try {
  if (cmd === "ls") {
    const objs = await list(arg ?? "");
    for (const o of objs) console.log(`${o.key}\t${o.size} B\t${o.holds ?? (o.events !== undefined ? `${o.events} events` : "?")}`);
    console.log(`${objs.length} objects`);
  } else if (cmd === "cat") {
    const keys = arg && /\.(gz|json|ndjson)$/.test(arg) ? [arg] : (await list(arg ?? ARCHIVE_PREFIX)).map((o) => o.key);
    // one object that cannot be read (a cut or corrupt gzip answers 500) is named and skipped: the others
    // under the prefix are still printed, and the exit status says that something was left out
    const unread: string[] = [];
    for (const k of keys) {
      const res = await fetch(`${url}/v1/archive/object/${encodeURIComponent(k)}`, { headers });
      if (!res.ok) {
        const why = (await res.text()).replace(/\s+/g, " ").slice(0, 200);
        console.error(`archive: ${k}: not printed: ${res.status} ${why}`);
        unread.push(k);
        continue;
      }
      process.stdout.write(await res.text());
    }
    if (unread.length > 0) {
      console.error(`archive: ${unread.length} of ${keys.length} objects could not be read (named above); the other ${keys.length - unread.length} were printed`);
      // not process.exit: it would cut what is still being written to a pipe (archive:cat | wc -l)
      process.exitCode = 1;
    }
  } else {
    console.error("usage: npm run archive:ls [-- prefix] | npm run archive:cat -- <key or prefix>");
    process.exit(2);
  }
} catch (e) {
  console.error(`archive: ${errorText(e)}${isConnectionFailure(e) ? ` (is \`npm start\` running at ${url}?)` : ""}`);
  process.exit(1);
}
