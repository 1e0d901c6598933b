#!/usr/bin/env node
/*
 * smaps bench (run `npm run build` first). A synthetic 30,000-VMA smaps (~24 MB, the fixture's VMA
 * blocks with fresh addresses, as libs/procfs/src/perf.spec.ts builds it) written to a temp file:
 * the raw read (readFileSync to a Buffer, as `cat` would), parseSmaps of a string and of the
 * Buffer, parseMaps of the same VMAs' maps text, read + parse as ProcReader does it; then ProcReader.readMemoryMap at smaps level of a
 * real process with 30,000 extra VMAs (test/.build/zoo, compiled by the e2e global setup; skipped
 * when absent). Medians of several runs.
 *
 * The agent reads the files that can block off its event loop, in the worker pool of
 * GuardedFileReader: the ratios "pool / direct" compare one big smaps read through the pool with
 * a readFileSync of it, and ~400 smaps_rollup reads (a process list) through the pool (4 workers,
 * in parallel) with a readFileSync loop on the main thread — both measured in this run.
 */
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const { join } = require('node:path');

const { ROOT: root, dist, median, time, timeAsync } = require('./lib/common');

const procfs = dist('procfs');
const COUNT = 30000;

const f = (ms) => `${ms.toFixed(1).padStart(7)} ms`;

/** The smaps text of `count` VMAs and the maps text of the same VMAs. */
function synthetic(count) {
  const text = fs.readFileSync(
    join(root, 'test', 'fixtures', 'procps-4.0.2', 'target_proc_smaps.txt'),
    'utf8',
  );
  const blocks = text.split(/(?=^[0-9a-f]+-[0-9a-f]+ )/m).filter((b) => b.length > 0);
  const smaps = [];
  const maps = [];
  let at = 0x7f0000000000n;
  for (let i = 0; i < count; i++) {
    const b = blocks[i % (blocks.length - 1)];
    const nl = b.indexOf('\n');
    const header = b.slice(0, nl);
    const end = at + 0x1000n * BigInt(1 + (i % 7));
    const h = `${at.toString(16)}-${end.toString(16)}${header.slice(header.indexOf(' '))}`;
    smaps.push(h, b.slice(nl));
    maps.push(h, '\n');
    at = end + 0x1000n;
  }
  return { text: smaps.join(''), maps: maps.join('') };
}

async function zooRead() {
  const bin = join(root, 'test/.build/zoo');
  if (!fs.existsSync(bin)) {
    console.log('readMemoryMap of a live 30,000-VMA process: skipped (no test/.build/zoo)');
    return;
  }
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'pmapd-bench-'));
  const child = spawn(bin, [dir, '--vmas', String(COUNT)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const pid = await new Promise((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d) => {
        buf += d.toString();
        const m = /"pid":\s*(\d+)/.exec(buf);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', () => reject(new Error('zoo exited')));
    });
    const pool = new procfs.GuardedFileReader({ timeoutMs: 30000 });
    const reader = new procfs.ProcReader({ lockedRead: (p, o) => pool.read(p, o) });
    let vmas = 0;
    const t = await timeAsync(async () => {
      vmas = (await reader.readMemoryMap(pid, { detail: 'smaps' })).vmas.length;
    });
    const smaps = `/proc/${pid}/smaps`;
    // interleaved, so both see the same machine load
    const cat = [];
    const viaPool = [];
    for (let i = 0; i < 7; i++) {
      cat.push(time(() => fs.readFileSync(smaps), 1));
      viaPool.push(await timeAsync(() => pool.read(smaps), 1));
    }
    const tCat = median(cat);
    const tPool = median(viaPool);
    console.log(`live process, ${vmas} VMAs: read smaps only          ${f(tCat)}`);
    console.log(`live process, ${vmas} VMAs: read smaps via the pool  ${f(tPool)}`);
    console.log(`live process, ${vmas} VMAs: readMemoryMap smaps      ${f(t)}`);
    console.log(`ratio big smaps read pool / direct: ${(tPool / tCat).toFixed(2)}`);
    pool.close();
  } finally {
    child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * 400 smaps_rollup reads of distinct processes (what a process list reads; sleepers are started
 * to make up the number): a readFileSync loop vs the pool.
 */
async function rollups() {
  const readable = () =>
    fs
      .readdirSync('/proc')
      .filter((n) => /^\d+$/.test(n))
      .map((n) => `/proc/${n}/smaps_rollup`)
      .filter((p) => {
        try {
          fs.readFileSync(p);
          return true;
        } catch {
          return false;
        }
      });
  const sleepers = [];
  const pool = new procfs.GuardedFileReader({ timeoutMs: 30000 });
  try {
    for (let n = readable().length; n < 400; n++) {
      sleepers.push(spawn('sleep', ['600'], { stdio: 'ignore' }));
    }
    await Promise.all(sleepers.map((c) => new Promise((r) => c.once('spawn', r))));
    const files = readable().slice(0, 400);
    const safe = (p) => {
      try {
        return fs.readFileSync(p);
      } catch {
        return undefined;
      }
    };
    const sync = [];
    const viaPool = [];
    for (let i = 0; i < 7; i++) {
      sync.push(time(() => files.forEach(safe), 1));
      viaPool.push(
        await timeAsync(() => Promise.all(files.map((p) => pool.read(p).catch(() => 0))), 1),
      );
    }
    const tSync = median(sync);
    const tPool = median(viaPool);
    console.log(`${files.length} smaps_rollup reads, readFileSync loop   ${f(tSync)}`);
    console.log(`${files.length} smaps_rollup reads, pool (4 workers)   ${f(tPool)}`);
    console.log(`ratio ${files.length} rollup reads pool / direct: ${(tPool / tSync).toFixed(2)}`);
    // the whole process list as ListProcesses reads it (stat, status, cgroup on the main thread;
    // cmdline and smaps_rollup via lockedRead): a synchronous lockedRead vs the pool
    const direct = new procfs.ProcReader({
      lockedRead: (p) => Promise.resolve(fs.readFileSync(p)),
    });
    const pooled = new procfs.ProcReader({ lockedRead: (p, o) => pool.read(p, o) });
    const a = [];
    const b = [];
    let listed = 0;
    for (let i = 0; i < 7; i++) {
      a.push(await timeAsync(() => direct.listProcesses({}), 1));
      b.push(
        await timeAsync(async () => {
          listed = (await pooled.listProcesses({})).processes.length;
        }, 1),
      );
    }
    console.log(`listProcesses of ${listed}, synchronous reads    ${f(median(a))}`);
    console.log(`listProcesses of ${listed}, pool             ${f(median(b))}`);
    console.log(`ratio listProcesses pool / direct: ${(median(b) / median(a)).toFixed(2)}`);
  } finally {
    pool.close();
    for (const c of sleepers) c.kill('SIGKILL');
  }
}

async function main() {
  const { text, maps } = synthetic(COUNT);
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'pmapd-bench-'));
  const file = join(dir, 'smaps');
  fs.writeFileSync(file, text);
  try {
    const buf = fs.readFileSync(file);
    const vmas = procfs.parseSmaps(text);
    if (vmas.length !== COUNT) throw new Error(`parsed ${vmas.length} VMAs`);
    console.log(`synthetic smaps: ${COUNT} VMAs, ${(buf.length / 1e6).toFixed(1)} MB`);
    console.log(`read to a Buffer (cat)                 ${f(time(() => fs.readFileSync(file)))}`);
    console.log(
      `read as utf8 text                      ${f(time(() => fs.readFileSync(file, 'utf8')))}`,
    );
    console.log(`parseSmaps(string)                     ${f(time(() => procfs.parseSmaps(text)))}`);
    let bufferOk = true;
    try {
      procfs.parseSmaps(buf);
    } catch {
      bufferOk = false;
    }
    if (bufferOk && procfs.parseSmaps(buf).length === COUNT) {
      console.log(
        `parseSmaps(Buffer)                     ${f(time(() => procfs.parseSmaps(buf)))}`,
      );
    }
    if (procfs.parseMaps(maps).length !== COUNT) throw new Error('parseMaps lost VMAs');
    console.log(`parseMaps(string), same VMAs           ${f(time(() => procfs.parseMaps(maps)))}`);
    const tree = join(dir, 'proc');
    fs.mkdirSync(join(tree, '1'), { recursive: true });
    fs.copyFileSync(file, join(tree, '1', 'smaps'));
    fs.writeFileSync(join(tree, '1', 'stat'), `1 (bench) S ${'0 '.repeat(48)}0\n`);
    fs.writeFileSync(join(tree, '1', 'status'), 'Name:\tbench\nUid:\t0\t0\t0\t0\n');
    fs.writeFileSync(join(tree, '1', 'cmdline'), 'bench\0');
    const reader = new procfs.ProcReader({ procRoot: tree });
    const tTree = await timeAsync(() => reader.readMemoryMap(1, { detail: 'smaps' }));
    console.log(`ProcReader.readMemoryMap (file tree)   ${f(tTree)}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  await zooRead();
  await rollups();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
