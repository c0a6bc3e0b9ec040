// write-stock.mjs <dbdir> <table> [--rows N] [--seed S]
//
// Creates <table> in <dbdir> with stock LanceDB (embedded mode), Lance data
// storage version 2.0, and gives it several versions:
//   v1 create  : rows ids [0, N)            (N = --rows, default 5000)
//   v2 append  : rows ids [N, N + N/5)
//   v3 delete  : id % 7 = 3
//   v4 update  : id % 11 = 5 -> i32 = 42, category = 'updated'
// Every column type listed in README.md is present, nulls are sprinkled into
// every nullable column, and the content is a pure function of the seed.
// Prints a one-line JSON summary. Exits non-zero if a manifest's data_format
// is not {lance, 2.0}, a data file does not carry the 2.0 footer (major 0,
// minor 3), or a row count is not what was written.

import { readdirSync, readFileSync, openSync, readSync, fstatSync, closeSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as lancedb from "@lancedb/lancedb";
import { arrow } from "./canonical.mjs";

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rows: { type: "string", default: "5000" },
    seed: { type: "string", default: "20261123" },
  },
});
if (positionals.length !== 2) {
  process.stderr.write("usage: node write-stock.mjs <dbdir> <table> [--rows N] [--seed S]\n");
  process.exit(2);
}
const [dbdir, tableName] = positionals;
const rows = Number.parseInt(opts.rows, 10);
const seed = Number.parseInt(opts.seed, 10);
if (!(rows > 0) || !Number.isSafeInteger(seed)) {
  process.stderr.write(`write-stock: bad --rows ${opts.rows} or --seed ${opts.seed}\n`);
  process.exit(2);
}

// ---- deterministic randomness (mulberry32) ----

function rng(s) {
  let a = s >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  return {
    u32: next,
    float: () => next() / 4294967296,
    int: (lo, hi) => lo + Math.floor((next() / 4294967296) * (hi - lo + 1)),
    u64: () => (BigInt(next()) << 32n) | BigInt(next()),
    chance: (p) => next() / 4294967296 < p,
  };
}

// ---- Arrow Data from plain JS values (null = missing) ----
// apache-arrow's builders route timestamps and float16 through JS numbers,
// which loses nanoseconds and NaN payloads, so raw buffers are built here.

const {
  Field, Schema, Struct, List, FixedSizeList, Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64,
  Float16, Float32, Float64, Bool, Utf8, LargeUtf8, Binary, DateDay, TimestampSecond, TimestampMillisecond,
  TimestampMicrosecond, TimestampNanosecond, makeData, RecordBatch, Table, Type,
} = arrow;

const utf8 = new TextEncoder();

function validity(values) {
  const bitmap = new Uint8Array(Math.ceil(values.length / 8) || 1);
  let nulls = 0;
  values.forEach((v, i) => {
    if (v === null) nulls++;
    else bitmap[i >> 3] |= 1 << (i & 7);
  });
  return { nullBitmap: nulls ? bitmap : undefined, nullCount: nulls };
}

function toData(type, values) {
  const n = values.length;
  const { nullBitmap, nullCount } = validity(values);
  switch (type.typeId) {
    case Type.Bool: {
      const bits = new Uint8Array(Math.ceil(n / 8) || 1);
      values.forEach((v, i) => {
        if (v) bits[i >> 3] |= 1 << (i & 7);
      });
      return makeData({ type, length: n, nullCount, nullBitmap, data: bits });
    }
    case Type.Utf8:
    case Type.LargeUtf8:
    case Type.Binary: {
      const parts = values.map((v) => (v === null ? new Uint8Array(0) : typeof v === "string" ? utf8.encode(v) : v));
      const large = type.typeId === Type.LargeUtf8;
      const offsets = large ? new BigInt64Array(n + 1) : new Int32Array(n + 1);
      let total = 0;
      parts.forEach((p, i) => {
        total += p.length;
        offsets[i + 1] = large ? BigInt(total) : total;
      });
      const bytes = new Uint8Array(total);
      let at = 0;
      for (const p of parts) {
        bytes.set(p, at);
        at += p.length;
      }
      return makeData({ type, length: n, nullCount, nullBitmap, valueOffsets: offsets, data: bytes });
    }
    case Type.List: {
      const offsets = new Int32Array(n + 1);
      const flat = [];
      values.forEach((v, i) => {
        if (v !== null) flat.push(...v);
        offsets[i + 1] = flat.length;
      });
      const child = toData(type.children[0].type, flat);
      return makeData({ type, length: n, nullCount, nullBitmap, valueOffsets: offsets, child });
    }
    case Type.FixedSizeList: {
      const flat = [];
      for (const v of values) {
        // A null list still occupies listSize child slots.
        if (v === null) for (let k = 0; k < type.listSize; k++) flat.push(0);
        else flat.push(...v);
      }
      const child = toData(type.children[0].type, flat);
      return makeData({ type, length: n, nullCount, nullBitmap, child });
    }
    case Type.Struct: {
      const children = type.children.map((f) => toData(f.type, values.map((v) => (v === null ? null : v[f.name]))));
      return makeData({ type, length: n, nullCount, nullBitmap, children });
    }
    default: {
      // Fixed-width: ints, floats (raw bits for float16), dates, timestamps.
      const data = new type.ArrayType(n);
      const big = data instanceof BigInt64Array || data instanceof BigUint64Array;
      values.forEach((v, i) => {
        if (v !== null) data[i] = big ? BigInt(v) : v;
      });
      return makeData({ type, length: n, nullCount, nullBitmap, data });
    }
  }
}

// ---- the table ----

const categories = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"];
const alphabet = [..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.,;:'\"\\/\t\n",
  "é", "ß", "Ω", "Ж", "日", "本", "語", "€", "😀", "🦀", "\u0000", "\u001f"];

const nullableInt = (bits, signed, r) => {
  const lo = signed ? -(2 ** (bits - 1)) : 0;
  const hi = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  if (r.chance(0.05)) return r.chance(0.5) ? lo : hi;
  return r.int(lo, hi);
};

function randomString(r, maxLen) {
  const len = r.int(0, maxLen);
  let s = "";
  for (let k = 0; k < len; k++) s += alphabet[r.int(0, alphabet.length - 1)];
  return s;
}

function randomBytes(r, maxLen) {
  const b = new Uint8Array(r.int(0, maxLen));
  for (let k = 0; k < b.length; k++) b[k] = r.int(0, 255);
  return b;
}

function float32Bits(r) {
  // Mostly ordinary values, sometimes arbitrary bit patterns (NaN payloads,
  // infinities, subnormals, -0) to prove the round trip is bit-exact.
  if (r.chance(0.1)) return new Float32Array(new Uint32Array([r.u32()]).buffer)[0];
  return Math.fround((r.float() - 0.5) * 2000);
}

function float64Bits(r) {
  if (r.chance(0.1)) return new Float64Array(new BigUint64Array([r.u64()]).buffer)[0];
  return (r.float() - 0.5) * 1e6;
}

function signed64(r, range) {
  const v = r.u64() % (2n * range) - range;
  return v;
}

const P_NULL = 0.1;

// Each entry: [name, type, nullable, generator(r, id)]. Generators return the
// raw value; nulls are decided by the caller for nullable columns.
const columns = [
  ["id", new Int64(), false, (_r, id) => BigInt(id)],
  ["i8", new Int8(), true, (r) => nullableInt(8, true, r)],
  ["i16", new Int16(), true, (r) => nullableInt(16, true, r)],
  ["i32", new Int32(), true, (r) => nullableInt(32, true, r)],
  ["i64", new Int64(), true, (r) => (r.chance(0.05) ? (r.chance(0.5) ? -(2n ** 63n) : 2n ** 63n - 1n) : BigInt.asIntN(64, r.u64()))],
  ["u8", new Uint8(), true, (r) => nullableInt(8, false, r)],
  ["u16", new Uint16(), true, (r) => nullableInt(16, false, r)],
  ["u32", new Uint32(), true, (r) => nullableInt(32, false, r)],
  ["u64", new Uint64(), true, (r) => (r.chance(0.05) ? 2n ** 64n - 1n : r.u64())],
  ["f16", new Float16(), true, (r) => r.int(0, 0xffff)],
  ["f32", new Float32(), true, float32Bits],
  ["f64", new Float64(), true, float64Bits],
  ["flag", new Bool(), true, (r) => r.chance(0.5)],
  ["name", new Utf8(), true, (r) => randomString(r, 24)],
  ["text", new LargeUtf8(), true, (r) => randomString(r, 64)],
  ["blob", new Binary(), true, (r) => randomBytes(r, 32)],
  ["day", new DateDay(), true, (r) => r.int(-30000, 30000)],
  ["ts_s", new TimestampSecond(), true, (r) => signed64(r, 4_000_000_000n)],
  ["ts_ms", new TimestampMillisecond(), true, (r) => signed64(r, 4_000_000_000_000n)],
  ["ts_us", new TimestampMicrosecond(), true, (r) => signed64(r, 4_000_000_000_000_000n)],
  ["ts_ns", new TimestampNanosecond(), true, (r) => signed64(r, 4_000_000_000_000_000_000n)],
  ["ts_utc", new TimestampMicrosecond("UTC"), true, (r) => signed64(r, 4_000_000_000_000_000n)],
  ["vec", new FixedSizeList(8, new Field("item", new Float32(), true)), true,
    (r) => Array.from({ length: 8 }, () => Math.fround((r.float() - 0.5) * 4))],
  ["quad", new FixedSizeList(4, new Field("item", new Uint8(), true)), true,
    (r) => Array.from({ length: 4 }, () => r.int(0, 255))],
  ["ints", new List(new Field("item", new Int32(), true)), true,
    (r) => Array.from({ length: r.int(0, 6) }, () => (r.chance(P_NULL) ? null : r.int(-1000, 1000)))],
  ["words", new List(new Field("item", new Utf8(), true)), true,
    (r) => Array.from({ length: r.int(0, 4) }, () => (r.chance(P_NULL) ? null : randomString(r, 8)))],
  // Lance file format 2.0 cannot store struct validity (the writer refuses
  // null structs), so only the children carry nulls.
  ["pair", new Struct([new Field("a", new Int32(), true), new Field("b", new Utf8(), true)]), false,
    (r) => ({ a: r.chance(P_NULL) ? null : r.int(-5000, 5000), b: r.chance(P_NULL) ? null : randomString(r, 10) })],
  // Few distinct values: Lance 2.0 dictionary-encodes such string columns.
  ["category", new Utf8(), true, (r) => categories[r.int(0, categories.length - 1)]],
];

const schema = new Schema(columns.map(([name, type, nullable]) => new Field(name, type, nullable)));

function batch(firstId, count, r) {
  const cols = columns.map(([, type, nullable, gen]) => {
    const vals = [];
    for (let i = 0; i < count; i++) {
      // Draw the value even when it becomes null so that the stream of
      // random numbers (and so the data) does not depend on P_NULL.
      const v = gen(r, firstId + i);
      vals.push(nullable && r.chance(P_NULL) ? null : v);
    }
    return toData(type, vals);
  });
  const structData = makeData({ type: new Struct(schema.fields), length: count, nullCount: 0, children: cols });
  return new Table([new RecordBatch(schema, structData)]);
}

// ---- footer check ----

function dataFileFooters(tableDir) {
  const dir = join(tableDir, "data");
  const seen = {};
  for (const name of readdirSync(dir)) {
    if (!name.endsWith(".lance")) continue;
    const fd = openSync(join(dir, name), "r");
    try {
      const size = fstatSync(fd).size;
      const tail = Buffer.alloc(8);
      if (size < 8 || readSync(fd, tail, 0, 8, size - 8) !== 8) throw new Error(`data file ${name}: shorter than a footer`);
      if (tail.toString("latin1", 4, 8) !== "LANC") throw new Error(`data file ${name}: no LANC magic at the end`);
      const v = `${tail.readUInt16LE(0)}.${tail.readUInt16LE(2)}`;
      seen[v] = (seen[v] ?? 0) + 1;
    } finally {
      closeSync(fd);
    }
  }
  return seen;
}

// Manifest field 15 (data_format) = DataStorageFormat{file_format: "lance",
// version: "2.0"}, as protobuf bytes: tag 0x7a, length 12, then the two
// strings (tags 0x0a and 0x12).
const dataFormat20 = Buffer.from([0x7a, 0x0c, 0x0a, 0x05, ...Buffer.from("lance"), 0x12, 0x03, ...Buffer.from("2.0")]);

function manifestsSay20(tableDir) {
  const dir = join(tableDir, "_versions");
  const names = readdirSync(dir).filter((n) => n.endsWith(".manifest"));
  if (!names.length) throw new Error(`${dir}: no manifests`);
  for (const name of names) {
    if (!readFileSync(join(dir, name)).includes(dataFormat20)) {
      throw new Error(`manifest ${name}: data_format is not {lance, 2.0}`);
    }
  }
  return names.length;
}

// ---- main ----

const r = rng(seed);
const db = await lancedb.connect(dbdir);
const second = Math.max(1, Math.floor(rows / 5));
const history = [];
const expect = async (table, op, want) => {
  const got = await table.countRows();
  const version = await table.version();
  if (got !== want) throw new Error(`after ${op} (version ${version}) count is ${got}, want ${want}`);
  history.push({ version, op, rows: got });
};

const table = await db.createTable(tableName, batch(0, rows, r), {
  mode: "create",
  storageOptions: { new_table_data_storage_version: "2.0" },
});
await expect(table, "create", rows);

await table.add(batch(rows, second, r));
let count = rows + second;
await expect(table, "append", count);

const all = Array.from({ length: count }, (_, i) => i);
await table.delete("id % 7 = 3");
count = all.filter((i) => i % 7 !== 3).length;
await expect(table, "delete id % 7 = 3", count);

await table.update({ where: "id % 11 = 5", valuesSql: { i32: "42", category: "'updated'" } });
await expect(table, "update id % 11 = 5", count);

const tableDir = join(dbdir, `${tableName}.lance`);
const manifests = manifestsSay20(tableDir);
const footers = dataFileFooters(tableDir);
const other = Object.keys(footers).filter((v) => v !== "0.3");
if (other.length) {
  throw new Error(`data files carry footer versions ${JSON.stringify(footers)}; want only 0.3 (Lance file format 2.0)`);
}

process.stdout.write(`${JSON.stringify({
  table: tableName,
  seed,
  data_storage_version: "2.0",
  manifests_checked: manifests,
  data_file_footers: footers,
  versions: history,
  latest: history[history.length - 1].version,
  rows: count,
})}\n`);
