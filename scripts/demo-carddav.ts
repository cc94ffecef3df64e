/**
 * `npm run demo-carddav`: a CardDAV server to import from while `npm start` runs. It starts
 * Debian's Radicale on a free loopback port, with one account and an address book of demo cards
 * (`scripts/radicale.ts`, the server the tests use), prints the `curl` that imports it through the
 * API, and stops Radicale on Ctrl-C.
 *
 *   npm run demo-carddav                   250 cards, the curl for the API on 127.0.0.1:3000
 *   npm run demo-carddav -- --cards 2000   more cards
 *   PORT=3100 npm run demo-carddav         the curl for an API started with PORT=3100
 *
 * The account's password is new on every run and exists only in Radicale's temporary directory
 * and in the printed command.
 */
import { PORT_DEFAULTS } from '../config/defaults';
import { ConfigError, parseInteger } from '../config/parse';
import { RADICALE_BIN, radicaleMissing, startRadicale, type RadicaleServer } from './radicale';

const DEFAULT_CARDS = 250;
/** The web app's user the printed commands import for (any id works). */
const USER_ID = 'alice';

/** `--cards N` from the command line, else {@link DEFAULT_CARDS}. */
function cardsWanted(args: readonly string[]): number {
  const at = args.indexOf('--cards');
  const raw = at === -1 ? undefined : args[at + 1];
  if (at !== -1 && raw === undefined) throw new ConfigError('--cards needs a number, e.g. npm run demo-carddav -- --cards 500');
  return parseInteger('--cards', raw, DEFAULT_CARDS, { min: 1, max: 100_000 });
}

/** Where `npm start`'s API listens, as the commands should reach it (`PORT`, like `npm start`). */
function apiBase(): string {
  return `http://127.0.0.1:${parseInteger('PORT', process.env.PORT, PORT_DEFAULTS.api, { min: 1, max: 65_535 })}`;
}

/** The commands to print: import, status, contacts. Single-quoted JSON: the password is hex. */
function instructions(server: RadicaleServer, api: string): string {
  const body = JSON.stringify({
    userId: USER_ID,
    source: { provider: 'carddav', url: server.url, username: server.username, password: server.password },
  });
  return [
    `CardDAV demo: Radicale on ${server.url}, account "${server.username}", ${server.cards.length} cards in ${server.addressBookUrl}`,
    '',
    `With \`npm start\` running (API on ${api}), import them (202 + Location):`,
    '',
    `  curl -si -X POST ${api}/v1/imports -H 'content-type: application/json' \\`,
    `    -d '${body}'`,
    '',
    'Then (the importId is in the answer above):',
    '',
    `  curl -s ${api}/v1/imports/imp_…`,
    `  curl -s '${api}/v1/users/${USER_ID}/contacts?limit=5'`,
    '',
    'Once an API key exists, add -H "Authorization: Bearer <key>" to each command.',
    `"url" may also be the address book itself (${server.addressBookUrl}).`,
    'Ctrl-C stops Radicale and deletes its address book.',
  ].join('\n');
}

async function main(): Promise<number> {
  if (radicaleMissing() !== null) {
    console.error(`demo-carddav: Radicale is not installed (no ${RADICALE_BIN}). Install Debian's package: sudo apt-get install radicale`);
    return 1;
  }
  const cards = cardsWanted(process.argv.slice(2));
  const api = apiBase();
  console.log(`demo-carddav: starting Radicale with ${cards} cards…`);
  const server = await startRadicale({ cards });

  let stopping = false;
  const stop = (why: string, code: number) => {
    if (stopping) return;
    stopping = true;
    console.log(`\ndemo-carddav: ${why}; stopping Radicale.`);
    void server.stop().then(() => process.exit(code));
  };
  // Radicale is in our process group, so Ctrl-C reaches it too; stop() copes with either order.
  process.on('SIGINT', () => stop('interrupted', 0));
  process.on('SIGTERM', () => stop('terminated', 0));
  void server.exited.then((log) => {
    if (stopping) return;
    console.error(`demo-carddav: ${log}`);
    stop('Radicale stopped unexpectedly', 1);
  });

  console.log(instructions(server, api));
  // Radicale's process and pipes keep this one running until a signal, and stop() exits it.
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`demo-carddav: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = err instanceof ConfigError ? 2 : 1;
  },
);
