/**
 * The CardDAV {@link ContactSource}: discovery on the first page, then pages of the address book's
 * cards in href order, each fetched with one `addressbook-multiget`, and a resumable cursor
 * (`./cursor.ts`).
 *
 * A page lists the address book again (once per source instance, i.e. per batch activity, shared
 * by the pages of the batch) and continues after the cursor's href. Listing with `sync-collection`
 * also yields a sync token; once every card is read, the cards changed since that token (during the
 * import) are read once more, so an import ends with the address book as it was when it finished
 * the full pass. A server that refuses the token (403 `valid-sync-token`), or lacks the report,
 * is listed with PROPFIND instead: from the same position in the full phase, from the start when
 * the delta cannot be known.
 *
 * Incremental imports (`sync: {since}`) start in the delta phase with the token the last import
 * left: the cards changed since, and the removed ones as `deleted`. A token the server refuses is a
 * {@link SyncTokenExpiredError}: the batch then reads everything. The last page of any read with
 * `sync` hands back the newest token.
 */
import { createHash } from 'node:crypto';
import type { ContactRecord } from '../../db/types';
import { rejectRecord } from '../kit/records';
import { SyncTokenExpiredError, type ContactSource, type PageRequest, type RejectedRecord, type SourcePage, type SyncRequest } from '../types';
import { type ParseCard, parseBasicCard } from './basic-card';
import type { CarddavCredentials } from './credentials';
import { type CarddavCursor, absoluteHref, decodeCursor, encodeCursor, relativeHref } from './cursor';
import { discoverAddressBook } from './discovery';
import type { OutboundLimits } from '../kit/http';
import { DavClient } from './http';
import { type ListedCard, type Listing, compareHrefs, hrefKey, listByPropfind, listBySync, multiget } from './listing';
import { hrefPath } from './multistatus';

/** How a {@link createCarddavSource} source reads. */
export interface CarddavSourceOptions {
  /** Turns a card into a contact or a reject. Default: {@link parseBasicCard}. */
  parseCard?: ParseCard;
  /** `auto` (default): `sync-collection` when the server has it, else PROPFIND. `propfind`: PROPFIND only. */
  listing?: 'auto' | 'propfind';
  /** Deadline of one request, body included, instead of `limits.requestTimeoutMs`; a whole-book listing gets 10 minutes. */
  timeoutMs?: number;
  /** Let the user's URL reach loopback and private addresses (the worker's `allowPrivateAddresses`). */
  allowPrivateAddresses?: boolean;
  /** The worker's outbound limits (`kit/http.ts`); the defaults when absent. */
  limits?: OutboundLimits;
}

/** `url` without user-info, which would be a second, unmanaged copy of the credentials: never used. */
function withoutUserInfo(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.href;
}

/** Index of the first card whose href sorts after `href` (`0` for `''`). */
function firstAfter(cards: readonly ListedCard[], href: string): number {
  if (href === '') return 0;
  let low = 0;
  let high = cards.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compareHrefs((cards[mid] as ListedCard).href, href) <= 0) low = mid + 1;
    else high = mid;
  }
  return low;
}

class CarddavSource implements ContactSource {
  readonly #credentials: CarddavCredentials;
  readonly #client: DavClient;
  readonly #options: CarddavSourceOptions;
  /** Listings of this batch, by what was listed: the pages of one batch list once. */
  readonly #listings = new Map<string, Promise<Listing | null>>();

  constructor(credentials: CarddavCredentials, options: CarddavSourceOptions) {
    this.#options = options;
    this.#credentials = { ...credentials, url: withoutUserInfo(credentials.url) };
    const { limits, timeoutMs, allowPrivateAddresses } = options;
    this.#client = new DavClient(this.#credentials, { limits, timeoutMs, allowPrivateAddresses });
  }

  /** Tokens are valid for one address book of one account: a fingerprint of the URL and user, no secret. */
  get syncParams(): string {
    const { url, username } = this.#credentials;
    return `carddav;${createHash('sha256').update(JSON.stringify([url, username])).digest('base64url')}`;
  }

  async fetchPage({ cursor, pageSize, signal, sync }: PageRequest): Promise<SourcePage> {
    const client = this.#client;
    try {
      const since = sync !== undefined && 'since' in sync ? sync.since : undefined;
      const state = cursor === null ? await this.#start(client, this.#credentials.url, signal, since) : decodeCursor(cursor);
      return await this.#page(client, state, pageSize, signal, sync);
    } catch (error) {
      throw client.redact(error);
    }
  }

  async #start(client: DavClient, url: string, signal: AbortSignal, since?: string): Promise<CarddavCursor> {
    const book = await discoverAddressBook(client, url, signal);
    if (since !== undefined) {
      if (this.#options.listing === 'propfind' || book.syncCollection === false) {
        throw new SyncTokenExpiredError('The CardDAV address book no longer offers sync-collection: reading everything instead.');
      }
      return { book: book.url, phase: 'delta', via: 'sync', after: '', token: since };
    }
    const via = this.#options.listing === 'propfind' || book.syncCollection === false ? 'propfind' : 'sync';
    return { book: book.url, phase: 'full', via, after: '' };
  }

  #cached<T extends Listing | null>(key: string, list: () => Promise<T>): Promise<T> {
    const known = this.#listings.get(key) as Promise<T> | undefined;
    if (known !== undefined) return known;
    const listing = list();
    this.#listings.set(key, listing);
    // A failed listing is forgotten, so the retry lists again; the caller still sees the failure.
    listing.catch(() => this.#listings.delete(key));
    return listing;
  }

  /** The listing `state` continues in, and `state` as it stands after any fallback to PROPFIND. */
  async #list(
    client: DavClient,
    state: CarddavCursor,
    signal: AbortSignal,
    incremental = false,
  ): Promise<{ state: CarddavCursor; listing: Listing }> {
    const { book } = state;
    const byPropfind = () => this.#cached(`propfind ${book}`, () => listByPropfind(client, book, signal));
    if (state.phase === 'delta') {
      const { token } = state;
      const delta = token === undefined ? null : await this.#cached(`delta ${book} ${token}`, () => listBySync(client, book, token, signal));
      if (delta !== null) return { state, listing: delta };
      // 403 `valid-sync-token` (or no report at all): an incremental import reads everything instead.
      if (incremental) throw new SyncTokenExpiredError('The CardDAV server refused the sync token: reading everything instead.');
      // What changed since the token cannot be known: read everything again (unchanged etags rewrite nothing).
      return { state: { book, phase: 'full', via: 'propfind', after: '' }, listing: await byPropfind() };
    }
    if (state.via === 'sync') {
      const full = await this.#cached(`sync ${book}`, () => listBySync(client, book, '', signal));
      if (full !== null) return { state: { ...state, token: state.token ?? full.syncToken ?? undefined }, listing: full };
    }
    // Both listings sort by href, so switching to PROPFIND mid-import keeps the position.
    const { token: _noDeltaWithoutSync, ...rest } = state;
    return { state: { ...rest, via: 'propfind' }, listing: await byPropfind() };
  }

  async #page(client: DavClient, cursor: CarddavCursor, pageSize: number, signal: AbortSignal, sync?: SyncRequest): Promise<SourcePage> {
    const { state, listing } = await this.#list(client, cursor, signal, sync !== undefined && 'since' in sync);
    const bookPath = hrefPath(state.book, state.book);
    const start = firstAfter(listing.cards, absoluteHref(state.after, bookPath));
    const slice = listing.cards.slice(start, start + pageSize);
    const { contacts, rejected } = await this.#read(client, state.book, slice, signal);
    const last = slice.at(-1);
    let next: CarddavCursor | null = null;
    if (last !== undefined && start + slice.length < listing.cards.length) {
      next = { ...state, after: relativeHref(last.href, bookPath) };
    } else if (state.phase === 'full' && state.token !== undefined) {
      next = await this.#deltaAfterFullPass(client, state, signal);
    }
    return {
      contacts,
      rejected,
      nextCursor: next === null ? null : encodeCursor(next),
      total: state.phase === 'full' ? listing.cards.length : null,
      ...(sync === undefined ? {} : await this.#syncFields(client, state, listing, start, next, signal)),
    };
  }

  /**
   * For reads with `sync`: the delta's removed cards, on its first page (a retried page reports
   * them again, which deleting twice shrugs off), and on the last page the newest token.
   */
  async #syncFields(
    client: DavClient,
    state: CarddavCursor,
    listing: Listing,
    start: number,
    next: CarddavCursor | null,
    signal: AbortSignal,
  ): Promise<Pick<SourcePage, 'deleted' | 'syncToken'>> {
    const fields: Pick<SourcePage, 'deleted' | 'syncToken'> = {};
    if (state.phase === 'delta' && start === 0 && listing.removed?.length) fields.deleted = listing.removed;
    if (next !== null) return fields;
    let token = listing.syncToken ?? undefined;
    if (state.phase === 'full' && state.token !== undefined) {
      // The full pass ended with no changes since its token: the (cached) delta's token is the newest.
      const { book } = state;
      const since = state.token;
      token = (await this.#cached(`delta ${book} ${since}`, () => listBySync(client, book, since, signal)))?.syncToken ?? since;
    }
    if (token !== undefined) fields.syncToken = token;
    return fields;
  }

  /** After the full pass: the delta phase when cards changed since its token, else the end. */
  async #deltaAfterFullPass(client: DavClient, state: CarddavCursor, signal: AbortSignal): Promise<CarddavCursor | null> {
    const { book, token } = state;
    if (token === undefined) return null;
    const delta = await this.#cached(`delta ${book} ${token}`, () => listBySync(client, book, token, signal));
    if (delta !== null && delta.cards.length === 0) return null;
    return { book, phase: 'delta', via: state.via, after: '', token };
  }

  async #read(
    client: DavClient,
    book: string,
    cards: readonly ListedCard[],
    signal: AbortSignal,
  ): Promise<{ contacts: ContactRecord[]; rejected: RejectedRecord[] }> {
    const contacts: ContactRecord[] = [];
    const rejected: RejectedRecord[] = [];
    if (cards.length === 0) return { contacts, rejected };
    const fetched = await multiget(client, book, cards.map((card) => card.href), signal);
    const parseCard = this.#options.parseCard ?? parseBasicCard;
    for (const card of cards) {
      const got = fetched.get(hrefKey(card.href));
      // Deleted between listing and fetching: nothing to import.
      if (got === undefined || got.status === 404) continue;
      if (got.status !== 200 || got.data === null) {
        const why = got.status !== 200 ? `answered ${got.status} for it` : 'sent it without address-data';
        rejected.push(rejectRecord(card.href, 'unparseable', `The CardDAV server ${why} in addressbook-multiget.`, got.data ?? ''));
        continue;
      }
      const result = await parseCard(got.data, card.href);
      if ('rejected' in result) {
        // The href is the card's identity, whatever position a file-minded parser gave it.
        rejected.push({ ...result.rejected, position: card.href });
        continue;
      }
      // A server without etags still needs a version tag, or every import would rewrite every row.
      const etag = got.etag ?? card.etag ?? `sha256:${createHash('sha256').update(got.data).digest('base64url')}`;
      contacts.push({ ...result.contact, externalId: card.href, etag });
    }
    return { contacts, rejected };
  }
}

/**
 * The CardDAV source for `credentials` (a server root or an address book `url`, and the account),
 * reading with `options`: cards with {@link parseBasicCard} unless another parser is given.
 */
export function createCarddavSource(credentials: CarddavCredentials, options: CarddavSourceOptions = {}): ContactSource {
  return new CarddavSource(credentials, options);
}
