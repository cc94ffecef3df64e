/** What the server-rendered pages share: text made safe for HTML, and a policy that allows one inline style. */
import { createHash } from 'node:crypto';

/** `text` for an attribute value or element content. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The CSP source that allows exactly this inline `<style>` content. */
export function styleHash(css: string): string {
  return `'sha256-${createHash('sha256').update(css, 'utf8').digest('base64')}'`;
}
