import { HttpException } from '@nestjs/common';

/** The JSON body of every error the gateway answers. */
export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  /** The request parameter at fault (path, query or header name), when one is. */
  parameter?: string;
  /** What that parameter accepts. */
  allowed?: string[] | string;
  /** The node the request was for, when an agent answered the error. */
  node?: string;
  /** The agent's machine-readable reason (AGENT_BUSY, READ_STUCK...), when an agent gave one. */
  reason?: string;
}

export const HTTP_REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  499: 'Client Closed Request',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function reason(status: number): string {
  return HTTP_REASONS[status] ?? (status >= 500 ? 'Server Error' : 'Client Error');
}

/** An error with a prepared body; the exception filter sends it as is. */
export class ApiError extends HttpException {
  readonly body: ErrorBody;
  constructor(
    status: number,
    message: string,
    extra: { parameter?: string; allowed?: string[] | string; node?: string } = {},
  ) {
    const body: ErrorBody = { statusCode: status, error: reason(status), message, ...extra };
    super(body, status);
    this.body = body;
  }
}

export function badParameter(
  parameter: string,
  message: string,
  allowed?: string[] | string,
): ApiError {
  return new ApiError(400, message, allowed === undefined ? { parameter } : { parameter, allowed });
}
