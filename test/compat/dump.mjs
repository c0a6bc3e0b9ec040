// dump.mjs <dbdir> <table> [--version N] [--order-by COLUMN]
//
// Opens <table> with stock LanceDB (embedded mode), checks out version N if
// given, scans every row and prints the canonical JSON document (README.md),
// including the "version" key. Without --order-by rows keep the scan order
// LanceDB returns for a plain full scan.

import { parseArgs } from "node:util";
import * as lancedb from "@lancedb/lancedb";
import { canonicalRows, documentFromRows, sortedRows } from "./canonical.mjs";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    version: { type: "string" },
    "order-by": { type: "string" },
  },
});
if (positionals.length !== 2) {
  process.stderr.write("usage: node dump.mjs <dbdir> <table> [--version N] [--order-by COLUMN]\n");
  process.exit(2);
}
const [dbdir, tableName] = positionals;

const db = await lancedb.connect(dbdir);
const table = await db.openTable(tableName);
if (values.version !== undefined) {
  const v = Number(values.version);
  if (!Number.isSafeInteger(v) || v < 1) {
    process.stderr.write(`dump: --version ${values.version}: want a positive integer\n`);
    process.exit(2);
  }
  await table.checkout(v);
}
const version = await table.version();
const data = await table.query().toArrow();
const orderBy = values["order-by"];
const rows = orderBy ? sortedRows(data, orderBy) : canonicalRows(data);
process.stdout.write(documentFromRows(data.schema, rows, { version }));
