import { renderVePmap } from '@app/pmap-format';
import { readFixture } from '../../../test/fixtures/paths';
import { VE_DGEMM_MAP, VE_DGEMM_RECORDS, VE_P_MAP } from './testing/ve-fixtures';

const read = (name: string): string => readFixture('ve', 'pmap', name);

describe('renderVePmap reproduces the VE pmap output of the VE seed', () => {
  it('ve-pmap-default.txt: plain mode, full paths, [anon]/[stack]', () => {
    expect(renderVePmap(VE_P_MAP, { mode: 'default' })).toBe(read('ve-pmap-default.txt'));
  });

  it('ve-pmap-XX.txt: the fixed -XX column set with its quirks', () => {
    expect(renderVePmap(VE_DGEMM_MAP, { mode: 'XX' })).toBe(read('ve-pmap-XX.txt'));
  });

  it('-XX: the VmFlags column widens only from the row where a longer string appears', () => {
    const out = renderVePmap(VE_DGEMM_MAP, { mode: 'XX' }).split('\n');
    expect(out[2].endsWith('             VmFlagsMapping')).toBe(true);
    expect(out[3].endsWith('      0 rd ex mr mw me ht  dgemm')).toBe(true); // width 18
    expect(out[15].endsWith('      0       rd ex mr mw me  libc.so')).toBe(true); // width 21
  });

  it('-q drops header and footer but keeps the VE Node and PID lines', () => {
    const out = renderVePmap(VE_P_MAP, { mode: 'default', quiet: true });
    expect(out.split('\n').slice(0, 2)).toEqual(['VE Node: 0', '280646:   ./p']);
    expect(out).not.toContain('total');
  });

  it('-A selects whole VMAs', () => {
    const out = renderVePmap(VE_P_MAP, {
      mode: 'default',
      range: { low: 0x7f2560400000n, high: 0x7f2560400000n },
    });
    expect(out).toBe(
      'VE Node: 0\n280646:   ./p\n' +
        '00007f2560400000   2048K rw--- /opt/nec/ve/musl/lib/libc.so\n' +
        ' total             2048K\n',
    );
  });

  it('records carry 400-byte-struct data: sizes match start/end, never-filled fields are 0', () => {
    for (const r of VE_DGEMM_RECORDS) {
      expect((r.end - r.start) >> 10n).toBe(r.size);
      expect(r.sharedDirty + r.privateDirty + r.sharedClean + r.privateClean).toBe(0n);
      expect(r.vmflags.length).toBeLessThan(81);
      expect(r.mapDesc.length).toBeLessThan(128);
    }
    expect(VE_DGEMM_MAP.vmas[0].notProvided).toContain('Locked');
  });
});
