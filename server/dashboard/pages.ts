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
    <link rel="stylesheet" href="/assets/style.css" />
    <script type="module" src="/assets/${script}"></script>
  </head>
  <body>
${body}
  </body>
</html>
`;
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
      <section class="charts">
        <figure><figcaption>Accuracy on the test split</figcaption><div class="chart-box"><canvas id="accuracy-chart"></canvas></div></figure>
        <figure><figcaption>Loss</figcaption><div class="chart-box"><canvas id="loss-chart"></canvas></div></figure>
      </section>
      <section>
        <h2>Clients</h2>
        <table id="clients"></table>
      </section>
      <section>
        <h2>Updates <span class="muted" id="update-totals"></span></h2>
        <table id="updates"></table>
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
        <table id="rounds"></table>
      </section>
      <section>
        <h2>Log</h2>
        <ol id="log" class="log"></ol>
      </section>
    </main>`,
);
