/**
 * How every process reaches Temporal. We follow the SDK's environment configuration conventions
 * (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`, `TEMPORAL_TLS*`, `TEMPORAL_PROFILE`
 * and the `temporal.toml` profile file), so a self-hosted cluster or Temporal Cloud needs no code.
 */
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { DEFAULT_TEMPORAL_ADDRESS } from './defaults';

export interface TemporalTarget {
  connectionOptions: NativeConnectionOptions;
  namespace: string;
}


export function temporalTarget(env: NodeJS.ProcessEnv = process.env): TemporalTarget {
  const overrideEnvVars = Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
  const { connectionOptions, namespace } = loadClientConnectConfig({ overrideEnvVars });
  return {
    connectionOptions: { ...connectionOptions, address: connectionOptions.address || DEFAULT_TEMPORAL_ADDRESS },
    namespace: namespace || 'default',
  };
}
