/**
 * The OpenAPI description the API publishes at `/openapi.json`: every route with the answers it
 * gives, bearer keys on every `/v1` operation, each provider's source, and an import described with
 * the contract's status fields. Through `app.request()` on fakes (test/support/fake-app.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PROVIDER_IDS } from '../providers';
import { IMPORT_STATES, ImportStatus } from '../workflows/contract';
import { contractApp } from './support/fake-app';

describe('HTTP contract', () => {
  const api = contractApp();

  describe('OpenAPI description', () => {
    interface Operation {
      responses: Record<string, { headers?: Record<string, unknown> }>;
      security?: Array<Record<string, string[]>>;
    }
    interface OpenApiDoc {
      paths: Record<string, Record<string, Operation>>;
      components: {
        schemas: Record<string, { properties: Record<string, { enum?: string[] }>; required: string[] }>;
        securitySchemes?: Record<string, { type: string; scheme?: string }>;
      };
    }

    async function openApi(): Promise<OpenApiDoc> {
      const res = await api.app.request('/openapi.json');
      assert.equal(res.status, 200, 'the description is public');
      return (await res.json()) as OpenApiDoc;
    }

    const operations = (doc: OpenApiDoc) =>
      Object.entries(doc.paths).flatMap(([urlPath, ops]) =>
        Object.entries(ops).map(([method, operation]) => ({ method: method.toUpperCase(), path: urlPath, operation })),
      );

    it('documents every route with the answers it gives', async () => {
      const doc = await openApi();
      const documented = operations(doc).map(
        ({ method, path: urlPath, operation }) => `${method} ${urlPath} ${Object.keys(operation.responses).join(',')}`,
      );
      assert.deepEqual(documented.sort(), [
        'DELETE /v1/connections/{connectionId} 200,401,403,404,413,421,422,429,503',
        'DELETE /v1/users/{userId} 202,401,403,413,421,422,429,503',
        'DELETE /v1/users/{userId}/sync 200,401,403,413,421,422,429,503',
        'GET /healthz 200,429,503',
        'GET /livez 200,429',
        'GET /v1/connect-settings 200,401,403,421,429,503',
        'GET /v1/connections/{connectionId} 200,401,403,404,421,422,429,503',
        'GET /v1/imports 200,400,401,403,421,422,429,503',
        'GET /v1/imports/{importId} 200,401,403,404,421,422,429,503',
        'GET /v1/imports/{importId}/events 200,204,401,403,404,421,422,429,503',
        'GET /v1/imports/{importId}/rejects 200,400,401,403,404,421,422,429,503',
        'GET /v1/uploads/{uploadId} 200,401,403,404,421,422,429,503',
        'GET /v1/users/{userId}/connections 200,401,403,421,422,429,503',
        'GET /v1/users/{userId}/contacts 200,400,401,403,421,422,429,503',
        'GET /v1/users/{userId}/sync 200,401,403,421,422,429,503',
        'GET /v1/webhook 200,401,403,404,421,429,503',
        'POST /v1/connect-sessions 201,400,401,403,413,421,422,429,503',
        'POST /v1/imports 200,202,400,401,403,409,413,421,422,429,503',
        'POST /v1/imports/{importId}/cancel 202,401,403,404,409,413,421,422,429,503',
        'POST /v1/imports/{importId}/credentials 202,400,401,403,404,409,413,421,422,429,503',
        'POST /v1/imports/{importId}/pause 202,401,403,404,409,413,421,422,429,503',
        'POST /v1/imports/{importId}/resume 202,401,403,404,409,413,421,422,429,503',
        'POST /v1/uploads 201,400,401,403,413,415,421,422,429,503',
        'PUT /v1/connect-settings 200,400,401,403,413,421,422,429,503',
        'PUT /v1/users/{userId}/sync 200,201,400,401,403,409,413,421,422,429,503',
        'PUT /v1/webhook 200,201,400,401,403,413,421,422,429,503',
      ]);
      const served = new Set(
        api.app.routes
          .filter((route) => route.method !== 'ALL' && route.path !== '/openapi.json')
          .map((route) => `${route.method} ${route.path.replace(/:(\w+)/g, '{$1}')}`),
      );
      const documentedRoutes = new Set(documented.map((line) => line.split(' ').slice(0, 2).join(' ')));
      assert.deepEqual([...served].sort(), [...documentedRoutes].sort(), 'every route the app serves is documented');
    });

    it('declares bearer API keys, required by every /v1 operation, with their 401 and 429', async () => {
      const doc = await openApi();
      const schemes = doc.components.securitySchemes ?? {};
      const bearer = Object.entries(schemes).filter(([, scheme]) => scheme.type === 'http' && scheme.scheme === 'bearer');
      assert.equal(bearer.length, 1, `one bearer scheme: ${JSON.stringify(schemes)}`);
      const [schemeName] = bearer[0]!;
      const ops = operations(doc);
      assert.ok(ops.filter((op) => op.path.startsWith('/v1/')).length >= 6, 'the /v1 operations are documented');
      for (const { method, path: urlPath, operation } of ops) {
        const what = `${method} ${urlPath}`;
        if (!urlPath.startsWith('/v1/')) {
          assert.equal(operation.security, undefined, `${what} is public`);
          continue;
        }
        assert.deepEqual(operation.security, [{ [schemeName]: [] }], `${what} requires an API key`);
        assert.ok(operation.responses['401'], `${what} documents 401`);
        assert.ok(operation.responses['401']?.headers?.['WWW-Authenticate'], `${what} documents the 401's WWW-Authenticate`);
        assert.ok(operation.responses['429'], `${what} documents 429`);
        assert.ok(operation.responses['429']?.headers?.['Retry-After'], `${what} documents the 429's Retry-After`);
      }
    });

    it("publishes each provider's source as a schema of its own, and names every provider in an import's", async () => {
      const { schemas } = (await openApi()).components;
      for (const id of PROVIDER_IDS) {
        const named = Object.entries(schemas).filter(([, schema]) => schema.properties?.provider?.enum?.join() === id);
        assert.equal(named.length, 1, `one schema describes the ${id} source: ${named.map(([name]) => name).join(', ')}`);
      }
      assert.ok(schemas.MicrosoftGraphSource, 'the Microsoft Graph source is MicrosoftGraphSource');
      assert.deepEqual(schemas.Import?.properties.provider?.enum, [...PROVIDER_IDS]);
    });

    it("describes an import with the contract's status fields", async () => {
      const schema = (await openApi()).components.schemas.Import;
      assert.ok(schema, 'an Import schema is published');
      const statusFields = Object.keys(ImportStatus.shape);
      for (const field of ['state', 'fetched', 'saved', 'pages', 'total', 'startedAt', 'updatedAt', 'completedAt', 'error']) {
        assert.ok(statusFields.includes(field), `the contract's status has ${field}`);
      }
      for (const field of [...statusFields, 'importId', 'workflowId', 'runId', 'userId', 'provider']) {
        assert.ok(schema.properties[field], `Import documents ${field}`);
      }
      assert.deepEqual(schema.properties.state?.enum, [...IMPORT_STATES]);
      for (const field of ['state', 'fetched', 'saved', 'pages', 'total', 'startedAt', 'updatedAt', 'importId']) {
        assert.ok(schema.required.includes(field), `${field} is always present`);
      }
      for (const field of ['completedAt', 'error']) {
        assert.ok(!schema.required.includes(field), `${field} is optional`);
      }
    });
  });

});
