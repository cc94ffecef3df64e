/**
 * Every provider's {@link ContactSource}, by the contract's `Provider`. The mapped type makes a
 * provider added to the contract without a source here a compile error.
 */
import type { ImportOwner, Provider } from '../workflows/contract';
import { DEFAULT_PHONE_REGION } from './kit/normalize';
import { createCarddavSource } from './carddav';
import { fileSource } from './file/source';
import { createCardParser } from './formats';
import { googlePeopleSource } from './google-people/client';
import type { ContactSource, SourceFactory, SourceSettings } from './types';

export type { ContactSource, PageRequest, SourcePage, SourceSettings } from './types';

const SOURCES: { readonly [P in Provider]: SourceFactory } = {
  'google-people': googlePeopleSource,
  // Cards are read with the same vCard reader as uploaded files, and normalised the same way.
  carddav: (credentials, settings, owner) =>
    createCarddavSource({ parseCard: createCardParser({ defaultRegion: settings.defaultPhoneRegion ?? DEFAULT_PHONE_REGION }) })(
      credentials,
      settings,
      owner,
    ),
  file: fileSource,
};

/** The source for `provider`, reading with the given (opened) credentials for `owner`. */
export function openSource(
  provider: Provider,
  credentials: string,
  settings: SourceSettings,
  owner: ImportOwner,
): ContactSource {
  return SOURCES[provider](credentials, settings, owner);
}
