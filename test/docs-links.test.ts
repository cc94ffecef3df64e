/**
 * The docs point at things that exist: every relative link of the README, `docs/*.md` and
 * `bench/README.md` resolves (a file, and a heading when it names one), every repository path they
 * name in code (`providers/index.ts`) is there, and the guides the OpenAPI document names exist.
 * No server: files only.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { API_INFO } from '../api/routes';

const ROOT = path.resolve(__dirname, '..');

/** The project's top-level folders: a path in code that starts with one of them names a file of the repository. */
const ROOMS = ['providers', 'workflows', 'activities', 'worker', 'api', 'db', 'config', 'encryption', 'observability', 'demo-provider', 'scripts', 'bench', 'docs', 'test'];

/** Paths that are written by runs, not kept in the repository (see .gitignore). */
const GENERATED = [/^test\/artifacts\//, /^bench\/results\/.+/];

/** Paths of other projects that happen to start like ours: the Temporal server module's config (docs/deploy.md). */
const FOREIGN = ['config/development-postgres12.yaml'];

/** The two commands the README opens with, word for word. */
const FIRST_COMMANDS = [
  'npm install && npm start   # the whole service on the embedded defaults; then open http://localhost:3000',
  'npm install && npm test    # every test, against a real Temporal dev server',
];

function docFiles(): string[] {
  const docs = fs
    .readdirSync(path.join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => path.join('docs', name));
  return ['README.md', path.join('bench', 'README.md'), ...docs];
}

/** The text without its fenced code blocks: links and paths are checked in the prose. */
function prose(markdown: string): string {
  return markdown.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '');
}

/** The anchors GitHub gives a file's headings: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const match of prose(markdown).matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)) {
    const base = (match[1] ?? '')
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

/**
 * What is wrong with the links and paths of `file` (relative to the repository root) whose text is
 * `markdown`; `exists` and `read` look at the repository.
 */
export function problemsIn(
  file: string,
  markdown: string,
  exists: (relative: string) => boolean,
  read: (relative: string) => string,
): string[] {
  const problems: string[] = [];
  const text = prose(markdown);
  const dir = path.posix.dirname(file.split(path.sep).join('/'));

  for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = match[1] ?? '';
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
    const [pathPart = '', fragment] = target.split('#', 2);
    const resolved = pathPart === '' ? file : path.posix.normalize(path.posix.join(dir, pathPart));
    if (resolved.startsWith('..')) {
      problems.push(`${file}: link ${target} leaves the repository`);
      continue;
    }
    if (!exists(resolved)) {
      problems.push(`${file}: link ${target} points at ${resolved}, which does not exist`);
      continue;
    }
    if (fragment !== undefined && resolved.endsWith('.md') && !anchors(read(resolved)).has(fragment)) {
      problems.push(`${file}: link ${target}: ${resolved} has no heading #${fragment}`);
    }
  }

  for (const match of text.matchAll(/`([^`\s]+)`/g)) {
    const named = (match[1] ?? '').replace(/[.,:;]$/, '');
    const room = named.split('/')[0] ?? '';
    if (!named.includes('/') || !ROOMS.includes(room) || /[<>*…{}]/.test(named)) continue;
    if (GENERATED.some((pattern) => pattern.test(named)) || FOREIGN.includes(named)) continue;
    if (!exists(named.replace(/\/$/, ''))) problems.push(`${file}: names \`${named}\`, which does not exist`);
  }
  return problems;
}

const inRepository = (relative: string) => fs.existsSync(path.join(ROOT, relative));
const readRepository = (relative: string) => fs.readFileSync(path.join(ROOT, relative), 'utf8');

void describe('the docs', () => {
  void it('link only to files and headings that exist, and name only paths that exist', () => {
    const problems = docFiles().flatMap((file) => problemsIn(file, readRepository(file), inRepository, readRepository));
    assert.deepEqual(problems, [], `broken links or paths:\n${problems.join('\n')}`);
  });

  void it('find a broken link, a missing heading and a missing path', () => {
    const files: Record<string, string> = { 'docs/a.md': '# A\n\n## Keys and rotation\n', 'docs/b.md': '' };
    const exists = (relative: string) => relative in files || relative === 'docs';
    const read = (relative: string) => files[relative] ?? '';
    const doc = [
      '[fine](a.md#keys-and-rotation) and [outside](https://example.com/x.md)',
      '[gone](c.md) and [no such heading](a.md#rotation) and `docs/d.md` and `test/artifacts/x.png`',
      '```sh\n[in a code block](nowhere.md) `docs/nowhere.md`\n```',
    ].join('\n');
    assert.deepEqual(problemsIn('docs/b.md', doc, exists, read), [
      'docs/b.md: link c.md points at docs/c.md, which does not exist',
      'docs/b.md: link a.md#rotation: docs/a.md has no heading #rotation',
      'docs/b.md: names `docs/d.md`, which does not exist',
    ]);
  });

  void it('give headings the anchors GitHub gives them', () => {
    const headings = '# Under `npm start`\n## The fault matrix: `npm run chaos`\n## Notes\n## Notes\n';
    assert.deepEqual([...anchors(headings)], ['under-npm-start', 'the-fault-matrix-npm-run-chaos', 'notes', 'notes-1']);
  });

  void it('have the README open with the two commands and stay short enough to read to the end', () => {
    const readme = readRepository('README.md');
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    assert.deepEqual(firstBlock.trimEnd().split('\n'), FIRST_COMMANDS, 'the README opens with `npm start` and `npm test`');
    assert.ok(readme.indexOf('```sh') < readme.indexOf('\n## '), 'the two commands come before the first section');
    const lines = readme.split('\n').length;
    assert.ok(lines < 400, `README.md has ${lines} lines: move reference material to docs/ and keep it under 400`);
  });

  void it('name in the OpenAPI document only guides that exist', () => {
    const named = [...API_INFO.description.matchAll(/`(docs\/[^`]+)`/g)].map((match) => match[1] ?? '');
    assert.ok(named.includes('docs/api.md'), '/docs points readers at docs/api.md');
    for (const guide of named) assert.ok(inRepository(guide), `the OpenAPI description names ${guide}, which does not exist`);
  });
});
