/**
 * What every plain-loop process of the bench (`baseline.ts`, `files-loop.ts`) starts with: the user
 * it imports for (`BENCH_USER_ID`), the worker's configuration (the providers' too), and the store, at the contacts of
 * the default tenant (the service under the bench runs keyless on loopback, so its rows are there).
 */
import { loadConfig, type AppConfig } from '../config';
import { openStore } from '../db';
import type { ContactStore, Store } from '../db/types';
import { readProviderSettings, type ProviderSettings } from '../providers';
import { DEFAULT_TENANT } from '../workflows/contract';

export interface LoopProcess {
  userId: string;
  config: AppConfig;
  providers: ProviderSettings;
  store: Store;
  contacts: ContactStore;
}

export async function openLoopProcess(what: string): Promise<LoopProcess> {
  const userId = process.env.BENCH_USER_ID;
  if (!userId) throw new Error(`BENCH_USER_ID must be set: the user the ${what} imports for`);
  const config = loadConfig();
  const store = await openStore(config.database);
  return { userId, config, providers: readProviderSettings(process.env), store, contacts: store.tenant(DEFAULT_TENANT) };
}
