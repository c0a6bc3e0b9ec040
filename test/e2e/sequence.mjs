// sequence.mjs (--embedded DIR | --remote URL [--db NAME])
//
// The differential sequence: one fixed series of operations, run once against
// stock LanceDB embedded and once against Sarissa through the official client
// in remote mode. It prints {"steps":[...]} (see lib.mjs Recorder); the Go test
// (differential_test.go) compares the two documents step by step.
//
// Data is seeded: 2,000 rows (then 500 appended) of id int64, vector
// fixed_size_list<float32>[16], category utf8 (8 values), value float64 and
// note utf8 (10 % null). Only what both implementations must agree on is
// recorded: no timestamps, byte sizes or plan texts.

import { Recorder, arrow, connectFromArgs, rng, sortedKeys } from "./lib.mjs";
import { sortedRows, schemaJSON } from "../compat/canonical.mjs";

const DIM = 16;
const { db } = await connectFromArgs();
const rec = new Recorder();

const schema = new arrow.Schema([
  new arrow.Field("id", new arrow.Int64(), false),
  new arrow.Field("vector", new arrow.FixedSizeList(DIM, new arrow.Field("item", new arrow.Float32(), true)), true),
  new arrow.Field("category", new arrow.Utf8(), true),
  new arrow.Field("value", new arrow.Float64(), true),
  new arrow.Field("note", new arrow.Utf8(), true),
]);

function makeRows(first, count, seed) {
  const r = rng(seed);
  const rows = [];
  for (let id = first; id < first + count; id++) {
    const vector = [];
    for (let d = 0; d < DIM; d++) vector.push(Math.fround(r.float() * 2 - 1));
    rows.push({
      id,
      vector,
      category: `cat${r.int(0, 7)}`,
      value: Math.round(r.float() * 100000) / 100,
      note: r.chance(0.1) ? null : `n${r.int(0, 99)}`,
    });
  }
  return rows;
}

function queryVectors() {
  const r = rng(7);
  const qs = [];
  for (let j = 0; j < 2; j++) {
    const q = [];
    for (let d = 0; d < DIM; d++) q.push(Math.fround(r.float() * 2 - 1));
    qs.push(q);
  }
  return qs;
}

const base = makeRows(0, 2000, 1001);
const appended = makeRows(2000, 500, 1002);
// A null vector never matches a vector search; a zero vector has no cosine
// distance (LanceDB drops it from cosine results).
appended[0].vector = null;
appended[1].vector = new Array(DIM).fill(0);
const [q0, q1] = queryVectors();
// A stored row's own vector: its l2 distance is exactly 0.
const q2 = base[123].vector;

const schemaOf = async (t) => JSON.parse(schemaJSON(await t.schema()));

/** sortedByID renders a query result ordered by id, for states whose scan order LanceDB leaves open. */
async function sortedByID(query) {
  const table = await query.toArrow();
  return { schema: JSON.parse(schemaJSON(table.schema)), count: table.numRows, rows: sortedRows(table, "id").map((r) => JSON.parse(r)) };
}

// ---- tables: create modes, listing, open ----

await rec.value("tableNames.initial", () => db.tableNames());
let items;
await rec.value("create.items", async () => {
  items = await db.createTable("items", base, { schema });
  return { version: await items.version(), count: await items.countRows() };
});
await rec.error("create.exists", () => db.createTable("items", base.slice(0, 3), { schema }));
await rec.value("create.existOk", async () => {
  const t = await db.createTable("items", base.slice(0, 3), { schema, existOk: true });
  return { count: await t.countRows(), version: await t.version() };
});
await rec.value("create.empty", async () => {
  const t = await db.createEmptyTable("empty", schema);
  return { count: await t.countRows(), version: await t.version(), schema: await schemaOf(t) };
});
await rec.value("create.overwrite", async () => {
  const first = await db.createTable("scratch", base.slice(0, 5), { schema, mode: "overwrite" });
  const c1 = await first.countRows();
  const second = await db.createTable("scratch", base.slice(5, 8), { schema, mode: "overwrite" });
  return { first: c1, second: await second.countRows(), ids: (await second.query().select(["id"]).toArray()).map((r) => Number(r.id)) };
});
await rec.value("tableNames.all", () => db.tableNames());
await rec.value("tableNames.limit", () => db.tableNames({ limit: 2 }));
await rec.value("tableNames.startAfter", () => db.tableNames({ startAfter: "empty" }));
await rec.value("tableNames.page", () => db.tableNames({ startAfter: "empty", limit: 1 }));
await rec.value("listTables.pages", async () => {
  // Page tokens are opaque, so only the pages' contents are compared.
  const pages = [];
  let pageToken;
  for (let i = 0; i < 10; i++) {
    const page = await db.listTables({ limit: 2, ...(pageToken ? { pageToken } : {}) });
    pages.push(...page.tables);
    pageToken = page.pageToken;
    if (!pageToken) break;
  }
  return { all: (await db.listTables()).tables, pages };
});
await rec.value("namespaces", async () => {
  await db.createNamespace(["ns"]);
  const t = await db.createTable("inner", base.slice(0, 4), ["ns"], { schema });
  await t.add(base.slice(4, 6));
  const res = {
    namespaces: (await db.listNamespaces()).namespaces,
    inside: await db.tableNames(["ns"]),
    root: await db.tableNames(),
    count: await (await db.openTable("inner", ["ns"])).countRows(),
    nearest: (await t.search(q1).select(["id"]).limit(3).toArray()).map((r) => Number(r.id)),
  };
  await db.dropTable("inner", ["ns"]);
  await db.dropNamespace(["ns"]);
  return { ...res, after: (await db.listNamespaces()).namespaces };
});
await rec.error("namespaces.missingTable", () => db.openTable("inner", ["nope"]));
await rec.value("open.items", async () => {
  const t = await db.openTable("items");
  return { name: t.name, version: await t.version(), count: await t.countRows(), schema: await schemaOf(t) };
});
await rec.error("open.missing", () => db.openTable("missing"));

// ---- append ----

await rec.value("add.append", async () => {
  const res = await items.add(appended);
  return { version: res.version, count: await items.countRows() };
});

// ---- vector search ----

for (const [mname, metric] of [["l2", "l2"], ["cosine", "cosine"], ["dot", "dot"]]) {
  for (const [qname, q] of [["q0", q0], ["q1", q1], ["self", q2]]) {
    await rec.vector(`vector.${mname}.${qname}`, () => items.search(q).distanceType(metric).limit(10).toArrow());
  }
}
const qz = new Array(DIM).fill(0.01);
for (const metric of ["l2", "cosine", "dot"]) {
  await rec.vector(`vector.nearZero.${metric}`, () => items.search(qz).distanceType(metric).select(["id"]).limit(5).toArrow());
}
await rec.vector("vector.defaultLimit", () => items.search(q0).toArrow());
await rec.vector("vector.k1", () => items.search(q1).limit(1).toArrow());
await rec.vector("vector.k50", () => items.search(q1).limit(50).select(["id", "category"]).toArrow());
await rec.vector("vector.kAll", () => items.search(q0).limit(3000).select(["id"]).toArrow());
await rec.vector("vector.offset", () => items.search(q0).limit(10).offset(5).toArrow());
await rec.vector("vector.prefilter", () =>
  items.search(q0).where("category = 'cat3' AND value > 200").limit(10).toArrow());
await rec.vector("vector.postfilter", () =>
  items.search(q0).where("category = 'cat3' AND value > 200").postfilter().limit(10).toArrow());
await rec.vector("vector.prefilter.cosine", () =>
  items.search(q1).distanceType("cosine").where("note IS NULL").limit(10).select(["id", "note"]).toArrow());
await rec.vector("vector.postfilter.wide", () =>
  items.search(q1).where("id % 2 = 0").postfilter().limit(25).select(["id"]).toArrow());
await rec.vector("vector.select.list", () => items.search(q1).select(["category", "id"]).limit(10).toArrow());
// Keys in sorted order: the remote client sends a select map as a JSON
// object with sorted keys, so that is the column order a server can return;
// embedded LanceDB keeps the map's own order.
await rec.vector("vector.select.map", () =>
  items.search(q1).select({ cat: "category", id2: "id * 2", v: "value + 1" }).limit(10).toArrow());
await rec.vector("vector.rowId", () => items.search(q0).withRowId().select(["id"]).limit(10).toArrow());
await rec.vector("vector.distanceRange", () =>
  items.search(q0).distanceRange(4.0, 6.0).select(["id"]).limit(30).toArrow());
await rec.vector("vector.distanceRange.upper", () =>
  items.search(q1).distanceType("cosine").distanceRange(undefined, 0.5).select(["id"]).limit(30).toArrow());
await rec.vector("vector.bypassIndex", () => items.search(q1).bypassVectorIndex().limit(10).toArrow());
await rec.vector("vector.fastSearch", () => items.search(q1).fastSearch().limit(10).toArrow());

// ---- plain queries (scan order) ----

await rec.rows("query.where.limit", () => items.query().where("value > 500").limit(20).toArrow());
await rec.rows("query.where.offset", () => items.query().where("value > 500").limit(20).offset(10).toArrow());
await rec.rows("query.select", () =>
  items.query().select(["note", "id"]).where("note IS NOT NULL AND category IN ('cat1', 'cat2')").limit(50).toArrow());
await rec.rows("query.select.map", () => items.query().select({ double: "value * 2", id: "id" }).limit(5).toArrow());
await rec.rows("query.rowId", () => items.query().withRowId().select(["id"]).where("id >= 1995").limit(10).toArrow());
await rec.rows("query.offset.only", () => items.query().offset(2490).toArrow());
await rec.rows("query.full", () => items.query().toArrow());
await rec.value("count.all", () => items.countRows());
await rec.value("count.filter", () => items.countRows("category = 'cat3'"));
await rec.value("count.filter.null", () => items.countRows("note IS NULL"));

// ---- errors the user sees ----

await rec.error("query.badFilter", () => items.query().where("value >>> 3").toArrow());
await rec.error("vector.badFilter", () => items.search(q0).where("nope = 1").toArrow());
await rec.error("count.badFilter", () => items.countRows("value >>> 3"));
await rec.error("add.wrongSchema", () => items.add([{ id: "x", foo: 1 }]));

// ---- delete, update ----

await rec.value("delete", async () => {
  const res = await items.delete("id % 10 = 0");
  return { deleted: res.numDeletedRows, version: res.version, count: await items.countRows() };
});
await rec.value("update.values", async () => {
  const res = await items.update({ where: "id < 100", values: { category: "updated" } });
  return { updated: res.rowsUpdated, version: res.version };
});
await rec.value("update.valuesSql", async () => {
  const res = await items.update({ where: "category = 'cat1'", valuesSql: { value: "value * 2", note: "'doubled'" } });
  return { updated: res.rowsUpdated, version: res.version };
});
await rec.value("update.none", async () => {
  const res = await items.update({ where: "id < 0", values: { category: "never" } });
  return { updated: res.rowsUpdated, count: await items.countRows("category = 'never'") };
});
await rec.rows("scan.afterWrites", () => items.query().select(["id", "category", "value", "note"]).toArrow());
await rec.vector("vector.afterWrites", () =>
  items.search(q0).select(["id", "category", "value"]).limit(20).toArrow());

// ---- merge insert ----

const upsert = makeRows(2490, 20, 1003).map((r) => ({ ...r, value: r.id % 2 ? 2000 : 0 }));
await rec.value("merge.upsert", async () => {
  const res = await items
    .mergeInsert("id")
    .whenMatchedUpdateAll({ where: "target.value < source.value" })
    .whenNotMatchedInsertAll()
    .execute(upsert);
  return { version: res.version, inserted: res.numInsertedRows, updated: res.numUpdatedRows, deleted: res.numDeletedRows };
});
await rec.value("scan.afterUpsert", () => sortedByID(items.query().select(["id", "category", "value"]).where("id >= 2480")));
const bySource = makeRows(2400, 5, 1004);
await rec.value("merge.deleteBySource", async () => {
  const res = await items
    .mergeInsert("id")
    .whenMatchedUpdateAll()
    .whenNotMatchedBySourceDelete({ where: "id >= 2400" })
    .execute(bySource);
  return { version: res.version, inserted: res.numInsertedRows, updated: res.numUpdatedRows, deleted: res.numDeletedRows };
});
await rec.value("merge.insertOnly", async () => {
  const res = await items.mergeInsert("id").whenNotMatchedInsertAll().execute(makeRows(2398, 10, 1005));
  return { version: res.version, inserted: res.numInsertedRows, updated: res.numUpdatedRows, deleted: res.numDeletedRows };
});
await rec.value("scan.afterMerge", () => sortedByID(items.query().select(["id", "category", "value", "note"])));
await rec.value("count.afterMerge", () => items.countRows());

// ---- versions, checkout, restore ----

await rec.value("versions", async () => (await items.listVersions()).map((v) => v.version).sort((a, b) => a - b));
await rec.value("version.current", () => items.version());
let pinned;
await rec.value("checkout.v2", async () => {
  pinned = await db.openTable("items");
  await pinned.checkout(2);
  return { version: await pinned.version(), count: await pinned.countRows(), count3: await pinned.countRows("category = 'cat3'") };
});
await rec.vector("checkout.v2.vector", () => pinned.search(q0).select(["id", "value"]).limit(5).toArrow());
await rec.rows("checkout.v2.scan", () => pinned.query().where("id < 10").toArrow());
await rec.error("checkout.v2.write", () => pinned.add(base.slice(0, 1)));
await rec.error("checkout.missingVersion", () => pinned.checkout(999));
await rec.value("checkoutLatest", async () => {
  await pinned.checkoutLatest();
  return { version: await pinned.version(), count: await pinned.countRows() };
});
await rec.value("restore.v3", async () => {
  const t = await db.openTable("items");
  await t.checkout(3);
  await t.restore();
  return { version: await t.version(), count: await t.countRows(), latest: await items.version() };
});
await rec.value("scan.afterRestore", () => sortedByID(items.query().select(["id", "category", "value"]).where("id < 120")));

// ---- schema evolution ----

await rec.value("addColumns", async () => {
  const res = await items.addColumns([{ name: "double_value", valueSql: "value * 2" }, { name: "tag", valueSql: "'t'" }]);
  return { version: res.version, schema: await schemaOf(items) };
});
await rec.rows("addColumns.rows", () => items.query().select(["id", "value", "double_value", "tag"]).where("id < 25").toArrow());
await rec.value("alterColumns", async () => {
  const res = await items.alterColumns([
    { path: "double_value", rename: "dv" },
    { path: "value", dataType: "float" },
    { path: "id", nullable: true },
  ]);
  return { version: res.version, schema: await schemaOf(items) };
});
await rec.rows("alterColumns.rows", () => items.query().select(["id", "value", "dv"]).where("id < 25").toArrow());
await rec.error("alterColumns.badCast", () => items.alterColumns([{ path: "category", dataType: "int32" }]));
await rec.value("dropColumns", async () => {
  const res = await items.dropColumns(["dv", "tag"]);
  return { version: res.version, schema: await schemaOf(items) };
});
await rec.rows("dropColumns.rows", () => items.query().where("id < 25").toArrow());

// ---- tags ----

await rec.value("tags", async () => {
  const tags = await items.tags();
  await tags.create("first", 1);
  await tags.create("second", 2);
  const listed = async () => sortedKeys(Object.fromEntries(Object.entries(await tags.list()).map(([k, v]) => [k, v.version])));
  const afterCreate = await listed();
  await tags.update("second", 3);
  const second = await tags.getVersion("second");
  const t = await db.openTable("items");
  await t.checkout("first");
  const atFirst = { version: await t.version(), count: await t.countRows() };
  await tags.delete("first");
  return { afterCreate, second, atFirst, afterDelete: await listed() };
});
await rec.error("tags.duplicate", async () => (await items.tags()).create("second", 1));
await rec.error("tags.missingVersion", async () => (await items.tags()).create("third", 999));
await rec.error("tags.checkoutMissing", async () => (await db.openTable("items")).checkout("nope"));

// ---- stats, drop ----

await rec.value("stats", async () => {
  const s = await items.stats();
  const f = s.fragmentStats;
  return { numRows: s.numRows, numIndices: s.numIndices, numFragments: f.numFragments, numSmallFragments: f.numSmallFragments, lengths: sortedKeys(f.lengths) };
});
await rec.value("drop", async () => {
  await db.dropTable("scratch");
  return db.tableNames();
});
await rec.error("drop.missing", () => db.dropTable("scratch"));
await rec.error("open.dropped", async () => (await db.openTable("scratch")).countRows());

rec.print();

