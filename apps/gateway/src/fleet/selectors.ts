/**
 * Node selection for fleet queries: `nodes` (names and globs), `labels` (k=v, k!=v, k) and `arch`.
 * Pure functions over the cluster's node list.
 */
import { compileSafeRegex, isPmapError, type SafeRegex } from '@app/domain';
import { badParameter } from '../common/api-error';

export interface NodeSelector {
  /** Any pattern matches (names; `*` and `?` globs). Undefined = every node. */
  nodes?: SafeRegex[];
  /** Every label clause must hold. */
  labels?: LabelClause[];
  arch?: string;
}

export type LabelClause =
  | { key: string; op: '='; value: string }
  | { key: string; op: '!='; value: string }
  | { key: string; op: 'exists' };

export interface SelectableNode {
  name: string;
  labels: Record<string, string>;
  /** From GetNodeInfo; undefined until the agent answered once. */
  arch?: string;
}

const NODE_PATTERN = /^[A-Za-z0-9_.:*?-]{1,253}$/;
const LABEL_KEY = /^[A-Za-z0-9_./-]{1,253}$/;

const NODES_ALLOWED = 'comma-separated node names or globs (* and ?), e.g. n1,rack2-*';

/**
 * A glob (`*` any run, `?` one character) as an anchored pattern, compiled by compileSafeRegex
 * (RE2): a client's `*a*a*a*…b` would backtrack for minutes as an ECMAScript RegExp. Runs of `*`
 * are one `*`, so a NODE_PATTERN glob stays within the compiled-size cap.
 */
export function globMatcher(glob: string): SafeRegex {
  let re = '^';
  let star = false;
  for (const ch of glob) {
    if (ch === '*') {
      if (!star) re += '.*';
    } else if (ch === '?') re += '.';
    else re += /[A-Za-z0-9_-]/.test(ch) ? ch : `\\${ch}`;
    star = ch === '*';
  }
  try {
    return compileSafeRegex(re + '$', 'nodes');
  } catch (e) {
    if (isPmapError(e)) throw badParameter('nodes', e.message, NODES_ALLOWED);
    throw e;
  }
}

/** `nodes=a,b*,c?` -> patterns; 400 naming `nodes` when a pattern is malformed. */
export function parseNodePatterns(text: string): SafeRegex[] {
  const parts = text.split(',').map((p) => p.trim());
  const out: SafeRegex[] = [];
  for (const p of parts) {
    if (!NODE_PATTERN.test(p)) {
      throw badParameter('nodes', `nodes: '${p}' is not a node name or glob`, NODES_ALLOWED);
    }
    out.push(globMatcher(p));
  }
  return out;
}

/** `labels=rack=r1,zone!=b,gpu` -> clauses; 400 naming `labels` when malformed. */
export function parseLabelSelector(text: string): LabelClause[] {
  const out: LabelClause[] = [];
  for (const raw of text.split(',')) {
    const part = raw.trim();
    const ne = part.indexOf('!=');
    const eq = part.indexOf('=');
    let clause: LabelClause;
    if (ne > 0) clause = { key: part.slice(0, ne), op: '!=', value: part.slice(ne + 2) };
    else if (eq > 0) clause = { key: part.slice(0, eq), op: '=', value: part.slice(eq + 1) };
    else clause = { key: part, op: 'exists' };
    if (!LABEL_KEY.test(clause.key) || ('value' in clause && clause.value.includes('='))) {
      throw badParameter(
        'labels',
        `labels: '${part}' is not a label clause`,
        'comma-separated KEY=VALUE, KEY!=VALUE or KEY (label present), e.g. rack=r1,zone!=b',
      );
    }
    out.push(clause);
  }
  return out;
}

export function parseSelector(q: { nodes?: string; labels?: string; arch?: string }): NodeSelector {
  const sel: NodeSelector = {};
  if (q.nodes !== undefined) sel.nodes = parseNodePatterns(q.nodes);
  if (q.labels !== undefined) sel.labels = parseLabelSelector(q.labels);
  if (q.arch !== undefined) sel.arch = q.arch;
  return sel;
}

export function matchesSelector(n: SelectableNode, sel: NodeSelector): boolean {
  if (sel.nodes && !sel.nodes.some((re) => re.test(n.name))) return false;
  if (sel.labels) {
    for (const c of sel.labels) {
      const v = n.labels[c.key];
      if (c.op === 'exists' ? v === undefined : c.op === '=' ? v !== c.value : v === c.value) {
        return false;
      }
    }
  }
  if (sel.arch !== undefined && n.arch !== sel.arch) return false;
  return true;
}

export function selectNodes<N extends SelectableNode>(nodes: readonly N[], sel: NodeSelector): N[] {
  return nodes.filter((n) => matchesSelector(n, sel));
}
