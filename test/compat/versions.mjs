// versions.mjs <dbdir> <table>
//
// Lists the table's versions with stock LanceDB, one JSON object per line:
// {"version":N,"timestamp":"<ISO-8601>","metadata":{...}}, oldest first.

import * as lancedb from "@lancedb/lancedb";

if (process.argv.length !== 4) {
  process.stderr.write("usage: node versions.mjs <dbdir> <table>\n");
  process.exit(2);
}
const [dbdir, tableName] = process.argv.slice(2);

const db = await lancedb.connect(dbdir);
const table = await db.openTable(tableName);
const versions = await table.listVersions();
versions.sort((a, b) => a.version - b.version);
for (const v of versions) {
  const metadata = Object.fromEntries(Object.entries(v.metadata ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  process.stdout.write(`${JSON.stringify({ version: v.version, timestamp: v.timestamp.toISOString(), metadata })}\n`);
}
