/**
 * A mail's MIME while it waits for Gmail: stored in chunks (mail_mime_chunk, MIME_CHUNK_BYTES each) in the
 * transaction that accepts the mail, read back by the delivery, deleted with the mail's final state (Gmail has it,
 * or it will never go: no copy of the content is kept).
 */
import type { DataSource, EntityManager } from 'typeorm';
import { MailMimeChunk, type SentMail } from '../entities';
import { MIME_CHUNK_BYTES } from '../entities/mail.entities';

/** Chunks per INSERT statement (10 × 60 KB: well inside MySQL's max_allowed_packet). */
const CHUNKS_PER_INSERT = 10;

type MailKey = Pick<SentMail, 'id' | 'brokerageId'>;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Chunks are encoded one INSERT at a time (600 KB), with a turn for the event loop between them: all of a 35 MB mail's
 * at once held it ~70 ms, and on SQLite (whose driver is synchronous) its inserts ~250 ms for 28 MB more. On SQLite
 * other requests' statements still wait for this transaction (one connection: src/db/sqlite-turns.ts).
 */
export async function storeMime(m: EntityManager, brokerageId: string, mailId: string, mime: Buffer): Promise<void> {
  const step = MIME_CHUNK_BYTES * CHUNKS_PER_INSERT;
  for (let start = 0; start < mime.length; start += step) {
    const chunks: MailMimeChunk[] = [];
    for (let off = start; off < Math.min(start + step, mime.length); off += MIME_CHUNK_BYTES) {
      chunks.push({
        mailId,
        brokerageId,
        seq: off / MIME_CHUNK_BYTES,
        data: mime.subarray(off, off + MIME_CHUNK_BYTES).toString('base64'),
      });
    }
    await m.getRepository(MailMimeChunk).insert(chunks);
    await nextTurn();
  }
}

/**
 * The stored MIME, decoded a few chunks at a time with a turn for the event loop between (~70 ms at once for 35 MB).
 */
export async function loadMime(ds: DataSource, mail: MailKey): Promise<Buffer> {
  const chunks = await ds
    .getRepository(MailMimeChunk)
    .find({ where: { mailId: mail.id, brokerageId: mail.brokerageId }, order: { seq: 'ASC' } });
  const parts: Buffer[] = [];
  for (let i = 0; i < chunks.length; i++) {
    parts.push(Buffer.from(chunks[i].data, 'base64'));
    if (i % CHUNKS_PER_INSERT === CHUNKS_PER_INSERT - 1) await nextTurn();
  }
  return Buffer.concat(parts);
}

/** Drops the stored MIME (in the transaction that settles the mail). */
export async function deleteMime(m: EntityManager, mail: MailKey): Promise<void> {
  await m.getRepository(MailMimeChunk).delete({ mailId: mail.id, brokerageId: mail.brokerageId });
}
