// type-graphql builds nested input objects as class instances itself, so ValidateNested needs no class-transformer.
import { ArrayMaxSize, IsEmail, IsOptional, Length, Matches, MaxLength, ValidateNested } from 'class-validator';
import { Field, InputType } from 'type-graphql';

/** Limits on what one contact may hold; Google lists at most 100 emails/phones per person (google-api-notes §2.4). */
export const MAX_VALUES = 20;
export const MAX_NAME = 200;
export const MAX_NOTES = 10_000;

/** Digits with the usual separators, an optional leading +, an optional extension; 3 to 20 digits. */
export const PHONE = /^\+?[0-9 ().\-/]{3,30}(?:\s*(?:x|ext\.?)\s*\d{1,6})?$/i;

@InputType('EmailInput')
export class EmailInput {
  @Field()
  @IsEmail({}, { message: '"$value" is not an email address' })
  @MaxLength(320)
  value: string;

  @Field(() => String, { nullable: true, description: 'e.g. home, work' })
  @IsOptional()
  @Matches(/^[A-Za-z][A-Za-z0-9 _-]{0,31}$/, { message: 'must be a word such as home or work (got "$value")' })
  type?: string | null;
}

@InputType('PhoneInput')
export class PhoneInput {
  @Field()
  @Matches(PHONE, { message: '"$value" is not a phone number (digits, spaces, + ( ) . - /, optional extension)' })
  value: string;

  @Field(() => String, { nullable: true, description: 'e.g. mobile, work, home' })
  @IsOptional()
  @Matches(/^[A-Za-z][A-Za-z0-9 _-]{0,31}$/, { message: 'must be a word such as mobile or work (got "$value")' })
  type?: string | null;
}

@InputType('ContactInput')
export class ContactInput {
  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(1, MAX_NAME)
  givenName?: string | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(1, MAX_NAME)
  familyName?: string | null;

  @Field(() => [EmailInput], { nullable: true })
  @IsOptional()
  @ArrayMaxSize(MAX_VALUES)
  @ValidateNested({ each: true })
  emails?: EmailInput[] | null;

  @Field(() => [PhoneInput], { nullable: true })
  @IsOptional()
  @ArrayMaxSize(MAX_VALUES)
  @ValidateNested({ each: true })
  phones?: PhoneInput[] | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(1, MAX_NAME)
  organization?: string | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(1, MAX_NAME)
  jobTitle?: string | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @MaxLength(MAX_NOTES)
  notes?: string | null;
}

@InputType('ContactPatch', { description: 'The fields to change (absent: unchanged; null: cleared). etag: the version you edited; a stale one answers CONFLICT.' })
export class ContactPatch extends ContactInput {
  @Field(() => String, { nullable: true })
  @IsOptional()
  @MaxLength(256) // Google's etags are a few dozen characters; a CONFLICT message quotes it
  etag?: string | null;
}
