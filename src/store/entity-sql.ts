import type { DataSource, EntityTarget, ObjectLiteral, ValueTransformer } from "typeorm";
import type { Database, Queryable, SqliteStatements } from "./database";

/**
 * Plain SQL for the statements on the issuance path, written from the entities' TypeORM metadata
 * so that column names, types and transformers stay defined once. A findOne or insert through
 * TypeORM's query builder costs ten times the statement itself (about 0.2 ms of JavaScript each);
 * these go straight to the driver.
 */

export type { Queryable } from "./database";

/** `?` placeholders as the database wants them (`$1`, `$2`, ... on PostgreSQL). */
export function placeholders(dataSource: DataSource, sql: string): string {
  if (dataSource.options.type !== "postgres") return sql;
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/**
 * The rows of a statement. TypeORM's PostgreSQL driver answers UPDATE and DELETE with
 * [rows, affectedCount]; every other answer is the rows.
 */
export async function rowsOf<R>(target: Queryable, sql: string, parameters: unknown[]): Promise<R[]> {
  const result = (await target.query(sql, parameters)) as unknown[];
  if (result.length === 2 && Array.isArray(result[0]) && typeof result[1] === "number") return result[0] as R[];
  return result as R[];
}

/** SQL with `?` placeholders and its parameters, in order; placeholders() readies it for the database. */
export interface Statement {
  sql: string;
  parameters: unknown[];
}

/** One statement made of SQL text and statements, their parameters kept in the order of their placeholders. */
export function statement(...parts: Array<string | Statement>): Statement {
  let sql = "";
  const parameters: unknown[] = [];
  for (const part of parts) {
    if (typeof part === "string") {
      sql += part;
    } else {
      sql += part.sql;
      parameters.push(...part.parameters);
    }
  }
  return { sql, parameters };
}

/** Runs a statement; returns its rows (see rowsOf). */
export async function run<R>(target: Queryable, dataSource: DataSource, s: Statement): Promise<R[]> {
  return rowsOf<R>(target, placeholders(dataSource, s.sql), s.parameters);
}

interface ColumnSql {
  column: string;
  property: string;
  transformer?: ValueTransformer;
  generated: boolean;
  /** `::type` after a parameter on PostgreSQL, where a parameter in a select list has no type of its own. */
  cast: string;
}

const quote = (identifier: string) => `"${identifier}"`;

/** One entity's table as plain SQL: its select list, row mapping and insert statement. */
export class EntitySql<E extends ObjectLiteral> {
  readonly table: string;
  /** Every column, aliased to its property: `"serial" AS "serialHex", ...`. */
  readonly selectList: string;
  private readonly columns: ColumnSql[];
  private readonly written: ColumnSql[];
  private readonly columnList: string;

  private constructor(
    private readonly dataSource: DataSource,
    entity: EntityTarget<E>,
  ) {
    const metadata = dataSource.getMetadata(entity);
    this.table = quote(metadata.tableName);
    this.columns = metadata.columns.map((c) => ({
      column: c.databaseName,
      property: c.propertyName,
      transformer: Array.isArray(c.transformer) ? undefined : c.transformer,
      generated: Boolean(c.isGenerated),
      cast: dataSource.options.type === "postgres" ? `::${dataSource.driver.normalizeType(c)}` : "",
    }));
    if (metadata.columns.some((c) => Array.isArray(c.transformer))) throw new Error(`${this.table}: chained transformers are not supported`);
    this.selectList = this.columns.map((c) => `${quote(c.column)} AS ${quote(c.property)}`).join(", ");
    const setByDatabase = new Set(metadata.columns.filter((c) => !c.isInsert).map((c) => c.propertyName));
    this.written = this.columns.filter((c) => !c.generated && !setByDatabase.has(c.property));
    this.columnList = this.written.map((c) => quote(c.column)).join(", ");
  }

  private static readonly made = new WeakMap<DataSource, Map<unknown, EntitySql<ObjectLiteral>>>();

  /** The EntitySql of `entity` in `dataSource`, made once. */
  static of<E extends ObjectLiteral>(dataSource: DataSource, entity: EntityTarget<E>): EntitySql<E> {
    let byEntity = EntitySql.made.get(dataSource);
    if (!byEntity) EntitySql.made.set(dataSource, (byEntity = new Map()));
    let made = byEntity.get(entity);
    if (!made) byEntity.set(entity, (made = new EntitySql(dataSource, entity) as unknown as EntitySql<ObjectLiteral>));
    return made as unknown as EntitySql<E>;
  }

  /** `sql` with `?` placeholders, ready for this database. */
  sql(sql: string): string {
    return placeholders(this.dataSource, sql);
  }

  /** Every column of the table under `alias` in a join, aliased to `alias.property`; read back with fromRow(row, alias). */
  selectListOf(alias: string): string {
    return this.columns.map((c) => `${alias}.${quote(c.column)} AS ${quote(`${alias}.${c.property}`)}`).join(", ");
  }

  /** The entity of a row selected with `selectList` (or with `selectListOf(alias)`). */
  fromRow(row: Record<string, unknown>, alias?: string): E {
    const entity: Record<string, unknown> = {};
    for (const c of this.columns) {
      const value = row[alias ? `${alias}.${c.property}` : c.property];
      entity[c.property] = c.transformer ? c.transformer.from(value) : value;
    }
    return entity as E;
  }

  /** The entities selected by `sql` (a statement with `?` placeholders, prepared by `sql()`). */
  async select(target: Queryable, sql: string, parameters: unknown[]): Promise<E[]> {
    return (await rowsOf<Record<string, unknown>>(target, sql, parameters)).map((row) => this.fromRow(row));
  }

  private readonly whereSql = new Map<string, string>();

  /** The rows whose `column` (a database column name) equals `value`; `forUpdate` locks them on PostgreSQL. */
  async where(target: Queryable, column: string, value: unknown, forUpdate = false): Promise<E[]> {
    const key = `${column}/${forUpdate}`;
    let sql = this.whereSql.get(key);
    if (!sql) {
      const lock = forUpdate && this.dataSource.options.type === "postgres" ? " FOR UPDATE" : "";
      this.whereSql.set(key, (sql = this.sql(`SELECT ${this.selectList} FROM ${this.table} WHERE ${quote(column)} = ?${lock}`)));
    }
    return this.select(target, sql, [value]);
  }

  /** Whether a row's `column` (a database column name) equals `value`, without reading the row. */
  async exists(target: Queryable, column: string, value: unknown): Promise<boolean> {
    const key = `exists/${column}`;
    let sql = this.whereSql.get(key);
    if (!sql) this.whereSql.set(key, (sql = this.sql(`SELECT 1 AS "found" FROM ${this.table} WHERE ${quote(column)} = ? LIMIT 1`)));
    return (await rowsOf(target, sql, [value])).length > 0;
  }

  /** The column values of an entity, as written (generated columns are left to the database). */
  private values(entity: E): unknown[] {
    return this.written.map((c) => {
      const value = entity[c.property] ?? null;
      return c.transformer ? c.transformer.to(value) : value;
    });
  }

  private insertSql?: string;

  /** INSERT of one row. */
  insertStatement(entity: E): Statement {
    this.insertSql ??= `INSERT INTO ${this.table} (${this.columnList}) VALUES (${this.written.map(() => "?").join(", ")})`;
    return { sql: this.insertSql, parameters: this.values(entity) };
  }

  /**
   * INSERT of one row for each row of `source` (a CTE name): the row is written only if `source`
   * yields one. `taken` names a property whose value is an SQL expression instead of a parameter.
   */
  insertForEach(source: string, entity: E, taken?: { property: string; sql: string }): Statement {
    const parameters = this.values(entity).filter((_, i) => this.written[i].property !== taken?.property);
    const select = this.written.map((c) => (c.property === taken?.property ? taken.sql : `?${c.cast}`)).join(", ");
    return { sql: `INSERT INTO ${this.table} (${this.columnList}) SELECT ${select} FROM ${source}`, parameters };
  }

  /** Inserts one row. */
  async insert(target: Queryable, entity: E): Promise<void> {
    await run(target, this.dataSource, this.insertStatement(entity));
  }
}

/** A row to insert into an entity's table. */
export interface RowOf<E extends ObjectLiteral> {
  table: EntitySql<E>;
  row: E;
  /** A property whose value is a column of the row `first` returned (changeAndInsert), e.g. a counter value. */
  fromFirst?: { property: string; column: string };
}

/**
 * A change and the rows that follow from it, as one unit: `first` returns a row when it applies (a
 * conditional UPDATE ... RETURNING, or an INSERT ... RETURNING), and each of `then` is inserted only
 * if it did, as each of `updates` (UPDATE statements ending in their WHERE clause) is run. On
 * PostgreSQL one statement of data-modifying CTEs: atomic, and one round trip instead of a
 * transaction's four or more (the updates see the rows as they were before the statement). On
 * SQLite one transaction of plain statements. Returns the row `first` returned, or null when it
 * did not apply.
 */
export async function changeAndInsert<R extends Record<string, unknown> = Record<string, unknown>>(
  db: Database,
  first: Statement,
  then: Array<RowOf<ObjectLiteral>>,
  updates: Statement[] = [],
): Promise<R | null> {
  if (db.kind !== "postgres") {
    return db.sqliteTransaction((run: SqliteStatements) => {
      const [applied] = run(first.sql, first.parameters) as R[];
      if (!applied) return null;
      for (const t of then) {
        const row = t.fromFirst ? { ...t.row, [t.fromFirst.property]: applied[t.fromFirst.column] } : t.row;
        const insert = t.table.insertStatement(row);
        run(insert.sql, insert.parameters);
      }
      for (const u of updates) run(u.sql, u.parameters);
      return applied;
    });
  }
  const parts: Array<string | Statement> = ["WITH step0 AS (", first, ")"];
  updates.forEach((u, i) => parts.push(`, change${i + 1} AS (`, u, " AND EXISTS (SELECT 1 FROM step0))"));
  then.forEach((t, i) => {
    const taken = t.fromFirst && { property: t.fromFirst.property, sql: `(SELECT "${t.fromFirst.column}" FROM step0)` };
    parts.push(`, step${i + 1} AS (`, t.table.insertForEach(`step${i}`, t.row, taken), " RETURNING 1)");
  });
  // Every data-modifying CTE runs whether or not this reads it; each insert is conditional on the step before.
  parts.push(" SELECT step0.* FROM step0");
  const [applied] = await run<R>(db.reader, db.dataSource, statement(...parts));
  return applied ?? null;
}
