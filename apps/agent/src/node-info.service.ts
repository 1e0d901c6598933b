/**
 * GetNodeInfo: what this node is and what the agent can read on it. Capabilities are probed once
 * at startup (probeCapabilities from @app/procfs) and cached; the answer never changes while the
 * agent runs.
 */
import type { Capabilities as ProcCapabilities, NodeBasics } from '@app/procfs';
import type { NodeInfo } from '@app/proto';
import type { AgentConfig } from './config';
import { VE_FEATURE, type VeService } from './ve.service';
import { histogramFeatures } from './histogram.service';

/** RPC features this agent implements (NodeInfo.capabilities.features). */
export const FEATURES = ['maps', 'smaps', 'processes', 'watch'] as const;

export const VE_LIBRARY_NOTE = 'libveosinfo not found: VE nodes not served';

export class NodeInfoService {
  private readonly info: NodeInfo;

  constructor(
    config: Pick<AgentConfig, 'nodeName'>,
    capabilities: ProcCapabilities,
    basics: NodeBasics,
    agentVersion: string,
    /** VE nodes (ve.service.ts): veLibrary, veNodes (read per call), notes. */
    private readonly ve: VeService,
  ) {
    const notes = [...capabilities.notes, VE_LIBRARY_NOTE];
    this.info = {
      nodeName: config.nodeName,
      hostname: basics.hostname,
      kernelRelease: basics.kernelRelease,
      arch: basics.arch,
      pageSize: capabilities.pageSize,
      agentVersion,
      capabilities: {
        pfnsReadable: capabilities.pfnsReadable,
        pagemapScan: capabilities.pagemapScan,
        numaNodes: [...capabilities.numaNodes],
        readOtherUsers: capabilities.readOtherUsers,
        kpageflagsReadable: capabilities.kpageflagsReadable,
        veLibrary: false,
        features: [...FEATURES, ...histogramFeatures(capabilities)],
        notes,
      },
      veNodes: [],
      bootTimeMs: BigInt(Math.max(0, Math.round(basics.bootTimeMs))),
      hugePageSizes: [...capabilities.hugePageSizes],
      cpuCount: basics.cpuCount,
      memTotal: basics.memTotal,
    };
  }

  /** Human-readable limits of this agent (logged at startup). */
  get notes(): readonly string[] {
    return this.getNodeInfo().capabilities?.notes ?? [];
  }

  getNodeInfo(): NodeInfo {
    const caps = this.info.capabilities;
    if (!caps) return this.info;
    const ve = this.ve.nodeInfo();
    return {
      ...this.info,
      veNodes: ve.veNodes,
      capabilities: {
        ...caps,
        veLibrary: ve.veLibrary,
        features: ve.veLibrary ? [...caps.features, VE_FEATURE] : caps.features,
        notes: [...caps.notes.filter((n) => n !== VE_LIBRARY_NOTE), ...(ve.note ? [ve.note] : [])],
      },
    };
  }
}
