/**
 * Cool-downs for the sources of cut-off connections. A cut-off alone only
 * costs an abusive peer a reconnect, so the source it came from is refused at
 * the handshake for a while, longer each time it is cut off again.
 *
 * Which source a connection is charged to (`penaltySource`):
 * - a per-client token's name, when the connection authenticated with one: the
 *   token is that client's alone, so the penalty hits no one else;
 * - otherwise its address (an IPv6 address by its /64, which one host can
 *   rotate through freely). Clients behind one NAT share the penalty: that is
 *   the price of having no identity to tell them apart. A shared join token is
 *   never the key: one attacker holding it would lock every honest client out.
 *
 * Memory is bounded: at most `maxEntries` sources are remembered; forgotten
 * ones are dropped first, then the least recently penalised.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface PenaltyBoxOptions {
  /** Cool-down after a source's first cut-off; each further cut-off doubles it. 0 turns penalties off. */
  baseMs: number;
  /** Longest cool-down; a source is also forgotten once its cool-down has been over this long. */
  maxMs: number;
  /** Most sources remembered at once. */
  maxEntries: number;
  now?: () => number;
}

interface Entry {
  /** Cut-offs remembered for this source. */
  cutOffs: number;
  /** Until when the source is refused (epoch ms). */
  until: number;
}

export class PenaltyBox {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;

  constructor(private readonly options: PenaltyBoxOptions) {
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  private forgotten(entry: Entry, now: number): boolean {
    return now >= entry.until + this.options.maxMs;
  }

  /**
   * Records a cut-off of `source`.
   * @returns the cool-down it now serves, in ms (0 when penalties are off).
   */
  penalize(source: string): number {
    const { baseMs, maxMs, maxEntries } = this.options;
    if (baseMs <= 0 || maxEntries <= 0) return 0;
    const now = this.now();
    const previous = this.entries.get(source);
    const cutOffs = previous && !this.forgotten(previous, now) ? previous.cutOffs + 1 : 1;
    // 2^(n−1) overflows to Infinity long before n does any harm; min() caps it.
    const cooldown = Math.min(maxMs, baseMs * 2 ** Math.min(cutOffs - 1, 52));
    // Re-inserted, so the map's order is least recently penalised first.
    this.entries.delete(source);
    if (this.entries.size >= maxEntries) this.makeRoom(now);
    this.entries.set(source, { cutOffs, until: now + cooldown });
    return cooldown;
  }

  /** Milliseconds until `source` may connect again; 0 when it may now. */
  remaining(source: string): number {
    const entry = this.entries.get(source);
    if (!entry) return 0;
    const now = this.now();
    if (this.forgotten(entry, now)) {
      this.entries.delete(source);
      return 0;
    }
    return Math.max(0, entry.until - now);
  }

  private makeRoom(now: number): void {
    for (const [source, entry] of this.entries)
      if (this.forgotten(entry, now)) this.entries.delete(source);
    for (const source of this.entries.keys()) {
      if (this.entries.size < this.options.maxEntries) break;
      this.entries.delete(source);
    }
  }
}

/** The 16-bit groups of an IPv6 address, `::` expanded; undefined when it is not one. */
function ipv6Groups(address: string): string[] | undefined {
  if (!isIPv6(address)) return undefined;
  const [head = '', tail] = address.split('::');
  const part = (text: string) => (text === '' ? [] : text.split(':'));
  let groups = part(head);
  if (tail !== undefined) {
    const rest = part(tail);
    groups = [...groups, ...Array<string>(8 - groups.length - rest.length).fill('0'), ...rest];
  }
  return groups;
}

/**
 * The address a penalty is charged to: IPv4 as it is (IPv4-mapped IPv6
 * unwrapped), IPv6 by its /64 prefix.
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  const groups = ipv6Groups(address);
  if (!groups || groups.length !== 8 || groups.some((g) => g.includes('.'))) return address;
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

/**
 * The address a handshake came from. With `trustProxy` (the coordinator sits
 * behind a reverse proxy) it is the last `X-Forwarded-For` entry, the one the
 * nearest proxy appended; entries before it are the client's to forge.
 */
export function handshakeAddress(
  handshake: { address: string; headers: Record<string, string | string[] | undefined> },
  trustProxy: boolean,
): string {
  if (trustProxy) {
    const header = handshake.headers['x-forwarded-for'];
    const value = Array.isArray(header) ? header.at(-1) : header;
    const last = value?.split(',').at(-1)?.trim();
    if (last) return last;
  }
  return handshake.address;
}

/** The source a connection is charged to: its per-client token's name, else its address. */
export function penaltySource(tokenName: string | null, address: string): string {
  return tokenName !== null ? `client:${tokenName}` : `address:${addressKey(address)}`;
}
