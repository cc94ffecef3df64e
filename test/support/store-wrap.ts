/**
 * A store whose page saves go through a test's own function: to hold a save, or make one fail, at
 * the exact page a test wants, with everything else the real store's.
 */
import type { ContactRecord, ContactStore, PageResult, PageSave, Store } from '../../db/types';

/** What stands in for {@link ContactStore.savePage}: it gets the real store's contacts to save through. */
export type SavePageThrough = (
  real: ContactStore,
  userId: string,
  provider: string,
  contacts: readonly ContactRecord[],
  saved: PageSave,
) => Promise<PageResult>;

/** `store` with every tenant's `savePage` replaced by `savePage`. */
export function withSavePage(store: Store, savePage: SavePageThrough): Store {
  const wrapContacts = (contacts: ContactStore): ContactStore =>
    new Proxy(contacts, {
      get(target, prop, receiver) {
        if (prop === 'savePage') {
          return (userId: string, provider: string, page: readonly ContactRecord[], saved: PageSave) =>
            savePage(target, userId, provider, page, saved);
        }
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? (value.bind(target) as unknown) : value;
      },
    });
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'tenant') return (tenant: string) => wrapContacts(target.tenant(tenant));
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value.bind(target) as unknown) : value;
    },
  });
}
