// Parquet tables of a LeRobot dataset, read with hyparquet and written with hyparquet-writer. Columns are written
// as pyarrow writes a pandas/Hugging Face table (so LeRobot's `Dataset.from_parquet(features=...)` casts them to
// its feature types): int64 scalars INT64, float32 FLOAT, float64 DOUBLE, strings UTF8 BYTE_ARRAY, and lists as
// the standard 3-level LIST group (<name> / list / element), nested for the (3, 1, 1) image statistics. Every
// field is OPTIONAL (nullable), as pyarrow makes them. Anything wrong with a file is an EpisodeFileError naming it.
import { writeFile } from 'node:fs/promises';
import { type AsyncBuffer, asyncBufferFromFile, type FileMetaData, parquetMetadataAsync, parquetRead } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { EpisodeFileError, reasonOf } from '../../recording/errors.js';

const MAGIC = 'PAR1';

/** One parquet file opened for reading: its row count, top-level columns and key-value metadata. */
export class ParquetTable {
  private constructor(
    readonly path: string,
    private readonly file: AsyncBuffer,
    private readonly metadata: FileMetaData,
  ) {}

  static async open(path: string): Promise<ParquetTable> {
    let file: AsyncBuffer;
    try {
      file = await asyncBufferFromFile(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new EpisodeFileError(path, code === 'ENOENT' ? 'file not found' : `cannot read (${reasonOf(err)})`);
    }
    const size = file.byteLength;
    if (size < 12) throw new EpisodeFileError(path, `truncated parquet file (${size} bytes)`);
    const tail = Buffer.from(await file.slice(size - 4, size)).toString('latin1');
    const head = Buffer.from(await file.slice(0, 4)).toString('latin1');
    if (head !== MAGIC) throw new EpisodeFileError(path, 'not a parquet file (no PAR1 at the start)');
    if (tail !== MAGIC) {
      throw new EpisodeFileError(
        path,
        'truncated parquet file (no PAR1 footer at the end; was the writing cut short?)',
      );
    }
    try {
      return new ParquetTable(path, file, await parquetMetadataAsync(file));
    } catch (err) {
      throw new EpisodeFileError(path, `corrupt parquet file: cannot read its footer (${reasonOf(err)})`);
    }
  }

  get rows(): number {
    return Number(this.metadata.num_rows);
  }

  /** Top-level column names (a list column is one name). */
  get columns(): string[] {
    const out: string[] = [];
    // schema[0] is the root; walk its children, skipping each child's own subtree
    let i = 1;
    const skip = (at: number): number => {
      let next = at + 1;
      for (let c = 0; c < (this.metadata.schema[at].num_children ?? 0); c++) next = skip(next);
      return next;
    };
    while (i < this.metadata.schema.length) {
      out.push(this.metadata.schema[i].name);
      i = skip(i);
    }
    return out;
  }

  keyValue(key: string): string | undefined {
    return this.metadata.key_value_metadata?.find((kv) => kv.key === key)?.value;
  }

  /** The named columns for rows [rowStart, rowEnd), column by column. A missing column is an error. */
  async read(columns: readonly string[], rowStart = 0, rowEnd = this.rows): Promise<Record<string, unknown[]>> {
    const have = new Set(this.columns);
    const missing = columns.filter((c) => !have.has(c));
    if (missing.length > 0)
      throw new EpisodeFileError(this.path, `no column ${missing.map((m) => `"${m}"`).join(', ')}`);
    const out: Record<string, unknown[]> = {};
    for (const c of columns) out[c] = [];
    if (rowEnd <= rowStart || columns.length === 0) return out;
    try {
      await parquetRead({
        file: this.file,
        metadata: this.metadata,
        columns: [...columns],
        rowStart,
        rowEnd,
        rowFormat: 'object',
        onComplete: (rows) => {
          for (const row of rows) for (const c of columns) out[c].push(row[c]);
        },
      });
    } catch (err) {
      throw new EpisodeFileError(
        this.path,
        `corrupt parquet file: cannot read ${columns.join(', ')} (${reasonOf(err)})`,
      );
    }
    for (const c of columns) {
      if (out[c].length !== rowEnd - rowStart) {
        throw new EpisodeFileError(this.path, `column "${c}" has ${out[c].length} of ${rowEnd - rowStart} rows`);
      }
    }
    return out;
  }
}

/** A leaf type as LeRobot's tables use them. */
export type LeafType = 'INT64' | 'FLOAT' | 'DOUBLE' | 'STRING' | 'BOOLEAN';

export interface ColumnSpec {
  name: string;
  leaf: LeafType;
  /** 0: a scalar per row; 1: a list per row; 2, 3: lists of lists (image statistics, shape (3, 1, 1)). */
  depth: 0 | 1 | 2 | 3;
  data: ArrayLike<unknown>;
}

type SchemaElement = Parameters<typeof parquetWriteBuffer>[0]['schema'] extends (infer S)[] | undefined ? S : never;

function schemaOf(col: ColumnSpec): SchemaElement[] {
  const leaf = (name: string): SchemaElement =>
    col.leaf === 'STRING'
      ? { name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' }
      : { name, type: col.leaf, repetition_type: 'OPTIONAL' };
  const level = (name: string, depth: number): SchemaElement[] =>
    depth === 0
      ? [leaf(name)]
      : [
          { name, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
          { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
          ...level('element', depth - 1),
        ];
  return level(col.name, col.depth);
}

export interface WriteOptions {
  /** Rows per row group, the last repeating (LeRobot now writes one row group per episode). */
  rowGroupSize?: number | number[];
  keyValue?: { key: string; value: string }[];
}

/** Writes a table to `path` (snappy, as LeRobot's tables are); returns the bytes written. */
export async function writeParquet(path: string, columns: ColumnSpec[], opts: WriteOptions = {}): Promise<number> {
  const rows = columns[0]?.data.length ?? 0;
  for (const c of columns) {
    if (c.data.length !== rows) throw new Error(`${path}: column "${c.name}" has ${c.data.length} rows, not ${rows}`);
  }
  const buffer = parquetWriteBuffer({
    schema: [{ name: 'schema', num_children: columns.length }, ...columns.flatMap(schemaOf)],
    columnData: columns.map((c) => ({ name: c.name, data: c.data as unknown[] })),
    codec: 'SNAPPY',
    rowGroupSize: opts.rowGroupSize ?? 100_000,
    kvMetadata: opts.keyValue,
    createdBy: 'vla-runtime (hyparquet-writer)',
  });
  const bytes = new Uint8Array(buffer);
  try {
    await writeFile(path, bytes);
  } catch (err) {
    throw new EpisodeFileError(path, `cannot write (${(err as NodeJS.ErrnoException).code ?? reasonOf(err)})`);
  }
  return bytes.length;
}

/**
 * pandas' metadata for a table whose index is the named string column `index` (the other columns int64):
 * `pd.read_parquet` then gives LeRobot the task strings as the index of meta/tasks.parquet, as it expects.
 */
export function pandasIndexMetadata(index: string, int64Columns: readonly string[]): { key: string; value: string } {
  const column = (name: string, pandas_type: string, numpy_type: string) => ({
    name,
    field_name: name,
    pandas_type,
    numpy_type,
    metadata: null,
  });
  const value = {
    index_columns: [index],
    column_indexes: [
      { name: null, field_name: null, pandas_type: 'unicode', numpy_type: 'object', metadata: { encoding: 'UTF-8' } },
    ],
    columns: [...int64Columns.map((c) => column(c, 'int64', 'int64')), column(index, 'unicode', 'object')],
    creator: { library: 'vla-runtime', version: '1' },
    pandas_version: '2.2.3',
  };
  return { key: 'pandas', value: JSON.stringify(value) };
}
