// operations.mjs --remote URL [--db NAME]   (or --embedded DIR, to debug the script)
//
// Drives every operation of the query node through the official client on a
// small hand-made table whose answers are known exactly, and prints
// {"steps":[...]} (lib.mjs Recorder). operations_test.go asserts on each step.
// Remote-only features (rename, namespaces, the server's error texts) live
// here; sequence.mjs holds what is compared with stock LanceDB.

import { Recorder, arrow, connectFromArgs, errorText, lancedb, rowsResult, sortedKeys } from "./lib.mjs";

const { db, opts, mode } = await connectFromArgs();
const rec = new Recorder();

const schema = new arrow.Schema([
  new arrow.Field("id", new arrow.Int64(), false),
  new arrow.Field("vector", new arrow.FixedSizeList(2, new arrow.Field("item", new arrow.Float32(), true)), true),
  new arrow.Field("label", new arrow.Utf8(), true),
  new arrow.Field("price", new arrow.Float64(), true),
]);

// Query vector q = [1, 0]. Squared l2 / cosine / dot distances to each row
// are distinct, so every ordering is fully determined (see operations_test.go).
const q = [1, 0];
const base = [
  { id: 1, vector: [1, 0], label: "a", price: 1.5 },
  { id: 2, vector: [0, 1], label: "b", price: 2.5 },
  { id: 3, vector: [2, 2], label: "a", price: 3.5 },
  { id: 4, vector: [-1, 0], label: "c", price: 4.5 },
  { id: 5, vector: [3, -2], label: "b", price: 5.5 },
  { id: 6, vector: [0.5, -3], label: null, price: null },
];
const small = (first, n) =>
  Array.from({ length: n }, (_, i) => ({ id: first + i, vector: [first + i, 1], label: `s${first + i}`, price: 0.25 }));

/** hits summarises a query result: column names, ids, distances, row ids. */
async function hits(query) {
  const table = await query.toArrow();
  const names = table.schema.fields.map((f) => f.name);
  const types = Object.fromEntries(table.schema.fields.map((f) => [f.name, String(f.type)]));
  const col = (name) => (names.includes(name) ? table.getChild(name).toArray() : null);
  const toNums = (arr) => (arr ? Array.from(arr, (v) => (v === null ? null : Number(v))) : undefined);
  const out = { columns: names, count: table.numRows };
  if (names.includes("id")) out.ids = toNums(col("id"));
  if (names.includes("_distance")) {
    out.distances = toNums(col("_distance"));
    out.distanceType = types._distance;
  }
  if (names.includes("_rowid")) {
    out.rowIds = Array.from(col("_rowid"), (v) => String(v));
    out.rowIdType = types._rowid;
  }
  return out;
}

const ids = async (query) => (await hits(query)).ids;
const fieldList = (s) => s.fields.map((f) => ({ name: f.name, type: String(f.type), nullable: f.nullable }));

// ---- listing and creating tables ----

await rec.value("tableNames.empty", () => db.tableNames());
let ops;
await rec.value("create", async () => {
  ops = await db.createTable("ops", base, { schema });
  return { name: ops.name, version: await ops.version(), count: await ops.countRows() };
});
await rec.error("create.exists", () => db.createTable("ops", base, { schema }));
await rec.value("create.existOk", async () => {
  const t = await db.createTable("ops", small(100, 2), { schema, existOk: true });
  return { count: await t.countRows(), ids: await ids(t.query().select(["id"])) };
});
await rec.value("create.overwrite", async () => {
  await db.createTable("t_c", small(10, 3), { schema });
  const t = await db.createTable("t_c", small(20, 1), { schema, mode: "overwrite" });
  return { count: await t.countRows(), ids: await ids(t.query().select(["id"])), version: await t.version() };
});
await rec.value("create.empty", async () => {
  const t = await db.createEmptyTable("t_empty", schema);
  return { count: await t.countRows(), schema: fieldList(await t.schema()), version: await t.version() };
});
await rec.value("create.more", async () => {
  await db.createTable("t_a", small(30, 2), { schema });
  await db.createTable("t_b", small(40, 2), { schema });
  return db.tableNames();
});
await rec.value("tableNames.pages", async () => ({
  first: await db.tableNames({ limit: 2 }),
  second: await db.tableNames({ startAfter: "t_a", limit: 2 }),
  last: await db.tableNames({ startAfter: "t_empty" }),
}));
await rec.value("listTables.pages", async () => {
  const pages = [];
  let pageToken;
  for (let i = 0; i < 10; i++) {
    const page = await db.listTables({ limit: 2, ...(pageToken ? { pageToken } : {}) });
    pages.push(page.tables);
    pageToken = page.pageToken;
    if (!pageToken) break;
  }
  return { all: (await db.listTables()).tables, pages };
});
await rec.value("otherDatabase", async () => {
  const other = await lancedb.connect(`db://${opts.db}-other`, { apiKey: "e2e", hostOverride: opts.remote });
  return other.tableNames();
});

// ---- open, describe ----

await rec.value("open", async () => {
  const t = await db.openTable("ops");
  return { name: t.name, version: await t.version(), schema: fieldList(await t.schema()), count: await t.countRows() };
});
await rec.error("open.missing", async () => (await db.openTable("missing")).countRows());

// ---- vector search on the six base rows ----

await rec.value("vector.l2", () => hits(ops.search(q).select(["id"]).limit(10)));
await rec.value("vector.l2.k3", () => hits(ops.search(q).limit(3)));
await rec.value("vector.default", () => hits(ops.vectorSearch(q).select(["id"])));
await rec.value("vector.cosine", () => hits(ops.search(q).distanceType("cosine").select(["id"])));
await rec.value("vector.dot", () => hits(ops.search(q).distanceType("dot").select(["id"])));
await rec.value("vector.offset", () => hits(ops.search(q).select(["id"]).limit(2).offset(2)));
await rec.value("vector.prefilter", () => hits(ops.search(q).where("label = 'b'").select(["id"]).limit(2)));
await rec.value("vector.postfilter", () => hits(ops.search(q).where("label = 'b'").postfilter().select(["id"]).limit(2)));
await rec.value("vector.select.list", () => hits(ops.search(q).select(["label", "id"]).limit(2)));
// The remote client sends a select map as a JSON object with its keys
// sorted, so the result's columns come in that order.
await rec.value("vector.select.map", async () => {
  const t = await ops.search(q).select({ name: "label", twice: "id * 2" }).limit(2).toArrow();
  return rowsResult(t);
});
await rec.value("vector.rowId", () => hits(ops.search(q).select(["id"]).withRowId().limit(3)));
await rec.value("vector.distanceRange", () => hits(ops.search(q).select(["id"]).distanceRange(2, 5)));
await rec.value("vector.bypassIndex", () => hits(ops.search(q).select(["id"]).bypassVectorIndex().limit(3)));
await rec.value("vector.fastSearch", () => hits(ops.search(q).select(["id"]).fastSearch().limit(3)));
await rec.error("vector.wrongDim", () => ops.search([1, 0, 0]).limit(3).toArrow());

// ---- plain queries, counts ----

await rec.value("query.where.limit", () => ids(ops.query().where("price > 2").select(["id"]).limit(2)));
await rec.value("query.where.offset", () => ids(ops.query().where("price > 2").select(["id"]).limit(2).offset(1)));
await rec.value("query.all", () => ids(ops.query().select(["id"])));
await rec.value("query.select.map", async () => rowsResult(await ops.query().select({ id: "id", p2: "price * 2" }).where("id <= 2").toArrow()));
await rec.value("query.rowId", () => hits(ops.query().where("id >= 5").select(["id"]).withRowId()));
await rec.value("count", async () => ({ all: await ops.countRows(), a: await ops.countRows("label = 'a'"), nulls: await ops.countRows("label IS NULL") }));

// ---- errors ----

await rec.error("query.badFilter", () => ops.query().where("price >>> 3").toArrow());
await rec.error("query.unknownColumn", () => ops.query().where("nope = 1").toArrow());
await rec.error("count.badFilter", () => ops.countRows("price >>> 3"));
await rec.error("add.wrongSchema.client", () => ops.add([{ id: 9, nope: 1 }]));
await rec.value("add.wrongSchema.server", async () => {
  // The client casts data to the table's schema (it fetches the schema before
  // every add), so a mismatch only reaches the server from another client, or
  // in a race with a schema change. Send those bodies directly: an Arrow IPC
  // stream with a column the table lacks, and one with a wrong type.
  if (mode !== "remote") return null;
  const post = async (table) => {
    const res = await fetch(`${opts.remote}/v1/table/ops/insert/`, {
      method: "POST",
      headers: { "x-api-key": "e2e", "x-lancedb-database": opts.db, "content-type": "application/vnd.apache.arrow.stream" },
      body: arrow.tableToIPC(table, "stream"),
    });
    return { status: res.status, body: await res.text() };
  };
  const columns = (price) => ({
    id: arrow.vectorFromArray([9n], new arrow.Int64()),
    vector: arrow.vectorFromArray([[9, 9]], schema.fields[1].type),
    label: arrow.vectorFromArray(["x"], new arrow.Utf8()),
    price,
  });
  const extra = await post(new arrow.Table({ ...columns(arrow.vectorFromArray([9.5], new arrow.Float64())), nope: arrow.vectorFromArray(["x"], new arrow.Utf8()) }));
  const wrongType = await post(new arrow.Table(columns(arrow.vectorFromArray(["x"], new arrow.Utf8()))));
  return { extra, wrongType, count: await ops.countRows(), version: await ops.version() };
});

// ---- writes ----

await rec.value("add", async () => {
  const res = await ops.add([{ id: 7, vector: [10, 10], label: "d", price: 7.5 }, { id: 8, vector: [-10, 5], label: "d", price: 8.5 }]);
  return { version: res.version, count: await ops.countRows() };
});
await rec.value("add.overwrite", async () => {
  const t = await db.openTable("t_b");
  const res = await t.add(small(60, 3), { mode: "overwrite" });
  return { version: res.version, ids: await ids(t.query().select(["id"])) };
});
await rec.value("delete", async () => {
  const res = await ops.delete("id = 8");
  return { deleted: res.numDeletedRows, version: res.version, ids: await ids(ops.query().select(["id"])) };
});
await rec.value("update.values", async () => {
  const res = await ops.update({ where: "id = 1", values: { label: "z" } });
  return { updated: res.rowsUpdated, version: res.version, labels: (await ops.query().where("id = 1").toArray()).map((r) => r.label) };
});
await rec.value("update.valuesSql", async () => {
  const res = await ops.update({ where: "label = 'b'", valuesSql: { price: "price * 10" } });
  const rows = await ops.query().where("label = 'b'").select(["id", "price"]).toArray();
  return { updated: res.rowsUpdated, version: res.version, prices: rows.map((r) => [Number(r.id), r.price]).sort((a, b) => a[0] - b[0]) };
});
await rec.value("scan.afterUpdate", () => ids(ops.query().select(["id"])));
await rec.value("merge.upsert", async () => {
  const res = await ops
    .mergeInsert("id")
    .whenMatchedUpdateAll({ where: "target.price < source.price" })
    .whenNotMatchedInsertAll()
    .execute([
      { id: 2, vector: [0, 1], label: "b2", price: 1 }, // 25 > 1: not updated
      { id: 3, vector: [2, 2], label: "a2", price: 100 }, // 3.5 < 100: updated
      { id: 9, vector: [9, 9], label: "new", price: 9.5 }, // inserted
    ]);
  const rows = await ops.query().select(["id", "label", "price"]).toArray();
  return {
    version: res.version,
    inserted: res.numInsertedRows,
    updated: res.numUpdatedRows,
    deleted: res.numDeletedRows,
    rows: rows.map((r) => [Number(r.id), r.label, r.price]).sort((a, b) => a[0] - b[0]),
  };
});
await rec.value("merge.deleteBySource", async () => {
  const res = await ops
    .mergeInsert("id")
    .whenMatchedUpdateAll()
    .whenNotMatchedBySourceDelete({ where: "id >= 7" })
    .execute([{ id: 1, vector: [1, 0], label: "a", price: 1.5 }]);
  return {
    version: res.version,
    inserted: res.numInsertedRows,
    updated: res.numUpdatedRows,
    deleted: res.numDeletedRows,
    ids: (await ids(ops.query().select(["id"]))).sort((a, b) => a - b),
  };
});

// ---- drop, rename ----

await rec.value("drop", async () => {
  await db.dropTable("t_c");
  return db.tableNames();
});
await rec.error("drop.missing", () => db.dropTable("t_c"));
await rec.value("rename", async () => {
  await db.renameTable("t_b", "t_renamed");
  // A fresh connection: 0.39.0 moves its cached handle for t_b to the new name
  // but the handle keeps addressing /v1/table/t_b/ (remote/db.rs rename_table),
  // so openTable("t_renamed") on this connection would query the old name.
  const fresh = await lancedb.connect(`db://${opts.db}`, { apiKey: "e2e", hostOverride: opts.remote });
  const t = await fresh.openTable("t_renamed");
  return { names: await db.tableNames(), ids: await ids(t.query().select(["id"])) };
});
await rec.error("rename.old", async () => (await db.openTable("t_b")).countRows());

// ---- versions, checkout, restore ----

await rec.value("versions", async () => {
  const vs = await ops.listVersions();
  return vs.map((v) => ({ version: v.version, timestamp: new Date(v.timestamp).toISOString(), metadata: typeof v.metadata }));
});
await rec.value("checkout", async () => {
  const t = await db.openTable("ops");
  await t.checkout(1);
  const atOne = { version: await t.version(), count: await t.countRows(), ids: await ids(t.query().select(["id"])), nearest: (await hits(t.search(q).select(["id"]).limit(2))).ids };
  let writeError = null;
  try {
    await t.add(small(70, 1));
  } catch (err) {
    writeError = errorText(err);
  }
  await t.checkoutLatest();
  return { atOne, writeError, latest: { version: await t.version(), count: await t.countRows() } };
});
await rec.error("checkout.missing", async () => (await db.openTable("ops")).checkout(99));
await rec.value("restore", async () => {
  const before = await ops.version();
  const t = await db.openTable("ops");
  await t.checkout(2);
  await t.restore();
  return { before, after: await t.version(), latest: await ops.version(), ids: await ids(ops.query().select(["id"])) };
});

// ---- schema evolution ----

await rec.value("addColumns", async () => {
  const res = await ops.addColumns([{ name: "double_price", valueSql: "price * 2" }]);
  const rows = await ops.query().select(["id", "double_price"]).where("id <= 2").toArray();
  return { version: res.version, schema: fieldList(await ops.schema()), rows: rows.map((r) => [Number(r.id), r.double_price]) };
});
await rec.value("alterColumns", async () => {
  const res = await ops.alterColumns([
    { path: "double_price", rename: "dp" },
    { path: "price", dataType: "float" },
    { path: "id", nullable: true },
  ]);
  return { version: res.version, schema: fieldList(await ops.schema()) };
});
await rec.value("dropColumns", async () => {
  const res = await ops.dropColumns(["dp"]);
  return { version: res.version, schema: fieldList(await ops.schema()) };
});
await rec.error("alterColumns.missing", () => ops.alterColumns([{ path: "nope", rename: "x" }]));

// ---- tags ----

await rec.value("tags", async () => {
  const tags = await ops.tags();
  await tags.create("v1", 1);
  await tags.create("v2", 2);
  const list = async () => sortedKeys(Object.fromEntries(Object.entries(await tags.list()).map(([k, v]) => [k, { version: v.version, manifestSizePositive: v.manifestSize > 0 }])));
  const created = await list();
  await tags.update("v2", 3);
  const v2 = await tags.getVersion("v2");
  const t = await db.openTable("ops");
  await t.checkout("v1");
  const atV1 = { version: await t.version(), ids: await ids(t.query().select(["id"])) };
  await tags.delete("v1");
  return { created, v2, atV1, afterDelete: await list() };
});
await rec.error("tags.duplicate", async () => (await ops.tags()).create("v2", 1));
await rec.error("tags.checkoutMissing", async () => (await db.openTable("ops")).checkout("nope"));

// ---- stats, explain ----

await rec.value("stats", async () => {
  const s = await ops.stats();
  return { numRows: s.numRows, numIndices: s.numIndices, totalBytesPositive: s.totalBytes > 0, numFragments: s.fragmentStats.numFragments, lengths: sortedKeys(s.fragmentStats.lengths) };
});
await rec.value("explainPlan", async () => {
  const vector = await ops.search(q).where("id > 1").limit(3).explainPlan(true);
  const plain = await ops.query().where("id > 1").explainPlan();
  return { vector: typeof vector === "string" && vector.length > 0, plain: typeof plain === "string" && plain.length > 0, vectorText: vector, plainText: plain };
});

// ---- namespaces ----

await rec.value("namespaces", async () => {
  await db.createNamespace(["ns1"]);
  const listed = (await db.listNamespaces()).namespaces;
  const described = await db.describeNamespace(["ns1"]);
  const t = await db.createTable("nt", small(80, 2), ["ns1"], { schema });
  const inside = await db.tableNames(["ns1"]);
  const listedInside = (await db.listTables(["ns1"])).tables;
  const opened = await db.openTable("nt", ["ns1"]);
  const count = await opened.countRows();
  const root = await db.tableNames();
  await t.add(small(90, 1));
  const after = await opened.countRows();
  await db.dropTable("nt", ["ns1"]);
  const afterDrop = await db.tableNames(["ns1"]);
  await db.dropNamespace(["ns1"]);
  return { listed, described: typeof described, inside, listedInside, count, after, rootHasNt: root.includes("nt"), afterDrop, finally: (await db.listNamespaces()).namespaces };
});

rec.print();
if (mode !== "remote") process.stderr.write("operations.mjs: ran embedded (script debugging only)\n");
