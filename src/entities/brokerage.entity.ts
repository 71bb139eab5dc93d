import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { DOMAIN_LENGTH, idColumn, timestampColumn } from './columns';

/** A tenant: one brokerage and its one Google Workspace domain. */
@Entity('brokerage')
@Index('uq_brokerage_domain', ['domain'], { unique: true })
export class Brokerage {
  @PrimaryColumn(idColumn)
  id: string;

  @Column({ type: 'varchar', length: 200 })
  name: string;

  /** Lower-case Workspace domain; callers are matched to a brokerage by their email's domain. */
  @Column({ type: 'varchar', length: DOMAIN_LENGTH })
  domain: string;

  @Column(timestampColumn)
  createdAt: Date;
}
