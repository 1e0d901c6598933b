import { ApiError } from '../common/api-error';
import {
  globMatcher,
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
    expect(globMatcher('rack2-*').test('rack2-a')).toBe(true);
    expect(globMatcher('n?').test('n12')).toBe(false);
    expect(globMatcher('a.b').test('axb')).toBe(false);
    expect(globMatcher('a.b').test('a.b')).toBe(true);
    expect(globMatcher('h:1?').test('h:12')).toBe(true);
    expect(globMatcher('**x**').test('axb')).toBe(true);
  });

  test('globs run in linear time: a backtracking glob over long names answers', () => {
    // As an ECMAScript RegExp, ^.*a.*a…b$ over 250 a's would take longer than the test's life.
    const hostile = globMatcher('*a'.repeat(60) + '*b');
    const longName = 'a'.repeat(250);
    expect(hostile.test(longName)).toBe(false);
    expect(hostile.test(longName + 'b')).toBe(true);
    // The longest pattern NODE_PATTERN lets through still compiles.
    expect(globMatcher('?*'.repeat(126) + '?').test('x'.repeat(200))).toBe(true);
    expect(
      names({ nodes: '*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*X' }),
    ).toEqual([]);
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
