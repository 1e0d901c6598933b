import { Transform } from 'class-transformer';

/** A strict decimal integer from a query/path string; anything else stays as is and fails @IsInt. */
export const ToInt = (): PropertyDecorator =>
  Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' && /^-?\d{1,16}$/.test(value) ? Number(value) : value,
  );

/** true/false/1/0 (and a bare flag `?quiet`) to boolean; anything else stays and fails @IsBoolean. */
export const ToBool = (): PropertyDecorator =>
  Transform(({ value }: { value: unknown }) => {
    if (value === 'true' || value === '1' || value === '') return true;
    if (value === 'false' || value === '0') return false;
    return value;
  });
