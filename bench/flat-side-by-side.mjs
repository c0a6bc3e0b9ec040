// Side-by-side exact (flat) vector search and ingest: stock LanceDB embedded
// versus Sarissa over REST through the official client, on identical data.
//
// Data: the dump of ../shared/bench/lancedb-peer (`--dump 1 --indexes none`),
// i.e. <prefix>.json, <prefix>.base.f32, <prefix>.queries.f32, <prefix>.gt.i32.
//
// Usage (a Sarissa server must be listening, e.g. `sarissa serve`):
//   node bench/flat-side-by-side.mjs --data /tmp/benchdata/synth --host http://127.0.0.1:8080
// Options: --queries N (default 20 timed queries), --warmup N (2), --k 10,
//   --batch 100000 (rows per insert call), --engines lancedb,sarissa,
//   --lancedb-dir DIR (default a temp dir).

import * as lancedb from "@lancedb/lancedb";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { arrowBatch as dumpBatch, loadDump } from "./dump.mjs";

const { values: o } = parseArgs({
  options: {
    data: { type: "string" },
    host: { type: "string", default: "http://127.0.0.1:8080" },
    queries: { type: "string", default: "20" },
    warmup: { type: "string", default: "2" },
    k: { type: "string", default: "10" },
    batch: { type: "string", default: "100000" },
    engines: { type: "string", default: "lancedb,sarissa" },
    "lancedb-dir": { type: "string" },
  },
});
if (!o.data) {
  console.error("usage: node bench/flat-side-by-side.mjs --data <dump prefix> [--host URL]");
  process.exit(2);
}
const head = loadDump(o.data);
const { n, dim, gtk, gt } = head;
const queries = head.queryVecs;
const k = Number(o.k), batch = Number(o.batch), nq = Math.min(Number(o.queries), head.queries), warm = Number(o.warmup);
const arrowBatch = (start, end) => dumpBatch(head, start, end);

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function run(name, db) {
  let t0 = performance.now();
  let table = null;
  for (let s = 0; s < n; s += batch) {
    const b = arrowBatch(s, Math.min(n, s + batch));
    if (table === null) table = await db.createTable("flatbench", b, { mode: "overwrite" });
    else await table.add(b);
  }
  const ingestS = (performance.now() - t0) / 1000;
  const times = [];
  let hits = 0;
  for (let i = 0; i < warm + nq; i++) {
    const q = Array.from(queries.subarray((i % head.queries) * dim, (i % head.queries + 1) * dim));
    t0 = performance.now();
    const rows = await table.search(q).distanceType("l2").bypassVectorIndex().limit(k).select(["id"]).toArray();
    const ms = performance.now() - t0;
    if (i < warm) continue;
    times.push(ms);
    const want = new Set(Array.from(gt.subarray((i % head.queries) * gtk, (i % head.queries) * gtk + k)));
    for (const r of rows) if (want.has(r.id)) hits++;
  }
  const res = {
    engine: name, n, dim, k, queries: nq,
    ingestRowsPerSec: Math.round(n / ingestS), ingestSeconds: +ingestS.toFixed(2),
    p50ms: +pct(times, 50).toFixed(2), p99ms: +pct(times, 99).toFixed(2),
    minms: +Math.min(...times).toFixed(2), maxms: +Math.max(...times).toFixed(2),
    recallAt10: +(hits / (nq * k)).toFixed(4),
  };
  console.log(JSON.stringify(res));
  return res;
}

const engines = o.engines.split(",");
if (engines.includes("lancedb")) {
  const dir = o["lancedb-dir"] ?? fs.mkdtempSync(path.join(os.tmpdir(), "flatbench-"));
  await run("lancedb-embedded", await lancedb.connect(dir));
}
if (engines.includes("sarissa")) {
  await run("sarissa-rest", await lancedb.connect("db://bench", { apiKey: "bench", hostOverride: o.host }));
}
