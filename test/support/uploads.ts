/**
 * What the upload tests share: the contact fixtures, a large vCard, a body arriving in pieces, and
 * checks on what the store kept (rows and chunks straight from its database, files under its folder).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import type { UploadBytes } from '../../db/types';
import type { StoreCase } from './harness';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'contacts');
export const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name));
export const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** A vCard file of about 700 KB: several 256 KiB database chunks, and over the general 16 KiB body limit. */
export const LARGE_VCARD = Buffer.concat(Array.from({ length: 600 }, () => fixture('vcard-3.0.vcf')));

/** Rows of `table` for `tenant`, read straight from the store's database. */
export async function countRows(storeCase: StoreCase, table: 'uploads' | 'upload_chunks', tenant: string): Promise<number> {
  if (storeCase.name === 'sqlite') {
    const db = new Sqlite(path.join(storeCase.env.DATA_DIR ?? '', 'contacts.db'), { readonly: true });
    try {
      return (db.prepare(`SELECT count(*) AS n FROM ${table} WHERE tenant_id = ?`).get(tenant) as { n: number }).n;
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: storeCase.env.DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE tenant_id = $1`, [tenant]);
    return Number(rows[0]?.n);
  } finally {
    await client.end();
  }
}

/** Files (finished or `.part`) kept for `tenant` under the SQLite store's uploads folder. */
export function tenantFiles(storeCase: StoreCase, tenant: string): string[] {
  const dir = path.join(storeCase.env.DATA_DIR ?? '', 'uploads', tenant);
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}

/** Asserts that `tenant` has nothing stored: no row, no chunk, no file. */
export async function assertNothingStored(storeCase: StoreCase, tenant: string): Promise<void> {
  assert.equal(await countRows(storeCase, 'uploads', tenant), 0, 'no uploads row is kept');
  assert.equal(await countRows(storeCase, 'upload_chunks', tenant), 0, 'no chunk is kept');
  assert.deepEqual(tenantFiles(storeCase, tenant), [], 'no file is kept');
}

/** Reads `bytes` back in ranges of awkward sizes, across chunk boundaries and past the end. */
export async function assertReadsBack(source: UploadBytes, bytes: Buffer): Promise<void> {
  assert.equal(source.size, bytes.length, 'size is the stored length');
  // A byte at a time only for small files: 700,000 reads would only test patience.
  const steps = [...(bytes.length < 10_000 ? [1] : []), 4093, 65_536, 262_143, 262_145, 300_000];
  for (const step of steps) {
    const parts: Uint8Array[] = [];
    for (let offset = 0; offset < bytes.length; offset += step) parts.push(await source.read(offset, step));
    assert.ok(Buffer.concat(parts).equals(bytes), `reading ${step} bytes at a time gives back the same bytes`);
  }
  const middle = Math.floor(bytes.length / 2);
  assert.ok(Buffer.from(await source.read(middle, 5000)).equals(bytes.subarray(middle, middle + 5000)), 'a range from the middle');
  assert.equal((await source.read(bytes.length, 100)).length, 0, 'nothing past the end');
  assert.ok(Buffer.from(await source.read(bytes.length - 3, 100)).equals(bytes.subarray(-3)), 'a short read at the end');
}

/** `bytes` as a body arriving in pieces of `size` bytes. */
export async function* pieces(bytes: Uint8Array, size = 10_007): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size);
}

export const vcardOnly = async () => 'vcard' as const;
