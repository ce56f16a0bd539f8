/**
 * Keeps a browser client's id and rejoin secret across reloads (localStorage),
 * so a reloaded page rejoins as the same client and, if it was sampled in the
 * open round, gets that round again. The coordinator refuses a rejoin without
 * the secret, so the two are stored together.
 *
 * Two tabs must not share an id: the coordinator keeps one connection per
 * id and would cut the other tab off. Each tab therefore holds a Web Lock on
 * a numbered slot and uses that slot's stored id; a reloaded tab gets its
 * slot back when the old page's lock is released. Without Web Locks every
 * tab uses slot 0.
 */

export interface ClientIdentity {
  /** The stored id, or undefined on a first visit. */
  readonly clientId: string | undefined;
  /** The rejoin secret stored with the id. */
  readonly rejoinSecret: string | undefined;
  /** Stores the id the coordinator confirmed and its rejoin secret. */
  save(clientId: string, rejoinSecret: string | undefined): void;
  /** Releases this tab's slot (the page unloading does it too). */
  release(): void;
}

const MAX_SLOTS = 16;

function storage(): Storage | undefined {
  try {
    return typeof localStorage === 'undefined' ? undefined : localStorage;
  } catch {
    return undefined; // storage disabled
  }
}

/**
 * Takes the Web Lock `name` and holds it until the returned release function
 * is called; undefined when it is not free within `waitMs` (0: only if free now).
 */
async function claimSlot(name: string, waitMs: number): Promise<(() => void) | undefined> {
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  const acquired = await new Promise<boolean>((resolve) => {
    const options: LockOptions =
      waitMs > 0 ? { signal: AbortSignal.timeout(waitMs) } : { ifAvailable: true };
    navigator.locks
      .request(name, options, async (lock) => {
        resolve(lock !== null);
        if (lock) await held;
      })
      .catch(() => resolve(false)); // timed out
  });
  return acquired ? release : undefined;
}

/**
 * How long a slot that has a stored id is waited for: on a reload the old
 * page's lock is released asynchronously, possibly after the new page asks.
 */
const RELOAD_GRACE_MS = 2000;

/** Claims this tab's identity for a coordinator (`scope`, e.g. its URL). */
export async function claimClientIdentity(scope: string): Promise<ClientIdentity> {
  const store = storage();
  let slot = 0;
  let release: () => void = () => undefined;
  if (typeof navigator !== 'undefined' && navigator.locks) {
    for (slot = 0; slot < MAX_SLOTS; slot++) {
      const stored = store?.getItem(`fedistill:client-id:${scope}:${slot}`);
      const got = await claimSlot(`fedistill:${scope}:${slot}`, stored ? RELOAD_GRACE_MS : 0);
      if (got) {
        release = got;
        break;
      }
    }
  }
  const key = `fedistill:client-id:${scope}:${slot}`;
  const secretKey = `fedistill:rejoin-secret:${scope}:${slot}`;
  const clientId = slot < MAX_SLOTS ? (store?.getItem(key) ?? undefined) : undefined;
  const rejoinSecret =
    clientId !== undefined ? (store?.getItem(secretKey) ?? undefined) : undefined;
  return {
    clientId,
    rejoinSecret,
    save: (id, secret) => {
      if (slot >= MAX_SLOTS) return;
      store?.setItem(key, id);
      if (secret !== undefined) store?.setItem(secretKey, secret);
      else store?.removeItem(secretKey);
    },
    release,
  };
}
