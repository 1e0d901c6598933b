import { parseAddressRange, type AddressRange } from '@app/domain';
import { ApiError } from './api-error';
import { RANGE_ALLOWED } from './dto/query-fields';

/**
 * range= (and clip=) of a query -> AddressRange through the one range parser; a bad range is a
 * 400 naming `range`, clip without range a 400 naming `clip`. `illumos`: illumos pmap -A rules.
 */
export function parseRangeParam(
  q: { range?: string; clip?: boolean },
  illumos = false,
): AddressRange | undefined {
  if (q.range === undefined) {
    if (q.clip) {
      throw new ApiError(400, 'clip needs a range', {
        parameter: 'clip',
        allowed: 'clip=true together with range=LOW[,HIGH]',
      });
    }
    return undefined;
  }
  try {
    return parseAddressRange(q.range, { clip: q.clip ?? false, illumos, field: 'range' });
  } catch (e) {
    throw new ApiError(400, (e as Error).message, { parameter: 'range', allowed: RANGE_ALLOWED });
  }
}
