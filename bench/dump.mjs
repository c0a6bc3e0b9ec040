// The side-by-side benchmarks' data: the dump of ../shared/bench/lancedb-peer
// (`--dump 1 --indexes none`), i.e. <prefix>.json (n, dim, queries, gtk)
// and raw little-endian <prefix>.base.f32, .queries.f32, .gt.i32 — the same
// files bench/internal/dump reads for the Go benchmarks.

import * as arrow from "apache-arrow";
import fs from "node:fs";

/** loadDump reads the dump at prefix. */
export function loadDump(prefix) {
  const head = JSON.parse(fs.readFileSync(prefix + ".json", "utf8"));
  return {
    ...head,
    base: new Float32Array(fs.readFileSync(prefix + ".base.f32").buffer.slice(0)),
    queryVecs: new Float32Array(fs.readFileSync(prefix + ".queries.f32").buffer.slice(0)),
    gt: new Int32Array(fs.readFileSync(prefix + ".gt.i32").buffer.slice(0)),
  };
}

/** arrowBatch returns rows [start, end) as an Arrow table (id int32, vector). */
export function arrowBatch(d, start, end) {
  const len = end - start;
  const vecType = new arrow.FixedSizeList(d.dim, new arrow.Field("item", new arrow.Float32(), true));
  const schema = new arrow.Schema([
    new arrow.Field("id", new arrow.Int32(), false),
    new arrow.Field("vector", vecType, false),
  ]);
  const ids = new Int32Array(len);
  for (let i = 0; i < len; i++) ids[i] = start + i;
  const child = arrow.makeData({ type: new arrow.Float32(), length: len * d.dim, data: d.base.subarray(start * d.dim, end * d.dim) });
  const vec = arrow.makeData({ type: vecType, length: len, nullCount: 0, child });
  const idd = arrow.makeData({ type: new arrow.Int32(), length: len, nullCount: 0, data: ids });
  const st = arrow.makeData({ type: new arrow.Struct(schema.fields), length: len, nullCount: 0, children: [idd, vec] });
  return new arrow.Table([new arrow.RecordBatch(schema, st)]);
}
