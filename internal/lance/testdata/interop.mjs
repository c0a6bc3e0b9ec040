// interop.mjs drives stock LanceDB for Sarissa's table-format interop tests:
//
//   node interop.mjs create  <db-dir> <table> <n> <v2-manifest-paths: true|false>
//   node interop.mjs add     <db-dir> <table> <from> <to>
//   node interop.mjs delete  <db-dir> <table> <predicate>
//   node interop.mjs delete-when <db-dir> <table> <predicate> <ready-file> <go-file>
//   node interop.mjs inspect <db-dir> <table> [tag]
//
// Tables have one int32 column "id"; add/create write ids from..to-1.
// delete-when opens the table, creates <ready-file>, waits for <go-file>,
// then deletes: its commit lands on top of whatever was committed meanwhile.
// inspect prints the table as JSON.
import * as lancedb from "@lancedb/lancedb";
import { tableFromArrays } from "apache-arrow";
import { existsSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

const [cmd, dbDir, name, ...args] = process.argv.slice(2);
const db = await lancedb.connect(dbDir);
const ids = (from, to) =>
  tableFromArrays({ id: Int32Array.from({ length: to - from }, (_, i) => from + i) });

switch (cmd) {
  case "create":
    await db.createTable(name, ids(0, Number(args[0])), {
      storageOptions: { new_table_enable_v2_manifest_paths: args[1] },
    });
    break;
  case "add":
    await (await db.openTable(name)).add(ids(Number(args[0]), Number(args[1])));
    break;
  case "delete":
    await (await db.openTable(name)).delete(args[0]);
    break;
  case "delete-when": {
    const t = await db.openTable(name);
    await t.countRows(); // make sure the handle has loaded its version
    writeFileSync(args[1], "ready");
    while (!existsSync(args[2])) await sleep(20);
    await t.delete(args[0]);
    break;
  }
  case "inspect": {
    const t = await db.openTable(name);
    if (args[0]) await t.checkout(args[0]);
    const rows = await t.query().select(["id"]).toArray();
    const out = {
      version: await t.version(),
      count: await t.countRows(),
      ids: rows.map((r) => r.id).sort((a, b) => a - b),
    };
    if (!args[0]) {
      out.versions = (await t.listVersions()).map((v) => v.version);
      const tags = await (await t.tags()).list();
      out.tags = Object.fromEntries(
        Object.entries(tags).map(([k, v]) => [k, { version: v.version, manifestSize: v.manifestSize }]),
      );
    }
    console.log(JSON.stringify(out));
    break;
  }
  default:
    console.error(`unknown command ${cmd}`);
    process.exit(2);
}
