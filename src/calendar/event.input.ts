import { ArrayMaxSize, IsEmail, IsOptional, Length, MaxLength } from 'class-validator';
import { Field, InputType } from 'type-graphql';
import { DateTimeValue } from './date-time.scalar';

const MAX_ATTENDEES = 200;
const MAX_RECURRENCE_LINES = 10;

/** The fields an event's input and patch share (all optional in both). */
@InputType()
abstract class EventFields {
  @Field(() => String, { nullable: true })
  @IsOptional()
  @MaxLength(1024)
  title?: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'IANA time zone, e.g. America/Los_Angeles (required for recurring timed events).',
  })
  @IsOptional()
  @Length(1, 64)
  timeZone?: string | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @MaxLength(8192)
  description?: string | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @MaxLength(1024)
  location?: string | null;

  @Field(() => [String], { nullable: true })
  @IsOptional()
  @ArrayMaxSize(MAX_ATTENDEES)
  @IsEmail({}, { each: true, message: '"$value" is not an email address' })
  attendees?: string[] | null;

  @Field(() => [String], {
    nullable: true,
    description: 'RRULE / EXDATE / RDATE / EXRULE lines, e.g. "RRULE:FREQ=WEEKLY;COUNT=10".',
  })
  @IsOptional()
  @ArrayMaxSize(MAX_RECURRENCE_LINES)
  @MaxLength(500, { each: true })
  recurrence?: string[] | null;
}

@InputType('EventInput')
export class EventInput extends EventFields {
  @Field(() => DateTimeValue)
  start: DateTimeValue;

  @Field(() => DateTimeValue, {
    description: 'Exclusive. All-day: the date after the last day (a same-day end means one day).',
  })
  end: DateTimeValue;

  @Field(() => Boolean, { nullable: true, defaultValue: false })
  allDay?: boolean | null;
}

@InputType('EventPatch', {
  description: 'The fields to change (absent: unchanged). etag: the version you edited; a stale one answers CONFLICT.',
})
export class EventPatch extends EventFields {
  @Field(() => DateTimeValue, { nullable: true })
  @IsOptional()
  start?: DateTimeValue | null;

  @Field(() => DateTimeValue, { nullable: true })
  @IsOptional()
  end?: DateTimeValue | null;

  @Field(() => Boolean, { nullable: true })
  @IsOptional()
  allDay?: boolean | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @MaxLength(256) // Google's etags are a few dozen characters; a CONFLICT message quotes it
  etag?: string | null;
}
