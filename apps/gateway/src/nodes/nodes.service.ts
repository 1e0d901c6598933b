import { Injectable } from '@nestjs/common';
import { ClusterService, type NodeState } from '../cluster/cluster.service';
import { size } from '../common/json';
import type { NodeDto } from './dto/node.dto';

@Injectable()
export class NodesService {
  constructor(private readonly cluster: ClusterService) {}

  list(): NodeDto[] {
    return this.cluster.list().map((n) => this.toJson(n));
  }

  get(name: string): NodeDto {
    return this.toJson(this.cluster.get(name));
  }

  private toJson(n: NodeState): NodeDto {
    const i = n.info;
    const out: NodeDto = {
      name: n.name,
      address: n.address,
      source: n.source,
      labels: n.labels,
      status: n.status,
      lastSeen: n.lastSeen ? n.lastSeen.toISOString() : null,
      latencyMs: n.status === 'up' ? (n.latencyMs ?? null) : null,
      infoReadAt: n.infoReadAt ? n.infoReadAt.toISOString() : null,
      hostname: i?.hostname ?? null,
      arch: i?.arch ?? null,
      kernel: i?.kernelRelease ?? null,
      pageSize: i ? Number(i.pageSize) : null,
      agentVersion: i?.agentVersion ?? null,
      cpuCount: i?.cpuCount ?? null,
      memTotal: i ? size(i.memTotal) : null,
      bootTime: i && i.bootTimeMs > 0n ? new Date(Number(i.bootTimeMs)).toISOString() : null,
      hugePageSizes: i ? i.hugePageSizes.map(size) : [],
      capabilities: i?.capabilities
        ? {
            pfnsReadable: i.capabilities.pfnsReadable,
            pagemapScan: i.capabilities.pagemapScan,
            numaNodes: i.capabilities.numaNodes,
            readOtherUsers: i.capabilities.readOtherUsers,
            kpageflagsReadable: i.capabilities.kpageflagsReadable,
            veLibrary: i.capabilities.veLibrary,
            features: i.capabilities.features,
            notes: i.capabilities.notes,
          }
        : null,
      veNodes: (i?.veNodes ?? []).map((v) => ({
        node: v.node,
        state: v.state,
        osState: v.osState,
        processCount: v.processCount,
      })),
    };
    const err = n.status === 'down' ? n.lastError : n.infoError;
    if (err) out.error = err;
    return out;
  }
}
