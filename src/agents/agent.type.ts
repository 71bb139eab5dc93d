import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';

export enum AgentRoleEnum {
  AGENT = 'agent',
  ADMIN = 'admin',
}
registerEnumType(AgentRoleEnum, {
  name: 'AgentRole',
  description: "What the caller may do: admins also manage their brokerage's Google setup.",
});

@ObjectType('Brokerage', {
  simpleResolvers: true,
  description: 'A brokerage (tenant) and its Google Workspace domain.',
})
export class BrokerageType {
  @Field(() => ID)
  id: string;

  @Field()
  name: string;

  @Field({ description: "The Workspace domain whose mailboxes are this brokerage's agents." })
  domain: string;
}

@ObjectType('Agent', {
  simpleResolvers: true,
  description: 'A CRM user, acting only as their own Google mailbox.',
})
export class AgentType {
  @Field(() => ID)
  id: string;

  @Field({ description: "The agent's Workspace address; every Google call for them runs as this mailbox." })
  email: string;

  @Field(() => AgentRoleEnum)
  role: AgentRoleEnum;

  /** Resolved by AgentResolver.brokerage, when asked for. */
  @Field(() => BrokerageType)
  brokerage?: BrokerageType;
}
