/**
 * The CardDAV provider (RFC 6352): discovery, `sync-collection` or PROPFIND listings,
 * `addressbook-multiget` pages and a resumable cursor (source.ts). Cards are read with the same
 * vCard reader as uploaded files (`providers/formats`), and normalised the same way. Accounts
 * connect through a form checked with discovery (connect.ts).
 */
import { readBudgets, type Budgets } from '../kit/budgets';
import type { ProviderDefinition } from '../types';
import { CARDDAV_BUDGETS } from './budgets';
import { carddavConnect, openCarddavSource } from './connect';
import { CarddavSourceCredentials, toCarddavCredentials } from './credentials';
import { CarddavSource } from './request';

export { type CardResult, type ParseCard, parseBasicCard } from './basic-card';
export { CarddavCredentials } from './credentials';
export { type CarddavCursor, decodeCursor, encodeCursor } from './cursor';
export { type AddressBook, discoverAddressBook } from './discovery';
export { DavClient, type DavClientOptions, type DavCredentials } from './http';
export { type CarddavSourceOptions, createCarddavSource } from './source';

export const carddav = {
  id: 'carddav',
  label: 'The CardDAV server',
  request: CarddavSource,
  capabilities: { schedule: true, reauth: true, incremental: true, fullReadSweeps: 'always' },
  form: {
    option: 'CardDAV server',
    fields: [
      { name: 'url', label: 'Server URL', type: 'url', placeholder: 'https://dav.example.com/' },
      { name: 'username', label: 'Username' },
      { name: 'password', label: 'Password', type: 'password' },
    ],
  },
  credentials: CarddavSourceCredentials,
  toCredentials: toCarddavCredentials,
  budgets: CARDDAV_BUDGETS,
  // The server is the user's (the URL comes with each import): only its budgets are configured.
  readSettings: (env) => ({ budgets: readBudgets(env, CARDDAV_BUDGETS) }),
  openSource: (credentials, settings, context) => openCarddavSource(credentials, context, settings.budgets),
  connect: carddavConnect,
} as const satisfies ProviderDefinition<'carddav', typeof CarddavSource, CarddavSourceCredentials, { budgets: Budgets }>;
