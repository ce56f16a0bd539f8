/**
 * The two HTML pages the coordinator serves: the dashboard at `/` and the
 * browser client at `/client`. Each is a shell that loads its bundled module
 * (see bundle.ts) and the shared stylesheet.
 */
import { readFileSync } from 'node:fs';

export const STYLESHEET = readFileSync(new URL('./static/style.css', import.meta.url));

function shell(title: string, script: string, body: string): string {
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>${title}</title>
    <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
    <link rel="stylesheet" href="/assets/style.css" />
    <script type="module" src="/assets/${script}"></script>
  </head>
  <body>
${body}
  </body>
</html>
`;
}

/** The tab icon (also served as /favicon.ico): a large and a small disc, teacher and student. */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1e40af"/><circle cx="12" cy="13" r="7" fill="#93c5fd"/><circle cx="22" cy="22" r="4" fill="#fbbf24"/></svg>`;

/** A chart panel: a title and a fixed-height box chart.js fills. */
function chart(id: string, title: string, note = ''): string {
  return `<figure><figcaption>${title}${note ? ` <span class="muted">${note}</span>` : ''}</figcaption><div class="chart-box"><canvas id="${id}"></canvas></div></figure>`;
}

/** A table in a horizontal scroll container, with a pager below. */
function pagedTable(id: string): string {
  return `<div class="table-wrap"><table id="${id}"></table></div><div class="pager" id="${id}-pager"></div>`;
}

export const DASHBOARD_HTML = shell(
  'fedistill · dashboard',
  'dashboard.js',
  `    <header>
      <h1>fedistill <span class="muted">coordinator</span></h1>
      <span id="live" class="badge">connecting…</span>
      <a class="nav" href="/client" target="_blank" rel="noopener">open a browser client ↗</a>
    </header>
    <main id="dashboard" data-state="loading">
      <section class="cards" id="cards"></section>
      <section id="summary" hidden>
        <h2>Result</h2>
        <div class="cards" id="summary-cards"></div>
        <div id="downloads"></div>
      </section>
      <section class="charts">
        ${chart('accuracy-chart', 'Accuracy on the test split')}
        ${chart('loss-chart', 'Loss', '(log scale)')}
        ${chart('bytes-chart', 'Traffic per client and round')}
        ${chart('duration-chart', 'Round duration')}
      </section>
      <section>
        <h2>Clients <span class="muted">select one for its rounds and labels</span></h2>
        ${pagedTable('clients')}
      </section>
      <section id="client-detail" hidden>
        <h2 id="client-detail-title">Client</h2>
        <div class="charts">
          ${chart('client-metrics-chart', 'Local training, per round')}
          ${chart('client-labels-chart', 'Label histogram of its private data')}
        </div>
        <p class="muted" id="client-detail-note"></p>
      </section>
      <section>
        <h2>Updates <span class="muted" id="update-totals"></span></h2>
        ${pagedTable('updates')}
      </section>
      <section id="history">
        <h2>Run history <span class="muted">coordinator runs in SQLite and simulate results</span></h2>
        <div class="history-controls">
          <label>metric <select id="history-metric">
            <option value="studentAccuracy">student accuracy</option>
            <option value="agreement">agreement with teacher</option>
            <option value="studentLoss">student loss</option>
            <option value="bytesUpPerClient">bytes up per client</option>
            <option value="durationMs">round duration</option>
          </select></label>
          <span class="muted" id="history-note"></span>
        </div>
        ${pagedTable('history-runs')}
        <div class="charts">${chart('history-chart', 'Overlay of the selected runs')}</div>
      </section>
      <section>
        <h2>Event log</h2>
        ${pagedTable('events')}
      </section>
    </main>`,
);

export const CLIENT_HTML = shell(
  'fedistill · browser client',
  'client.js',
  `    <header>
      <h1>fedistill <span class="muted">browser client</span></h1>
      <span id="state" class="badge">starting…</span>
      <a class="nav" href="/" target="_blank" rel="noopener">dashboard ↗</a>
    </header>
    <main id="client" data-state="starting">
      <section class="cards" id="facts"></section>
      <section id="progress-box">
        <h2 id="progress-title">Waiting for a round</h2>
        <progress id="progress" max="1" value="0"></progress>
        <p id="progress-detail" class="muted"></p>
      </section>
      <section>
        <h2>Rounds</h2>
        <div class="table-wrap"><table id="rounds"></table></div>
      </section>
      <section>
        <h2>Log</h2>
        <ol id="log" class="log"></ol>
      </section>
    </main>`,
);
