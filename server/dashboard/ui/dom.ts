/**
 * The few DOM helpers the dashboard needs, and a paged table. Kept by hand
 * rather than with a grid library: these tables are a few columns of text
 * re-rendered whole from each snapshot, so sorting, virtual scrolling or
 * editing (what Tabulator or AG Grid bring, at 100–400 KB) would go unused;
 * paging a re-rendered array is a dozen lines.
 */

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`page is missing #${id}`);
  return element as T;
}

export function el(tag: string, text = '', className = ''): HTMLElement {
  const element = document.createElement(tag);
  element.textContent = text;
  if (className) element.className = className;
  return element;
}

export interface PagedRow {
  /** Identifies the row for selection. */
  key?: string;
  cells: (string | HTMLElement)[];
}

/**
 * A table that shows `pageSize` rows at a time with previous/next buttons.
 * The page survives re-renders (clamped when rows go away). The table
 * carries `data-total` (all rows) and `data-page` (1-based) for tests.
 */
export class Pager {
  private page = 0;
  private last: { columns: string[]; rows: PagedRow[]; options: PagerOptions } | undefined;

  constructor(
    private readonly table: HTMLTableElement,
    private readonly controls: HTMLElement,
    private readonly pageSize: number,
  ) {}

  render(columns: string[], rows: PagedRow[], options: PagerOptions = {}): void {
    this.last = { columns, rows, options };
    const pages = Math.max(1, Math.ceil(rows.length / this.pageSize));
    this.page = Math.min(this.page, pages - 1);
    const shown = rows.slice(this.page * this.pageSize, (this.page + 1) * this.pageSize);
    const table = this.table;
    table.replaceChildren();
    table.dataset.total = String(rows.length);
    table.dataset.page = String(this.page + 1);
    const head = table.createTHead().insertRow();
    for (const column of columns) head.append(el('th', column));
    const body = table.createTBody();
    if (rows.length === 0) {
      const cell = body.insertRow().insertCell();
      cell.colSpan = columns.length;
      cell.textContent = 'none yet';
      cell.className = 'muted';
    }
    for (const row of shown) {
      const tr = body.insertRow();
      if (row.key !== undefined && options.onSelect) {
        const key = row.key;
        tr.className = `selectable${key === options.selected ? ' selected' : ''}`;
        tr.tabIndex = 0;
        tr.addEventListener('click', () => options.onSelect?.(key));
        tr.addEventListener('keydown', (event) => {
          if (event.key === 'Enter') options.onSelect?.(key);
        });
      }
      for (const value of row.cells) {
        const cell = tr.insertCell();
        if (typeof value === 'string') cell.textContent = value;
        else cell.append(value);
      }
    }
    this.controls.replaceChildren();
    if (pages <= 1) return;
    const button = (label: string, to: number) => {
      const b = el('button', label) as HTMLButtonElement;
      b.type = 'button';
      b.disabled = to < 0 || to >= pages;
      b.addEventListener('click', () => this.goTo(to));
      return b;
    };
    const first = this.page * this.pageSize + 1;
    this.controls.append(
      button('‹ previous', this.page - 1),
      el('span', `${first}–${first + shown.length - 1} of ${rows.length}`, 'muted'),
      button('next ›', this.page + 1),
    );
  }

  goTo(page: number): void {
    this.page = Math.max(0, page);
    if (this.last) this.render(this.last.columns, this.last.rows, this.last.options);
  }
}

export interface PagerOptions {
  selected?: string | undefined;
  onSelect?: (key: string) => void;
}
