// Shared helpers for the end-to-end scripts: connecting in embedded or
// remote mode, seeded data, and rendering results as plain JSON the Go tests
// compare (cells in the canonical form of ../compat/canonical.mjs).

import { parseArgs } from "node:util";
import * as lancedb from "@lancedb/lancedb";
import { arrow, canonicalRows, schemaJSON } from "../compat/canonical.mjs";

export { arrow, lancedb };

/**
 * connectFromArgs parses `--embedded DIR` or `--remote URL --db NAME` (plus
 * any extra options the script declares) and opens the database. Remote mode
 * is what users of Sarissa write: `db://name` with a host override.
 */
export async function connectFromArgs(extra = {}) {
  const { values } = parseArgs({
    options: {
      embedded: { type: "string" },
      remote: { type: "string" },
      db: { type: "string", default: "e2e" },
      ...extra,
    },
  });
  if (!!values.embedded === !!values.remote) {
    usage("exactly one of --embedded DIR or --remote URL is required");
  }
  const db = values.remote
    ? await lancedb.connect(`db://${values.db}`, { apiKey: "e2e", hostOverride: values.remote })
    : // A remote handle always reads the latest version; an embedded one
      // only does so when it re-checks on every read.
      await lancedb.connect(values.embedded, { readConsistencyInterval: 0 });
  return { db, opts: values, mode: values.remote ? "remote" : "embedded" };
}

function usage(msg) {
  process.stderr.write(`${msg}\nusage: node ${process.argv[1]} (--embedded DIR | --remote URL [--db NAME])\n`);
  process.exit(2);
}

/** rng is mulberry32: a small seeded generator, identical on every platform. */
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  return {
    float: () => next() / 4294967296,
    int: (lo, hi) => lo + Math.floor((next() / 4294967296) * (hi - lo + 1)),
    chance: (p) => next() / 4294967296 < p,
  };
}

/** float32 rounds a JS number to the nearest float32, as Arrow will store it. */
export const float32 = Math.fround;

const hexView = new DataView(new ArrayBuffer(8));

/** hexFloat decodes a canonical float cell ("0x3f800000") to a JS number. */
export function hexFloat(cell) {
  if (cell === null) return null;
  const hex = cell.slice(2);
  if (hex.length === 8) {
    hexView.setUint32(0, Number.parseInt(hex, 16));
    return hexView.getFloat32(0);
  }
  if (hex.length === 16) {
    hexView.setBigUint64(0, BigInt(`0x${hex}`));
    return hexView.getFloat64(0);
  }
  throw new Error(`hexFloat: unexpected cell ${cell}`);
}

/**
 * rowsResult renders an Arrow table: the canonical schema and rows, with the
 * `_distance` column (if any) moved into a separate array of numbers so the
 * Go side can compare it with a tolerance. Its type stays in the schema.
 */
export function rowsResult(table) {
  const schema = JSON.parse(schemaJSON(table.schema));
  const rows = canonicalRows(table).map((r) => JSON.parse(r));
  const di = schema.findIndex((f) => f.name === "_distance");
  const out = { schema, count: rows.length };
  if (di >= 0) {
    out.distances = rows.map((r) => hexFloat(r[di]));
    out.rows = rows.map((r) => r.filter((_, i) => i !== di));
  } else {
    out.rows = rows;
  }
  return out;
}

/** errorText flattens an error and its causes into one line. */
export function errorText(err) {
  const parts = [];
  for (let e = err; e; e = e.cause) {
    parts.push(String(e.message ?? e));
    if (parts.length > 5) break;
  }
  return parts.join(" | caused by: ");
}

/**
 * Recorder collects named steps. A step that throws is recorded as
 * {error: "..."} and the sequence goes on, so one broken operation does not
 * hide the results of the others.
 */
export class Recorder {
  constructor() {
    this.steps = [];
  }

  /** value records fn()'s JSON-able result, compared exactly. */
  async value(name, fn) {
    await this.#run(name, "value", async () => ({ value: await fn() }));
  }

  /** rows records an Arrow result; order matters unless ordered by distance. */
  async rows(name, fn) {
    await this.#run(name, "rows", async () => rowsResult(await fn()));
  }

  /** vector records a vector-search result (rows ordered by _distance). */
  async vector(name, fn) {
    await this.#run(name, "vector", async () => rowsResult(await fn()));
  }

  /** error records a step that must fail; the message is kept for the report. */
  async error(name, fn) {
    const step = { name, kind: "error" };
    try {
      step.unexpected = await fn();
      step.threw = false;
    } catch (err) {
      step.threw = true;
      step.message = errorText(err);
    }
    this.steps.push(step);
  }

  async #run(name, kind, fn) {
    const step = { name, kind };
    try {
      Object.assign(step, await fn());
    } catch (err) {
      step.error = errorText(err);
    }
    this.steps.push(step);
  }

  print() {
    process.stdout.write(`${JSON.stringify({ steps: this.steps })}\n`);
  }
}

/** sortedKeys returns a copy of a plain object with its keys sorted. */
export function sortedKeys(obj) {
  return Object.fromEntries(Object.entries(obj ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
