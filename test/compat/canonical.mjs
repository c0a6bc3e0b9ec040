// Canonical JSON for Arrow data, shared by dump.mjs and ipc-dump.mjs.
//
// The Go twin lives in internal/testkit/arrowjson; README.md in this folder
// defines the format. Both sides must produce identical bytes for identical
// data, so this file works on the raw Arrow buffers instead of apache-arrow's
// value getters: those convert timestamps to float milliseconds and 64-bit
// integers to lossy numbers.

import { Buffer } from "node:buffer";
import { createRequire } from "node:module";

// @lancedb/lancedb loads apache-arrow through require(); importing it as an
// ES module would give a second copy whose classes fail LanceDB's instanceof
// checks. Every script therefore takes Arrow from here.
export const arrow = createRequire(import.meta.url)("apache-arrow");

const { Type, TimeUnit, DateUnit, Precision } = arrow;

const strictUTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

const unitNames = {
  [TimeUnit.SECOND]: "s",
  [TimeUnit.MILLISECOND]: "ms",
  [TimeUnit.MICROSECOND]: "us",
  [TimeUnit.NANOSECOND]: "ns",
};

/** typeString renders an Arrow type as the canonical type string. */
export function typeString(type) {
  switch (type.typeId) {
    case Type.Null:
      return "null";
    case Type.Bool:
      return "bool";
    case Type.Int:
    case Type.Int8:
    case Type.Int16:
    case Type.Int32:
    case Type.Int64:
    case Type.Uint8:
    case Type.Uint16:
    case Type.Uint32:
    case Type.Uint64:
      return `${type.isSigned ? "int" : "uint"}${type.bitWidth}`;
    case Type.Float:
    case Type.Float16:
    case Type.Float32:
    case Type.Float64:
      return floatName(type);
    case Type.Utf8:
      return "utf8";
    case Type.LargeUtf8:
      return "large_utf8";
    case Type.Binary:
      return "binary";
    case Type.LargeBinary:
      return "large_binary";
    case Type.FixedSizeBinary:
      return `fixed_size_binary[${type.byteWidth}]`;
    case Type.Date:
    case Type.DateDay:
    case Type.DateMillisecond:
      return type.unit === DateUnit.DAY ? "date32" : "date64";
    case Type.Time:
    case Type.TimeSecond:
    case Type.TimeMillisecond:
    case Type.TimeMicrosecond:
    case Type.TimeNanosecond:
      return `time${type.bitWidth}[${unitNames[type.unit]}]`;
    case Type.Timestamp:
    case Type.TimestampSecond:
    case Type.TimestampMillisecond:
    case Type.TimestampMicrosecond:
    case Type.TimestampNanosecond: {
      const unit = unitNames[type.unit];
      return type.timezone ? `timestamp[${unit},${type.timezone}]` : `timestamp[${unit}]`;
    }
    case Type.Duration:
    case Type.DurationSecond:
    case Type.DurationMillisecond:
    case Type.DurationMicrosecond:
    case Type.DurationNanosecond:
      return `duration[${unitNames[type.unit]}]`;
    case Type.List:
      return `list<${typeString(type.children[0].type)}>`;
    case Type.FixedSizeList:
      return `fixed_size_list<${typeString(type.children[0].type)}>[${type.listSize}]`;
    case Type.Struct:
      return `struct<${type.children.map((f) => `${f.name}:${typeString(f.type)}`).join(",")}>`;
    case Type.Dictionary:
      return `dictionary<${typeString(type.indices)},${typeString(type.dictionary)}>`;
    default:
      throw new Error(`canonical: unsupported Arrow type ${type} (type id ${type.typeId})`);
  }
}

function floatName(type) {
  switch (type.precision) {
    case Precision.HALF:
      return "float16";
    case Precision.SINGLE:
      return "float32";
    case Precision.DOUBLE:
      return "float64";
    default:
      throw new Error(`canonical: unknown float precision ${type.precision}`);
  }
}

function hex(v, digits) {
  return `"0x${v.toString(16).padStart(digits, "0")}"`;
}

function bitSet(bytes, pos) {
  return (bytes[pos >> 3] & (1 << (pos & 7))) !== 0;
}

// Follows apache-arrow's slicing convention: the validity bitmap (and a
// boolean value bitmap) are addressed with data.offset added, while value and
// offset buffers of sliced Data have already been advanced.
function validAt(data, i) {
  const bm = data.nullBitmap;
  if (!bm || bm.length === 0) return true;
  return bitSet(bm, data.offset + i);
}

function stringCell(bytes) {
  let s;
  try {
    s = strictUTF8.decode(bytes);
  } catch {
    return `{"utf8_invalid":"${Buffer.from(bytes).toString("base64")}"}`;
  }
  return JSON.stringify(s);
}

function base64Cell(bytes) {
  return `"${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")}"`;
}

/**
 * cellRenderer returns a function that renders row i of one Data chunk as
 * canonical JSON text (including null).
 */
export function cellRenderer(data) {
  const value = valueRenderer(data);
  return (i) => (validAt(data, i) ? value(i) : "null");
}

function valueRenderer(data) {
  const type = data.type;
  switch (type.typeId) {
    case Type.Null:
      return () => "null";
    case Type.Bool: {
      const bits = data.values;
      return (i) => (bitSet(bits, data.offset + i) ? "true" : "false");
    }
    case Type.Int:
    case Type.Int8:
    case Type.Int16:
    case Type.Int32:
    case Type.Int64:
    case Type.Uint8:
    case Type.Uint16:
    case Type.Uint32:
    case Type.Uint64: {
      const v = data.values;
      return (i) => `"${v[i].toString()}"`;
    }
    case Type.Float:
    case Type.Float16:
    case Type.Float32:
    case Type.Float64: {
      const v = data.values;
      switch (type.precision) {
        case Precision.HALF:
          return (i) => hex(v[i], 4);
        case Precision.SINGLE: {
          const bits = new Uint32Array(v.buffer, v.byteOffset, v.length);
          return (i) => hex(bits[i], 8);
        }
        default: {
          const bits = new BigUint64Array(v.buffer, v.byteOffset, v.length);
          return (i) => hex(bits[i], 16);
        }
      }
    }
    case Type.Utf8:
    case Type.LargeUtf8:
    case Type.Binary:
    case Type.LargeBinary: {
      const offs = data.valueOffsets;
      const bytes = data.values;
      const isString = type.typeId === Type.Utf8 || type.typeId === Type.LargeUtf8;
      return (i) => {
        const slice = bytes.subarray(Number(offs[i]), Number(offs[i + 1]));
        return isString ? stringCell(slice) : base64Cell(slice);
      };
    }
    case Type.FixedSizeBinary: {
      const w = type.byteWidth;
      const bytes = data.values;
      return (i) => base64Cell(bytes.subarray(i * w, (i + 1) * w));
    }
    case Type.Date:
    case Type.DateDay:
    case Type.DateMillisecond: {
      const v = data.values;
      if (type.unit === DateUnit.DAY) return (i) => String(v[i]);
      return (i) => `"${v[i].toString()}"`;
    }
    case Type.Time:
    case Type.TimeSecond:
    case Type.TimeMillisecond:
    case Type.TimeMicrosecond:
    case Type.TimeNanosecond:
    case Type.Timestamp:
    case Type.TimestampSecond:
    case Type.TimestampMillisecond:
    case Type.TimestampMicrosecond:
    case Type.TimestampNanosecond:
    case Type.Duration:
    case Type.DurationSecond:
    case Type.DurationMillisecond:
    case Type.DurationMicrosecond:
    case Type.DurationNanosecond: {
      // time32 values sit in an Int32Array, all other units in a
      // BigInt64Array; toString() is the exact decimal either way.
      const v = data.values;
      return (i) => `"${v[i].toString()}"`;
    }
    case Type.List: {
      const offs = data.valueOffsets;
      const child = cellRenderer(data.children[0]);
      return (i) => {
        const parts = [];
        for (let j = offs[i]; j < offs[i + 1]; j++) parts.push(child(j));
        return `[${parts.join(",")}]`;
      };
    }
    case Type.FixedSizeList: {
      const n = type.listSize;
      const child = cellRenderer(data.children[0]);
      return (i) => {
        const parts = [];
        for (let j = i * n; j < (i + 1) * n; j++) parts.push(child(j));
        return `[${parts.join(",")}]`;
      };
    }
    case Type.Struct: {
      const fields = type.children.map((f, k) => [JSON.stringify(f.name), cellRenderer(data.children[k])]);
      return (i) => `{${fields.map(([name, r]) => `${name}:${r(i)}`).join(",")}}`;
    }
    case Type.Dictionary: {
      const idx = data.values;
      const dict = chunkedRenderer(data.dictionary);
      return (i) => dict(Number(idx[i]));
    }
    default:
      throw new Error(`canonical: unsupported Arrow type ${type} (type id ${type.typeId})`);
  }
}

// Renders index i of a (possibly multi-chunk) Vector, as used for dictionaries.
function chunkedRenderer(vector) {
  const chunks = vector.data.map((d) => ({ len: d.length, render: cellRenderer(d) }));
  return (i) => {
    let k = i;
    for (const c of chunks) {
      if (k < c.len) return c.render(k);
      k -= c.len;
    }
    throw new Error(`canonical: dictionary index ${i} out of range (${vector.length} values)`);
  };
}

/**
 * canonicalRows renders every row of an Arrow Table, in order, as an array
 * of JSON texts ("[c1,c2,...]").
 */
export function canonicalRows(table) {
  const rows = [];
  for (const batch of table.batches) {
    const renderers = batch.data.children.map((d) => cellRenderer(d));
    for (let i = 0; i < batch.numRows; i++) {
      rows.push(`[${renderers.map((r) => r(i)).join(",")}]`);
    }
  }
  return rows;
}

/** schemaJSON renders the canonical schema array. */
export function schemaJSON(schema) {
  const cols = schema.fields.map(
    (f) => `{"name":${JSON.stringify(f.name)},"type":${JSON.stringify(typeString(f.type))},"nullable":${f.nullable ? "true" : "false"}}`,
  );
  return `[${cols.join(",")}]`;
}

/**
 * canonicalDocument renders the whole canonical document for an Arrow
 * Table. `version` is included only when it is a number, so an IPC file (which
 * has no table version) and Go's Canonical agree on the shape.
 */
export function canonicalDocument(table, { version } = {}) {
  return documentFromRows(table.schema, canonicalRows(table), { version });
}

/**
 * sortedRows returns the rendered rows reordered by one top-level column, the
 * same rule as Go's arrowjson Options.OrderBy: stable, nulls first,
 * integer-like values (integers, dates, times, timestamps, durations)
 * numerically, everything else by the UTF-8 bytes of the canonical text.
 */
export function sortedRows(table, column) {
  const idx = table.schema.fields.findIndex((f) => f.name === column);
  if (idx < 0) throw new Error(`canonical: order-by column ${JSON.stringify(column)} not in schema`);
  const keyed = [];
  for (const batch of table.batches) {
    const data = batch.data.children[idx];
    const renderers = batch.data.children.map((d) => cellRenderer(d));
    for (let i = 0; i < batch.numRows; i++) {
      const cells = renderers.map((r) => r(i));
      keyed.push({ key: sortKey(data, i, cells[idx]), text: `[${cells.join(",")}]` });
    }
  }
  keyed.sort((a, b) => compareKeys(a.key, b.key));
  return keyed.map((k) => k.text);
}

const integerLike = new Set([
  Type.Int, Type.Int8, Type.Int16, Type.Int32, Type.Int64,
  Type.Uint8, Type.Uint16, Type.Uint32, Type.Uint64,
  Type.Date, Type.DateDay, Type.DateMillisecond,
  Type.Time, Type.TimeSecond, Type.TimeMillisecond, Type.TimeMicrosecond, Type.TimeNanosecond,
  Type.Timestamp, Type.TimestampSecond, Type.TimestampMillisecond, Type.TimestampMicrosecond, Type.TimestampNanosecond,
  Type.Duration, Type.DurationSecond, Type.DurationMillisecond, Type.DurationMicrosecond, Type.DurationNanosecond,
]);

function sortKey(data, i, text) {
  if (!validAt(data, i)) return { kind: 0 };
  if (integerLike.has(data.type.typeId)) return { kind: 1, n: BigInt(data.values[i]) };
  return { kind: 2, bytes: Buffer.from(text, "utf8") };
}

function compareKeys(a, b) {
  if (a.kind !== b.kind) return a.kind - b.kind;
  if (a.kind === 1) return a.n < b.n ? -1 : a.n > b.n ? 1 : 0;
  if (a.kind === 2) return Buffer.compare(a.bytes, b.bytes);
  return 0;
}

/** documentFromRows assembles a canonical document from pre-rendered rows. */
export function documentFromRows(schema, rows, { version } = {}) {
  let head = "{";
  if (typeof version === "number") head += `"version":${version},`;
  head += `"schema":${schemaJSON(schema)},"count":${rows.length},"rows":[\n`;
  const body = rows.length ? `${rows.join(",\n")}\n` : "";
  return `${head}${body}]}\n`;
}
