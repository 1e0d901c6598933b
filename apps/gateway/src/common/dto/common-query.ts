import { IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';
import { Param } from '../param-doc';
import { ToInt } from '../transforms';
import type { ResponseFormat } from '../request-context';

export const MAX_TIMEOUT_MS = 600_000;

/** Parameters every agent-backed endpoint accepts. */
export class AgentQuery {
  @Param({
    required: false,
    description:
      "Deadline of the call to the agent in milliseconds (default: the gateway's requestTimeoutMs, 10000). Exceeded: 504.",
    type: Number,
    minimum: 1,
    maximum: MAX_TIMEOUT_MS,
    allowed: `an integer number of milliseconds, 1-${MAX_TIMEOUT_MS}`,
  })
  @IsOptional()
  @ToInt()
  @IsInt({ message: 'timeout must be an integer number of milliseconds' })
  @Min(1, { message: 'timeout must be at least 1 ms' })
  @Max(MAX_TIMEOUT_MS, { message: `timeout must be at most ${MAX_TIMEOUT_MS} ms` })
  timeout?: number;
}

export class FormatQuery extends AgentQuery {
  @Param({
    required: false,
    description:
      'Response format. Default json; text is also chosen by "Accept: text/plain". This parameter wins over Accept.',
    enum: ['json', 'text'],
  })
  @IsOptional()
  @IsIn(['json', 'text'], { message: 'format must be json or text' })
  format?: ResponseFormat;
}

export const VeParam = (): PropertyDecorator => {
  const decorators = [
    Param({
      required: false,
      description:
        "NEC Vector Engine node number: query that VE node's processes instead of the host's (Linux) ones.",
      type: Number,
      minimum: 0,
      maximum: 4294967295,
      allowed: "a VE node number (0, 1, ...) as listed in the node's veNodes",
    }),
    IsOptional(),
    ToInt(),
    IsInt({ message: 've must be a VE node number' }),
    Min(0, { message: 've must be a VE node number (0 or more)' }),
    Max(4294967295, { message: 've must be a VE node number' }),
  ];
  return (target, key) => {
    for (const d of decorators.reverse()) d(target, key);
  };
};
