// The load harness's peer: pouchdb-server (a CouchDB-protocol sync server)
// on loopback, the harness's documents written to it, then replicated into
// a fresh local PouchDB — what an offline-first app's first sync does —
// once per run, timed. Prints one JSON line with the figures.
//
//   node peer.js --modules <node_modules> --docs <docs.json> --work <dir>
//                --port <port> [--runs 3]
//
// Storage: LevelDB on disk on both sides (leveldown's bundled prebuilt
// binary); if it cannot be loaded, pouchdb-server runs --in-memory and the
// local PouchDB uses the memory adapter (faster, so a comparison against it
// stays conservative). The result says which.

'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

function option(name, fallback) {
  const at = process.argv.indexOf('--' + name);
  if (at >= 0 && at + 1 < process.argv.length) return process.argv[at + 1];
  if (fallback !== undefined) return fallback;
  throw new Error('missing --' + name);
}

const modules = option('modules');
const docsFile = option('docs');
const work = option('work');
const port = Number(option('port'));
const runs = Number(option('runs', '3'));
const base = 'http://127.0.0.1:' + port;
const load = (name) => require(path.join(modules, name));

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function request(method, url, body) {
  const response = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(method + ' ' + url + ': HTTP ' + response.status + ' ' + text.slice(0, 300));
  return JSON.parse(text);
}

async function levelWorks(PouchDB) {
  const probe = new PouchDB(path.join(work, 'probe'));
  try {
    await probe.put({ _id: 'probe' });
    return (await probe.info()).adapter === 'leveldb';
  } catch (e) {
    return false;
  } finally {
    await probe.destroy().catch(() => {});
  }
}

async function startServer(inMemory) {
  const dir = path.join(work, 'server');
  fs.mkdirSync(dir, { recursive: true });
  const bin = path.join(modules, 'pouchdb-server', 'bin', 'pouchdb-server');
  const args = [bin, '--host', '127.0.0.1', '--port', String(port), '--dir', dir,
    '--config', path.join(dir, 'config.json'), '--no-stdout-logs'];
  if (inMemory) args.push('--in-memory');
  const child = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error('pouchdb-server exited with ' + child.exitCode);
    try {
      const welcome = await request('GET', base + '/');
      return { child, welcome };
    } catch (e) {
      await sleep(50);
    }
  }
  child.kill();
  throw new Error('pouchdb-server did not answer within 30 s');
}

async function main() {
  const PouchDB = load('pouchdb');
  const docs = JSON.parse(fs.readFileSync(docsFile, 'utf8'));
  const onDisk = await levelWorks(PouchDB);
  let Local = PouchDB;
  if (!onDisk) Local = PouchDB.plugin(load('pouchdb-adapter-memory'));
  const { child, welcome } = await startServer(!onDisk);
  try {
    const remote = base + '/journal';
    await request('PUT', remote);
    const writing = process.hrtime.bigint();
    for (let i = 0; i < docs.length; i += 500) {
      const answer = await request('POST', remote + '/_bulk_docs', { docs: docs.slice(i, i + 500) });
      const failed = answer.filter((r) => r.error);
      if (failed.length) throw new Error('bulk write refused: ' + JSON.stringify(failed[0]));
    }
    const writeMs = Number(process.hrtime.bigint() - writing) / 1e6;
    const info = await request('GET', remote);
    if (info.doc_count !== docs.length) throw new Error('the server holds ' + info.doc_count + ' of ' + docs.length);

    const replicateMs = [];
    let replicated = 0;
    for (let run = 0; run < runs; run++) {
      const name = path.join(work, 'phone-' + run);
      const local = onDisk ? new Local(name) : new Local(name, { adapter: 'memory' });
      const started = process.hrtime.bigint();
      // Same page size as the journal's pull (500).
      await Local.replicate(remote, local, { batch_size: 500 });
      replicateMs.push(Number(process.hrtime.bigint() - started) / 1e6);
      replicated = (await local.info()).doc_count;
      await local.destroy();
      if (replicated !== docs.length) throw new Error('replicated ' + replicated + ' of ' + docs.length);
    }
    const serverVersion = JSON.parse(fs.readFileSync(path.join(modules, 'pouchdb-server', 'package.json'), 'utf8')).version;
    console.log(JSON.stringify({
      docs: replicated,
      serverAdapter: onDisk ? 'leveldb' : 'memory',
      localAdapter: onDisk ? 'leveldb' : 'memory',
      serverVersion: serverVersion + ' (' + (welcome.version || '?') + ')',
      pouchdbVersion: PouchDB.version,
      writeMs,
      replicateMs,
    }));
  } finally {
    child.kill();
  }
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
