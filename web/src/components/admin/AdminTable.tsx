import type { ReactNode } from "react";

/** A column of an admin list: its header and what a row shows in it. */
export interface AdminColumn<T> {
  header: string;
  cell: (row: T) => ReactNode;
}

/**
 * An admin page's list: why it could not be loaded (`what`: "the keys"), then a table of `rows`, one
 * `<tr>` each with its `data-*` attributes (how the specs find a row), and, when `actions` is given,
 * a last column of a row's buttons.
 */
export function AdminTable<T>({
  label,
  what,
  error,
  rows,
  columns,
  rowKey,
  rowData,
  actions,
}: {
  /** The table's accessible name. */
  label: string;
  what: string;
  error?: Error | null;
  rows: T[] | undefined;
  columns: AdminColumn<T>[];
  rowKey: (row: T) => string | number;
  rowData: (row: T) => Record<`data-${string}`, string>;
  actions?: (row: T) => ReactNode;
}) {
  return (
    <>
      {error && (
        <div className="alert" role="alert">
          Could not load {what}: {error.message}
        </div>
      )}
      <table className="data-table" aria-label={label}>
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c.header}>{c.header}</th>
            ))}
            {actions && <th aria-label="Actions" />}
          </tr>
        </thead>
        <tbody>
          {rows?.map((row) => (
            <tr key={rowKey(row)} {...rowData(row)}>
              {columns.map((c) => (
                <td key={c.header}>{c.cell(row)}</td>
              ))}
              {actions && <td className="actions">{actions(row)}</td>}
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
