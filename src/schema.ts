import 'reflect-metadata';
import type { GraphQLSchema } from 'graphql';
import { validateOrReject, type ValidationError, type ValidatorOptions } from 'class-validator';
import { ArgumentValidationError, buildSchema, type AuthChecker, type ValidatorFn } from 'type-graphql';
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

/** What type-graphql's own `validate: true` passes class-validator. */
const VALIDATOR_OPTIONS: ValidatorOptions = { skipMissingProperties: true, forbidUnknownValues: false };
const validated = (v: unknown): v is object => v !== null && typeof v === 'object';

/**
 * type-graphql's own argument validation, as `validate: true` does it (the same options, arrays item by item, the same
 * ArgumentValidationError), without its `require("class-validator")` on every argument of every request: a module
 * lookup per call was 0.4% of a month of events' CPU profile, for arguments such as a DateTime. With a validateFn,
 * type-graphql ignores `validate` settings (the global one and any `@Arg(…, { validate })`): this one validates every
 * object argument, as `validate: true` did.
 */
const validateArgs: ValidatorFn = async (value) => {
  if (!validated(value)) return;
  try {
    if (Array.isArray(value))
      await Promise.all(value.filter(validated).map((v) => validateOrReject(v, VALIDATOR_OPTIONS)));
    else await validateOrReject(value, VALIDATOR_OPTIONS);
  } catch (err) {
    throw new ArgumentValidationError(err as ValidationError[]);
  }
};

export function buildGatewaySchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers: RESOLVERS,
    authChecker,
    validate: true,
    validateFn: validateArgs,
    // The contract's scalar is `DateTime` (ISO 8601 with offset), not type-graphql's default `DateTimeISO`.
    scalarsMap: [
      { type: Date, scalar: DateTimeScalar },
      { type: DateTimeValue, scalar: DateTimeScalar },
    ],
    // Field resolvers and their args are described in the emitted SDL.
    emitSchemaFile: false,
  });
}
