import { Foundation1764130000000 } from './1764130000000-Foundation';
import { Onboarding1764140000000 } from './1764140000000-Onboarding';
import { Contacts1764150000000 } from './1764150000000-Contacts';
import { Calendar1764160000000 } from './1764160000000-Calendar';
import { Mail1764170000000 } from './1764170000000-Mail';
import { CalendarCacheGeneration1764180000000 } from './1764180000000-CalendarCacheGeneration';
import { CalendarChangeRetention1764190000000 } from './1764190000000-CalendarChangeRetention';
import { EraseRetiredKeys1764200000000 } from './1764200000000-EraseRetiredKeys';
import { LargeValues1764210000000 } from './1764210000000-LargeValues';
import { CalendarKnown1764220000000 } from './1764220000000-CalendarKnown';
import { SyncErrorDetail1764230000000 } from './1764230000000-SyncErrorDetail';
import { LongEventIds1764240000000 } from './1764240000000-LongEventIds';
import { TenantKey1764250000000 } from './1764250000000-TenantKey';
import { UnconfirmedValues1764260000000 } from './1764260000000-UnconfirmedValues';
import { IdempotencyKeys1764270000000 } from './1764270000000-IdempotencyKeys';
import { ContactChanges1764280000000 } from './1764280000000-ContactChanges';
import { ContactDetails1764290000000 } from './1764290000000-ContactDetails';
import { ContactLabels1764300000000 } from './1764300000000-ContactLabels';
import { ContactSearchTokens1764310000000 } from './1764310000000-ContactSearchTokens';

/** Every migration, oldest first. Listed explicitly so ts-jest and the compiled build load the same set. */
export const MIGRATIONS = [
  Foundation1764130000000,
  Onboarding1764140000000,
  Contacts1764150000000,
  Calendar1764160000000,
  Mail1764170000000,
  CalendarCacheGeneration1764180000000,
  CalendarChangeRetention1764190000000,
  EraseRetiredKeys1764200000000,
  LargeValues1764210000000,
  CalendarKnown1764220000000,
  SyncErrorDetail1764230000000,
  LongEventIds1764240000000,
  TenantKey1764250000000,
  UnconfirmedValues1764260000000,
  IdempotencyKeys1764270000000,
  ContactChanges1764280000000,
  ContactDetails1764290000000,
  ContactLabels1764300000000,
  ContactSearchTokens1764310000000,
];
