import { spawn, type ChildProcess } from 'node:child_process';
import { ProcReader } from '@app/procfs';
import { DetailLevel, GetMemoryMapRequest, PmapView } from '@app/proto';
import { renderText } from './map-text';
import { MemoryMapService } from './memory-map.service';
import { VeService } from './ve.service';

const NO_VE = VeService.of(undefined, 'no VE in this spec');

describe('MemoryMapService.readRendered (text rendered while the map is read)', () => {
  let child: ChildProcess;
  let pid: number;
  const maps = new MemoryMapService(new ProcReader(), 1000, NO_VE);

  beforeAll(() => {
    // a process whose map does not change while it is read twice
    child = spawn('sleep', ['600'], { stdio: 'ignore' });
    pid = child.pid!;
  });

  afterAll(() => {
    child.kill('SIGKILL');
  });

  const request = (fields: Partial<GetMemoryMapRequest>): GetMemoryMapRequest =>
    GetMemoryMapRequest.fromPartial({ pid, ...fields });

  /** The text the VMA path renders for the request (read + renderText). */
  async function viaVmas(req: GetMemoryMapRequest): Promise<string> {
    const q = maps.toQuery(req);
    return renderText(await maps.read(q), q.text!, q.range).toString();
  }

  it('gives what read + renderText give for plain, -x and -d, with -q, -p, a range, redaction', async () => {
    const first = (await maps.read(maps.toQuery(request({})))).vmas;
    expect(first.length).toBeGreaterThan(5);
    const range = { low: first[2].start, high: first[3].start };
    const views = [
      PmapView.PMAP_VIEW_DEFAULT,
      PmapView.PMAP_VIEW_EXTENDED,
      PmapView.PMAP_VIEW_DEVICE,
    ];
    for (const textView of views) {
      for (const extra of [
        {},
        { quiet: true },
        { showPath: true, kernelNames: true },
        { range },
        { redact: true, showPath: true },
      ] as Partial<GetMemoryMapRequest>[]) {
        const req = request({ textView, ...extra });
        const q = maps.toQuery(req);
        const got = await maps.readRendered(q);
        expect(got).toBeDefined();
        const want = await viaVmas(req);
        expect(got!.text.toString()).toBe(want);
        expect(got!.header.pid).toBe(pid);
        if (extra.range) expect(got!.vmas).toBe(2);
        else expect(got!.vmas).toBe(first.length);
        if (extra.redact) expect(got!.text.toString()).not.toMatch(/\/usr\//);
      }
    }
    // the smaps views read what they show
    expect(maps.toQuery(request({ textView: PmapView.PMAP_VIEW_EXTENDED })).detail).toBe('smaps');
  });

  it('is undefined for the views that need the whole map, and for VMAs', async () => {
    for (const textView of [
      PmapView.PMAP_VIEW_SMAPS,
      PmapView.PMAP_VIEW_SMAPS_ALL,
      PmapView.PMAP_VIEW_ILLUMOS,
    ]) {
      expect(await maps.readRendered(maps.toQuery(request({ textView })))).toBeUndefined();
    }
    const vmas = request({ detail: DetailLevel.DETAIL_LEVEL_SMAPS });
    expect(await maps.readRendered(maps.toQuery(vmas))).toBeUndefined();
  });

  it('fails as read does for a process that does not exist', async () => {
    const gone = spawn('true');
    await new Promise((r) => gone.once('exit', r));
    const q = maps.toQuery(
      GetMemoryMapRequest.fromPartial({ pid: gone.pid, textView: PmapView.PMAP_VIEW_DEFAULT }),
    );
    await expect(maps.readRendered(q)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
