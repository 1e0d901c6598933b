import { ProcReader } from '@app/procfs';
import { AgentMetrics, instrumentReader } from './observability';

describe('instrumentReader', () => {
  it('times every /proc file read by file name, including reads inside other methods', async () => {
    const metrics = new AgentMetrics();
    const reader = instrumentReader(new ProcReader(), metrics);
    reader.readMemoryMap(process.pid, { detail: 'smaps' });
    const list = reader.listProcesses({ pids: [process.pid] });
    expect(list.processes[0].pid).toBe(process.pid);
    const text = await metrics.registry.getSingleMetricAsString('pmapd_agent_proc_read_seconds');
    for (const file of ['smaps', 'stat', 'status', 'smaps_rollup']) {
      expect(text).toMatch(
        new RegExp(`pmapd_agent_proc_read_seconds_count\\{file="${file}"\\} [1-9]`),
      );
    }
    expect(text).not.toMatch(/pid=/);
  });
});
