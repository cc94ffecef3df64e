/**
 * `deliverWebhook`: one attempt at POSTing an import event to the web app, signed with its
 * tenant's secret. A refusal (any answer but 2xx, a timeout, a dropped connection) fails the
 * attempt retryably; `DeliverWebhook`'s retry policy spaces the attempts over up to 24 hours.
 * The URL is the web app's, so the same guard as CardDAV URLs keeps it off private networks.
 */
import { SealedTokenError, type TokenSealer } from '../encryption/token-seal';
import { signWebhook, WEBHOOK_HEADERS } from '../encryption/webhook-signature';
import type { Store } from '../db/types';
import { FAILURE_TYPES } from '../workflows/contract';
import type { DeliverWebhookInput, WebhookDelivery } from '../workflows/hooks-contract';
import { encodeImportId } from '../workflows/import-id';
import { describeNetworkError, failure, outboundFailure } from '../providers/kit/failures';
import { httpRequest, type HttpOutcome, type HttpRequest, type OutboundLimits } from '../providers/kit/http';
import type { ConnectionGate } from './connection-gate';

export interface WebhookDeps {
  store: Store;
  sealer: TokenSealer;
  /** `SOURCES_ALLOW_PRIVATE_ADDRESSES`: loopback receivers, for `npm start` and the tests. */
  allowPrivateAddresses?: boolean;
  /** The worker's outbound limits (`PROVIDER_*`); the defaults when absent. */
  outboundLimits?: OutboundLimits;
  /** The worker's connection gate (`connection-gate.ts`); none in tests that deliver alone. */
  connections?: ConnectionGate;
}

/** Longest one attempt waits for the receiver's answer; the activity's own timeout is above it. */
const ATTEMPT_TIMEOUT_MS = 10_000;

/** The JSON the receiver gets: counts and ids, never contact data, secrets or error messages. */
export function webhookBody({ event }: Pick<DeliverWebhookInput, 'event'>): string {
  if (event.type === 'connection.needs_reauth') {
    return JSON.stringify({
      eventId: event.eventId,
      type: event.type,
      occurredAt: event.occurredAt,
      connectionId: event.connectionId,
      userId: event.userId,
      provider: event.provider,
      status: 'needs_reauth',
    });
  }
  return JSON.stringify({
    eventId: event.eventId,
    type: event.type,
    occurredAt: event.occurredAt,
    importId: encodeImportId({ tenant: event.tenant, provider: event.provider, userId: event.userId, firstRunId: event.firstRunId }),
    userId: event.userId,
    provider: event.provider,
    state: event.state,
    fetched: event.fetched,
    saved: event.saved,
    rejected: event.rejected,
    pages: event.pages,
    total: event.total,
    ...(event.errorType ? { errorType: event.errorType } : {}),
  });
}

export function createWebhookActivities(deps: WebhookDeps) {
  async function deliverWebhook(input: DeliverWebhookInput): Promise<WebhookDelivery> {
    const { event } = input;
    const settings = await deps.store.webhooks.get(event.tenant);
    if (!settings) {
      throw failure('WebhookNotConfigured', `Tenant ${event.tenant} has no webhook secret (PUT /v1/webhook creates one)`, { nonRetryable: true });
    }
    let secret: string;
    try {
      secret = deps.sealer.open(settings.sealedSecret);
    } catch (err) {
      // Another worker, with the right key, can deliver it.
      if (err instanceof SealedTokenError) throw failure(FAILURE_TYPES.workerMisconfigured, err.message.replace('access token', 'webhook secret'));
      throw err;
    }
    const url = new URL(input.url);
    if (url.username || url.password) {
      // fetch refuses such a URL, and its message would repeat the password into logs and history.
      throw failure('WebhookRefused', `The webhook URL for ${url.host} carries a user name or password; give one without (the signature authenticates us)`, { nonRetryable: true });
    }
    const body = webhookBody(input);
    const request: HttpRequest = {
      method: 'POST',
      url,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'contacts-import-webhooks/1',
        [WEBHOOK_HEADERS.eventId]: event.eventId,
        [WEBHOOK_HEADERS.signature]: signWebhook(secret, Math.floor(Date.now() / 1000), body),
      },
      body,
      // A redirect could lead anywhere: it counts as a refusal.
      redirect: 'manual',
      destinations: { allowPrivate: deps.allowPrivateAddresses ?? false },
      limits: deps.outboundLimits,
      timeoutMs: ATTEMPT_TIMEOUT_MS,
    };
    // A delivery waits on the network as a page fetch does: in its tenant's share of the connections.
    const connection = await deps.connections?.acquire({ tenant: event.tenant, key: `webhook ${event.eventId}` });
    let outcome: HttpOutcome<null>;
    try {
      // The answer's body is not ours to read: a receiver could stream without end into a worker
      // every tenant shares. Dropped unread; the status says all we need.
      outcome = await httpRequest(request, 'none');
    } finally {
      connection?.release();
    }
    // The same refusal, in the same words, as a CardDAV URL of a private address.
    if (outcome.kind === 'refused') throw outboundFailure(outcome, 'The webhook receiver', ' (notify.url)');
    if (outcome.kind !== 'answer') {
      const why = outcome.kind === 'network' ? describeNetworkError(outcome.error) : outcome.kind === 'timeout' ? `nothing within ${outcome.timeoutMs} ms` : outcome.kind;
      throw failure('WebhookUnreachable', `The webhook receiver at ${url.origin} did not answer (${why})`);
    }
    if (outcome.status < 200 || outcome.status > 299) {
      throw failure('WebhookRefused', `The webhook receiver at ${url.origin} answered ${outcome.status}`);
    }
    return { eventId: event.eventId, status: outcome.status };
  }
  return { deliverWebhook };
}
