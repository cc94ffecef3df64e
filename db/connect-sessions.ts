/**
 * Connect sessions (`POST /v1/connect-sessions`): one user of one tenant connecting one provider,
 * followed once in their browser, ended once. Every step that must happen once is one conditional
 * UPDATE, so two requests racing each other (a double click, a replayed callback) find one winner
 * and the loser changes nothing: opening the connect URL ({@link ConnectSessionStore.open}), and
 * taking the session to store a connection ({@link ConnectSessionStore.claim}).
 *
 * Secrets stay out: `state` is kept as its SHA-256, the PKCE verifier sealed.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { ConnectSessionsTable, StoreDatabase } from './schema';

export interface ConnectSession {
  sessionId: string;
  tenant: string;
  userId: string;
  provider: string;
  redirectUrl: string;
  startImport: boolean;
  createdAt: string;
  expiresAt: string;
  openedAt: string | null;
  stateHash: string | null;
  sealedVerifier: string | null;
  attempts: number;
  finishedAt: string | null;
  outcome: string | null;
  connectionId: string | null;
}

export interface NewConnectSession {
  tenant: string;
  userId: string;
  provider: string;
  redirectUrl: string;
  startImport: boolean;
  expiresAt: string;
}

export interface ConnectSessionStore {
  create(session: NewConnectSession): Promise<ConnectSession>;
  get(sessionId: string): Promise<ConnectSession | null>;
  /**
   * Opens the session, once, before it expires: records the hash of the `state` it hands out and
   * its sealed PKCE verifier. Resolves to whether this call opened it.
   */
  open(sessionId: string, opened: { stateHash: string; sealedVerifier: string | null }): Promise<boolean>;
  /** Counts one more form submission; resolves to whether it is within `max` (an open, unfinished, live session). */
  attempt(sessionId: string, stateHash: string, max: number): Promise<boolean>;
  /**
   * Takes the session to end it, once: it must be open, unfinished, unexpired, and have handed out
   * the `state` whose hash is `stateHash`. Resolves to whether this call took it.
   */
  claim(sessionId: string, stateHash: string): Promise<boolean>;
  /** Records how a session this process took ended. */
  finish(sessionId: string, outcome: string, connectionId?: string | null): Promise<void>;
  /** Forgets sessions that expired before `before` (ISO time); resolves to how many. */
  deleteExpired(before: string): Promise<number>;
  /** Erasure: every session of the user. */
  deleteUser(tenant: string, userId: string): Promise<number>;
}

/** `cs_` and 22 base64url characters: 128 random bits. */
export const SESSION_ID_PATTERN = /^cs_[A-Za-z0-9_-]{22}$/;

function toSession(row: ConnectSessionsTable): ConnectSession {
  return {
    sessionId: row.session_id,
    tenant: row.tenant_id,
    userId: row.user_id,
    provider: row.provider,
    redirectUrl: row.redirect_url,
    startImport: row.start_import === 1,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    openedAt: row.opened_at,
    stateHash: row.state_hash,
    sealedVerifier: row.sealed_verifier,
    attempts: row.attempts,
    finishedAt: row.finished_at,
    outcome: row.outcome,
    connectionId: row.connection_id,
  };
}

export function createConnectSessionStore(db: Kysely<StoreDatabase>): ConnectSessionStore {
  const get = async (sessionId: string) => {
    const row = await db.selectFrom('connect_sessions').selectAll().where('session_id', '=', sessionId).executeTakeFirst();
    return row ? toSession(row) : null;
  };
  /** The session, while it may still be ended: open, unfinished, unexpired, with this state. */
  const live = (sessionId: string, stateHash: string) =>
    db
      .updateTable('connect_sessions')
      .where('session_id', '=', sessionId)
      .where('opened_at', 'is not', null)
      .where('finished_at', 'is', null)
      .where('state_hash', '=', stateHash)
      // ISO 8601 in UTC sorts in time order, in both dialects.
      .where('expires_at', '>', new Date().toISOString());

  return {
    async create(session) {
      const row: ConnectSessionsTable = {
        session_id: `cs_${randomBytes(16).toString('base64url')}`,
        tenant_id: session.tenant,
        user_id: session.userId,
        provider: session.provider,
        redirect_url: session.redirectUrl,
        start_import: session.startImport ? 1 : 0,
        created_at: new Date().toISOString(),
        expires_at: session.expiresAt,
        opened_at: null,
        state_hash: null,
        sealed_verifier: null,
        attempts: 0,
        finished_at: null,
        outcome: null,
        connection_id: null,
      };
      await db.insertInto('connect_sessions').values(row).execute();
      return toSession(row);
    },

    get,

    async open(sessionId, { stateHash, sealedVerifier }) {
      const now = new Date().toISOString();
      const result = await db
        .updateTable('connect_sessions')
        .set({ opened_at: now, state_hash: stateHash, sealed_verifier: sealedVerifier })
        .where('session_id', '=', sessionId)
        .where('opened_at', 'is', null)
        .where('expires_at', '>', now)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },

    async attempt(sessionId, stateHash, max) {
      const result = await live(sessionId, stateHash)
        .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
        .where('attempts', '<', max)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },

    async claim(sessionId, stateHash) {
      const result = await live(sessionId, stateHash).set({ finished_at: new Date().toISOString(), outcome: 'pending' }).executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },

    async finish(sessionId, outcome, connectionId = null) {
      await db.updateTable('connect_sessions').set({ outcome, connection_id: connectionId }).where('session_id', '=', sessionId).execute();
    },

    async deleteExpired(before) {
      const result = await db.deleteFrom('connect_sessions').where('expires_at', '<', before).executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    async deleteUser(tenant, userId) {
      const result = await db.deleteFrom('connect_sessions').where('tenant_id', '=', tenant).where('user_id', '=', userId).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}
