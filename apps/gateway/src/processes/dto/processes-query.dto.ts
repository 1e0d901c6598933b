import { FormatQuery } from '../../common/dto/common-query';
import {
  BoolParam,
  CgroupFilterParam,
  EnumParam,
  IntParam,
  NameFilterParam,
  UserFilterParam,
  VeParam,
} from '../../common/dto/query-fields';

export const PROCESS_SORTS = ['pid', 'rss', 'pss', 'swap'] as const;
export type ProcessSortName = (typeof PROCESS_SORTS)[number];

export class ProcessesQuery extends FormatQuery {
  @NameFilterParam('^nginx')
  name?: string;

  @UserFilterParam('User name or numeric uid owning the processes')
  user?: string;

  @CgroupFilterParam()
  cgroup?: string;

  @VeParam()
  ve?: number;

  @EnumParam('Sort order: pid ascending (default), or rss/pss/swap descending', PROCESS_SORTS)
  sort?: ProcessSortName;

  @IntParam('At most this many processes, after sorting (default: all)', 1, 1000000)
  limit?: number;

  @BoolParam('Include kernel threads (they have no address space). Default false.')
  kernelThreads?: boolean;
}
