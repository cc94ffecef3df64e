/**
 * Reading the Microsoft Graph source on its own, for the tests that drive it against the Graph
 * look-alike (or a lying server): a source at a base URL, every page of one read, and the failure a
 * read ends with.
 */
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { openSource, readProviderSettings, type ContactSource, type SourcePage, type SyncRequest } from '../../providers';
import type { RequestGovernor } from '../../providers/kit/governor';

const OWNER = { tenant: 'default', userId: 'alice' };

/** Pages one read may take before the test calls it endless (the look-alike's mailboxes take a few dozen). */
const MAX_TEST_PAGES = 500;

/**
 * A Microsoft Graph source reading at `baseUrl` with `accessToken` alone (no refresh), its requests
 * sent as they come unless a `governor` spends their budgets.
 */
export function sourceAt(baseUrl: string, accessToken: string, governor?: RequestGovernor): Promise<ContactSource> {
  const providers = readProviderSettings({ MICROSOFT_GRAPH_BASE_URL: baseUrl });
  return openSource('microsoft-graph', JSON.stringify({ accessToken, refreshToken: null }), { providers, governor }, OWNER);
}

/**
 * Every page of one read, from `cursor` (the first page when `null`), with `sync` on each. Fails the
 * test, rather than read on for ever, when the source hands out more than {@link MAX_TEST_PAGES} cursors.
 */
export async function readAll(source: ContactSource, sync?: SyncRequest, pageSize = 4, cursor: string | null = null): Promise<SourcePage[]> {
  const pages: SourcePage[] = [];
  do {
    if (pages.length === MAX_TEST_PAGES) assert.fail(`the read did not end within ${MAX_TEST_PAGES} pages`);
    const page = await source.fetchPage({ cursor, pageSize, signal: new AbortController().signal, sync });
    pages.push(page);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return pages;
}

/** Asserts `promise` rejects with an ApplicationFailure of `type`; resolves to it. */
export async function rejectsWith(promise: Promise<unknown>, type: string): Promise<ApplicationFailure> {
  const error: unknown = await promise.then(
    () => assert.fail(`expected ${type}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(error)}`);
  assert.equal(error.type, type, error.message);
  return error;
}
