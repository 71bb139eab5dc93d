import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { idColumn } from './columns';

/**
 * The index behind `contacts(query:)`: one row per (agent, token, contact), a token being a word of a contact's
 * searchable fields or a tail of one (person.mapper.ts searchTokensOf). A query word is looked up as a range of the
 * primary key (agentId, token ≥ word, token < word + U+10FFFF): the contacts with a token that begins with it, found
 * without reading the agent's other contacts (src/contacts/contact-search.ts).
 *
 * On MySQL/MariaDB `token` is `utf8mb4_bin` (migration ContactSearchTokens1764310000000): ranges compare code points,
 * as SQLite's BINARY does; the unicode collation would hold "ss" and "ß" equal and ignore trailing spaces. On SQLite
 * the table is WITHOUT ROWID: the rows are the primary key's b-tree, with no second copy under a rowid.
 */
@Entity('contact_search_token', { withoutRowid: true })
@Index('idx_contact_search_token_contact', ['contactId'])
export class ContactSearchToken {
  @PrimaryColumn(idColumn)
  agentId: string;

  /** Normalized (person.mapper.ts normalizeSearchText), at most SEARCH_TOKEN_LENGTH characters. */
  @PrimaryColumn({ type: 'varchar', length: 64 })
  token: string;

  @PrimaryColumn(idColumn)
  contactId: string;

  /**
   * The tenant: every table carries it, every query names it (docs/operations.md, "How far one database carries it").
   */
  @Column(idColumn)
  brokerageId: string;
}
