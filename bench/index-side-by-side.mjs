// Side-by-side vector indexes: stock LanceDB embedded (npm) and Sarissa over
// REST through the official client run the SAME code below on identical data
// and parameters: load the rows, build one index, sweep the query knobs, and
// report recall@k against the dump's ground truth, p50/p99 latency and QPS
// with 1 and 4 concurrent clients, build time and peak memory.
//
// Data: the dump of ../shared/bench/lancedb-peer (`--dump 1 --indexes none`).
// bench/index-side-by-side.sh drives a whole run (every kind, both engines,
// the in-process Go bench) and prints the comparison with --report.
//
//   node bench/index-side-by-side.mjs --data PREFIX --engine lancedb --kind ivfpq --out a.json
//   node bench/index-side-by-side.mjs --data PREFIX --engine rest --host http://127.0.0.1:8090 --server-pid PID --kind ivfpq --out b.json
//   node bench/index-side-by-side.mjs --report a.json b.json c.json ...
//
// Peak memory: LanceDB's is this process's maxRSS (one process per kind); the
// server's is its VmHWM from /proc (one server per kind).

import * as lancedb from "@lancedb/lancedb";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { arrowBatch, loadDump } from "./dump.mjs";

const { values: o, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    data: { type: "string" },
    engine: { type: "string", default: "lancedb" },
    host: { type: "string", default: "http://127.0.0.1:8090" },
    "server-pid": { type: "string" },
    kind: { type: "string", default: "ivfpq" },
    partitions: { type: "string", default: "0" },
    subvectors: { type: "string", default: "0" },
    m: { type: "string", default: "20" },
    efc: { type: "string", default: "300" },
    nprobes: { type: "string", default: "5,10,20,40,80" },
    refine: { type: "string", default: "0,10" },
    ef: { type: "string", default: "10,20,40,80,160" },
    queries: { type: "string", default: "200" },
    repeats: { type: "string", default: "3" },
    clients: { type: "string", default: "1,4" },
    k: { type: "string", default: "10" },
    batch: { type: "string", default: "100000" },
    dir: { type: "string" },
    out: { type: "string" },
    report: { type: "boolean", default: false },
  },
});

const nums = (s) => s.split(",").map(Number).filter((x) => Number.isFinite(x));
const pct = (s, p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x, d = 2) => (x === undefined || x === null ? "–" : Number(x).toFixed(d));

if (o.report) {
  report(positionals);
  process.exit(0);
}
if (!o.data) {
  console.error("usage: node bench/index-side-by-side.mjs --data <dump prefix> --engine lancedb|rest --kind ivfpq|ivfflat|ivfsq|hnswsq");
  process.exit(2);
}

const data = loadDump(o.data);
const { n, dim, gtk, gt } = data;
const queryVecs = data.queryVecs;
const k = Number(o.k);
const nq = Math.min(Number(o.queries), data.queries);
const repeats = Number(o.repeats);

function peakRssMiB() {
  if (o.engine === "rest") {
    const st = fs.readFileSync(`/proc/${o["server-pid"]}/status`, "utf8");
    const m = st.match(/VmHWM:\s+(\d+) kB/);
    return m ? Number(m[1]) / 1024 : null;
  }
  return process.resourceUsage().maxRSS / 1024;
}

// The index config, identical for both engines. Partitions 0 = the
// engine's default (LanceDB's rule, which Sarissa follows).
function indexConfig(kind) {
  const parts = Number(o.partitions);
  const common = { distanceType: "l2" };
  if (parts > 0) common.numPartitions = parts;
  switch (kind) {
    case "ivfpq": {
      const c = { ...common };
      if (Number(o.subvectors) > 0) c.numSubVectors = Number(o.subvectors);
      return lancedb.Index.ivfPq(c);
    }
    case "ivfflat":
      return lancedb.Index.ivfFlat(common);
    case "hnswsq":
      return lancedb.Index.hnswSq({ ...common, m: Number(o.m), efConstruction: Number(o.efc) });
  }
  throw new Error(`kind ${kind} has no builder in the Node client 0.39 (IVF_SQ: no ivfSq())`);
}

function knobs(kind) {
  const out = [];
  if (kind === "hnswsq") {
    for (const rf of nums(o.refine)) for (const ef0 of nums(o.ef)) {
      // LanceDB requires ef ≥ k × refine_factor.
      out.push({ ef: Math.max(ef0, k * Math.max(rf, 1)), refine: rf, nprobes: Math.max(Number(o.partitions), 1) });
    }
  } else {
    for (const rf of nums(o.refine)) for (const np of nums(o.nprobes)) out.push({ nprobes: np, refine: rf });
  }
  return out;
}

function search(table, qi, kb) {
  const v = Array.from(queryVecs.subarray(qi * dim, (qi + 1) * dim));
  let q = table.search(v).distanceType("l2").select(["id", "_distance"]).limit(k).nprobes(kb.nprobes);
  if (kb.refine > 0) q = q.refineFactor(kb.refine);
  if (kb.ef) q = q.ef(kb.ef);
  return q.toArray();
}

async function measure(table, kb) {
  let hits = 0;
  for (let qi = 0; qi < nq; qi++) { // warm-up pass, scored
    const rows = await search(table, qi, kb);
    const want = new Set(gt.subarray(qi * gtk, qi * gtk + k));
    for (const r of rows) if (want.has(r.id)) hits++;
  }
  const p50s = [], p99s = [];
  for (let r = 0; r < repeats; r++) {
    const lat = [];
    for (let qi = 0; qi < nq; qi++) {
      const t0 = performance.now();
      await search(table, qi, kb);
      lat.push(performance.now() - t0);
    }
    lat.sort((a, b) => a - b);
    p50s.push(pct(lat, 0.5));
    p99s.push(pct(lat, 0.99));
  }
  const qps = {};
  for (const c of nums(o.clients)) {
    const total = Math.max(nq, 100 * c);
    const runs = [];
    for (let r = 0; r < repeats; r++) {
      let next = 0;
      const t0 = performance.now();
      const worker = async () => {
        for (let i = next++; i < total; i = next++) await search(table, i % nq, kb);
      };
      await Promise.all(Array.from({ length: c }, worker));
      runs.push(total / ((performance.now() - t0) / 1000));
    }
    qps[c] = median(runs);
  }
  const label = kb.ef ? `ef=${kb.ef} refine=${kb.refine}` : `nprobes=${kb.nprobes} refine=${kb.refine}`;
  const pt = { label, ...kb, recall: hits / (nq * k), p50_ms: median(p50s), p99_ms: median(p99s), qps };
  console.error(`  ${label.padEnd(24)} recall@${k} ${fmt(pt.recall, 3)}  p50 ${fmt(pt.p50_ms, 3)} ms  p99 ${fmt(pt.p99_ms, 3)} ms  qps ${JSON.stringify(Object.fromEntries(Object.entries(qps).map(([c, v]) => [c, Math.round(v)])))}`);
  return pt;
}

async function main() {
  const engine = o.engine === "rest" ? "sarissa-rest" : "lancedb-embedded";
  const db = o.engine === "rest"
    ? await lancedb.connect("db://bench", { apiKey: "bench", hostOverride: o.host })
    : await lancedb.connect(o.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "idxbench-")));
  let t0 = performance.now();
  let table = null;
  for (let s = 0; s < n; s += Number(o.batch)) {
    const b = arrowBatch(data, s, Math.min(n, s + Number(o.batch)));
    if (table === null) table = await db.createTable(`bench_${o.kind}`, b, { mode: "overwrite" });
    else await table.add(b);
  }
  const ingestS = (performance.now() - t0) / 1000;
  t0 = performance.now();
  if (o.kind === "ivfsq") {
    if (o.engine !== "rest") throw new Error("IVF_SQ: the Node client 0.39 has no ivfSq() builder");
    // The body the Rust and Python clients send for IVF_SQ.
    const body = { column: "vector", index_type: "IVF_SQ", metric_type: "l2" };
    if (Number(o.partitions) > 0) body.num_partitions = Number(o.partitions);
    const r = await fetch(`${o.host}/v1/table/bench_${o.kind}/create_index/`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-lancedb-database": "bench", "x-api-key": "bench" },
      body: JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`create_index ${r.status}: ${await r.text()}`);
  } else {
    await table.createIndex("vector", { config: indexConfig(o.kind), replace: true });
  }
  await table.waitForIndex(["vector_idx"], 7200);
  const buildS = (performance.now() - t0) / 1000;
  const res = {
    engine, kind: o.kind, n, dim,
    params: `partitions=${o.partitions} subvectors=${o.subvectors} m=${o.m} ef_construction=${o.efc}`,
    ingest_seconds: ingestS, build_seconds: buildS, peak_rss_mib: peakRssMiB(),
    load_average: os.loadavg().map((x) => x.toFixed(2)).join(" "), points: [],
  };
  console.error(`${engine} ${o.kind}: ingest ${fmt(ingestS, 1)} s, build ${fmt(buildS, 1)} s, peak RSS ${fmt(res.peak_rss_mib, 0)} MiB`);
  for (const kb of knobs(o.kind)) res.points.push(await measure(table, kb));
  res.peak_rss_after_queries_mib = peakRssMiB();
  const text = JSON.stringify(res, null, 1);
  if (o.out) fs.writeFileSync(o.out, text);
  else console.log(text);
}

// report prints, per kind, each engine's build time and peak memory and
// the cheapest operating point reaching recall 0.90 and 0.95.
function report(files) {
  const runs = files.map((f) => ({ file: f, ...JSON.parse(fs.readFileSync(f, "utf8")) }));
  const kindName = { ivfpq: "IVF_PQ", ivfflat: "IVF_FLAT", ivfsq: "IVF_SQ", hnswsq: "IVF_HNSW_SQ" };
  const norm = (r) => kindName[r.kind] ?? r.kind;
  const kinds = [...new Set(runs.map(norm))];
  for (const kind of kinds) {
    console.log(`\n### ${kind}, ${runs.find((r) => norm(r) === kind).n} × ${runs.find((r) => norm(r) === kind).dim}\n`);
    console.log("| Engine | Build (s) | Peak RSS (MiB) | Target recall | Setting | Recall@10 | p50 (ms) | p99 (ms) | QPS 1 client | QPS 4 clients |");
    console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (const r of runs.filter((x) => norm(x) === kind)) {
      for (const target of [0.9, 0.95]) {
        const ok = r.points.filter((p) => p.recall >= target);
        const best = ok.sort((a, b) => (b.qps["1"] ?? b.qps[1]) - (a.qps["1"] ?? a.qps[1]))[0];
        const q = (p, c) => (p ? fmt(p.qps[String(c)] ?? p.qps[c], 0) : "–");
        console.log(`| ${r.engine} | ${fmt(r.build_seconds, 1)} | ${fmt(r.peak_rss_mib, 0)} | ${target} | ${best ? best.label : "not reached (best " + fmt(Math.max(...r.points.map((p) => p.recall)), 3) + ")"} | ${best ? fmt(best.recall, 3) : "–"} | ${best ? fmt(best.p50_ms, 3) : "–"} | ${best ? fmt(best.p99_ms, 3) : "–"} | ${q(best, 1)} | ${q(best, 4)} |`);
      }
    }
  }
  console.log("\nAll points:");
  for (const r of runs) {
    console.log(`\n${r.engine} ${norm(r)} (${r.params}; load ${r.load_average}):`);
    for (const p of r.points) console.log(`  ${p.label.padEnd(26)} recall ${fmt(p.recall, 3)}  p50 ${fmt(p.p50_ms, 3)}  p99 ${fmt(p.p99_ms, 3)}  qps1 ${fmt(p.qps["1"] ?? p.qps[1], 0)}  qps4 ${fmt(p.qps["4"] ?? p.qps[4], 0)}`);
  }
}

await main();
