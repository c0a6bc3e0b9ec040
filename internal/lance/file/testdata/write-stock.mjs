// write-stock.mjs creates a Lance table with stock LanceDB (data storage
// version 2.0) holding one column per type Sarissa's Lance file reader must
// decode, and writes expected.json with the exact values that went in.
//
//   node write-stock.mjs <out-dir> [rows] [vector-dim] [zstd]
//
// With "zstd", one more string column asks Lance (through field metadata)
// to zstd-compress its bytes.
//
// Values are built with apache-arrow makeData from raw typed arrays so that
// what the JSON says is bit-for-bit what LanceDB received (no JS date or
// float conversions in between). 64-bit integers are JSON strings.
import * as lancedb from "@lancedb/lancedb";
import * as arrow from "apache-arrow";
import { mkdirSync, writeFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

const outDir = process.argv[2];
const rows = Number(process.argv[3] ?? 300);
const bigDim = Number(process.argv[4] ?? 8);
const withZstd = process.argv[5] === "zstd";
if (!outDir) {
  console.error("usage: node write-stock.mjs <out-dir> [rows] [vector-dim]");
  process.exit(2);
}

// Deterministic pseudo-random numbers (LCG) so reruns produce the same data.
let seed = 12345;
function rnd() {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
}
const isNull = (i, k) => (i * 7 + k) % 11 === 3;

function bitmap(valid) {
  const b = new Uint8Array(Math.ceil(valid.length / 8));
  valid.forEach((v, i) => { if (v) b[i >> 3] |= 1 << (i & 7); });
  return b;
}
function nullCount(valid) { return valid.filter((v) => !v).length; }

const fields = [];
const datas = [];
const expected = {};

function add(name, type, data, exp, metadata) {
  fields.push(new arrow.Field(name, type, true, metadata));
  datas.push(data);
  expected[name] = exp;
}

function fixed(name, type, Arr, gen, k, asString) {
  const valid = Array.from({ length: rows }, (_, i) => !isNull(i, k));
  const vals = new Arr(rows);
  const exp = [];
  for (let i = 0; i < rows; i++) {
    const v = gen(i);
    vals[i] = v;
    exp.push(valid[i] ? (asString ? vals[i].toString() : vals[i]) : null);
  }
  add(name, type, arrow.makeData({ type, length: rows, nullCount: nullCount(valid), nullBitmap: bitmap(valid), data: vals }), exp);
}

const sgn = (i) => (i % 2 ? -1 : 1);
fixed("i8", new arrow.Int8(), Int8Array, (i) => sgn(i) * (i % 120), 1);
fixed("i16", new arrow.Int16(), Int16Array, (i) => sgn(i) * i * 97, 2);
fixed("i32", new arrow.Int32(), Int32Array, (i) => sgn(i) * i * 1000003, 3);
fixed("i64", new arrow.Int64(), BigInt64Array, (i) => BigInt(sgn(i)) * BigInt(i) * 123456789012n, 4, true);
fixed("u8", new arrow.Uint8(), Uint8Array, (i) => (i * 3) % 256, 5);
fixed("u16", new arrow.Uint16(), Uint16Array, (i) => (i * 331) % 65536, 6);
fixed("u32", new arrow.Uint32(), Uint32Array, (i) => (i * 2654435761) % 4294967296, 7);
fixed("u64", new arrow.Uint64(), BigUint64Array, (i) => BigInt(i) * 18446744073709551n + 7n, 8, true);
// float16 values are stored as raw half-precision bits; expected holds the bits.
fixed("f16", new arrow.Float16(), Uint16Array, (i) => (0x3c00 + i * 13) & 0x7bff, 9);
fixed("f32", new arrow.Float32(), Float32Array, (i) => sgn(i) * i * 0.25, 10);
fixed("f64", new arrow.Float64(), Float64Array, (i) => sgn(i) * i * 1.0e10 + 0.5, 0);
fixed("d32", new arrow.DateDay(), Int32Array, (i) => 19000 + i * 3 - 200, 1);
fixed("ts_s", new arrow.TimestampSecond(), BigInt64Array, (i) => 1700000000n + BigInt(i), 2, true);
fixed("ts_ms", new arrow.TimestampMillisecond(), BigInt64Array, (i) => 1700000000000n + BigInt(i * 17), 3, true);
fixed("ts_us", new arrow.TimestampMicrosecond(), BigInt64Array, (i) => 1700000000000000n + BigInt(i * 1001), 4, true);
fixed("ts_ns", new arrow.TimestampNanosecond(), BigInt64Array, (i) => 1700000000000000000n + BigInt(i * 999), 5, true);
fixed("ts_us_tz", new arrow.TimestampMicrosecond("UTC"), BigInt64Array, (i) => 1600000000000000n - BigInt(i), 6, true);
fixed("ts_ms_ny", new arrow.TimestampMillisecond("America/New_York"), BigInt64Array, (i) => 1600000000000n + BigInt(i), 7, true);

// bool
{
  const valid = Array.from({ length: rows }, (_, i) => !isNull(i, 8));
  const v = Array.from({ length: rows }, (_, i) => (i % 3) === 0);
  add("b", new arrow.Bool(), arrow.makeData({ type: new arrow.Bool(), length: rows, nullCount: nullCount(valid), nullBitmap: bitmap(valid), data: bitmap(v) }),
    v.map((x, i) => (valid[i] ? x : null)));
}

// variable width
const enc = new TextEncoder();
function varWidth(name, type, gen, k, large, binary, metadata) {
  const valid = Array.from({ length: rows }, (_, i) => !isNull(i, k));
  const parts = [];
  const offsets = large ? new BigInt64Array(rows + 1) : new Int32Array(rows + 1);
  let pos = 0;
  const exp = [];
  for (let i = 0; i < rows; i++) {
    const s = gen(i);
    const bytes = binary ? s : enc.encode(s);
    // null slots still carry bytes: Lance must not rely on null slots being empty
    parts.push(bytes);
    pos += bytes.length;
    offsets[i + 1] = large ? BigInt(pos) : pos;
    exp.push(valid[i] ? (binary ? Buffer.from(bytes).toString("hex") : s) : null);
  }
  const data = new Uint8Array(pos);
  let o = 0;
  for (const p of parts) { data.set(p, o); o += p.length; }
  add(name, type, arrow.makeData({ type, length: rows, nullCount: nullCount(valid), nullBitmap: bitmap(valid), valueOffsets: offsets, data }), exp, metadata);
}
const word = (i) => "w" + Math.floor(rnd() * 1e9).toString(36) + "é".repeat(i % 4) + "-" + i;
varWidth("s", new arrow.Utf8(), word, 9, false, false);
varWidth("ls", new arrow.LargeUtf8(), (i) => (i % 5 === 0 ? "" : word(i)), 10, true, false);
varWidth("bin", new arrow.Binary(), (i) => Uint8Array.from({ length: i % 9 }, (_, j) => (i * 31 + j) & 255), 0, false, true);
varWidth("lbin", new arrow.LargeBinary(), (i) => Uint8Array.from({ length: (i * 5) % 13 }, (_, j) => (i + j * 7) & 255), 1, true, true);
const colors = ["red", "green", "blue", "cyan", "magenta", "yellow", "black", "white"];
varWidth("cat", new arrow.Utf8(), (i) => colors[(i * 5) % colors.length], 2, false, false);
if (withZstd) {
  varWidth("zs", new arrow.LargeUtf8(), (i) => "compress me " + colors[i % 8].repeat(1 + (i % 5)) + i, 3, true, false,
    new Map([["lance-encoding:compression", "zstd"]]));
}

// all-null columns
{
  const valid = Array.from({ length: rows }, () => false);
  add("null_s", new arrow.Utf8(), arrow.makeData({ type: new arrow.Utf8(), length: rows, nullCount: rows, nullBitmap: bitmap(valid), valueOffsets: new Int32Array(rows + 1), data: new Uint8Array(0) }), valid.map(() => null));
  add("null_i", new arrow.Int32(), arrow.makeData({ type: new arrow.Int32(), length: rows, nullCount: rows, nullBitmap: bitmap(valid), data: new Int32Array(rows) }), valid.map(() => null));
}

// fixed size lists (vectors)
function fsl(name, inner, Arr, dim, gen, k, itemNulls) {
  const valid = Array.from({ length: rows }, (_, i) => !isNull(i, k));
  const n = rows * dim;
  const vals = new Arr(n);
  const ivalid = Array.from({ length: n }, (_, j) => !(itemNulls && j % 13 === 5));
  const exp = [];
  for (let i = 0; i < rows; i++) {
    const row = [];
    for (let j = 0; j < dim; j++) {
      vals[i * dim + j] = gen(i, j);
      row.push(ivalid[i * dim + j] ? vals[i * dim + j] : null);
    }
    exp.push(valid[i] ? row : null);
  }
  const child = arrow.makeData({ type: inner, length: n, nullCount: nullCount(ivalid), nullBitmap: itemNulls ? bitmap(ivalid) : null, data: vals });
  const type = new arrow.FixedSizeList(dim, new arrow.Field("item", inner, true));
  add(name, type, arrow.makeData({ type, length: rows, nullCount: nullCount(valid), nullBitmap: bitmap(valid), child }), exp);
}
fsl("vec", new arrow.Float32(), Float32Array, bigDim, (i, j) => (i * bigDim + j) * 0.5 - 100, 3, false);
fsl("vec16", new arrow.Float16(), Uint16Array, 4, (i, j) => (0x3800 + i + j) & 0x7bff, 4, false);
fsl("vecu8", new arrow.Uint8(), Uint8Array, 16, (i, j) => (i + j * 3) & 255, 5, false);
fsl("veci8", new arrow.Int8(), Int8Array, 16, (i, j) => ((i * 3 + j) % 256) - 128, 6, true);

// lists
function list(name, inner, k, makeItems) {
  const valid = Array.from({ length: rows }, (_, i) => !isNull(i, k));
  const offsets = new Int32Array(rows + 1);
  const lens = Array.from({ length: rows }, (_, i) => (i * 7) % 5);
  for (let i = 0; i < rows; i++) offsets[i + 1] = offsets[i] + lens[i];
  const { child, items } = makeItems(offsets[rows]);
  const exp = [];
  for (let i = 0; i < rows; i++) exp.push(valid[i] ? items.slice(offsets[i], offsets[i + 1]) : null);
  const type = new arrow.List(new arrow.Field("item", inner, true));
  add(name, type, arrow.makeData({ type, length: rows, nullCount: nullCount(valid), nullBitmap: bitmap(valid), valueOffsets: offsets, child }), exp);
}
list("li", new arrow.Int32(), 7, (n) => {
  const vals = Int32Array.from({ length: n }, (_, j) => j * 3 - 50);
  const iv = Array.from({ length: n }, (_, j) => j % 6 !== 2);
  return {
    child: arrow.makeData({ type: new arrow.Int32(), length: n, nullCount: nullCount(iv), nullBitmap: bitmap(iv), data: vals }),
    items: Array.from(vals, (v, j) => (iv[j] ? v : null)),
  };
});
list("lstr", new arrow.Utf8(), 8, (n) => {
  const strs = Array.from({ length: n }, (_, j) => "item" + j + "x".repeat(j % 3));
  const iv = Array.from({ length: n }, (_, j) => j % 5 !== 1);
  const offs = new Int32Array(n + 1);
  const parts = strs.map((s) => enc.encode(s));
  for (let j = 0; j < n; j++) offs[j + 1] = offs[j] + parts[j].length;
  const data = new Uint8Array(offs[n]);
  parts.forEach((p, j) => data.set(p, offs[j]));
  return {
    child: arrow.makeData({ type: new arrow.Utf8(), length: n, nullCount: nullCount(iv), nullBitmap: bitmap(iv), valueOffsets: offs, data }),
    items: strs.map((s, j) => (iv[j] ? s : null)),
  };
});

// struct<x: int32, y: utf8> (struct itself never null: 2.0 cannot store struct nulls)
{
  const xv = Int32Array.from({ length: rows }, (_, i) => i * 11);
  const xvalid = Array.from({ length: rows }, (_, i) => !isNull(i, 9));
  const ys = Array.from({ length: rows }, (_, i) => "y" + (i % 17));
  const yvalid = Array.from({ length: rows }, (_, i) => !isNull(i, 10));
  const offs = new Int32Array(rows + 1);
  const parts = ys.map((s) => enc.encode(s));
  for (let i = 0; i < rows; i++) offs[i + 1] = offs[i] + parts[i].length;
  const data = new Uint8Array(offs[rows]);
  parts.forEach((p, i) => data.set(p, offs[i]));
  const fx = new arrow.Field("x", new arrow.Int32(), true);
  const fy = new arrow.Field("y", new arrow.Utf8(), true);
  const type = new arrow.Struct([fx, fy]);
  const cx = arrow.makeData({ type: fx.type, length: rows, nullCount: nullCount(xvalid), nullBitmap: bitmap(xvalid), data: xv });
  const cy = arrow.makeData({ type: fy.type, length: rows, nullCount: nullCount(yvalid), nullBitmap: bitmap(yvalid), valueOffsets: offs, data });
  add("st", type, arrow.makeData({ type, length: rows, nullCount: 0, children: [cx, cy] }),
    Array.from({ length: rows }, (_, i) => ({ x: xvalid[i] ? xv[i] : null, y: yvalid[i] ? ys[i] : null })));
}

const schema = new arrow.Schema(fields);
const batch = new arrow.RecordBatch(schema, arrow.makeData({ type: new arrow.Struct(fields), length: rows, nullCount: 0, children: datas }));
const table = new arrow.Table([batch]);

mkdirSync(outDir, { recursive: true });
const db = await lancedb.connect(join(outDir, "db"));
// LanceDB's JS schema sanitizer rejects large_utf8/large_binary, so hand the
// IPC file straight to the native connection (what createTable does after
// sanitizing).
const ipc = Buffer.from(await arrow.RecordBatchFileWriter.writeAll(table).toUint8Array());
const storageOptions = db.getStorageOptions({ dataStorageVersion: "2.0" });
await db.inner.createTable("stock", ipc, "overwrite", [], storageOptions);
const dataDir = join(outDir, "db", "stock.lance", "data");
const files = readdirSync(dataDir).filter((f) => f.endsWith(".lance")).map((f) => join(dataDir, f));
writeFileSync(join(outDir, "expected.json"), JSON.stringify({ rows, files, columns: expected }));
console.log(JSON.stringify({ rows, files }));
