/**
 * The dashboard page (served at `/`): renders a DashboardSnapshot whole —
 * from `/api/dashboard` at load, then every snapshot the coordinator pushes on
 * the read-only `/dashboard` socket.io namespace (MessagePack frames, the
 * project's parser). Charts are chart.js; the per-client view and the run
 * history are fetched from their REST routes when asked for.
 *
 * For tests, each chart's canvas carries `data-rounds` (the rounds it plots)
 * and `data-series` (its dataset labels, `|`-separated).
 */
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  LogarithmicScale,
  PointElement,
  Tooltip,
} from 'chart.js';
import type { ChartDataset } from 'chart.js';
import { io, type Socket } from 'socket.io-client';
import { createSocketParser } from '../../../shared/codec/index.js';
import type { RoundRecord } from '../../store.js';
import type { ClientRoundMetrics } from '../clientTelemetry.js';
import type { HistoryEntry, HistoryList, HistoryRound } from '../history.js';
import type { DashboardServerEvents, DashboardSnapshot } from '../snapshot.js';
import { DASHBOARD_NAMESPACE } from '../snapshot.js';
import { logAxisRange, logTicks, shareAxisRange } from './axes.js';
import { byId, el, Pager } from './dom.js';

Chart.register(
  LineController,
  LineElement,
  PointElement,
  BarController,
  BarElement,
  CategoryScale,
  LinearScale,
  LogarithmicScale,
  Legend,
  Tooltip,
);

const pct = (v: number | null | undefined, digits = 2) =>
  v === null || v === undefined ? '—' : `${(v * 100).toFixed(digits)}%`;
const bytes = (n: number | null) =>
  n === null
    ? '—'
    : n >= 1 << 20
      ? `${(n / (1 << 20)).toFixed(2)} MiB`
      : n >= 1024
        ? `${(n / 1024).toFixed(1)} KiB`
        : `${n} B`;

let clockOffset = 0; // coordinator clock minus ours
function ago(at: number | null): string {
  if (at === null) return '—';
  const seconds = Math.max(0, Math.round((Date.now() + clockOffset - at) / 1000));
  return seconds < 60 ? `${seconds} s ago` : `${Math.round(seconds / 60)} min ago`;
}
const time = (at: number) => new Date(at - clockOffset).toLocaleTimeString();

const COLORS = {
  student: '#2563eb',
  teacher: '#6b7280',
  agreement: '#16a34a',
  client: '#ea580c',
  up: '#9333ea',
};
/** Overlay colours (Tableau 10), one per selected history run. */
const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];

type Point = { x: number; y: number };
type YAxis = 'share' | 'log' | 'linear';

/** chart.js's `afterBuildTicks` for log axes (see logTicks). */
function fewerLogTicks(scale: { min: number; max: number; ticks: { value: number }[] }): void {
  scale.ticks = logTicks(scale.min, scale.max).map((value) => ({ value }));
}

function lineChart(
  canvas: HTMLCanvasElement,
  yTitle: string,
  axis: YAxis,
  format?: (v: number) => string,
): Chart<'line', Point[]> {
  return new Chart<'line', Point[]>(canvas, {
    type: 'line',
    data: { datasets: [] },
    options: {
      animation: false,
      maintainAspectRatio: false,
      parsing: false,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      scales: {
        x: {
          type: 'linear',
          title: { display: true, text: 'round' },
          ticks: { stepSize: 1, precision: 0 },
        },
        y: {
          type: axis === 'log' ? 'logarithmic' : 'linear',
          title: { display: true, text: yTitle },
          ...(axis === 'linear' ? { beginAtZero: true } : {}),
          // chart.js puts a log tick at every 1–9 × 10ⁿ; these are fewer and always labelled.
          ...(axis === 'log' ? { afterBuildTicks: fewerLogTicks } : {}),
          ticks: {
            autoSkipPadding: 12,
            ...(axis === 'share' ? { callback: (v) => `${(Number(v) * 100).toFixed(0)}%` } : {}),
            ...(axis === 'log'
              ? { callback: (v) => String(Number(Number(v).toPrecision(2))) }
              : {}),
            ...(format ? { callback: (v) => format(Number(v)) } : {}),
          },
        },
      },
      plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
    },
  });
}

function series(
  label: string,
  points: Point[],
  color: string,
  dashed = false,
): ChartDataset<'line', Point[]> {
  return {
    label,
    data: points,
    borderColor: color,
    backgroundColor: color,
    borderWidth: 2,
    pointRadius: 3,
    ...(dashed ? { borderDash: [6, 4], pointRadius: 0 } : {}),
  };
}

function pointsOf<R extends { round: number }>(rows: R[], pick: (r: R) => number | null): Point[] {
  return rows.flatMap((r) => {
    const y = pick(r);
    return y === null || !Number.isFinite(y) ? [] : [{ x: r.round, y }];
  });
}

/** Sets the datasets, fits the y axis to them and mirrors what is plotted on the canvas. */
function draw(
  chart: Chart<'line', Point[]>,
  axis: YAxis,
  datasets: ChartDataset<'line', Point[]>[],
) {
  chart.data.datasets = datasets;
  const values = datasets.flatMap((d) => d.data.map((p) => p.y));
  const y = chart.options.scales!.y!;
  const range =
    axis === 'share' ? shareAxisRange(values) : axis === 'log' ? logAxisRange(values) : undefined;
  y.min = range?.min;
  y.max = range?.max;
  chart.update();
  const canvas = chart.canvas;
  const rounds = [...new Set(datasets.flatMap((d) => d.data.map((p) => p.x)))].sort(
    (a, b) => a - b,
  );
  canvas.dataset.rounds = rounds.join(',');
  canvas.dataset.series = datasets
    .filter((d) => d.data.length > 0)
    .map((d) => d.label)
    .join('|');
  canvas.dataset.yMin = String(y.min ?? '');
  canvas.dataset.yMax = String(y.max ?? '');
}

const accuracyChart = lineChart(byId('accuracy-chart'), 'accuracy', 'share');
const lossChart = lineChart(byId('loss-chart'), 'cross-entropy', 'log');
const bytesChart = lineChart(byId('bytes-chart'), 'bytes', 'linear', (v) => bytes(v));
const durationChart = lineChart(byId('duration-chart'), 'seconds', 'linear');
const clientMetricsChart = lineChart(byId('client-metrics-chart'), 'loss / accuracy', 'linear');
const historyChart = lineChart(byId('history-chart'), 'student accuracy', 'share');
const labelsCanvas = byId<HTMLCanvasElement>('client-labels-chart');
const labelsChart = new Chart<'bar', number[], string>(labelsCanvas, {
  type: 'bar',
  data: { labels: [], datasets: [] },
  options: {
    animation: false,
    maintainAspectRatio: false,
    scales: {
      x: { title: { display: true, text: 'class label' } },
      y: { beginAtZero: true, title: { display: true, text: 'samples' }, ticks: { precision: 0 } },
    },
    plugins: { legend: { display: false } },
  },
});

const main = byId('dashboard');
const cards = byId('cards');
const live = byId('live');
const clientsPager = new Pager(byId<HTMLTableElement>('clients'), byId('clients-pager'), 10);
const updatesPager = new Pager(byId<HTMLTableElement>('updates'), byId('updates-pager'), 10);
const eventsPager = new Pager(byId<HTMLTableElement>('events'), byId('events-pager'), 12);
const historyPager = new Pager(
  byId<HTMLTableElement>('history-runs'),
  byId('history-runs-pager'),
  8,
);
let latest: DashboardSnapshot | undefined;

function card(label: string, value: string, detail = '', id = ''): HTMLElement {
  const box = el('div', '', 'card');
  if (id) box.id = id;
  box.append(el('div', label, 'card-label'), el('div', value, 'card-value'));
  if (detail) box.append(el('div', detail, 'card-detail muted'));
  return box;
}

function deadlineText(snapshot: DashboardSnapshot): string {
  const open = snapshot.status.openRound;
  if (!open) return '';
  const left = Math.max(0, Math.round((open.deadline - (Date.now() + clockOffset)) / 1000));
  return `deadline in ${left} s (${time(open.deadline)})`;
}

function renderSummary(snapshot: DashboardSnapshot): void {
  const box = byId('summary');
  const { summary, models } = snapshot;
  box.hidden = !summary && models.length === 0;
  if (box.hidden) return;
  const summaryCards = byId('summary-cards');
  if (summary) {
    summaryCards.replaceChildren(
      card(
        'Smaller',
        `${summary.timesSmaller.toFixed(1)}×`,
        `${summary.student.parameters.toLocaleString('en')} vs ${summary.teacher.parameters.toLocaleString('en')} parameters`,
        'summary-smaller',
      ),
      card(
        'Faster',
        `${summary.timesFaster.toFixed(1)}×`,
        `${(summary.student.inferenceMsPerSample * 1000).toFixed(1)} vs ${(summary.teacher.inferenceMsPerSample * 1000).toFixed(1)} µs per sample (measured in batches of ${summary.inferenceBatchSize}, ${summary.backend})`,
      ),
      card(
        'Teacher accuracy kept',
        pct(summary.shareOfTeacherAccuracy, 1),
        `student ${pct(summary.student.testAccuracy)} · teacher ${pct(summary.teacher.testAccuracy)}`,
      ),
      card(
        'Traffic per client',
        bytes(Math.round(summary.bytes.meanTotalPerClient)),
        `${bytes(Math.round(summary.bytes.downPerClientPerRound))} down + ${bytes(Math.round(summary.bytes.upPerClientPerRound))} up per round`,
      ),
    );
  } else
    summaryCards.replaceChildren(el('p', 'measuring the student against the teacher…', 'muted'));
  const downloads = byId('downloads');
  downloads.replaceChildren();
  for (const model of models) {
    const row = el('div', '', 'downloads');
    row.dataset.variant = model.name;
    const kind = model.quantization ? `${model.quantization} quantised` : model.dtypes.join(', ');
    row.append(
      el('strong', `${model.name}`),
      el('span', `${kind} · ${bytes(model.totalBytes)}`, 'muted'),
    );
    for (const file of model.files) {
      const link = el('a', `⤓ ${file.name}`, 'download') as HTMLAnchorElement;
      link.href = `/api/model/${model.name}/${file.name}`;
      link.download = `${model.name}-${file.name}`;
      row.append(link);
    }
    downloads.append(row);
  }
  if (models.length > 0)
    downloads.append(
      el(
        'p',
        `Load it anywhere with tfjs: tf.loadLayersModel('${location.origin}/api/model/${models[0]!.name}/model.json')`,
        'muted mono card-detail',
      ),
    );
}

function render(snapshot: DashboardSnapshot): void {
  const previous = latest;
  latest = snapshot;
  clockOffset = snapshot.serverTime - Date.now();
  const { status, rounds, clients, updates, totals, teacher } = snapshot;
  main.dataset.state = status.state;
  main.dataset.clients = String(clients.length);
  main.dataset.summary = snapshot.summary ? 'ready' : 'none';
  main.dataset.models = snapshot.models.map((m) => m.name).join(',');
  const aggregated = rounds.filter((r) => r.status === 'aggregated');
  const last = aggregated.at(-1);
  const open = status.openRound;
  cards.replaceChildren(
    card('Run', status.state, status.runId.slice(0, 8)),
    card(
      'Round',
      open ? `${open.id}` : `${status.roundsCompleted} / ${status.roundsPlanned}`,
      open
        ? `${open.answered}/${open.sampled} answered · ${deadlineText(snapshot)}`
        : `${status.roundsCompleted} of ${status.roundsPlanned} aggregated`,
      'round-card',
    ),
    card(
      'Student accuracy',
      pct(last?.studentAccuracy),
      `agreement with teacher ${pct(last?.agreement)}`,
    ),
    card('Teacher accuracy', pct(teacher.accuracy), teacher.description),
    card('Clients', `${status.connectedClients} connected`, `${clients.length} seen`),
    card('Updates', `${totals.accepted} accepted`, `${totals.rejected} rejected`),
  );
  renderSummary(snapshot);

  const pick = (f: (r: RoundRecord) => number | null) => pointsOf(aggregated, f);
  draw(accuracyChart, 'share', [
    series(
      'student',
      pick((r) => r.studentAccuracy),
      COLORS.student,
    ),
    series(
      'teacher',
      pick((r) => r.teacherAccuracy ?? teacher.accuracy),
      COLORS.teacher,
      true,
    ),
    series(
      'student–teacher agreement',
      pick((r) => r.agreement),
      COLORS.agreement,
    ),
  ]);
  draw(lossChart, 'log', [
    series(
      'student (test)',
      pick((r) => r.studentLoss),
      COLORS.student,
    ),
    series(
      'teacher (test)',
      pick(() => teacher.loss),
      COLORS.teacher,
      true,
    ),
    series(
      'clients (local training, mean)',
      pick((r) => r.meanClientLoss),
      COLORS.client,
    ),
  ]);
  draw(bytesChart, 'linear', [
    series(
      'down per client',
      pick((r) => r.bytesDownPerClient),
      COLORS.student,
    ),
    series(
      'up per client',
      pick((r) => r.bytesUpPerClient),
      COLORS.up,
    ),
  ]);
  draw(durationChart, 'linear', [
    series(
      'round duration (s)',
      pointsOf(rounds, (r) => r.durationMs / 1000),
      COLORS.client,
    ),
  ]);

  const names = new Map(clients.map((c) => [c.id, c.name ?? c.id.slice(0, 8)]));
  clientsPager.render(
    ['Client', 'Platform', 'Backend', 'Samples', 'Status', 'Rounds', 'Last update', 'Down', 'Up'],
    clients.map((c) => ({
      key: c.id,
      cells: [
        el('span', names.get(c.id) ?? c.id, 'mono'),
        c.platform,
        c.backend,
        String(c.numSamples),
        el('span', c.connected ? 'connected' : 'gone', c.connected ? 'ok' : 'muted'),
        String(c.roundsTaken),
        ago(c.lastUpdateAt),
        bytes(c.bytesDown),
        bytes(c.bytesUp),
      ],
    })),
    { selected: selectedClient, onSelect: (id) => void selectClient(id) },
  );
  byId('update-totals').textContent = `${totals.accepted} accepted · ${totals.rejected} rejected`;
  updatesPager.render(
    ['Time', 'Round', 'Client', 'Result', 'Samples', 'Size', 'Reason'],
    updates.map((u) => ({
      cells: [
        time(u.at),
        String(u.round),
        el('span', names.get(u.clientId) ?? u.clientId.slice(0, 8), 'mono'),
        el('span', u.status, u.status === 'accepted' ? 'ok' : 'bad'),
        u.numSamples === null ? '—' : String(u.numSamples),
        bytes(u.bytes),
        u.reason ?? '',
      ],
    })),
  );
  eventsPager.render(
    ['Time', 'Event'],
    snapshot.events.map((e) => ({
      cells: [time(e.at), el('span', e.text, e.level === 'warn' ? 'warn' : '')],
    })),
  );
  // A new round or the run's end: refresh the open client view and the history.
  if (selectedClient && previous && previous.rounds.length !== rounds.length)
    void selectClient(selectedClient);
  if (previous && previous.status.state !== status.state) void loadHistory();
}

// ---- per-client drill-down ----

let selectedClient: string | undefined;

interface ClientDetail {
  client: { id: string; name: string | null; platform: string; numSamples: number };
  labelCounts: number[] | null;
  rounds: ClientRoundMetrics[];
  updates: { round: number; status: string; reason: string | null }[];
}

async function selectClient(id: string): Promise<void> {
  selectedClient = id;
  const response = await fetch(`/api/client?id=${encodeURIComponent(id)}`);
  if (!response.ok) return;
  const detail = (await response.json()) as ClientDetail;
  if (selectedClient !== id) return;
  const box = byId('client-detail');
  box.hidden = false;
  box.dataset.client = id;
  const name = detail.client.name ?? id.slice(0, 8);
  byId('client-detail-title').textContent =
    `Client ${name} · ${detail.client.platform} · ${detail.client.numSamples} samples`;
  draw(clientMetricsChart, 'linear', [
    series(
      'local loss',
      pointsOf(detail.rounds, (r) => r.loss),
      COLORS.client,
    ),
    series(
      'local accuracy',
      pointsOf(detail.rounds, (r) => r.accuracy),
      COLORS.student,
    ),
    series(
      'held-out accuracy',
      pointsOf(detail.rounds, (r) => r.validationAccuracy),
      COLORS.agreement,
    ),
  ]);
  const counts = detail.labelCounts ?? [];
  labelsChart.data.labels = counts.map((_, i) => String(i));
  labelsChart.data.datasets = [{ label: 'samples', data: counts, backgroundColor: COLORS.student }];
  labelsChart.update();
  labelsCanvas.dataset.counts = counts.join(',');
  const refused = detail.updates.filter((u) => u.status !== 'accepted');
  byId('client-detail-note').textContent = [
    detail.labelCounts
      ? `${counts.filter((c) => c > 0).length} of ${counts.length} classes present; largest ${pct(
          Math.max(...counts) /
            Math.max(
              1,
              counts.reduce((a, b) => a + b, 0),
            ),
          1,
        )} of its samples.`
      : 'This client sent no label histogram with its join (labelCounts).',
    `${detail.updates.length - refused.length} updates accepted, ${refused.length} refused${refused.length ? ` (${refused.map((u) => `round ${u.round}: ${u.reason}`).join('; ')})` : ''}.`,
  ].join(' ');
  if (latest) render(latest); // mark the selected row
}

// ---- run history and overlays ----

const historyMetric = byId<HTMLSelectElement>('history-metric');
const overlay = new Set<string>();
const historyRounds = new Map<string, HistoryRound[]>();
let history: HistoryList = { entries: [], problems: [] };

async function loadHistory(): Promise<void> {
  const response = await fetch('/api/history');
  if (!response.ok) return;
  history = (await response.json()) as HistoryList;
  // Finished runs' rounds do not change; the current run's do.
  if (latest) historyRounds.delete(`run:${latest.status.runId}`);
  if (overlay.size === 0 && latest) overlay.add(`run:${latest.status.runId}`);
  renderHistory();
  await drawOverlay();
}

function renderHistory(): void {
  byId('history-note').textContent =
    `${history.entries.length} runs` +
    (history.problems.length ? ` · unreadable: ${history.problems.join('; ')}` : '');
  historyPager.render(
    ['', 'Run', 'Source', 'Strategy', 'Status', 'Rounds', 'Final accuracy'],
    history.entries.map((entry: HistoryEntry) => {
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.checked = overlay.has(entry.key);
      box.dataset.key = entry.key;
      box.setAttribute('aria-label', `overlay ${entry.label}`);
      box.addEventListener('change', () => {
        if (box.checked) overlay.add(entry.key);
        else overlay.delete(entry.key);
        void drawOverlay();
      });
      return {
        cells: [
          box,
          el('span', entry.label, 'mono'),
          entry.source,
          entry.strategy ?? '—',
          entry.status,
          String(entry.rounds),
          pct(entry.finalAccuracy),
        ],
      };
    }),
  );
}

const METRIC_AXES: Record<string, { axis: YAxis; title: string; scale?: number }> = {
  studentAccuracy: { axis: 'share', title: 'student accuracy' },
  agreement: { axis: 'share', title: 'agreement with teacher' },
  studentLoss: { axis: 'log', title: 'student loss' },
  bytesUpPerClient: { axis: 'linear', title: 'bytes up per client' },
  durationMs: { axis: 'linear', title: 'round duration (s)', scale: 1 / 1000 },
};

async function drawOverlay(): Promise<void> {
  const keys = history.entries.map((e) => e.key).filter((k) => overlay.has(k));
  await Promise.all(
    keys
      .filter((k) => !historyRounds.has(k))
      .map(async (key) => {
        const response = await fetch(`/api/history/rounds?key=${encodeURIComponent(key)}`);
        if (response.ok) historyRounds.set(key, (await response.json()) as HistoryRound[]);
      }),
  );
  const metric = historyMetric.value as keyof HistoryRound;
  const { axis, title, scale = 1 } = METRIC_AXES[metric] ?? METRIC_AXES.studentAccuracy!;
  const y = historyChart.options.scales!.y!;
  y.type = axis === 'log' ? 'logarithmic' : 'linear';
  (y as { title: { text: string } }).title.text = title;
  (y as { ticks: { callback?: unknown } }).ticks.callback =
    axis === 'share'
      ? (v: unknown) => `${(Number(v) * 100).toFixed(0)}%`
      : axis === 'log'
        ? (v: unknown) => String(Number(Number(v).toPrecision(2)))
        : undefined;
  (y as { afterBuildTicks?: unknown }).afterBuildTicks = axis === 'log' ? fewerLogTicks : undefined;
  const labels = new Map(history.entries.map((e) => [e.key, e.label]));
  draw(
    historyChart,
    axis,
    keys.map((key, i) =>
      series(
        labels.get(key) ?? key,
        pointsOf(
          (historyRounds.get(key) ?? []).filter((r) => r.status === 'aggregated'),
          (r) => {
            const v = r[metric];
            return typeof v === 'number' ? v * scale : null;
          },
        ),
        PALETTE[i % PALETTE.length]!,
      ),
    ),
  );
}
historyMetric.addEventListener('change', () => void drawOverlay());

// ---- loading and live updates ----

async function load(): Promise<void> {
  const response = await fetch('/api/dashboard');
  if (!response.ok) throw new Error(`GET /api/dashboard: ${response.status}`);
  render((await response.json()) as DashboardSnapshot);
  await loadHistory();
}

function setLive(text: string, className: string): void {
  live.textContent = text;
  live.className = `badge ${className}`;
}

load().catch((error: Error) => setLive(`error: ${error.message}`, 'state-error'));

const socket: Socket<DashboardServerEvents, Record<string, never>> = io(
  `${location.origin}${DASHBOARD_NAMESPACE}`,
  {
    parser: createSocketParser(),
    transports: ['websocket'],
    reconnectionDelayMax: 5000,
  },
);
socket.on('connect', () => setLive('live', 'state-training'));
socket.on('disconnect', () =>
  setLive(
    latest && latest.status.state !== 'training' && latest.status.state !== 'waiting'
      ? `coordinator gone (run ${latest.status.state})`
      : 'offline: reconnecting…',
    'state-reconnecting',
  ),
);
socket.on('snapshot', render);

// Deadlines and "ago" times move without events.
setInterval(() => {
  const roundCard = document.getElementById('round-card');
  const open = latest?.status.openRound;
  const detail = roundCard?.querySelector('.card-detail');
  if (latest && open && detail)
    detail.textContent = `${open.answered}/${open.sampled} answered · ${deadlineText(latest)}`;
}, 1000);
