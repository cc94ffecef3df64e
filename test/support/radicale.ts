/**
 * The Radicale harness of the CardDAV tests. It lives in `scripts/radicale.ts` because
 * `npm run demo-carddav` (`scripts/demo-carddav.ts`) starts the same server for people trying the
 * service; tests keep importing it from here.
 */
export * from '../../scripts/radicale';
