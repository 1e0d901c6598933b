import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiResponse } from '@nestjs/swagger';
import { reason } from './api-error';

export class ErrorDto {
  @ApiProperty({ example: 400 }) statusCode!: number;
  @ApiProperty({ example: 'Bad Request' }) error!: string;
  @ApiProperty({ example: "view must be one of default, x, X, XX, d, illumos (got 'y')" })
  message!: string;
  @ApiPropertyOptional({ description: 'The request parameter at fault', example: 'view' })
  parameter?: string;
  @ApiPropertyOptional({
    description: 'What that parameter accepts (a list of values, or a description)',
    oneOf: [{ type: 'array', items: { type: 'string' } }, { type: 'string' }],
  })
  allowed?: string[] | string;
  @ApiPropertyOptional({ description: 'The node whose agent answered the error' }) node?: string;
  @ApiPropertyOptional({
    description:
      "The agent's machine-readable reason, when an agent answered the error (docs/agent.md): AGENT_BUSY, READ_STUCK, PROCESS_EXITED, PROCESS_NOT_FOUND, PERMISSION_DENIED, INVALID_FIELD, DEADLINE...",
    example: 'READ_STUCK',
  })
  reason?: string;
}

const MEANING: Record<number, string> = {
  400: 'A parameter is invalid (the body names it and what it accepts), or the agent rejected the request',
  403: 'The agent may not read that process',
  404: 'Unknown node, or no such process',
  412: 'The agent lacks a capability the request needs',
  501: 'The agent does not implement this yet',
  503: "The node's agent is unreachable",
  504: 'The agent did not answer within the deadline (timeout parameter)',
};

/** Documents the error answers of a route (all share ErrorDto). */
export function ApiErrors(...codes: number[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...codes.map((status) =>
      ApiResponse({ status, description: MEANING[status] ?? reason(status), type: ErrorDto }),
    ),
    ApiResponse({
      status: 500,
      description: 'Unexpected gateway error (generic body, logged)',
      type: ErrorDto,
    }),
  );
}
