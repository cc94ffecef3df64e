/**
 * Every provider's {@link ContactSource}, by the contract's `Provider`. The mapped type makes a
 * provider added to the contract without a source here a compile error.
 */
import type { Provider } from '../../workflows/contract';
import { googlePeopleSource } from './google-people';
import type { ContactSource, SourceFactory, SourceSettings } from './types';

export type { ContactSource, PageRequest, SourcePage, SourceSettings } from './types';

const SOURCES: { readonly [P in Provider]: SourceFactory } = {
  'google-people': googlePeopleSource,
};

/** The source for `provider`, reading with the given (opened) credentials. */
export function openSource(provider: Provider, credentials: string, settings: SourceSettings): ContactSource {
  return SOURCES[provider](credentials, settings);
}
