import 'reflect-metadata';
import type { GraphQLSchema } from 'graphql';
import { buildSchema, type AuthChecker } from 'type-graphql';
import { AgentResolver } from './agents/agent.resolver';
import { DateTimeScalar, DateTimeValue } from './calendar/date-time.scalar';
import { ContactLabelResolver, ContactLabelsFieldResolver } from './contacts/contact-label.resolver';
import { ContactResolver } from './contacts/contact.resolver';
import { AttendeeResolver, CalendarStatusResolver, EventResolver } from './calendar/event.resolver';
import { MailRecipientResolver, MailResolver, MailStatusResolver } from './mail/mail.resolver';
import { ADMIN_ROLE } from './auth/caller';
import type { GatewayContext } from './context';
import { forbidden, unauthenticated } from './errors';
import { OnboardingResolver } from './onboarding/onboarding.resolver';
import { ServiceAccountResolver } from './onboarding/service-account.resolver';

const RESOLVERS = [
  AgentResolver,
  ServiceAccountResolver,
  OnboardingResolver,
  ContactResolver,
  ContactLabelResolver,
  ContactLabelsFieldResolver,
  EventResolver,
  AttendeeResolver,
  CalendarStatusResolver,
  MailResolver,
  MailRecipientResolver,
  MailStatusResolver,
] as const;

/**
 * `@Authorized()` needs a caller; `@Authorized('admin')` an admin. We throw our
 * own errors (rather than return false) so the codes are the contract's.
 */
const authChecker: AuthChecker<GatewayContext> = ({ context }, roles) => {
  const caller = context.caller;
  if (!caller) throw unauthenticated('this operation needs an "Authorization: Bearer <token>" header');
  if (roles.includes(ADMIN_ROLE) && caller.role !== 'admin') {
    throw forbidden('this operation is for brokerage admins only');
  }
  return true;
};

export function buildGatewaySchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers: RESOLVERS,
    authChecker,
    validate: true,
    // The contract's scalar is `DateTime` (ISO 8601 with offset), not type-graphql's default `DateTimeISO`.
    scalarsMap: [
      { type: Date, scalar: DateTimeScalar },
      { type: DateTimeValue, scalar: DateTimeScalar },
    ],
    // Field resolvers and their args are described in the emitted SDL.
    emitSchemaFile: false,
  });
}
