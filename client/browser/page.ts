/**
 * The `/client` page: a browser edge client with a view of what it does.
 * Query parameters: `token` (join token), `shard` (demo shard index),
 * `backend` (force webgpu | webgl | wasm | cpu), `name` (shown on the dashboard).
 *
 * State for tests and scripts is mirrored on `<main id="client">` as data
 * attributes: state, backend, clientId, roundsAccepted, artifactsFromCache.
 *
 * When the run ends the page says so for good ("run ended: completed, your
 * updates: N accepted") and closes its connection: the coordinator may stay up
 * after the run (its linger), and a socket.io reconnect would only be refused.
 */
import { RefusedError } from '../transport.js';
import { DemoShardUnavailableError, fetchDemoShard } from './demoShard.js';
import type { BrowserClient, BrowserClientEvent } from './startBrowserClient.js';
import { startBrowserClient } from './startBrowserClient.js';

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

const params = new URLSearchParams(location.search);
const main = byId<HTMLElement>('client');
const stateBadge = byId<HTMLElement>('state');
const facts = byId<HTMLElement>('facts');
const roundsTable = byId<HTMLTableElement>('rounds');
const log = byId<HTMLOListElement>('log');
const progress = byId<HTMLProgressElement>('progress');
const progressTitle = byId<HTMLElement>('progress-title');
const progressDetail = byId<HTMLElement>('progress-detail');

const pct = (v: number | undefined) => (v === undefined ? '—' : `${(v * 100).toFixed(1)}%`);
const kib = (bytes: number) =>
  bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(2)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;

function setState(state: string, label: string): void {
  main.dataset.state = state;
  stateBadge.textContent = label;
  stateBadge.className = `badge state-${state}`;
}

const factCells = new Map<string, HTMLElement>();
function fact(key: string, label: string, value: string, title = ''): void {
  let cell = factCells.get(key);
  if (!cell) {
    const card = el('div', '', 'card');
    card.append(el('div', label, 'card-label'));
    cell = el('div', '', 'card-value');
    card.append(cell);
    facts.append(card);
    factCells.set(key, cell);
  }
  cell.textContent = value;
  cell.title = title;
}

function addLog(text: string, kind = ''): void {
  const item = el('li', `${new Date().toLocaleTimeString()}  ${text}`, kind);
  log.prepend(item);
  while (log.children.length > 200) log.lastElementChild?.remove();
}

const COLUMNS = [
  'Round',
  'Status',
  'Local loss',
  'Local accuracy',
  'Train time',
  'Upload',
  'Global accuracy',
];
const header = roundsTable.createTHead().insertRow();
for (const name of COLUMNS) header.append(el('th', name));
const body = roundsTable.createTBody();
const rows = new Map<number, HTMLTableRowElement>();
function roundRow(roundId: number): HTMLTableRowElement {
  let row = rows.get(roundId);
  if (!row) {
    row = document.createElement('tr');
    row.dataset.round = String(roundId);
    for (let i = 0; i < COLUMNS.length; i++)
      row.insertCell().textContent = i === 0 ? `${roundId}` : '—';
    body.prepend(row);
    rows.set(roundId, row);
  }
  return row;
}
function setCell(roundId: number, column: number, text: string, className = ''): void {
  const cell = roundRow(roundId).cells[column];
  if (cell) {
    cell.textContent = text;
    cell.className = className;
  }
}

let roundsAccepted = 0;
let roundsRefused = 0;
let deadlineTimer: ReturnType<typeof setInterval> | undefined;
/** Set once the coordinator said the run ended: later disconnects are expected, not trouble. */
let runEnded = false;
let client: BrowserClient | undefined;

/** The page's final state. `reason` is the run's end ('completed', 'stopped'), or null when it ended before this page joined. */
function showRunEnded(reason: string | null): void {
  runEnded = true;
  clearInterval(deadlineTimer);
  const updates =
    reason === null
      ? 'this page took no part'
      : `your updates: ${roundsAccepted} accepted${roundsRefused > 0 ? `, ${roundsRefused} refused` : ''}`;
  setState(
    'ended',
    reason === null ? 'run ended before this page joined' : `run ended: ${reason}, ${updates}`,
  );
  main.dataset.endReason = reason ?? 'before-join';
  progressTitle.textContent =
    reason === null ? 'Run ended before this page joined' : `Run ended: ${reason}`;
  progress.max = 1;
  progress.value = 1;
  progressDetail.textContent = `${updates}. The trained student is on the dashboard; this page trains no more.`;
  byId('progress-box').classList.add('final');
  // Nothing more will come: stop reconnecting to a coordinator that has finished.
  client?.stop();
}

function onEvent(event: BrowserClientEvent): void {
  switch (event.type) {
    case 'backend': {
      const skipped = event.tried.filter((t) => t.error).map((t) => `${t.label}: ${t.error}`);
      fact('backend', 'tfjs backend', event.name, skipped.join('\n'));
      main.dataset.backend = event.name;
      addLog(`backend ${event.name}${skipped.length ? ` (skipped ${skipped.join('; ')})` : ''}`);
      break;
    }
    case 'joined':
      main.dataset.clientId = event.clientId;
      fact('client', 'Client id', event.clientId.slice(0, 8), event.clientId);
      setState('joined', 'joined · waiting for a round');
      addLog(
        `${event.rejoin ? 'rejoined' : 'joined'} run ${event.runId.slice(0, 8)} as ${event.clientId}`,
      );
      break;
    case 'artifacts':
      main.dataset.artifactsFromCache = String(event.fromCache);
      fact('proxy', 'Proxy set', `${event.proxyCount} samples`, `${event.bytes} bytes`);
      addLog(
        `proxy set and soft labels: ${kib(event.bytes)}${event.fromCache ? ' from the IndexedDB cache' : ' downloaded'}`,
      );
      break;
    case 'round:start': {
      setState('training', `training round ${event.roundId}`);
      setCell(event.roundId, 1, 'training');
      progressTitle.textContent = `Round ${event.roundId}: training`;
      progress.value = 0;
      clearInterval(deadlineTimer);
      const tick = () => {
        const left = Math.max(0, Math.round((event.deadline - Date.now()) / 1000));
        progressDetail.dataset.deadline = `${left} s to the deadline`;
      };
      tick();
      deadlineTimer = setInterval(tick, 1000);
      addLog(`round ${event.roundId} started`);
      break;
    }
    case 'train:progress':
      progress.max = Math.max(1, event.steps);
      progress.value = event.step;
      progressDetail.textContent = `epoch ${event.epoch + 1} · step ${event.step}/${event.steps} · loss ${event.loss.toFixed(4)} · ${progressDetail.dataset.deadline ?? ''}`;
      break;
    case 'round:trained':
      setCell(event.roundId, 2, event.metrics.loss.toFixed(4));
      setCell(event.roundId, 3, pct(event.metrics.accuracy));
      setCell(event.roundId, 4, `${(event.metrics.trainMillis / 1000).toFixed(1)} s`);
      setCell(event.roundId, 1, 'uploading');
      fact(
        'local',
        'Local accuracy',
        pct(event.metrics.accuracy),
        'training accuracy on private data, last round',
      );
      break;
    case 'update:accepted':
      roundsAccepted += 1;
      main.dataset.roundsAccepted = String(roundsAccepted);
      setCell(event.roundId, 1, 'accepted', 'ok');
      setCell(event.roundId, 5, kib(event.bytes));
      progressTitle.textContent = `Round ${event.roundId}: update accepted`;
      progress.value = progress.max;
      progressDetail.textContent = 'waiting for the next round';
      clearInterval(deadlineTimer);
      setState('joined', 'waiting for the next round');
      addLog(`round ${event.roundId}: update accepted (${kib(event.bytes)})`);
      break;
    case 'update:rejected':
      roundsRefused += 1;
      setCell(event.roundId, 1, `rejected: ${event.code}`, 'bad');
      addLog(`round ${event.roundId}: update refused: ${event.code}: ${event.message}`, 'bad');
      break;
    case 'round:end':
      if (event.studentAccuracy !== undefined) {
        setCell(event.roundId, 6, pct(event.studentAccuracy));
        fact(
          'global',
          'Global accuracy',
          pct(event.studentAccuracy),
          'the aggregated student on the test split',
        );
      }
      // A round this page never saw start: not sampled, or trained before a reload.
      if (roundRow(event.roundId).cells[1]?.textContent === '—')
        setCell(event.roundId, 1, 'not trained on this page', 'muted');
      break;
    case 'disconnected':
      if (runEnded) {
        addLog(`connection closed after the run ended (${event.reason})`);
        break;
      }
      setState('reconnecting', 'reconnecting…');
      addLog(`disconnected (${event.reason}); reconnecting`, 'bad');
      break;
    case 'run:end':
      addLog(`run ended (${event.reason})`);
      showRunEnded(event.reason);
      break;
    case 'error':
    case 'warning':
      addLog(event.message, 'bad');
      break;
    default:
      break;
  }
}

async function main_(): Promise<void> {
  const token = params.get('token') ?? undefined;
  const backend = params.get('backend') ?? undefined;
  const name = params.get('name') ?? undefined;
  // Keep the same shard across reloads, so a rejoining client trains on the same data.
  const shardKey = `fedistill:demo-shard:${location.origin}`;
  const asked = params.get('shard') ?? sessionStorage.getItem(shardKey);
  setState('loading', 'loading data…');
  let shard;
  try {
    shard = await fetchDemoShard({
      url: location.origin,
      ...(token !== undefined ? { token } : {}),
      ...(asked !== null ? { index: Number(asked) } : {}),
    });
  } catch (error) {
    if (error instanceof DemoShardUnavailableError) {
      setState('no-data', 'no data');
      addLog(
        `${error.message}. This page trains on demo shards only; apps pass their own data to startBrowserClient (docs/browser.md).`,
        'bad',
      );
      return;
    }
    throw error;
  }
  sessionStorage.setItem(shardKey, String(shard.index));
  fact(
    'data',
    'Private data',
    `${shard.data.count} digits`,
    `demo shard ${shard.index} of ${shard.of}`,
  );
  addLog(`private data: demo shard ${shard.index} of ${shard.of}, ${shard.data.count} digits`);
  setState('connecting', 'connecting…');
  try {
    client = await startBrowserClient({
      url: location.origin,
      data: shard.data,
      ...(token !== undefined ? { token } : {}),
      ...(backend !== undefined ? { backend } : {}),
      ...(name !== undefined ? { name } : {}),
      onEvent,
    });
    addEventListener('pagehide', () => client?.stop());
    // The run may have ended while the client was still starting.
    if (runEnded) client.stop();
  } catch (error) {
    if (error instanceof RefusedError && error.code === 'run-ended') {
      addLog(`the coordinator's run has already ended: ${error.message}`);
      showRunEnded(null);
      return;
    }
    if (error instanceof RefusedError) {
      setState('refused', `refused: ${error.code}`);
      addLog(`refused by the coordinator (${error.code}): ${error.message}`, 'bad');
      return;
    }
    throw error;
  }
}

main_().catch((error: Error) => {
  setState('error', 'error');
  addLog(`error: ${error.message}`, 'bad');
});
