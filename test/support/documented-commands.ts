/**
 * The `temporal schedule` commands of docs/operations.md's "Upload expiry", character for character:
 * test/upload-expiry.test.ts runs each (filling `<task-queue>` and `<why>`), and
 * test/schedules.test.ts checks that the document shows no schedule command that no test runs.
 */
export const UPLOAD_EXPIRY_COMMANDS = {
  list: 'temporal schedule list',
  trigger: 'temporal schedule trigger --schedule-id upload-expiry/<task-queue>',
  pause: 'temporal schedule toggle --schedule-id upload-expiry/<task-queue> --pause --reason "<why>"',
} as const;
