/** Every workflow the worker registers. The worker bundles this file for the sandbox. */
export { EraseUser } from './erase-user';
export { ExpireUploads } from './expire-uploads';
export { ImportContacts } from './import-contacts';
export { DeliverWebhook } from './deliver-webhook';
export { ScheduledSync } from './scheduled-sync';
