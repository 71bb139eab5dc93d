import { Foundation1764130000000 } from './1764130000000-Foundation';
import { Onboarding1764140000000 } from './1764140000000-Onboarding';
import { Contacts1764150000000 } from './1764150000000-Contacts';

/** Every migration, oldest first. Listed explicitly so ts-jest and the compiled build load the same set. */
export const MIGRATIONS = [Foundation1764130000000, Onboarding1764140000000, Contacts1764150000000];
