/** Every workflow the worker registers. The worker bundles this file for the sandbox. */
export { ImportContacts } from './import-contacts';
