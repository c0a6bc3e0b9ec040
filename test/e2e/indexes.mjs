// indexes.mjs --remote URL [--db NAME]
//
// Vector indexes through the official client: createIndex for every kind
// Sarissa builds (default IVF_PQ, ivfPq with a config, ivfFlat, hnswSq, and
// IVF_SQ through the body the Rust client sends, as Node 0.39 has no
// builder for it), waitForIndex, listIndices, indexStats, searches with and without
// filters scored against exact (bypassVectorIndex) searches, the query
// knobs, an unindexed tail after add, dropIndex and the refusals. Prints
// {"steps":[...]} (lib.mjs Recorder); indexes_test.go asserts on each step.

import { Recorder, arrow, connectFromArgs, lancedb, rng } from "./lib.mjs";

const { db, opts } = await connectFromArgs();
const rec = new Recorder();

const DIM = 32;
const N = 3000;
const CLUSTERS = 24;
const K = 10;
const r = rng(20261123);

function gauss() {
  const u = Math.max(r.float(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r.float());
}

const centres = Array.from({ length: CLUSTERS }, () => Array.from({ length: DIM }, () => 2 * r.float() - 1));

/** rows draws n rows around the cluster centres (shifted by shift). */
function rows(first, n, shift = 0) {
  return Array.from({ length: n }, (_, i) => {
    const c = centres[i % CLUSTERS];
    const id = first + i;
    return { id, vector: c.map((x) => x + shift + 0.08 * gauss()), label: id % 2 === 0 ? "even" : "odd" };
  });
}

const schema = new arrow.Schema([
  new arrow.Field("id", new arrow.Int64(), false),
  new arrow.Field("vector", new arrow.FixedSizeList(DIM, new arrow.Field("item", new arrow.Float32(), true)), true),
  new arrow.Field("label", new arrow.Utf8(), true),
]);

const base = rows(0, N);
// Queries near (not on) stored rows.
const queries = Array.from({ length: 20 }, (_, i) => base[i * 137 + 5].vector.map((x) => x + 0.02 * gauss()));

async function ids(q) {
  const t = await q.select(["id"]).toArray();
  return t.map((row) => Number(row.id));
}

/**
 * recall scores searches built by tune (on a vector query with limit K and
 * the optional where/metric) against exact searches of the same query.
 */
async function recall(tbl, tune, { where, metric } = {}) {
  let sum = 0;
  let matched = true;
  for (const q of queries) {
    const shape = (query) => {
      let s = query.limit(K);
      if (where) s = s.where(where);
      if (metric) s = s.distanceType(metric);
      return s;
    };
    const exact = await ids(shape(tbl.vectorSearch(q)).bypassVectorIndex());
    const got = await ids(tune(shape(tbl.vectorSearch(q))));
    sum += exact.filter((id) => got.includes(id)).length / Math.max(exact.length, 1);
    if (where === "label = 'even'") matched &&= got.every((id) => id % 2 === 0) && got.length === K;
  }
  return { recall: Math.round((sum / queries.length) * 1000) / 1000, filterHeld: matched };
}

async function indexState(tbl, name) {
  const list = (await tbl.listIndices()).map((i) => ({ name: i.name, indexType: i.indexType, columns: i.columns }));
  const s = await tbl.indexStats(name);
  return {
    list,
    stats: s && {
      numIndexedRows: s.numIndexedRows,
      numUnindexedRows: s.numUnindexedRows,
      indexType: s.indexType,
      distanceType: s.distanceType,
      numIndices: s.numIndices,
    },
  };
}

/**
 * createRaw posts a create_index body as the Rust client builds it, for
 * index types the Node client (0.39) has no builder for (IVF_SQ).
 */
async function createRaw(table, body) {
  const res = await fetch(`${opts.remote}/v1/table/${table}/create_index/`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-lancedb-database": opts.db, "x-api-key": "e2e" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`create_index ${res.status}: ${await res.text()}`);
}

/** build creates a table of the base rows and an index on it, and waits. */
async function build(name, options, indexName = "vector_idx") {
  const tbl = await db.createTable(name, base, { schema });
  const started = Date.now();
  if (options.raw) await createRaw(name, options.raw);
  else await tbl.createIndex("vector", options);
  const returnedMs = Date.now() - started;
  await tbl.waitForIndex([indexName], 120);
  return { tbl, returnedMs, state: await indexState(tbl, indexName) };
}

const tables = {};
const kinds = [
  ["pq", {}, "vector_idx"],
  [
    "pqcfg",
    { config: lancedb.Index.ivfPq({ numPartitions: 8, numSubVectors: 8, numBits: 8, distanceType: "cosine", maxIterations: 20, sampleRate: 256 }), name: "pq_cos" },
    "pq_cos",
  ],
  ["flat", { config: lancedb.Index.ivfFlat({ numPartitions: 16 }) }, "vector_idx"],
  ["hnsw", { config: lancedb.Index.hnswSq({ numPartitions: 2, m: 16, efConstruction: 100 }) }, "vector_idx"],
  // The Rust client's IvfSqIndexBuilder body; Node 0.39 has no Index.ivfSq.
  ["sq", { raw: { column: "vector", index_type: "IVF_SQ", metric_type: "dot", num_partitions: 8, sample_rate: 256, max_iterations: 50 } }, "vector_idx"],
];
for (const [name, options, indexName] of kinds) {
  await rec.value(`createIndex.${name}`, async () => {
    const b = await build(name, options, indexName);
    tables[name] = b.tbl;
    return { returnedMs: b.returnedMs, ...b.state };
  });
}

// ---- searches through each index, scored against exact ----

const t = (name) => {
  if (!tables[name]) throw new Error(`table ${name} was not created`);
  return tables[name];
};
await rec.value("search.pq", async () => ({
  plain: await recall(t("pq"), (s) => s),
  refine: await recall(t("pq"), (s) => s.refineFactor(10)),
  filtered: await recall(t("pq"), (s) => s.refineFactor(10), { where: "label = 'even'" }),
}));
await rec.value("search.pqcfg", async () => ({
  refine: await recall(t("pqcfg"), (s) => s.refineFactor(5), { metric: "cosine" }),
}));
await rec.value("search.flat", async () => ({
  plain: await recall(t("flat"), (s) => s),
  filtered: await recall(t("flat"), (s) => s, { where: "label = 'even'" }),
  postfiltered: await recall(t("flat"), (s) => s.postfilter(), { where: "id >= 0" }),
  oneProbe: await recall(t("flat"), (s) => s.nprobes(1)),
}));
await rec.value("search.hnsw", async () => ({
  ef: await recall(t("hnsw"), (s) => s.ef(64)),
  filtered: await recall(t("hnsw"), (s) => s.ef(64), { where: "label = 'even'" }),
}));
await rec.value("search.sq", async () => ({
  plain: await recall(t("sq"), (s) => s, { metric: "dot" }),
}));

// Every knob the client has is accepted and the search still answers.
await rec.value("search.knobs", async () => {
  const q = queries[0];
  const got = await ids(
    t("hnsw").vectorSearch(q).limit(K).nprobes(3).minimumNprobes(2).maximumNprobes(0).ef(50).refineFactor(2).where("id >= 0"),
  );
  const pq = await ids(t("pq").vectorSearch(q).limit(K).maximumNprobes(40).minimumNprobes(30).refineFactor(3));
  return { hnsw: got.length, pq: pq.length };
});

await rec.value("explain", async () => {
  const plan = await t("flat").vectorSearch(queries[1]).limit(K).refineFactor(2).where("id > 3").explainPlan(true);
  return { usesIndex: plan.includes("ANNIndexExec: index=vector_idx, type=IVF_FLAT"), refine: plan.includes("RefineExec: refine_factor=2"), text: plan };
});

// ---- rows added after the build: unindexed, still found ----

await rec.value("append", async () => {
  const flat = t("flat");
  const tail = rows(N, 200, 4); // far from every indexed row
  await flat.add(tail);
  const s = await flat.indexStats("vector_idx");
  const q = tail[17].vector;
  const near = await ids(flat.vectorSearch(q).limit(5));
  const exact = await ids(flat.vectorSearch(q).limit(5).bypassVectorIndex());
  const fast = await ids(flat.vectorSearch(q).limit(5).fastSearch());
  return {
    numIndexedRows: s?.numIndexedRows,
    numUnindexedRows: s?.numUnindexedRows,
    nearest: near[0],
    sameAsExact: JSON.stringify(near) === JSON.stringify(exact),
    fastFindsTail: fast.some((id) => id >= N),
    fastCount: fast.length,
  };
});

// ---- drop ----

await rec.value("dropIndex", async () => {
  const flat = t("flat");
  await flat.dropIndex("vector_idx");
  return { list: (await flat.listIndices()).map((i) => i.name), stats: (await flat.indexStats("vector_idx")) ?? null };
});
await rec.error("dropIndex.again", () => t("flat").dropIndex("vector_idx"));

// ---- refusals ----

await rec.error("createIndex.btree", () => t("pq").createIndex("label", { config: lancedb.Index.btree() }));
await rec.error("createIndex.ivfRq", () => t("pq").createIndex("vector", { config: lancedb.Index.ivfRq() }));
await rec.error("createIndex.hnswPq", () => t("pq").createIndex("vector", { config: lancedb.Index.hnswPq() }));

rec.print();
