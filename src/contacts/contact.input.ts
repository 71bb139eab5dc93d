// type-graphql builds nested input objects as class instances itself, so ValidateNested needs no class-transformer.
import { ArrayMaxSize, IsEmail, IsInt, IsOptional, Length, Matches, MaxLength, ValidateNested } from 'class-validator';
import { Field, InputType, Int } from 'type-graphql';

/**
 * Limits on what one contact may hold; Google lists at most 100 emails/phones per person (docs/google-behaviour.md
 * §2.4).
 */
const MAX_VALUES = 20;
const MAX_NAME = 200;
const MAX_NOTES = 10_000;
/** A free-text address (formattedValue, streetAddress: several lines) and a URL. */
const MAX_ADDRESS_TEXT = 1000;
const MAX_URL = 2048;
/** A label: printable text, no line breaks (it is shown as one). */
const TYPE_TEXT = /^[^\u0000-\u001f\u007f]{1,64}$/u;

/** Digits with the usual separators, an optional leading +, an optional extension; 3 to 20 digits. */
const PHONE = /^\+?[0-9 ().\-/]{3,30}(?:\s*(?:x|ext\.?)\s*\d{1,6})?$/i;

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

@InputType('ContactDateInput', {
  description:
    'A calendar date; year may be left out (a birthday or anniversary without one). Google also keeps a year alone, or a year and month.',
})
export class DateInput {
  @Field(() => Int, { nullable: true, description: '1 to 9999' })
  @IsOptional()
  @IsInt()
  year?: number | null;

  @Field(() => Int, { nullable: true, description: '1 to 12' })
  @IsOptional()
  @IsInt()
  month?: number | null;

  @Field(() => Int, { nullable: true, description: '1 to 31, valid for the month' })
  @IsOptional()
  @IsInt()
  day?: number | null;
}

@InputType('ContactAddressInput', {
  description:
    'A postal address. Leave formattedValue out to have Google compose it from the parts; when given, Google keeps it as written.',
})
export class AddressInput {
  @Field(() => String, {
    nullable: true,
    description: "home, work, other (Google's types), or a custom label the address already has in Google",
  })
  @IsOptional()
  @Matches(TYPE_TEXT, { message: 'must be a label of 1 to 64 characters on one line' })
  type?: string | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @MaxLength(MAX_ADDRESS_TEXT)
  formattedValue?: string | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @MaxLength(MAX_NAME)
  poBox?: string | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @MaxLength(MAX_ADDRESS_TEXT)
  streetAddress?: string | null;

  @Field(() => String, { nullable: true, description: 'e.g. an apartment or suite number' })
  @IsOptional()
  @MaxLength(MAX_NAME)
  extendedAddress?: string | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @MaxLength(MAX_NAME)
  city?: string | null;

  @Field(() => String, { nullable: true, description: 'state or province' })
  @IsOptional()
  @MaxLength(MAX_NAME)
  region?: string | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @MaxLength(MAX_NAME)
  postalCode?: string | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @MaxLength(MAX_NAME)
  country?: string | null;

  @Field(() => String, { nullable: true, description: 'ISO 3166-1 alpha-2, e.g. US' })
  @IsOptional()
  @Matches(/^[A-Za-z]{2}$/, { message: 'must be a two-letter ISO 3166-1 country code such as US (got "$value")' })
  countryCode?: string | null;
}

@InputType('ContactEventInput', { description: 'A dated event, such as the anniversary of a home purchase.' })
export class EventInput {
  @Field(() => DateInput)
  @ValidateNested()
  date: DateInput;

  @Field(() => String, {
    nullable: true,
    description: "anniversary, other (Google's types), or a custom label the event already has in Google",
  })
  @IsOptional()
  @Matches(TYPE_TEXT, { message: 'must be a label of 1 to 64 characters on one line' })
  type?: string | null;
}

@InputType('ContactRelationInput', {
  description: 'Another person, by name, and how they relate: the spouse, a child, who referred them.',
})
export class RelationInput {
  @Field({ description: "The other person's name (free text, as Google keeps it)." })
  @Length(1, MAX_NAME)
  person: string;

  @Field(() => String, {
    nullable: true,
    description:
      "spouse, partner, child, mother, father, parent, brother, sister, friend, relative, domesticPartner, manager, assistant, referredBy (Google's types), or a custom label the relation already has in Google",
  })
  @IsOptional()
  @Matches(TYPE_TEXT, { message: 'must be a label of 1 to 64 characters on one line' })
  type?: string | null;
}

@InputType('ContactUrlInput')
export class UrlInput {
  @Field({ description: "A web address, e.g. a listing or the client's site (kept as written)." })
  @Length(1, MAX_URL)
  value: string;

  @Field(() => String, {
    nullable: true,
    description:
      "home, work, blog, profile, homePage, ftp, reservations, appInstallPage, other (Google's types), or a custom label the url already has in Google",
  })
  @IsOptional()
  @Matches(TYPE_TEXT, { message: 'must be a label of 1 to 64 characters on one line' })
  type?: string | null;
}

@InputType('ContactNicknameInput')
export class NicknameInput {
  @Field()
  @Length(1, MAX_NAME)
  value: string;

  @Field(() => String, {
    nullable: true,
    description: "Google's nickname type: DEFAULT (the same as none) or ALTERNATE_NAME",
  })
  @IsOptional()
  @Matches(TYPE_TEXT, { message: 'must be a label of 1 to 64 characters on one line' })
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

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(1, MAX_NAME)
  middleName?: string | null;

  @Field(() => String, { nullable: true, description: 'e.g. Dr., Mrs.' })
  @IsOptional()
  @Length(1, MAX_NAME)
  honorificPrefix?: string | null;

  @Field(() => String, { nullable: true, description: 'e.g. Jr.' })
  @IsOptional()
  @Length(1, MAX_NAME)
  honorificSuffix?: string | null;

  @Field(() => [NicknameInput], { nullable: true })
  @IsOptional()
  @ArrayMaxSize(MAX_VALUES)
  @ValidateNested({ each: true })
  nicknames?: NicknameInput[] | null;

  @Field(() => [AddressInput], { nullable: true })
  @IsOptional()
  @ArrayMaxSize(MAX_VALUES)
  @ValidateNested({ each: true })
  addresses?: AddressInput[] | null;

  @Field(() => DateInput, { nullable: true, description: 'null clears it' })
  @IsOptional()
  @ValidateNested()
  birthday?: DateInput | null;

  @Field(() => [EventInput], { nullable: true })
  @IsOptional()
  @ArrayMaxSize(MAX_VALUES)
  @ValidateNested({ each: true })
  events?: EventInput[] | null;

  @Field(() => [RelationInput], { nullable: true })
  @IsOptional()
  @ArrayMaxSize(MAX_VALUES)
  @ValidateNested({ each: true })
  relations?: RelationInput[] | null;

  @Field(() => [UrlInput], { nullable: true })
  @IsOptional()
  @ArrayMaxSize(MAX_VALUES)
  @ValidateNested({ each: true })
  urls?: UrlInput[] | null;
}

@InputType('ContactPatch', {
  description:
    'The fields to change (absent: unchanged; null: cleared). etag: the version you edited; a stale one answers CONFLICT.',
})
export class ContactPatch extends ContactInput {
  @Field(() => String, { nullable: true })
  @IsOptional()
  @MaxLength(256) // Google's etags are a few dozen characters; a CONFLICT message quotes it
  etag?: string | null;
}
