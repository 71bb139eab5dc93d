/**
 * The delegated scopes we use, one per feature. A brokerage authorizes them
 * in Admin console › Security › API controls › Domain-wide delegation; the
 * integration guide lists m8/feeds for contacts, Google's People docs list
 * auth/contacts: either one serves the contacts feature.
 */
export const CONTACTS_SCOPE = 'https://www.googleapis.com/auth/contacts';
export const LEGACY_CONTACTS_SCOPE = 'https://www.google.com/m8/feeds';
export const CALENDAR_SCOPE = 'https://www.googleapis.com/auth/calendar';
export const GMAIL_COMPOSE_SCOPE = 'https://www.googleapis.com/auth/gmail.compose';

export type Feature = 'contacts' | 'calendar' | 'mail';

/** Acceptable scopes per feature, preferred first. */
export const FEATURE_SCOPES: Record<Feature, readonly string[]> = {
  contacts: [LEGACY_CONTACTS_SCOPE, CONTACTS_SCOPE],
  calendar: [CALENDAR_SCOPE],
  mail: [GMAIL_COMPOSE_SCOPE],
};

/** The scopes the integration guide tells admins to authorize (its "Security" section). */
export const GUIDE_SCOPES = [LEGACY_CONTACTS_SCOPE, CALENDAR_SCOPE, GMAIL_COMPOSE_SCOPE] as const;
