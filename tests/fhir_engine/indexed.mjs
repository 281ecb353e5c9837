// The test engine's store: Medplum's MemoryRepository with indexes, so that a search reads the
// resources it can match instead of every resource of the type, and a further page of the same
// search is a slice of the match list found for the first page.
//
// MemoryRepository.search tests every resource of the type (evaluating each filter's FHIRPath) and
// deep-copies every match, for every search and every page of it; a practice's first sync asks
// hundreds of searches, so its time grew with the size of the record times the searches. Here:
//   - a token filter (`code=system|code`, `_id=...`) or a reference filter (`patient=Patient/1`,
//     `subject=identifier:system|value`, `questionnaire=url`) with the plain "equals" operator
//     reads its candidates from a per-type, per-parameter index (built on the first search that
//     uses it, kept up to date on every write), and Medplum's own matcher (matchesSearchRequest)
//     then decides on each candidate, so a candidate set that is too large costs time, never a
//     wrong result;
//   - the candidates keep the order MemoryRepository would see them in (the order each id was
//     first stored), and _sort is applied as MemoryRepository applies it;
//   - the match list of a search is kept (a few dozen searches, dropped on any write to the type),
//     so the next page is a slice, and only the page's resources are copied.
// Any other filter (:missing, :not, dates, strings, `system|` with no code...) is matched by
// Medplum's matcher alone. With ENGINE_CHECK_SEARCH=<file> every search is also answered by
// MemoryRepository's own search and the two are compared (ids, versions, order, total): one line a
// search goes to the file ("ok" or "MISMATCH", both answers' milliseconds, the search), and a
// mismatch fails the request.
import {
  convertToSearchableReferences,
  convertToSearchableTokens,
  deepClone,
  evalFhirPath,
  evalFhirPathTyped,
  globalSchema,
  matchesSearchRequest,
  Operator,
  splitSearchOnComma,
  toTypedValue,
} from '@medplum/core';
import { MemoryRepository } from '@medplum/fhir-router';
import { appendFileSync } from 'node:fs';

/** Searches whose match lists are kept: a sync pages through a few at a time. */
const KEPT_SEARCHES = 32;

export class IndexedRepository extends MemoryRepository {
  /** @param {string | undefined} checkFile where to record each search's comparison, if anywhere */
  constructor(checkFile) {
    super();
    this.checkFile = checkFile;
    this.resetIndexes();
  }

  resetIndexes() {
    /** type -> search parameter code -> key -> Set of ids */
    this.indexes = new Map();
    /** type -> id -> the order it was first stored in (MemoryRepository's Map order) */
    this.positions = new Map();
    this.nextPosition = 0;
    /** type -> count of writes: a kept match list is valid while its type's count is unchanged */
    this.generations = new Map();
    /** search key -> {generation, matches}, oldest first */
    this.kept = new Map();
  }

  clear() {
    super.clear();
    this.resetIndexes();
  }

  /** Every write (create, update, conditional or in a bundle) comes through here. */
  async createResource(resource) {
    const type = resource.resourceType;
    const previous = resource.id ? this.resources.get(type)?.get(resource.id) : undefined;
    const created = await super.createResource(resource);
    const stored = this.resources.get(type).get(created.id);
    if (!previous) {
      this.typeMap(this.positions, type).set(created.id, this.nextPosition++);
    }
    this.reindex(type, created.id, previous, stored);
    return created;
  }

  async deleteResource(resourceType, id) {
    const previous = this.resources.get(resourceType)?.get(id);
    await super.deleteResource(resourceType, id);
    this.positions.get(resourceType)?.delete(id);
    this.reindex(resourceType, id, previous, undefined);
  }

  async search(searchRequest) {
    const started = performance.now();
    const matches = this.matches(searchRequest);
    let page = matches;
    if (searchRequest.offset !== undefined) {
      page = page.slice(searchRequest.offset);
    }
    if (searchRequest.count !== undefined) {
      page = page.slice(0, searchRequest.count);
    }
    const entry = page.map((resource) => ({ resource: deepClone(resource) }));
    const bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      entry: entry.length ? entry : undefined,
      total: matches.length,
    };
    if (this.checkFile) {
      await this.compare(searchRequest, bundle, performance.now() - started);
    }
    return bundle;
  }

  /** Every match of a search in order, not copied (for an export, which only serialises them:
   * MemoryRepository replaces a stored resource on every write and never changes one). */
  async sharedMatches(searchRequest) {
    const started = performance.now();
    const matches = this.matches(searchRequest);
    if (this.checkFile) {
      const bundle = { total: matches.length, entry: matches.map((resource) => ({ resource })) };
      await this.compare({ ...searchRequest, count: undefined, offset: undefined }, bundle, performance.now() - started);
    }
    return matches;
  }

  /** The search's matches in MemoryRepository's order (kept until the type is next written). */
  matches(searchRequest) {
    const type = searchRequest.resourceType;
    const key = JSON.stringify([type, searchRequest.filters ?? [], searchRequest.sortRules ?? []]);
    const generation = this.generations.get(type) ?? 0;
    const kept = this.kept.get(key);
    this.kept.delete(key);
    if (kept?.generation === generation) {
      this.kept.set(key, kept); // now the newest
      return kept.matches;
    }
    const matches = [];
    for (const resource of this.candidates(type, searchRequest.filters ?? [])) {
      if (matchesSearchRequest(resource, searchRequest)) {
        matches.push(resource);
      }
    }
    for (const sortRule of searchRequest.sortRules ?? []) {
      matches.sort((a, b) => sortComparator(a, b, sortRule));
    }
    this.kept.set(key, { generation, matches });
    if (this.kept.size > KEPT_SEARCHES) {
      this.kept.delete(this.kept.keys().next().value);
    }
    return matches;
  }

  /** The resources that may match: the smallest indexed filter's, else every one of the type. */
  candidates(type, filters) {
    const store = this.resources.get(type) ?? new Map();
    let smallest;
    for (const filter of filters) {
      const ids = this.indexedIds(type, filter);
      if (ids && (!smallest || ids.size < smallest.size)) {
        smallest = ids;
      }
    }
    if (!smallest) {
      return store.values();
    }
    const positions = this.positions.get(type);
    return [...smallest].sort((a, b) => positions.get(a) - positions.get(b)).map((id) => store.get(id));
  }

  /** Ids of the resources an indexable filter may match, or undefined if it is not indexable. */
  indexedIds(type, filter) {
    if (filter.operator !== Operator.EQUALS || filter.code === '_compartment') {
      return undefined;
    }
    const param = globalSchema.types[type]?.searchParams?.[filter.code];
    if (!param?.expression || (param.type !== 'token' && param.type !== 'reference')) {
      return undefined;
    }
    const keys = [];
    for (const value of splitSearchOnComma(filter.value)) {
      const key = param.type === 'token' ? tokenFilterKey(value) : value;
      if (!key) {
        return undefined; // `system|` or an empty value: not a lookup of one value
      }
      keys.push(key);
    }
    const index = this.index(type, filter.code, param);
    const ids = new Set();
    for (const key of keys) {
      for (const id of index.get(key) ?? []) {
        ids.add(id);
      }
    }
    return ids;
  }

  /** The index of one parameter of one type (key -> ids), built from the store on first use. */
  index(type, code, param) {
    const byCode = this.typeMap(this.indexes, type);
    let index = byCode.get(code);
    if (!index) {
      index = new Map();
      for (const resource of this.resources.get(type)?.values() ?? []) {
        addKeys(index, param, resource);
      }
      byCode.set(code, index);
    }
    return index;
  }

  /** A resource of the type changed: its old keys leave each index, its new ones join. */
  reindex(type, id, previous, stored) {
    this.generations.set(type, (this.generations.get(type) ?? 0) + 1);
    for (const [code, index] of this.indexes.get(type) ?? []) {
      const param = globalSchema.types[type].searchParams[code];
      if (previous) {
        for (const key of resourceKeys(param, previous)) {
          const ids = index.get(key);
          ids?.delete(id);
          if (ids?.size === 0) {
            index.delete(key);
          }
        }
      }
      if (stored) {
        addKeys(index, param, stored);
      }
    }
  }

  typeMap(maps, type) {
    let map = maps.get(type);
    if (!map) {
      map = new Map();
      maps.set(type, map);
    }
    return map;
  }

  /** ENGINE_CHECK_SEARCH: MemoryRepository's own answer must be this one. */
  async compare(searchRequest, bundle, milliseconds) {
    const started = performance.now();
    const expected = await super.search(searchRequest);
    const unindexed = performance.now() - started;
    const ids = (b) => (b.entry ?? []).map((e) => `${e.resource.id}/${e.resource.meta?.versionId}`).join(',');
    const same = expected.total === bundle.total && ids(expected) === ids(bundle);
    const what = `${searchRequest.resourceType} ${JSON.stringify(searchRequest.filters ?? [])} offset ${searchRequest.offset} count ${searchRequest.count}`;
    const times = `${milliseconds.toFixed(1)} ms (unindexed ${unindexed.toFixed(1)} ms)`;
    appendFileSync(this.checkFile, `${same ? 'ok' : 'MISMATCH'} ${times} total ${bundle.total} page ${(bundle.entry ?? []).length} ${what}\n`);
    if (!same) {
      throw new Error(`indexed search differs from MemoryRepository's: ${what}`);
    }
  }
}

/** The index key a token filter value can only match: its code, lower-cased (as the matcher
 * compares), or undefined when the value names no code (`system|`, `|`, empty). */
function tokenFilterKey(value) {
  const code = value.includes('|') ? value.split('|')[1] : value;
  return code ? code.toLowerCase() : undefined;
}

/** The keys a resource is found under: its tokens' codes (lower-cased) or its reference strings,
 * from the parameter's FHIRPath and Medplum's own conversions, as the matcher computes them. */
function resourceKeys(param, resource) {
  const typed = evalFhirPathTyped(param.expression, [toTypedValue(resource)]);
  const keys =
    param.type === 'token'
      ? convertToSearchableTokens(typed).map((token) => token.value?.toLowerCase())
      : convertToSearchableReferences(typed);
  return new Set(keys.filter((key) => typeof key === 'string' && key));
}

function addKeys(index, param, resource) {
  for (const key of resourceKeys(param, resource)) {
    let ids = index.get(key);
    if (!ids) {
      ids = new Set();
      index.set(key, ids);
    }
    ids.add(resource.id);
  }
}

/** MemoryRepository's _sort comparison (not exported by Medplum), unchanged. */
function sortComparator(a, b, sortRule) {
  const expression = globalSchema.types[a.resourceType]?.searchParams?.[sortRule.code]?.expression;
  if (!expression) {
    return 0;
  }
  const aStr = JSON.stringify(evalFhirPath(expression, a));
  const bStr = JSON.stringify(evalFhirPath(expression, b));
  return aStr.localeCompare(bStr) * (sortRule.descending ? -1 : 1);
}
