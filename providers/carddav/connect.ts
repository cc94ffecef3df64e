/**
 * Connecting a CardDAV account through a connect session: the servers the form offers by name,
 * the check that the account works (discovery, `./discovery.ts`) before it is kept, and the source
 * of an import by connection, which reads the kept account from the worker's vault.
 */
import { createCardParser } from '../formats';
import { invalidInput, jsonOrUndefined } from '../kit/failures';
import type { Budgets } from '../kit/budgets';
import { loadKeptSecret, reportingRefusal } from '../kit/kept-secret';
import type { AccountFormConnect, ContactSource, KnownServer, SourceContext } from '../types';
import { CarddavCredentials, type CarddavSourceCredentials } from './credentials';
import { discoverAddressBook } from './discovery';
import { DavClient } from './http';
import { createCarddavSource } from './source';

/** Each request of the check: a server that does not answer soon is refused rather than waited on. */
const VERIFY_TIMEOUT_MS = 15_000;

/** Hosts whose CardDAV address is known; Nextcloud and the others are the user's own server. */
export const KNOWN_CARDDAV_SERVERS: readonly KnownServer[] = [
  { id: 'icloud', label: 'iCloud', url: 'https://contacts.icloud.com' },
  { id: 'fastmail', label: 'Fastmail', url: 'https://carddav.fastmail.com' },
  { id: 'nextcloud', label: 'Nextcloud', url: null },
  { id: 'other', label: 'Another CardDAV server', url: null },
];

/**
 * The account, checked: its address book is found with the user's name and password. Answers the
 * account to keep, with the address book's own URL (later imports skip discovery); throws the
 * discovery's classified failures (401: the name or password is wrong), which never quote the password.
 */
async function verifyCarddavAccount(
  fields: Record<string, string> & { url: string },
  options: { allowPrivateAddresses: boolean; signal: AbortSignal },
): Promise<string> {
  const parsed = CarddavCredentials.safeParse({ url: fields.url, username: fields.username, password: fields.password });
  if (!parsed.success || parsed.data.password === '') {
    throw invalidInput('Give the server address (http:// or https://), the user name and the app password.');
  }
  const account = parsed.data;
  const client = new DavClient(account, { timeoutMs: VERIFY_TIMEOUT_MS, allowPrivateAddresses: options.allowPrivateAddresses });
  const book = await discoverAddressBook(client, account.url, options.signal);
  return JSON.stringify({ ...account, url: book.url } satisfies CarddavCredentials);
}

/** How a CardDAV account connects: a form, checked with discovery. */
export const carddavConnect: AccountFormConnect<CarddavSourceCredentials> = {
  kind: 'account-form',
  name: 'CardDAV',
  knownServers: KNOWN_CARDDAV_SERVERS,
  fields: [
    { name: 'username', label: 'User name' },
    { name: 'password', label: 'App password', type: 'password' },
  ],
  verify: verifyCarddavAccount,
  storedCredentials: { account: 'stored' },
};

/** The source of `credentials`: the account they hold, or the one kept for the context's owner, its requests within `budgets`. */
export async function openCarddavSource(credentials: CarddavSourceCredentials, context: SourceContext, budgets: Budgets): Promise<ContactSource> {
  const options = {
    parseCard: createCardParser({ defaultRegion: context.defaultPhoneRegion }),
    allowPrivateAddresses: context.allowPrivateAddresses,
    limits: context.outboundLimits,
    governor: context.governor,
    budgets,
  };
  if (!('account' in credentials)) return createCarddavSource(credentials, options);
  const kept = await loadKeptSecret(context, 'carddav');
  const account = CarddavCredentials.safeParse(jsonOrUndefined(kept.secret));
  if (!account.success) throw invalidInput('The kept CardDAV account is not one this version reads; ask the user to reconnect it.');
  return reportingRefusal(createCarddavSource(account.data, options), context, 'carddav', kept.generation);
}
