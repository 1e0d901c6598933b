import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeState, readOsState, readTaskIds, sysfsNodes } from './sysfs';
import { veErrnoCode } from './veosinfo';

describe('VE sysfs and errno helpers', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'pmapd-ve-sysfs-'));
    for (const [n, os, tasks] of [
      [0, '0\n', '280646 396729\n'],
      [3, '2\n', ''],
      [10, 'garbage', '\t12  \n 7\n0 x9'],
    ] as const) {
      mkdirSync(join(root, `ve${n}`));
      writeFileSync(join(root, `ve${n}`, 'os_state'), os);
      writeFileSync(join(root, `ve${n}`, 'task_id_all'), tasks);
    }
    mkdirSync(join(root, 'vex'));
    mkdirSync(join(root, 've'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('finds the veN directories in numeric order', () => {
    expect(sysfsNodes(root)).toEqual([0, 3, 10]);
    expect(sysfsNodes(join(root, 'missing'))).toEqual([]);
  });

  it('reads os_state and task_id_all', () => {
    expect(readOsState(root, 0)).toBe(0);
    expect(readOsState(root, 3)).toBe(2);
    expect(readOsState(root, 10)).toBe(-1);
    expect(readOsState(root, 4)).toBe(-1);
    expect(readTaskIds(root, 0)).toEqual([280646, 396729]);
    expect(readTaskIds(root, 3)).toEqual([]);
    expect(readTaskIds(root, 10)).toEqual([12, 7, 9]);
    expect(readTaskIds(root, 4)).toEqual([]);
  });

  it('reads the sample tree in test/fixtures/ve/sysfs (the seed pids)', () => {
    const sample = join(__dirname, '..', '..', '..', 'test', 'fixtures', 've', 'sysfs');
    expect(sysfsNodes(sample)).toEqual([0, 1]);
    expect(readOsState(sample, 0)).toBe(0);
    expect(readOsState(sample, 1)).toBe(1);
    expect(readTaskIds(sample, 0)).toEqual([280646, 396729]);
    expect(readTaskIds(sample, 1)).toEqual([]);
  });

  it('maps os_state / ve_state to node states', () => {
    expect(nodeState(0, 1)).toBe('online');
    expect(nodeState(1, 1)).toBe('offline');
    expect(nodeState(2, 1)).toBe('initializing');
    expect(nodeState(3, 1)).toBe('offline');
    expect(nodeState(0, 3)).toBe('maintenance');
    expect(nodeState(-1, -1)).toBe('unknown');
    expect(nodeState(7, 1)).toBe('unknown');
  });

  it('maps libveosinfo errno values to PmapError codes', () => {
    const e = osConstants.errno;
    expect(veErrnoCode(e.ESRCH)).toBe('NOT_FOUND');
    expect(veErrnoCode(e.ENOENT)).toBe('NOT_FOUND');
    expect(veErrnoCode(e.EACCES)).toBe('PERMISSION_DENIED');
    expect(veErrnoCode(e.EPERM)).toBe('PERMISSION_DENIED');
    expect(veErrnoCode(e.EINVAL)).toBe('INVALID_ARGUMENT');
    expect(veErrnoCode(e.ECONNREFUSED)).toBe('UNAVAILABLE');
    expect(veErrnoCode(0)).toBe('UNAVAILABLE');
  });
});
