// read-stock.mjs opens a Lance table with stock LanceDB and saves every
// batch a full scan returns, in table order, as Arrow IPC streams:
//
//   node read-stock.mjs <db-dir> <table-name> <out-prefix>
//
// writes <out-prefix>.0, <out-prefix>.1, ... The batches are the bytes the
// native Lance reader produced; they are not decoded in JavaScript
// (apache-arrow 18 cannot decode large_list). Sarissa's tests use this to
// check that stock Lance reads the data files our writer produces.
import * as lancedb from "@lancedb/lancedb";
import { writeFileSync } from "node:fs";

const [dbDir, name, out] = process.argv.slice(2);
if (!out) {
  console.error("usage: node read-stock.mjs <db-dir> <table-name> <out-prefix>");
  process.exit(2);
}
const db = await lancedb.connect(dbDir);
const table = await db.openTable(name);
const rows = await table.countRows();
const it = await table.query().limit(rows + 1).nativeExecute();
let n = 0;
for (let buf = await it.next(); buf; buf = await it.next()) {
  writeFileSync(`${out}.${n++}`, buf);
}
console.log(JSON.stringify({ rows, batches: n }));
