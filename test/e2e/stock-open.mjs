// stock-open.mjs --embedded DIR --table NAME --dim N
//
// Opens a table Sarissa wrote (and indexed) with stock LanceDB embedded, the
// way a user would read the same files without Sarissa: counts rows, lists
// the Lance indices (Sarissa's own index files are outside Lance's index
// section, so none) and runs an exact vector search. Prints one JSON object.

import { connectFromArgs } from "./lib.mjs";

const { db, opts: values } = await connectFromArgs({ table: { type: "string" }, dim: { type: "string" } });
const tbl = await db.openTable(values.table);
const rows = await tbl.countRows();
const indices = await tbl.listIndices();
const q = Array.from({ length: Number(values.dim) }, () => 0);
const hits = await tbl.search(q).distanceType("l2").limit(3).select(["id", "_distance"]).toArray();
console.log(JSON.stringify({ rows, indices: indices.map((i) => i.name), hits: hits.length }));
