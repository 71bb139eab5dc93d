/**
 * Read statements built once per shape. TypeORM builds a SELECT's text anew on every call (`getQuery`: the select
 * list from the entity's metadata, joins, conditions, then a pass of regular expressions replacing property names
 * with column names over the whole text); on the hot reads that building cost more CPU than running the statement
 * (docs/performance.md: a cached month of events spent 14% of its profile building three statements).
 *
 * `rawRows(qb)` runs the builder's statement as `getRawMany` would, with the SQL text (placeholders still named) kept
 * per data source under the builder's shape: everything of its expression map the text is made of (tables and
 * aliases, selections, joins, conditions as written, order, grouping, limits). Parameter values are not part of the
 * text: they are bound on each call, exactly as TypeORM binds them (`driver.escapeQueryWithParameters`), so one shape
 * serves every caller. A builder using anything the shape does not describe (locks, common table expressions, query
 * result caching, relation loading, a transaction of its own) is built as usual, every time.
 *
 * Under jest (NODE_ENV=test) every call also builds the text afresh and fails loudly if the kept one differs, so a
 * shape that misses something the text depends on is caught by any test that runs the statement.
 */
import { LRUCache } from 'lru-cache';
import { SelectQueryBuilder, type DataSource, type ObjectLiteral, type QueryRunner } from 'typeorm';

/** TypeORM's own building of a SELECT's text. */
const buildSql = SelectQueryBuilder.prototype.getQuery as (this: SelectQueryBuilder<ObjectLiteral>) => string;

/**
 * Bytes of shapes and texts kept per data source (two bytes a character). The product has a few dozen read
 * statements, but a find by a list of ids (`In`) names each id's placeholder in its text: one shape per list length,
 * 9 KB of text for 500 ids. Least recently used out first.
 */
const MAX_KEPT_BYTES = 4 * 1024 * 1024;

let verify = process.env.NODE_ENV === 'test';

/** Turns jest's check off or on (test/db/statements.test.ts counts builds without it). */
export function verifyKeptStatements(on: boolean): void {
  verify = on;
}

const built = new WeakMap<DataSource, LRUCache<string, string>>();

/** What of a builder's expression map its SQL text is made of; null when it uses more than a shape describes. */
function shapeOf(qb: SelectQueryBuilder<ObjectLiteral>): string | null {
  const em = qb.expressionMap;
  if (
    em.queryType !== 'select' ||
    em.lockMode !== undefined ||
    em.commonTableExpressions.length > 0 ||
    em.cache ||
    em.useTransaction ||
    em.relationLoadStrategy !== 'join' ||
    em.joinAttributes.some((j) => j.relation !== undefined) ||
    em.relationIdAttributes.length > 0 ||
    Boolean(em.timeTravel) ||
    em.subQuery ||
    !em.mainAlias?.hasMetadata ||
    em.aliases.some((a) => a.subQuery !== undefined)
  )
    return null;
  try {
    return fingerprint(em);
  } catch {
    return null; // something in the map JSON cannot write (a cycle, a bigint): built as usual
  }
}

function fingerprint(em: SelectQueryBuilder<ObjectLiteral>['expressionMap']): string {
  return JSON.stringify([
    em.mainAlias!.name,
    em.mainAlias!.metadata.tableName,
    // Every alias, the main one's and joins' included: addFrom adds tables nothing else in the map names.
    em.aliases.map((a) => [a.type, a.name, a.hasMetadata ? a.metadata.tableName : a.tablePath]),
    // getMany adds the primary columns to what is selected (queryEntity); take/skip with joins page by ids first,
    // then reads the page with the ids appended as a condition (extraAppendedAndWhereCondition).
    em.queryEntity,
    em.extraAppendedAndWhereCondition,
    em.options,
    em.disableEscaping,
    em.selects,
    em.selectDistinct,
    em.selectDistinctOn,
    em.wheres,
    em.joinAttributes.map((j) => [
      j.direction,
      j.alias.name,
      j.alias.hasMetadata ? j.alias.metadata.tableName : j.alias.tablePath,
      j.condition,
      j.isSelected,
    ]),
    em.orderBys,
    em.groupBys,
    em.havings,
    em.limit,
    em.offset,
    em.take,
    em.skip,
    em.withDeleted,
    em.comment,
    em.useIndex,
    em.maxExecutionTime,
    em.aliasNamePrefixingEnabled,
  ]);
}

/** The builder's SQL text with named placeholders, built once per shape. */
function sqlOf(qb: SelectQueryBuilder<ObjectLiteral>): string {
  const shape = shapeOf(qb);
  if (shape === null) return buildSql.call(qb);
  let texts = built.get(qb.connection);
  if (!texts)
    built.set(
      qb.connection,
      (texts = new LRUCache({ maxSize: MAX_KEPT_BYTES, sizeCalculation: (sql, key) => 2 * (key.length + sql.length) })),
    );
  const kept = texts.get(shape);
  if (kept === undefined) {
    const sql = buildSql.call(qb);
    texts.set(shape, sql);
    return sql;
  }
  if (verify) {
    const fresh = buildSql.call(qb);
    if (fresh !== kept)
      throw new Error(
        `statements.ts: two builders of one shape built different SQL\nshape: ${shape}\nkept:  ${kept}\nnow:   ${fresh}`,
      );
  }
  return kept;
}

let keeping = false;

/**
 * Every SELECT TypeORM builds from here on (repository finds, counts, query builders) keeps its text per shape, as
 * rawRows does: `getQuery` is where TypeORM builds it, for getMany, getOne, getCount and getRawMany alike. Called once
 * per process, when a database is opened (data-source.ts).
 */
export function keepBuiltStatements(): void {
  if (keeping) return;
  keeping = true;
  SelectQueryBuilder.prototype.getQuery = function (this: SelectQueryBuilder<ObjectLiteral>) {
    return sqlOf(this);
  };
}

const fixed = new WeakMap<DataSource, Map<string, string>>();

/**
 * A piece of SQL that never varies, built by `build` once per data source and kept under `name` (a subquery written
 * into a condition: `andWhere` takes it as text, so it is built before rawRows could keep the whole statement). Under
 * jest it is built every time and compared with the kept text.
 */
export function fixedSql(ds: DataSource, name: string, build: () => string): string {
  let texts = fixed.get(ds);
  if (!texts) fixed.set(ds, (texts = new Map()));
  const kept = texts.get(name);
  if (kept === undefined) {
    const sql = build();
    texts.set(name, sql);
    return sql;
  }
  if (verify && build() !== kept) throw new Error(`statements.ts: fixedSql("${name}") built different SQL`);
  return kept;
}

/** The rows `qb` selects, as `getRawMany` answers them (column aliases as keys, values as the driver reads them). */
export async function rawRows<R extends ObjectLiteral = Record<string, unknown>>(
  qb: SelectQueryBuilder<ObjectLiteral>,
): Promise<R[]> {
  const [sql, parameters] = qb.connection.driver.escapeQueryWithParameters(sqlOf(qb), qb.getParameters());
  // The builder's own runner when it has one (a transaction's manager), else one for this statement, as getRawMany.
  const runner = (qb as unknown as { queryRunner?: QueryRunner }).queryRunner;
  return qb.connection.query(sql, parameters, runner);
}
