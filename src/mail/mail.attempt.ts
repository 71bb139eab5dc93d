/**
 * One delivery attempt's hold on a mail row. The attempt stamps the row with its own token when it starts
 * (SentMail.deliveryToken) and every later write requires it: an attempt that lost its lane (a stalled process whose
 * lease expired) finds it changed (Superseded) and stops before its next Gmail call.
 */
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { SentMail } from '../entities';
import { deleteMime } from './mail.mime-store';

/** Another attempt took this mail over (our lease expired): stop, change nothing. */
export class Superseded extends Error {}

export class Attempt {
  private readonly token = randomUUID();

  constructor(
    private readonly ds: DataSource,
    readonly mail: SentMail,
  ) {}

  async claim(): Promise<void> {
    const res = await this.ds
      .createQueryBuilder()
      .update(SentMail)
      .set({ deliveryToken: this.token })
      .where('id = :id AND brokerageId = :brokerageId AND status = :queued', {
        id: this.mail.id,
        brokerageId: this.mail.brokerageId,
        queued: 'QUEUED',
      })
      .andWhere(this.mail.deliveryToken === null ? 'deliveryToken IS NULL' : 'deliveryToken = :seen', {
        seen: this.mail.deliveryToken,
      })
      .execute();
    if (!res.affected) throw new Superseded('another attempt is delivering this mail');
    // From here on nobody else writes the row: read it again, so a copy read before the claim (while an attempt
    // that has since lost the lane was still writing it) cannot mislead this one.
    const fresh = await this.ds
      .getRepository(SentMail)
      .findOneBy({ id: this.mail.id, brokerageId: this.mail.brokerageId });
    if (!fresh || fresh.status !== 'QUEUED' || fresh.deliveryToken !== this.token)
      throw new Superseded('the mail changed while it was claimed');
    Object.assign(this.mail, fresh);
  }

  async set(patch: Partial<SentMail>): Promise<void> {
    const res = await this.ds.getRepository(SentMail).update(this.held(), { ...patch, updatedAt: new Date() });
    if (!res.affected) throw new Superseded('another attempt took this mail over');
    Object.assign(this.mail, patch);
  }

  /**
   * The final state, and the MIME deleted with it (Gmail has it, or it will never go: we keep no copy of the content).
   */
  async finish(patch: Partial<SentMail>): Promise<void> {
    await this.ds.transaction(async (m) => {
      const res = await m.getRepository(SentMail).update(this.held(), { ...patch, deliveryToken: null });
      if (!res.affected) throw new Superseded('another attempt took this mail over');
      await deleteMime(m, this.mail);
    });
    Object.assign(this.mail, patch);
  }

  /** The row while this attempt holds it; with its brokerage, the tenant key every statement names. */
  private held() {
    return { id: this.mail.id, brokerageId: this.mail.brokerageId, deliveryToken: this.token };
  }
}
