/*
 * The ReDoS corpus of bench/redos.bench.js, generated: {cls, src, l} per pattern, `l` being the
 * letter of the command line it is matched against (a run of it, then '!').
 */
'use strict';

const LETTERS = ['a', 'x', 'Q'];

function corpus() {
  const out = [];
  const add = (cls, src, l = 'x') => out.push({ cls, src, l });
  const bodies = (l) => [
    `.*.*.*\\x01`,
    `${l}*${l}*${l}*${l}*${l}*b`,
    `(${l}+)+$`,
    `(${l}|${l}${l})*y`,
    `.*${l}`,
    `^${l}+$`,
    `[^y]*y`,
  ];
  // lookaround (refused: RE2 has none)
  for (const l of LETTERS)
    for (const look of ['(?=y)', '(?!y)', '(?<=y)', '(?<!y)', `(?=${l}+)`, `(?!${l}*y)`])
      for (const b of bodies(l)) {
        add('lookaround', look + b, l);
        add('lookaround', b + look, l);
      }
  // backreferences (refused)
  for (const l of LETTERS)
    for (const q of ['', '+', '*', '{2,}'])
      for (const f of [
        (x) => `(${l}+)${x}\\1`,
        (x) => `((${l})\\2)${x}y`,
        (x) => `(?<n>${l}+)${x}\\k<n>`,
        (x) => `^(${l}*)${x}\\1$`,
        (x) => `(${l})(${l}${x})\\2\\1!`,
      ])
        add('backreference', f(q), l);
  // nested quantifiers: (L+)+ ... up to 4 deep
  for (const l of LETTERS)
    for (let depth = 1; depth <= 4; depth++)
      for (const inner of ['+', '*', '{1,9}'])
        for (const outer of ['+', '*', '{2,}'])
          for (const tail of ['$', 'y', '!$', '\\x01']) {
            let s = `${l}${inner}`;
            for (let d = 0; d < depth; d++) s = `(${s})${outer}`;
            add('nested quantifiers', s + tail, l);
          }
  // chained quantifiers: .*.*.* ... 2-40 long
  for (const atom of ['.', 'L', '\\w', '[^y]', '\\S'])
    for (let k = 2; k <= 40; k += 2)
      for (const tail of ['\\x01', 'y$']) {
        const l = LETTERS[k % 3];
        add('chained quantifiers', `${atom.replace('L', l)}*`.repeat(k) + tail, l);
      }
  // alternation blow-ups
  for (const l of LETTERS) {
    for (let k = 2; k <= 10; k++) {
      add('alternation', `(${Array(k).fill(l).join('|')})*y`, l);
      add(
        'alternation',
        `(${Array.from({ length: k }, (_, i) => l.repeat(i + 1)).join('|')})*y`,
        l,
      );
      add('alternation', `^(${Array(k).fill(`${l}?`).join('|')})+!$`, l);
    }
    for (const s of [`(${l}|${l}?)+$`, `(?:${l}|[a-zQ])+y`, `(${l}|\\w)*y`, `(.|${l})*y`])
      add('alternation', s, l);
  }
  // counted repetitions (linear in the input, but the program grows: refused past the cap)
  for (const l of LETTERS)
    for (const n of [1, 2, 5, 10, 20, 30, 50, 80, 100, 200, 500, 1000]) {
      add('counted repetition', `(.*${l}){${n}}`, l);
      add('counted repetition', `(.*${l}){${n}}y`, l);
      add('counted repetition', `(.{${n}})y`, l);
      add('counted repetition', `[${l}y]*${l}[${l}y]{${n}}z`, l);
      add('counted repetition', `(${l}{1,${n}})+y`, l);
      add('counted repetition', `(?i)${l.toUpperCase()}{${n}}y`, l);
    }
  for (const [n, m] of [
    [10, 10],
    [30, 30],
    [10, 100],
    [100, 10],
  ])
    add('counted repetition', `((.*x){${n}}){${m}}`, 'x');
  add('counted repetition', '((((.*x){10}){10}){10})y', 'x');
  // classic ReDoS
  const classic = [
    ['(a+)+$', 'a'],
    ['(a|aa)*b', 'a'],
    ['(.*a){20}', 'a'],
    ['^(a+)+$', 'a'],
    ['(a*)*b', 'a'],
    ['(a|a?)+$', 'a'],
    ['^(\\w+\\s?)*$', 'a'],
    ['(\\d+)*$', 'x'],
    ['(x+x+)+y', 'x'],
    ['^(([a-z])+.)+[A-Z]([a-z])+$', 'a'],
    [
      '^([a-zA-Z0-9])(([\\-.]|[_]+)?([a-zA-Z0-9]+))*(@){1}[a-z0-9]+[.]{1}(([a-z]{2,3})|([a-z]{2,3}[.]{1}[a-z]{2,3}))$',
      'a',
    ],
    ['^(([a-z0-9])+[.-]?)+@', 'a'],
    ['(.*){1,32000}[bc]', 'x'],
    ['^(a|b|ab)*c$', 'a'],
    ['(\\w+)*@', 'x'],
    ['^(\\s*,?\\s*\\w+)*$', 'x'],
    ['(([^/]+)/?)*y', 'Q'],
    ['^(/[^/]*)*\\.so$', 'Q'],
  ];
  for (const [s, l] of classic) add('classic', s, l);
  // the two measured attacks and their RE2 forms
  for (const s of ['(?!y).*.*.*\\x01', '.*.*.*\\x01']) add('measured', s, 'x');
  for (const s of ['(?!y)Q*Q*Q*Q*Q*b', 'Q*Q*Q*Q*Q*b']) add('measured', s, 'Q');
  return out;
}

module.exports = { corpus, LETTERS };
