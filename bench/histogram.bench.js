#!/usr/bin/env node
/*
 * Histogram bench (run `npm run build` first): a process with 1 GiB of touched 4 KiB pages and a
 * 64 GiB PROT_NONE reservation (test/fixtures/layouts.c "bench" mode). Measured side by side in
 * one run: merely reading the 1 GiB region's pagemap (256 KiB positioned reads, no decoding) vs
 * the order histogram (PAGEMAP_SCAN, and the pread fallback), the physical histogram, and the
 * order histogram of the 64 GiB reservation. Medians of several runs.
 */
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const { closeSync, existsSync, openSync, readFileSync, readSync, mkdirSync } = require('node:fs');
const { join } = require('node:path');

const { ROOT: root, dist, time } = require('./lib/common');

const procfs = dist('procfs');

async function main() {
  const bin = join(root, 'test/.build/layouts');
  if (!existsSync(bin)) {
    mkdirSync(join(root, 'test/.build'), { recursive: true });
    execFileSync('gcc', [
      '-O2',
      '-Wall',
      '-pthread',
      '-o',
      bin,
      join(root, 'test/fixtures/layouts.c'),
    ]);
  }
  const mib = Number(process.env.HIST_BENCH_MIB || 1024);
  const child = spawn(bin, ['bench', String(mib)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((resolve) => {
    let acc = '';
    child.stdout.on('data', (d) => {
      acc += d;
      if (acc.includes('\n')) resolve(acc.split('\n')[0]);
    });
  });
  const info = JSON.parse(line);
  const pid = info.pid;
  try {
    while (!/\) T /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')))
      await new Promise((r) => setTimeout(r, 10));
    const vmas = procfs.parseMaps(readFileSync(`/proc/${pid}/maps`, 'utf8'));
    const start = BigInt(info.regions.bench.start);
    const big = vmas.find((v) => v.start === start);
    const reserve = vmas.find((v) => v.start === BigInt(info.regions.reserve.start));
    const pages = Number((big.end - big.start) / 4096n);

    const buf = Buffer.allocUnsafe(256 * 1024);
    const readOnly = () => {
      const fd = openSync(`/proc/${pid}/pagemap`, 'r');
      const first = Number(big.start / 4096n);
      for (let p = 0; p < pages; p += 32768) {
        readSync(fd, buf, 0, Math.min(32768, pages - p) * 8, (first + p) * 8);
      }
      closeSync(fd);
    };
    const check = procfs.computeHistogram(pid, [big], { kind: 'order' });
    if (check.vmas[0].presentPages !== BigInt(pages)) throw new Error('region not fully present');

    const tRead = time(readOnly);
    const tOrder = time(() => procfs.computeHistogram(pid, [big], { kind: 'order' }));
    const tOrderPread = time(() =>
      procfs.computeHistogram(pid, [big], { kind: 'order', useScan: false }),
    );
    const tMemhist = time(() =>
      procfs.computeHistogram(pid, [big], { kind: 'order', compat: 'memhist' }),
    );
    const tPhys = time(() => procfs.computeHistogram(pid, [big], { kind: 'physical' }), 5);
    const tPagesize = time(() =>
      procfs.computeHistogram(pid, [big], { kind: 'pagesize', runs: true }),
    );
    const tNuma = time(() => procfs.computeHistogram(pid, [big], { kind: 'numa', runs: true }), 3);
    const tReserve = time(() => procfs.computeHistogram(pid, [reserve], { kind: 'order' }));
    const tReservePread = time(
      () => procfs.computeHistogram(pid, [reserve], { kind: 'order', useScan: false }),
      3,
    );
    const tWhole = time(() => procfs.computeHistogram(pid, vmas, { kind: 'order' }));

    const f = (x) => `${x.toFixed(2)} ms`;
    console.log(
      `process: ${mib} MiB touched (${pages} pages, 4 KiB) + 64 GiB PROT_NONE reservation`,
    );
    console.log(`read pagemap only (256 KiB preads)      ${f(tRead)}`);
    console.log(
      `order histogram, PAGEMAP_SCAN           ${f(tOrder)}   ratio to read ${(tOrder / tRead).toFixed(2)}x`,
    );
    console.log(
      `order histogram, pread fallback         ${f(tOrderPread)}   ratio to read ${(tOrderPread / tRead).toFixed(2)}x`,
    );
    console.log(`order histogram, compat memhist         ${f(tMemhist)}`);
    console.log(
      `physical histogram (PFNs)               ${f(tPhys)}   ratio to read ${(tPhys / tRead).toFixed(2)}x`,
    );
    console.log(`pagesize histogram + runs               ${f(tPagesize)}`);
    console.log(`numa histogram + move_pages runs        ${f(tNuma)}`);
    console.log(`order, 64 GiB PROT_NONE, PAGEMAP_SCAN   ${f(tReserve)}   (target < 50 ms)`);
    console.log(`order, 64 GiB PROT_NONE, pread fallback ${f(tReservePread)}`);
    console.log(`order, whole process (${vmas.length} VMAs)        ${f(tWhole)}`);
    console.log(
      `mem_hist.py needs ~650 ms for the 1 GiB process (seed measurement): ${(650 / tOrder).toFixed(0)}x`,
    );
    let ok = tReserve < 50 && tOrderPread / tRead < 2;
    if (!ok) console.log('TARGET MISSED');
    process.exitCode = ok ? 0 : 1;
  } finally {
    child.kill('SIGKILL');
  }
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
