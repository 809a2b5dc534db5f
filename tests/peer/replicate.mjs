// The peer of perf's `peer` section: the same purchase records (one JSON
// object a line, as the till's outbox holds them) written into a PouchDB
// client's own database, then replicated to a pouchdb-server with
// batch_size 500, as a PouchDB-based till would sync them. Prints one JSON
// line: docs, seconds of the replication, the peak RSS of the client and
// of the server (KiB), and the doc count the server ended with.
//
//   node replicate.mjs RECORDS.jsonl WORK_DIR PORT

import { spawn } from 'node:child_process';
import { createReadStream, mkdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import PouchDB from 'pouchdb';

const [records, work, port] = process.argv.slice(2);
if (!records || !work || !port) {
  console.error('usage: node replicate.mjs RECORDS.jsonl WORK_DIR PORT');
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
mkdirSync(join(work, 'server'), { recursive: true });

const peakKib = (pid) => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const line = status.split('\n').find((l) => l.startsWith('VmHWM:'));
  return Number(line.split(/\s+/)[1]);
};

const server = spawn(
  process.execPath,
  [join(here, 'node_modules', 'pouchdb-server', 'bin', 'pouchdb-server'),
    '--port', port, '--host', '127.0.0.1', '--dir', join(work, 'server')],
  // It writes its config.json and log.txt where it runs.
  { cwd: join(work, 'server'), stdio: ['ignore', 'ignore', 'inherit'] },
);
const base = `http://127.0.0.1:${port}`;
let up = false;
for (let i = 0; i < 600 && !up; i++) {
  try {
    up = (await fetch(base)).ok;
  } catch {
    await new Promise((r) => setTimeout(r, 100));
  }
}
if (!up) {
  server.kill('SIGKILL');
  throw new Error(`pouchdb-server did not answer at ${base}`);
}

try {
  // The client's own database holds the records first, as a till's would.
  const local = new PouchDB(join(work, 'client'));
  let docs = 0;
  let chunk = [];
  const lines = createInterface({ input: createReadStream(records) });
  for await (const line of lines) {
    if (!line) continue;
    const record = JSON.parse(line);
    chunk.push({ _id: record.record_id, ...record });
    if (chunk.length === 1000) {
      await local.bulkDocs(chunk);
      docs += chunk.length;
      chunk = [];
    }
  }
  if (chunk.length) {
    await local.bulkDocs(chunk);
    docs += chunk.length;
  }

  const remote = new PouchDB(`${base}/records`);
  const started = performance.now();
  const result = await local.replicate.to(remote, { batch_size: 500 });
  const seconds = (performance.now() - started) / 1000;
  const info = await remote.info();
  console.log(JSON.stringify({
    docs,
    seconds,
    written: result.docs_written,
    server_docs: info.doc_count,
    client_peak_kib: process.resourceUsage().maxRSS,
    server_peak_kib: peakKib(server.pid),
  }));
} finally {
  server.kill('SIGKILL');
}
