/**
 * Redaction for tokens without the `unredacted` scope, applied to the agents' answers before the
 * gateway renders anything (so JSON, text/plain, NDJSON and SSE are all redacted):
 *   - command lines become the command name (comm, as `ps -o comm` shows it; "[comm]" for kernel
 *     threads stays);
 *   - mapping paths become their last component ("/home/alice/x/libfoo.so" -> "libfoo.so", the
 *     column pmap prints without -p); bracketed names ([heap], [anon:x]) and anonymous mappings
 *     are kept.
 * Addresses, sizes, permissions and kinds are kept: they are what a memory map is for.
 * The rules themselves are @app/domain's (redactPath, redactCmdline): pmap text the agent renders
 * is redacted by the agent (GetMemoryMapRequest.redact, set by the agent interceptor of
 * security.service.ts), with the same rules.
 */
import { redactCmdline, redactPath } from '@app/domain';
import type {
  GetHistogramResponse,
  GetMemoryMapResponse,
  ListProcessesResponse,
  ProcessHeader,
  SearchMapsResponse,
  Vma,
  WatchMemoryMapResponse,
} from '@app/proto';

export { redactCmdline, redactPath };

function header(h: ProcessHeader | undefined): void {
  if (h) h.cmdline = redactCmdline(h.cmdline, h.comm);
}

function vma(v: Pick<Vma, 'name'> | undefined): void {
  if (v) v.name = redactPath(v.name);
}

/** Redacts an agent message in place, by RPC name; returns it. */
export function redactMessage(rpc: string, message: unknown): unknown {
  if (message === null || typeof message !== 'object') return message;
  switch (rpc) {
    case 'ListProcesses':
      for (const p of (message as ListProcessesResponse).processes ?? []) {
        p.cmdline = redactCmdline(p.cmdline, p.comm);
      }
      break;
    case 'SearchMaps':
      for (const m of (message as SearchMapsResponse).matches ?? []) {
        if (m.process) m.process.cmdline = redactCmdline(m.process.cmdline, m.process.comm);
        for (const v of m.vmas ?? []) vma(v);
      }
      break;
    case 'GetMemoryMap': {
      const m = message as GetMemoryMapResponse;
      header(m.header);
      for (const v of m.vmas ?? []) vma(v);
      break;
    }
    case 'GetHistogram': {
      const m = message as GetHistogramResponse;
      header(m.header);
      for (const v of m.vmas ?? []) vma(v);
      break;
    }
    case 'WatchMemoryMap': {
      const m = message as WatchMemoryMapResponse;
      header(m.header);
      for (const v of m.added ?? []) vma(v);
      for (const v of m.removed ?? []) vma(v);
      for (const c of m.changed ?? []) {
        vma(c.before);
        vma(c.after);
      }
      break;
    }
  }
  return message;
}
