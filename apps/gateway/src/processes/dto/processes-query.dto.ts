import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
  Validate,
  ValidatorConstraint,
  type ValidatorConstraintInterface,
} from 'class-validator';
import { FormatQuery, VeParam } from '../../common/dto/common-query';
import { Param } from '../../common/param-doc';
import { ToBool, ToInt } from '../../common/transforms';

@ValidatorConstraint({ name: 'isRegex' })
class IsRegexConstraint implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    if (typeof value !== 'string') return false;
    try {
      new RegExp(value);
      return true;
    } catch {
      return false;
    }
  }
  defaultMessage(): string {
    return 'name must be a valid regular expression (ECMAScript syntax)';
  }
}

export const PROCESS_SORTS = ['pid', 'rss', 'pss', 'swap'] as const;
export type ProcessSortName = (typeof PROCESS_SORTS)[number];

export class ProcessesQuery extends FormatQuery {
  @Param({
    required: false,
    description:
      'Regular expression (ECMAScript syntax) matched against the command name and the command line',
    example: '^nginx',
    allowed: 'an ECMAScript regular expression',
  })
  @IsOptional()
  @IsString()
  @MaxLength(1024)
  @Validate(IsRegexConstraint)
  name?: string;

  @Param({
    required: false,
    description: 'User name or numeric uid owning the processes',
    example: 'root',
  })
  @IsOptional()
  @IsString()
  @MaxLength(256)
  user?: string;

  @Param({
    required: false,
    description: "Substring of the process's cgroup (v2) path",
    example: 'system.slice',
  })
  @IsOptional()
  @IsString()
  @MaxLength(4096)
  cgroup?: string;

  @VeParam()
  ve?: number;

  @Param({
    required: false,
    description: 'Sort order: pid ascending (default), or rss/pss/swap descending',
    enum: [...PROCESS_SORTS],
  })
  @IsOptional()
  @IsIn([...PROCESS_SORTS], { message: `sort must be one of ${PROCESS_SORTS.join(', ')}` })
  sort?: ProcessSortName;

  @Param({
    required: false,
    description: 'At most this many processes, after sorting (default: all)',
    type: Number,
    minimum: 1,
    maximum: 1000000,
    allowed: 'an integer 1-1000000',
  })
  @IsOptional()
  @ToInt()
  @IsInt({ message: 'limit must be an integer' })
  @Min(1, { message: 'limit must be at least 1' })
  @Max(1000000, { message: 'limit must be at most 1000000' })
  limit?: number;

  @Param({
    required: false,
    description: 'Include kernel threads (they have no address space). Default false.',
    type: Boolean,
    allowed: ['true', 'false', '1', '0'],
  })
  @IsOptional()
  @ToBool()
  @IsBoolean({ message: 'kernelThreads must be true or false' })
  kernelThreads?: boolean;
}
