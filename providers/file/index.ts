/**
 * The file provider: a vCard or CSV file the user uploaded (`POST /v1/uploads`), read from the
 * store (source.ts). A file is read whole every time: it has no sync token, and an `auto` import
 * adds its contacts to what earlier uploads saved instead of sweeping them.
 */
import { z } from 'zod';
import type { ProviderDefinition } from '../types';
import { FileSource } from './request';
import { openFileSource } from './source';

/** The sealed credentials of a file import: which upload. Not secret, sealed like every source's. */
export const FileCredentials = z.object({ uploadId: z.string().min(1) });
export type FileCredentials = z.infer<typeof FileCredentials>;

export const file = {
  id: 'file',
  label: 'The file',
  request: FileSource,
  capabilities: { schedule: false, reauth: false, incremental: false, fullReadSweeps: 'when-full-requested' },
  credentials: FileCredentials,
  uploadOf: ({ uploadId }) => uploadId,
  toCredentials: ({ uploadId }) => Promise.resolve({ uploadId }),
  readSettings: () => ({}),
  openSource: ({ uploadId }, _settings, context) => openFileSource(uploadId, context),
} as const satisfies ProviderDefinition<'file', typeof FileSource, FileCredentials, Record<string, never>>;
