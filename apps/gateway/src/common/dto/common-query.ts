import { IntParam, EnumParam } from './query-fields';
import type { ResponseFormat } from '../request-context';

export const MAX_TIMEOUT_MS = 600_000;

export const FORMAT_DESCRIPTION =
  'Response format. Default json; text is also chosen by "Accept: text/plain". This parameter wins over Accept.';

/** format=json|text (per-endpoint description). */
export const FormatParam = (description = FORMAT_DESCRIPTION): PropertyDecorator =>
  EnumParam(description, ['json', 'text'], { message: 'format must be json or text' });

/** Parameters every agent-backed endpoint accepts. */
export class AgentQuery {
  @IntParam(
    "Deadline of the call to the agent in milliseconds (default: the gateway's requestTimeoutMs, 10000). Exceeded: 504.",
    1,
    MAX_TIMEOUT_MS,
    'ms',
  )
  timeout?: number;
}

export class FormatQuery extends AgentQuery {
  @FormatParam()
  format?: ResponseFormat;
}
