/**
 * The CardDAV source (RFC 6352): discovery, `sync-collection` or PROPFIND listings,
 * `addressbook-multiget` pages and a resumable cursor. The registry entry is {@link carddavSource}
 * (or `createCarddavSource({ parseCard })` with the full vCard reader).
 */
export { type CardResult, type ParseCard, parseBasicCard } from './basic-card';
export { type CarddavCursor, decodeCursor, encodeCursor } from './cursor';
export { type AddressBook, discoverAddressBook } from './discovery';
export { DavClient, type DavCredentials } from './http';
export {
  CarddavCredentials,
  type CarddavSourceOptions,
  carddavSource,
  createCarddavSource,
  parseCarddavCredentials,
} from './source';
