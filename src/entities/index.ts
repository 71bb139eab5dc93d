import { Agent } from './agent.entity';
import { AuditLog } from './audit-log.entity';
import { Brokerage } from './brokerage.entity';
import {
  CalendarCacheGeneration,
  CalendarChange,
  CalendarChannel,
  CalendarEvent,
  CalendarKnown,
  CalendarSyncRecord,
} from './calendar.entities';
import { Contact } from './contact.entity';
import { ContactEmail } from './contact-email.entity';
import { ContactLabel, ContactLabelMember } from './contact-label.entity';
import { ContactSearchToken } from './contact-search-token.entity';
import { ContactSyncRecord } from './contact-sync.entity';
import { ContactTombstone } from './contact-tombstone.entity';
import { IdempotencyKey } from './idempotency-key.entity';
import { MailMimeChunk, MailRecipient, SentMail } from './mail.entities';
import { OutboxLease } from './outbox-lease.entity';
import { OutboxRow } from './outbox.entity';
import { ServiceAccountCredential } from './service-account-credential.entity';

export {
  Agent,
  AuditLog,
  Brokerage,
  CalendarCacheGeneration,
  CalendarChange,
  CalendarChannel,
  CalendarEvent,
  CalendarKnown,
  CalendarSyncRecord,
  Contact,
  ContactEmail,
  ContactLabel,
  ContactLabelMember,
  ContactSearchToken,
  ContactSyncRecord,
  ContactTombstone,
  IdempotencyKey,
  MailMimeChunk,
  MailRecipient,
  OutboxLease,
  OutboxRow,
  SentMail,
  ServiceAccountCredential,
};

/** Every entity, for the DataSource, parents before children (test cleanup deletes in reverse). */
export const ENTITIES = [
  Brokerage,
  Agent,
  ServiceAccountCredential,
  AuditLog,
  Contact,
  ContactEmail,
  ContactSyncRecord,
  ContactTombstone,
  ContactLabel,
  ContactLabelMember,
  ContactSearchToken,
  OutboxRow,
  OutboxLease,
  CalendarEvent,
  CalendarSyncRecord,
  CalendarChange,
  CalendarKnown,
  CalendarChannel,
  CalendarCacheGeneration,
  SentMail,
  MailRecipient,
  MailMimeChunk,
  IdempotencyKey,
];
