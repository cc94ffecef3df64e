/**
 * 4. History: the size of a completed import's continue-as-new chain, and whether any of its runs'
 * histories holds contact data or the clear access token.
 */
import { temporal } from '@temporalio/proto';
import type { BenchRun } from './service';
import { round } from './support';

export interface HistoryFigures {
  contacts: number;
  runs: number;
  events: number;
  bytes: number;
  eventsPer10k: number;
  bytesPer10k: number;
  largestRunEvents: number;
  largestRunBytes: number;
  /** Forbidden strings (contact names, emails, phones, the access token) found in any run. */
  contactDataFound: string[];
}

/** Strings of the demo provider's contacts that must never reach history. */
const CONTACT_DATA = ['Lovelace', 'example.com', '+1 555-'] as const;

/**
 * Follows the chain from `firstRunId` through its continue-as-new events: `describe` gives each
 * run's event count and bytes, and every page of every run's history is searched.
 */
export async function measureHistory(run: BenchRun, workflowId: string, firstRunId: string, contacts: number): Promise<HistoryFigures> {
  const { client } = run;
  const namespace = client.options.namespace;
  const forbidden = [...CONTACT_DATA, run.accessToken];
  const figures: HistoryFigures = {
    contacts,
    runs: 0,
    events: 0,
    bytes: 0,
    eventsPer10k: 0,
    bytesPer10k: 0,
    largestRunEvents: 0,
    largestRunBytes: 0,
    contactDataFound: [],
  };
  const found = new Set<string>();
  let runId: string | null = firstRunId;
  while (runId) {
    const description = await client.workflow.getHandle(workflowId, runId).describe();
    const bytes = description.historySize ?? 0;
    figures.runs += 1;
    figures.events += description.historyLength;
    figures.bytes += bytes;
    figures.largestRunEvents = Math.max(figures.largestRunEvents, description.historyLength);
    figures.largestRunBytes = Math.max(figures.largestRunBytes, bytes);
    let nextPageToken: Uint8Array | undefined;
    let next: string | null = null;
    do {
      const page: temporal.api.workflowservice.v1.GetWorkflowExecutionHistoryResponse =
        await client.workflowService.getWorkflowExecutionHistory({
          namespace,
          execution: { workflowId, runId },
          nextPageToken,
        });
      const raw = Buffer.from(temporal.api.workflowservice.v1.GetWorkflowExecutionHistoryResponse.encode(page).finish());
      for (const needle of forbidden) if (raw.includes(needle)) found.add(needle === run.accessToken ? 'access token' : needle);
      for (const event of page.history?.events ?? []) {
        const newRun = event.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
        if (newRun) next = newRun;
      }
      nextPageToken = page.nextPageToken && page.nextPageToken.length > 0 ? page.nextPageToken : undefined;
    } while (nextPageToken);
    runId = next;
  }
  figures.eventsPer10k = round((figures.events / contacts) * 10_000);
  figures.bytesPer10k = Math.round((figures.bytes / contacts) * 10_000);
  figures.contactDataFound = [...found];
  return figures;
}
