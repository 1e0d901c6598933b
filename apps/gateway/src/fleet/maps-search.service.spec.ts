import { fleetRouteService } from './testing-module';
import type { ApiError } from '../common/api-error';
import type { MapMatchDto } from './dto/fleet-result.dto';
import { MapsSearchService } from './maps-search.service';

const searchService = (): Promise<MapsSearchService> => fleetRouteService(MapsSearchService);

const match = (node: string, pid: number, vmas: number): MapMatchDto => ({
  node,
  pid,
  comm: 'c',
  cmdline: 'c',
  user: 'u',
  cgroup: '/',
  vmas: Array.from({ length: vmas }, () => ({
    start: '0x1000',
    end: '0x2000',
    size: 4096,
    perms: 'r--p',
    offset: '0x0',
    device: '00:00',
    inode: '0',
    name: 'libx.so',
    kind: 'file',
  })),
});

describe('MapsSearchService', () => {
  it('refuses a search without range or mapping, and a bad mapping, naming the parameter', async () => {
    const svc = await searchService();
    const bodyOf = (q: Record<string, string>): unknown => {
      try {
        svc.parseSearch(q);
      } catch (e) {
        return (e as ApiError).body;
      }
      return undefined;
    };
    expect(bodyOf({})).toMatchObject({ statusCode: 400, parameter: 'range' });
    expect(bodyOf({ mapping: '(' })).toMatchObject({ statusCode: 400, parameter: 'mapping' });
    const ok = svc.parseSearch({ range: '7f0000000000,7fffffffffff', mapping: 'libssl' });
    expect(ok.range).toEqual({ low: 0x7f0000000000n, high: 0x7fffffffffffn });
    expect(ok.mapping!.test('/usr/lib/libssl.so.3')).toBe(true);
  });

  it('summarises node parts by node name with totals', async () => {
    const svc = await searchService();
    const out = svc.summary(
      { mapping: 'libx' },
      undefined,
      {
        queried: 3,
        responded: 2,
        failed: [{ node: 'n0', code: 'UNAVAILABLE', message: 'down' }],
        outcomes: [],
        results: [
          {
            node: 'n2',
            durationMs: 2,
            value: {
              node: 'n2',
              scanned: 5,
              unreadable: 1,
              vanished: 0,
              matched: 1,
              vmaCount: 1,
              matches: [match('n2', 9, 1)],
            },
          },
          {
            node: 'n1',
            durationMs: 1,
            value: {
              node: 'n1',
              scanned: 3,
              unreadable: 0,
              vanished: 1,
              matched: 2,
              vmaCount: 3,
              matches: [match('n1', 4, 2), match('n1', 7, 1)],
            },
          },
        ],
      },
      5000,
    );
    expect(out.matches.map((m) => `${m.node}/${m.pid}`)).toEqual(['n1/4', 'n1/7', 'n2/9']);
    expect(out.nodes.map((n) => [n.node, n.matched])).toEqual([
      ['n1', 2],
      ['n2', 1],
    ]);
    expect(out.totals).toEqual({ processes: 3, vmas: 4, scanned: 8, unreadable: 1 });
    expect(out).toMatchObject({ queried: 3, responded: 2, range: null, mapping: 'libx' });
  });
});
