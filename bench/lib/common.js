/*
 * What every bench shares (plain Node, run after `npm run build`): the repo's paths and built
 * entry points, requiring a built library from dist/, median timing, the first JSON line of a
 * child's output, numeric command-line flags.
 */
'use strict';
const { join } = require('node:path');

const ROOT = join(__dirname, '..', '..');
const AGENT = join(ROOT, 'dist/apps/agent/src/main.js');
const GATEWAY = join(ROOT, 'dist/apps/gateway/src/main.js');
const BUILD = join(ROOT, 'test', '.build');

/** A built library: dist('procfs') is what `@app/procfs` compiles to. */
function dist(lib) {
  return require(join(ROOT, 'dist/libs', lib, 'src/index.js'));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Median wall ms of n synchronous runs of fn; with gc, a full GC (--expose-gc) before each. */
function time(fn, n = 7, { gc = false } = {}) {
  const out = [];
  for (let i = 0; i < n; i++) {
    if (gc && global.gc) global.gc();
    const t0 = process.hrtime.bigint();
    fn();
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(out);
}

/** time() of an async fn: median wall ms of n awaited runs. */
async function timeAsync(fn, n = 7, { gc = false } = {}) {
  const out = [];
  for (let i = 0; i < n; i++) {
    if (gc && global.gc) global.gc();
    const t0 = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(out);
}

/**
 * Resolves with the first JSON line on child[stream] ('stdout' | 'stderr') satisfying pred;
 * rejects on timeout or when the child exits first.
 */
function waitLine(child, stream, pred, timeoutMs = 20000) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const src = child[stream];
    const done = (fn, v) => {
      clearTimeout(timer);
      src.off('data', onData);
      child.off('exit', onExit);
      fn(v);
    };
    const timer = setTimeout(() => done(reject, new Error(`no line on ${stream}`)), timeoutMs);
    const onExit = (code, sig) =>
      done(reject, new Error(`exited (${code ?? sig}) before its line`));
    const onData = (d) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const o = JSON.parse(line);
          if (o && pred(o)) return done(resolve, o);
        } catch {
          // not JSON
        }
      }
    };
    src.on('data', onData);
    child.on('exit', onExit);
  });
}

/** The number after flag `name` on the command line, else def. */
function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

module.exports = {
  ROOT,
  AGENT,
  GATEWAY,
  BUILD,
  dist,
  sleep,
  median,
  time,
  timeAsync,
  waitLine,
  arg,
};
