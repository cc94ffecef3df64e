/** Every workflow the worker registers. The worker bundles this file for the sandbox. */
export { EraseUser } from './erase-user';
export { ImportContacts } from './import-contacts';
