import { IsInt, IsString, Matches, Max, Min } from 'class-validator';
import { Param } from '../param-doc';
import { ToInt } from '../transforms';

export class NodeParams {
  @Param({
    description: 'Node name as listed by GET /v1/nodes',
    example: 'node-a',
    allowed: 'a node name from GET /v1/nodes',
  })
  @IsString()
  @Matches(/^[^/]{1,253}$/, { message: 'node must be a node name' })
  node!: string;
}

export class PidParams extends NodeParams {
  @Param({
    description: 'Process id on that node',
    type: Number,
    example: 1234,
    minimum: 1,
    maximum: 2147483647,
    allowed: 'a decimal process id, 1-2147483647',
  })
  @ToInt()
  @IsInt({ message: 'pid must be a decimal process id' })
  @Min(1, { message: 'pid must be at least 1' })
  @Max(2147483647, { message: 'pid must be at most 2147483647' })
  pid!: number;
}
