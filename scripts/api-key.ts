/**
 * `npm run api-key -- <command>`: API keys for the web apps (tenants) and operators.
 *
 *   npm run api-key -- create --tenant acme --name web-app    prints a new tenant key, once
 *   npm run api-key -- create --operator --name ops            prints a new operator key (codec server)
 *   npm run api-key -- list                                    every key: id, scope, tenant, name, times
 *   npm run api-key -- revoke key_0123456789ab                 the key stops working at once
 *
 * It opens the store the API uses (`DATABASE_URL`, else the SQLite file in `DATA_DIR`).
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config';
import { ConfigError } from '../config/parse';
import { openStore } from '../db';
import { TenantId } from '../workflows/contract';

const USAGE = `usage:
  npm run api-key -- create --tenant TENANT --name NAME
  npm run api-key -- create --operator --name NAME
  npm run api-key -- list
  npm run api-key -- revoke KEY_ID`;

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { tenant: { type: 'string' }, name: { type: 'string' }, operator: { type: 'boolean' } },
  });
  const [command, ...rest] = positionals;
  const store = await openStore(loadConfig().database);
  try {
    switch (command) {
      case 'create': {
        const name = values.name?.trim();
        if (!name) throw new ConfigError(`create needs --name (what the key is for, e.g. web-app)\n${USAGE}`);
        if (values.operator && values.tenant) throw new ConfigError('an operator key has no tenant: give --operator or --tenant');
        let created;
        if (values.operator) {
          created = await store.apiKeys.create({ scope: 'operator', name });
        } else {
          const tenant = TenantId.safeParse(values.tenant);
          if (!tenant.success) {
            throw new ConfigError(`create needs --tenant: ${tenant.error.issues[0]?.message ?? 'a tenant id'}\n${USAGE}`);
          }
          created = await store.apiKeys.create({ scope: 'tenant', tenant: tenant.data, name });
        }
        const { key, record } = created;
        const owner = record.scope === 'operator' ? 'operator key' : `key for tenant "${record.tenant}"`;
        console.error(`Created ${owner} ${record.id} (${record.name}). It is shown once; keep it secret:`);
        console.log(key);
        return 0;
      }
      case 'list': {
        const keys = await store.apiKeys.list();
        if (keys.length === 0) console.error('No keys yet. Create one with: npm run api-key -- create --tenant TENANT --name NAME');
        for (const k of keys) {
          const state = k.revokedAt ? `revoked ${k.revokedAt}` : 'active';
          console.log(
            [k.id, k.scope, k.tenant ?? '-', k.name, `created ${k.createdAt}`, `last used ${k.lastUsedAt ?? 'never'}`, state].join('\t'),
          );
        }
        return 0;
      }
      case 'revoke': {
        const [id] = rest;
        if (!id) throw new ConfigError(`revoke needs a key id (see \`npm run api-key -- list\`)\n${USAGE}`);
        if (!(await store.apiKeys.revoke(id))) {
          console.error(`No key with id "${id}" (see \`npm run api-key -- list\`)`);
          return 1;
        }
        console.error(`Revoked ${id}: requests with it are refused from now on.`);
        return 0;
      }
      default:
        console.error(command ? `Unknown command "${command}"\n${USAGE}` : USAGE);
        return 2;
    }
  } finally {
    await store.close();
  }
}

// `npm run api-key -- list | head -1` closes the pipe early: that is the reader's choice, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`api-key: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = err instanceof ConfigError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1;
  },
);
