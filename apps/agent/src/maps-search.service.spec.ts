import { EventEmitter } from 'node:events';
import { readFileSync, realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { status } from '@grpc/grpc-js';
import { ProcReader } from '@app/procfs';
import { ListProcessesRequest, type SearchMapsRequest, type SearchMapsResponse } from '@app/proto';
import { GrpcStatusError } from './errors';
import { createLogger } from './logger';
import { MapsSearchService, type SearchCall } from './maps-search.service';
import { MemoryMapService } from './memory-map.service';
import { ProcessesService } from './processes.service';
import { VeService } from './ve.service';

/** A server stream that records what the handler writes (the gRPC transport is not under test). */
class RecordingCall extends EventEmitter {
  written: SearchMapsResponse[] = [];
  ended = false;
  cancelled = false;
  constructor(readonly request: SearchMapsRequest) {
    super();
  }
  write(m: SearchMapsResponse): boolean {
    this.written.push(m);
    return true;
  }
  end(): void {
    this.ended = true;
  }
}

const NO_VE = VeService.of(undefined, 'no VE in this spec');

function service(): MapsSearchService {
  const reader = new ProcReader();
  return new MapsSearchService(
    new ProcessesService(reader, NO_VE),
    new MemoryMapService(reader, 1000, NO_VE),
    createLogger('silent', {}),
  );
}

const mine = (extra: Partial<SearchMapsRequest>): SearchMapsRequest => ({
  processes: ListProcessesRequest.fromPartial({ pids: [process.pid] }),
  range: undefined,
  mappingRegex: '',
  matchRedactedNames: false,
  ...extra,
});

async function run(req: SearchMapsRequest): Promise<RecordingCall> {
  const call = new RecordingCall(req);
  await service().serve(call as unknown as SearchCall);
  return call;
}

/** This process's VMA names from /proc/self/maps (the oracle). */
function ownNames(): string[] {
  return readFileSync('/proc/self/maps', 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(/\s+/).slice(5).join(' '));
}

describe('MapsSearchService (agent SearchMaps)', () => {
  it('keeps the VMAs whose name matches the regex, with the counts in the last message', async () => {
    const call = await run(mine({ mappingRegex: '\\[(heap|stack)\\]' }));
    expect(call.ended).toBe(true);
    const last = call.written.at(-1)!;
    expect(last).toMatchObject({ last: true, scanned: 1, vanished: 0 });
    const matches = call.written.flatMap((m) => m.matches);
    expect(matches).toHaveLength(1);
    expect(matches[0].process?.pid).toBe(process.pid);
    const names = matches[0].vmas.map((v) => v.name);
    expect(names.length).toBeGreaterThan(0);
    expect(names.every((n) => n === '[heap]' || n === '[stack]')).toBe(true);
    expect(names).toContain('[stack]');
    expect(ownNames()).toContain('[stack]');
  });

  it('applies the range: one address selects the VMA containing it (pmap -A)', async () => {
    const line = readFileSync('/proc/self/maps', 'utf8')
      .split('\n')
      .find((l) => l.endsWith('[stack]'))!;
    const [lo] = line.split(' ')[0].split('-');
    const addr = BigInt(`0x${lo}`) + 8n;
    const call = await run(mine({ range: { low: addr, high: addr, clip: false } }));
    const vmas = call.written.flatMap((m) => m.matches).flatMap((m) => m.vmas);
    expect(vmas.map((v) => v.name)).toEqual(['[stack]']);
  });

  it('with match_redacted_names, matches the names as redaction shows them, never the full paths', async () => {
    // this process maps its node binary: full path process.execPath, redacted its last component
    const full = realpathSync(process.execPath);
    const base = basename(full);
    const esc = (t: string): string => t.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    const names = async (req: Partial<SearchMapsRequest>): Promise<string[]> =>
      (await run(mine(req))).written
        .flatMap((m) => m.matches)
        .flatMap((m) => m.vmas.map((v) => v.name));
    expect(await names({ mappingRegex: `^${esc(base)}$` })).toEqual([]);
    const byBase = await names({ mappingRegex: `^${esc(base)}$`, matchRedactedNames: true });
    expect(byBase.length).toBeGreaterThan(0);
    expect(byBase.every((n) => n === full)).toBe(true); // the answer carries the name (the gateway redacts it)
    expect(await names({ mappingRegex: `^${esc(full)}$` })).toContain(full);
    expect(await names({ mappingRegex: `^${esc(full)}$`, matchRedactedNames: true })).toEqual([]);
  });

  it('answers no match, not an error, when nothing maps the name', async () => {
    const call = await run(mine({ mappingRegex: 'no-such-library-\\d{9}' }));
    expect(call.written).toEqual([
      { matches: [], last: true, scanned: 1, unreadable: 0, vanished: 0 },
    ]);
  });

  it('refuses a request without range or mapping, and a regex that could backtrack', () => {
    const svc = service();
    const codeOf = (req: SearchMapsRequest): number | undefined => {
      try {
        svc.prepare(req);
      } catch (e) {
        return (e as GrpcStatusError).code;
      }
      return undefined;
    };
    expect(codeOf(mine({}))).toBe(status.INVALID_ARGUMENT);
    expect(codeOf(mine({ mappingRegex: '(a+)+\\1$' }))).toBe(status.INVALID_ARGUMENT);
    expect(codeOf(mine({ mappingRegex: '(' }))).toBe(status.INVALID_ARGUMENT);
    expect(codeOf(mine({ mappingRegex: 'libc' }))).toBeUndefined();
  });

  it('stops when the call is cancelled', async () => {
    const call = new RecordingCall(
      mine({ processes: ListProcessesRequest.fromPartial({}), mappingRegex: '.' }),
    );
    call.cancelled = true;
    await service().serve(call as unknown as SearchCall);
    expect(call.written).toEqual([]);
    expect(call.ended).toBe(false);
  });
});
