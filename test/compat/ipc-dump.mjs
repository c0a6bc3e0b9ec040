// ipc-dump.mjs <file.arrow> [--order-by COLUMN]
//
// Reads an Arrow IPC file (or stream) with apache-arrow and prints the
// canonical JSON document (README.md) without a "version" key. Used to prove
// that this canonicaliser and Go's internal/testkit/arrowjson agree.

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { arrow, canonicalRows, documentFromRows, sortedRows } from "./canonical.mjs";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { "order-by": { type: "string" } },
});
if (positionals.length !== 1) {
  process.stderr.write("usage: node ipc-dump.mjs <file.arrow> [--order-by COLUMN]\n");
  process.exit(2);
}

const file = positionals[0];
let table;
try {
  table = arrow.tableFromIPC(readFileSync(file));
} catch (err) {
  process.stderr.write(`ipc-dump: read ${file}: ${err.message}\n`);
  process.exit(1);
}
const orderBy = values["order-by"];
const rows = orderBy ? sortedRows(table, orderBy) : canonicalRows(table);
process.stdout.write(documentFromRows(table.schema, rows));
