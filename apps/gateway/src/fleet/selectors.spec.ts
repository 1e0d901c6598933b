import { ApiError } from '../common/api-error';
import {
  globToRegExp,
  parseLabelSelector,
  parseSelector,
  selectNodes,
  type SelectableNode,
} from './selectors';

const nodes: SelectableNode[] = [
  { name: 'n1', labels: { rack: 'r1', zone: 'a' }, arch: 'x86_64' },
  { name: 'n2', labels: { rack: 'r1', zone: 'b', gpu: 'yes' }, arch: 'x86_64' },
  { name: 'rack2-a', labels: { rack: 'r2' }, arch: 'aarch64' },
  { name: 'rack2-b', labels: {}, arch: undefined },
];

const names = (q: Parameters<typeof parseSelector>[0]): string[] =>
  selectNodes(nodes, parseSelector(q)).map((n) => n.name);

describe('node selectors', () => {
  test('globs: * and ? anchored; other characters literal', () => {
    expect(globToRegExp('rack2-*').test('rack2-a')).toBe(true);
    expect(globToRegExp('n?').test('n12')).toBe(false);
    expect(globToRegExp('a.b').test('axb')).toBe(false);
  });

  test('nodes: names and globs, any matches', () => {
    expect(names({})).toEqual(['n1', 'n2', 'rack2-a', 'rack2-b']);
    expect(names({ nodes: 'n1,rack2-*' })).toEqual(['n1', 'rack2-a', 'rack2-b']);
    expect(names({ nodes: 'n?' })).toEqual(['n1', 'n2']);
    expect(names({ nodes: 'nope' })).toEqual([]);
  });

  test('labels: k=v, k!=v, k (present); all must hold', () => {
    expect(names({ labels: 'rack=r1' })).toEqual(['n1', 'n2']);
    expect(names({ labels: 'rack=r1,zone!=a' })).toEqual(['n2']);
    expect(names({ labels: 'gpu' })).toEqual(['n2']);
    expect(names({ labels: 'rack!=r1' })).toEqual(['rack2-a', 'rack2-b']);
  });

  test('arch: nodes whose agent never answered are not selected', () => {
    expect(names({ arch: 'x86_64' })).toEqual(['n1', 'n2']);
    expect(names({ arch: 'aarch64', nodes: 'rack2-*' })).toEqual(['rack2-a']);
  });

  test('malformed selectors are 400 naming the parameter', () => {
    const err = (f: () => unknown): ApiError => {
      try {
        f();
      } catch (e) {
        return e as ApiError;
      }
      throw new Error('accepted');
    };
    expect(err(() => parseSelector({ nodes: 'a,,b' })).body).toMatchObject({
      statusCode: 400,
      parameter: 'nodes',
    });
    expect(err(() => parseLabelSelector('=x')).body).toMatchObject({ parameter: 'labels' });
    expect(err(() => parseLabelSelector('a=b=c')).body).toMatchObject({ parameter: 'labels' });
  });
});
