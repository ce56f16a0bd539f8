/**
 * The dashboard page (served at `/`): renders a DashboardSnapshot whole —
 * from `/api/dashboard` at load, then every snapshot the coordinator pushes on
 * the read-only `/dashboard` socket.io namespace (MessagePack frames, the
 * project's parser). Charts are chart.js line charts over rounds.
 *
 * Each chart's canvas carries `data-rounds`, the rounds it plots (for tests).
 */
import {
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from 'chart.js';
import type { ChartDataset } from 'chart.js';
import { io, type Socket } from 'socket.io-client';
import { createSocketParser } from '../../../shared/codec/index.js';
import type { RoundRecord } from '../../store.js';
import type { DashboardServerEvents, DashboardSnapshot } from '../snapshot.js';
import { DASHBOARD_NAMESPACE } from '../snapshot.js';

Chart.register(LineController, LineElement, PointElement, LinearScale, Legend, Tooltip);

function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`page is missing #${id}`);
  return element as T;
}

function el(tag: string, text = '', className = ''): HTMLElement {
  const element = document.createElement(tag);
  element.textContent = text;
  if (className) element.className = className;
  return element;
}

const pct = (v: number | null | undefined) =>
  v === null || v === undefined ? '—' : `${(v * 100).toFixed(2)}%`;
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

const COLORS = { student: '#2563eb', teacher: '#6b7280', agreement: '#16a34a', client: '#ea580c' };

function lineChart(canvas: HTMLCanvasElement, yTitle: string, percent: boolean): Chart<'line'> {
  return new Chart(canvas, {
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
          type: 'linear',
          title: { display: true, text: yTitle },
          ...(percent
            ? { min: 0, max: 1, ticks: { callback: (v) => `${Math.round(Number(v) * 100)}%` } }
            : { beginAtZero: true }),
        },
      },
      plugins: { legend: { position: 'bottom' } },
    },
  });
}

function series(
  label: string,
  rounds: RoundRecord[],
  pick: (r: RoundRecord) => number | null,
  color: string,
  dashed = false,
): ChartDataset<'line', { x: number; y: number }[]> {
  const data = rounds.flatMap((r) => {
    const y = pick(r);
    return y === null ? [] : [{ x: r.round, y }];
  });
  return {
    label,
    data,
    borderColor: color,
    backgroundColor: color,
    borderWidth: 2,
    pointRadius: 4,
    ...(dashed ? { borderDash: [6, 4], pointRadius: 0 } : {}),
  };
}

const accuracyCanvas = byId<HTMLCanvasElement>('accuracy-chart');
const lossCanvas = byId<HTMLCanvasElement>('loss-chart');
const accuracyChart = lineChart(accuracyCanvas, 'accuracy', true);
const lossChart = lineChart(lossCanvas, 'cross-entropy', false);
const main = byId<HTMLElement>('dashboard');
const cards = byId<HTMLElement>('cards');
const live = byId<HTMLElement>('live');
let latest: DashboardSnapshot | undefined;

function card(label: string, value: string, detail = '', id = ''): HTMLElement {
  const box = el('div', '', 'card');
  if (id) box.id = id;
  box.append(el('div', label, 'card-label'), el('div', value, 'card-value'));
  if (detail) box.append(el('div', detail, 'card-detail muted'));
  return box;
}

function table(
  target: HTMLTableElement,
  columns: string[],
  rows: (string | HTMLElement)[][],
): void {
  target.replaceChildren();
  const head = target.createTHead().insertRow();
  for (const column of columns) head.append(el('th', column));
  const body = target.createTBody();
  if (rows.length === 0) {
    const cell = body.insertRow().insertCell();
    cell.colSpan = columns.length;
    cell.textContent = 'none yet';
    cell.className = 'muted';
  }
  for (const row of rows) {
    const tr = body.insertRow();
    for (const value of row) {
      const cell = tr.insertCell();
      if (typeof value === 'string') cell.textContent = value;
      else cell.append(value);
    }
  }
}

function deadlineText(snapshot: DashboardSnapshot): string {
  const open = snapshot.status.openRound;
  if (!open) return '';
  const left = Math.max(0, Math.round((open.deadline - (Date.now() + clockOffset)) / 1000));
  return `deadline in ${left} s (${new Date(open.deadline - clockOffset).toLocaleTimeString()})`;
}

function render(snapshot: DashboardSnapshot): void {
  latest = snapshot;
  clockOffset = snapshot.serverTime - Date.now();
  const { status, rounds, clients, updates, totals, teacher } = snapshot;
  main.dataset.state = status.state;
  main.dataset.clients = String(clients.length);
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

  accuracyChart.data.datasets = [
    series('student', aggregated, (r) => r.studentAccuracy, COLORS.student),
    series(
      'teacher',
      aggregated,
      (r) => r.teacherAccuracy ?? teacher.accuracy,
      COLORS.teacher,
      true,
    ),
    series('student–teacher agreement', aggregated, (r) => r.agreement, COLORS.agreement),
  ];
  lossChart.data.datasets = [
    series('student (test)', aggregated, (r) => r.studentLoss, COLORS.student),
    series('teacher (test)', aggregated, () => teacher.loss, COLORS.teacher, true),
    series('clients (local training, mean)', aggregated, (r) => r.meanClientLoss, COLORS.client),
  ];
  accuracyChart.update();
  lossChart.update();
  const plotted = aggregated.map((r) => r.round).join(',');
  accuracyCanvas.dataset.rounds = plotted;
  lossCanvas.dataset.rounds = plotted;

  const names = new Map(clients.map((c) => [c.id, c.name ?? c.id.slice(0, 8)]));
  table(
    byId<HTMLTableElement>('clients'),
    ['Client', 'Platform', 'Backend', 'Samples', 'Status', 'Rounds', 'Last update', 'Down', 'Up'],
    clients.map((c) => [
      el('span', names.get(c.id) ?? c.id, 'mono'),
      c.platform,
      c.backend,
      String(c.numSamples),
      el('span', c.connected ? 'connected' : 'gone', c.connected ? 'ok' : 'muted'),
      String(c.roundsTaken),
      ago(c.lastUpdateAt),
      bytes(c.bytesDown),
      bytes(c.bytesUp),
    ]),
  );
  byId('update-totals').textContent = `${totals.accepted} accepted · ${totals.rejected} rejected`;
  table(
    byId<HTMLTableElement>('updates'),
    ['Time', 'Round', 'Client', 'Result', 'Samples', 'Size', 'Reason'],
    updates.map((u) => [
      new Date(u.at - clockOffset).toLocaleTimeString(),
      String(u.round),
      el('span', names.get(u.clientId) ?? u.clientId.slice(0, 8), 'mono'),
      el('span', u.status, u.status === 'accepted' ? 'ok' : 'bad'),
      u.numSamples === null ? '—' : String(u.numSamples),
      bytes(u.bytes),
      u.reason ?? '',
    ]),
  );
}

async function load(): Promise<void> {
  const response = await fetch('/api/dashboard');
  if (!response.ok) throw new Error(`GET /api/dashboard: ${response.status}`);
  render((await response.json()) as DashboardSnapshot);
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
socket.on('disconnect', () => setLive('offline: reconnecting…', 'state-reconnecting'));
socket.on('snapshot', render);

// Deadlines and "ago" times move without events.
setInterval(() => {
  const card = document.getElementById('round-card');
  const open = latest?.status.openRound;
  const detail = card?.querySelector('.card-detail');
  if (latest && open && detail)
    detail.textContent = `${open.answered}/${open.sampled} answered · ${deadlineText(latest)}`;
}, 1000);
