/**
 * `SOURCES_ALLOW_PRIVATE_ADDRESSES` for the worker `npm start` runs. On a loopback `HOST` the whole
 * service is one person's machine, with its own servers (the demo provider, a local Radicale from
 * `npm run demo-carddav`): its worker may reach loopback and private sources. On any other `HOST`
 * the API takes other people's source URLs, and the guard stays on: a CardDAV URL must not reach
 * this machine's or its network's private services.
 */
import { isLoopbackHost } from '../api/loopback';

/** The value to run `npm start`'s worker with, and why, for its log. An explicit setting wins. */
export function privateSourcesSetting(host: string, env: NodeJS.ProcessEnv): { value: string; why: string } {
  const explicit = env.SOURCES_ALLOW_PRIVATE_ADDRESSES;
  if (explicit) return { value: explicit, why: 'SOURCES_ALLOW_PRIVATE_ADDRESSES is set' };
  return isLoopbackHost(host)
    ? { value: 'true', why: `HOST=${host} is loopback: sources on this machine are allowed` }
    : { value: 'false', why: `HOST=${host} is reachable from other machines: sources may not reach private addresses` };
}
