/**
 * How every process reaches Temporal. We follow the SDK's environment configuration conventions
 * (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`, `TEMPORAL_TLS*`, `TEMPORAL_PROFILE`
 * and the `temporal.toml` profile file), so a self-hosted cluster or Temporal Cloud needs no code.
 */
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { ConfigError } from './parse';

export interface TemporalTarget {
  /** Always names a server: see {@link temporalTarget}. */
  connectionOptions: NativeConnectionOptions & { address: string };
  namespace: string;
}

/**
 * The server named by `TEMPORAL_ADDRESS` or a `temporal.toml` profile. There is no default: a
 * worker or API that guessed `127.0.0.1:7233` would join whichever server happens to listen there
 * (another instance's, with another token key and database). Throws {@link ConfigError} when none
 * is named.
 */
export function temporalTarget(env: NodeJS.ProcessEnv = process.env): TemporalTarget {
  const overrideEnvVars = Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
  const { connectionOptions, namespace } = loadClientConnectConfig({ overrideEnvVars });
  if (!connectionOptions.address) {
    throw new ConfigError(
      'No Temporal server is named: set TEMPORAL_ADDRESS (host:port of your cluster, or of the dev server ' +
        '`npm start` runs), or give an address in a temporal.toml profile (TEMPORAL_PROFILE). ' +
        'Or run `npm start`, which starts a dev server and points its worker and API at it.',
    );
  }
  return {
    connectionOptions: { ...connectionOptions, address: connectionOptions.address },
    namespace: namespace || 'default',
  };
}
