/**
 * The server side of secure aggregation for one round: collects each step's
 * messages (`receive…`, synchronous, validated, refused without changing
 * state), closes the step when the caller decides (all arrived, or a
 * deadline: `finish…`), and finally outputs the sum of the inputs of every
 * client whose masked input arrived — and nothing else about them.
 */
import { addMask, addMasks, startAll } from './masks.js';
import type { MaskTerm } from './masks.js';
import {
  deriveSharedBytes,
  importPrivateScalar,
  importPublicKey,
  PUBLIC_KEY_BYTES,
  SEED_BYTES,
} from './crypto.js';
import { SecAggError } from './errors.js';
import type {
  AdvertiseKeys,
  EncryptedShare,
  MaskedInput,
  RevealedShare,
  SecAggConfig,
  ShareKeys,
  UnmaskShares,
} from './messages.js';
import { bigIntToBytes, reconstructSecret } from './shamir.js';
import type { Share } from './shamir.js';
import { checkConfig, checkId, decodeFieldElement, SHARE_CIPHERTEXT_BYTES } from './wire.js';

/** 'advertise' → 'share' → 'masked' → 'unmask' → 'done'. */
export type SecAggServerPhase = 'advertise' | 'share' | 'masked' | 'unmask' | 'done';

interface Keys {
  readonly channelKey: Uint8Array;
  readonly maskKey: Uint8Array;
}

export class SecAggServer {
  readonly config: Readonly<SecAggConfig>;
  #phase: SecAggServerPhase = 'advertise';
  #busy = false;
  readonly #keys = new Map<number, Keys>();
  /** U1: clients in the roster. */
  #roster: number[] = [];
  readonly #shares = new Map<number, readonly EncryptedShare[]>();
  /** U2: clients whose shares were forwarded. */
  #sharers: number[] = [];
  readonly #masked = new Map<number, Uint32Array>();
  /** U3: clients whose masked input counts. */
  #survivors: number[] = [];
  readonly #unmask = new Map<number, UnmaskShares>();

  /** @throws SecAggError `bad-option` for a config outside its domain. */
  constructor(config: Readonly<SecAggConfig>) {
    checkConfig(config);
    this.config = Object.freeze({ ...config });
  }

  get phase(): SecAggServerPhase {
    return this.#phase;
  }

  #expect(phase: SecAggServerPhase, what: string): void {
    if (this.#busy || this.#phase !== phase) {
      throw new SecAggError(
        `${what} needs phase '${phase}', server is in '${this.#phase}'`,
        'phase',
      );
    }
  }

  #tooFew(count: number, what: string): void {
    if (count < this.config.threshold) {
      throw new SecAggError(`${count} ${what}, threshold is ${this.config.threshold}`, 'too-few');
    }
  }

  /** Step 0 in: a client's public keys. */
  receiveKeys(message: AdvertiseKeys): void {
    this.#expect('advertise', 'receiveKeys');
    checkId(message.id);
    if (this.#keys.has(message.id))
      throw new SecAggError(`client ${message.id} advertised twice`, 'duplicate');
    if (
      message.channelKey?.length !== PUBLIC_KEY_BYTES ||
      message.maskKey?.length !== PUBLIC_KEY_BYTES
    ) {
      throw new SecAggError(`client ${message.id}: public keys must be 65 bytes`, 'bad-message');
    }
    this.#keys.set(message.id, {
      channelKey: Uint8Array.from(message.channelKey),
      maskKey: Uint8Array.from(message.maskKey),
    });
  }

  /**
   * Closes step 0: drops clients whose keys are not P-256 points and returns the
   * roster to send to every remaining client.
   * @throws SecAggError `too-few` when fewer than t clients have valid keys (state unchanged).
   */
  async finishAdvertise(): Promise<AdvertiseKeys[]> {
    this.#expect('advertise', 'finishAdvertise');
    this.#busy = true;
    try {
      const valid: AdvertiseKeys[] = [];
      for (const [id, keys] of [...this.#keys].sort((a, b) => a[0] - b[0])) {
        try {
          await importPublicKey(keys.channelKey, `client ${id}`);
          await importPublicKey(keys.maskKey, `client ${id}`);
          valid.push({ id, ...keys });
        } catch (err) {
          if (!(err instanceof SecAggError)) throw err;
        }
      }
      this.#tooFew(valid.length, 'clients with valid keys');
      this.#roster = valid.map((k) => k.id);
      for (const id of [...this.#keys.keys()])
        if (!this.#roster.includes(id)) this.#keys.delete(id);
      this.#phase = 'share';
      return valid;
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Step 1 in: a client's sealed shares, exactly one for each other roster member.
   * The server cannot open them (pairwise AES-GCM keys).
   */
  receiveShares(message: ShareKeys): void {
    this.#expect('share', 'receiveShares');
    const { id, shares } = message;
    if (!this.#roster.includes(id))
      throw new SecAggError(`client ${id} is not in the roster`, 'unknown-client');
    if (this.#shares.has(id)) throw new SecAggError(`client ${id} shared keys twice`, 'duplicate');
    const targets = new Set<number>();
    for (const s of shares) {
      if (s.from !== id)
        throw new SecAggError(`client ${id} sent a share labelled from ${s.from}`, 'bad-message');
      if (s.to === id || !this.#roster.includes(s.to)) {
        throw new SecAggError(
          `client ${id} sent a share to ${s.to}, not another roster member`,
          'unknown-client',
        );
      }
      if (targets.has(s.to))
        throw new SecAggError(`client ${id} sent two shares to ${s.to}`, 'duplicate');
      if (s.iv?.length !== 12 || s.ciphertext?.length !== SHARE_CIPHERTEXT_BYTES) {
        throw new SecAggError(`client ${id}: share to ${s.to} has the wrong size`, 'bad-message');
      }
      targets.add(s.to);
    }
    if (targets.size !== this.#roster.length - 1) {
      throw new SecAggError(
        `client ${id} sent ${targets.size} shares, expected ${this.#roster.length - 1}`,
        'bad-message',
      );
    }
    this.#shares.set(
      id,
      shares.map((s) => ({
        from: s.from,
        to: s.to,
        iv: Uint8Array.from(s.iv),
        ciphertext: Uint8Array.from(s.ciphertext),
      })),
    );
  }

  /**
   * Closes step 1 (U2 = the clients whose shares arrived) and returns, for each
   * of them, the shares the other members of U2 sealed for it.
   * @throws SecAggError `too-few` when fewer than t clients shared (state unchanged).
   */
  finishShares(): Map<number, EncryptedShare[]> {
    this.#expect('share', 'finishShares');
    this.#tooFew(this.#shares.size, 'clients shared keys');
    const sharers = [...this.#shares.keys()].sort((a, b) => a - b);
    const inboxes = new Map<number, EncryptedShare[]>(sharers.map((id) => [id, []]));
    for (const from of sharers) {
      for (const s of this.#shares.get(from) ?? []) inboxes.get(s.to)?.push(s);
    }
    this.#sharers = sharers;
    this.#phase = 'masked';
    return inboxes;
  }

  /** Step 2 in: a client's masked input. */
  receiveMaskedInput(message: MaskedInput): void {
    this.#expect('masked', 'receiveMaskedInput');
    const { id, masked } = message;
    if (!this.#sharers.includes(id))
      throw new SecAggError(`client ${id} did not share keys`, 'unknown-client');
    if (this.#masked.has(id)) throw new SecAggError(`client ${id} sent two inputs`, 'duplicate');
    if (!(masked instanceof Uint32Array) || masked.length !== this.config.length) {
      throw new SecAggError(
        `client ${id}: masked input must be a Uint32Array of ${this.config.length} values`,
        'bad-message',
      );
    }
    this.#masked.set(id, Uint32Array.from(masked));
  }

  /**
   * Closes step 2: U3 = the clients whose masked input arrived, to be sent to
   * each of them. Clients of U2 missing from U3 count as dropped: their
   * pairwise masks are removed with their reconstructed mask keys.
   * @throws SecAggError `too-few` when fewer than t inputs arrived (state unchanged).
   */
  finishMaskedInput(): number[] {
    this.#expect('masked', 'finishMaskedInput');
    this.#tooFew(this.#masked.size, 'masked inputs');
    this.#survivors = [...this.#masked.keys()].sort((a, b) => a - b);
    this.#phase = 'unmask';
    return this.#survivors.slice();
  }

  /**
   * Step 3 in: a survivor's revealed shares: of the self-mask seed of every
   * member of U3 and of the mask key of every member of U2 not in U3, exactly.
   */
  receiveUnmaskShares(message: UnmaskShares): void {
    this.#expect('unmask', 'receiveUnmaskShares');
    const { id } = message;
    if (!this.#survivors.includes(id))
      throw new SecAggError(`client ${id} is not a survivor`, 'unknown-client');
    if (this.#unmask.has(id)) throw new SecAggError(`client ${id} unmasked twice`, 'duplicate');
    const dropped = this.#sharers.filter((u) => !this.#survivors.includes(u));
    const check = (
      list: readonly RevealedShare[],
      owners: number[],
      what: string,
    ): RevealedShare[] => {
      const got = list.map((s) => s.owner).sort((a, b) => a - b);
      if (got.length !== owners.length || got.some((o, i) => o !== owners[i])) {
        throw new SecAggError(
          `client ${id}: ${what} shares for [${got}], expected [${owners}]`,
          'bad-message',
        );
      }
      for (const s of list) decodeFieldElement(s.share);
      return list.map((s) => ({ owner: s.owner, share: Uint8Array.from(s.share) }));
    };
    const selfMaskShares = check(message.selfMaskShares, this.#survivors, 'self-mask');
    const maskKeyShares = check(message.maskKeyShares, dropped, 'mask-key');
    this.#unmask.set(id, { id, selfMaskShares, maskKeyShares });
  }

  /**
   * Closes step 3 and outputs Σ_{u ∈ U3} xᵤ mod 2³² (decode with {@link dequantize}):
   * the survivors' self masks and the dropped clients' pairwise masks are
   * rebuilt from t shares each and removed.
   *
   * @throws SecAggError `too-few` when fewer than t survivors responded (state
   *   unchanged: more responses may still arrive); `bad-message` when shares do
   *   not reconstruct a usable secret.
   */
  async finishUnmask(): Promise<Uint32Array> {
    this.#expect('unmask', 'finishUnmask');
    const responders = [...this.#unmask.keys()].sort((a, b) => a - b);
    this.#tooFew(responders.length, 'survivors responded');
    this.#busy = true;
    try {
      const { session, threshold, length } = this.config;
      const used = responders.slice(0, threshold);
      const sharesOf = (owner: number, kind: 'selfMaskShares' | 'maskKeyShares'): Share[] =>
        used.map((x) => {
          const msg = this.#unmask.get(x) as UnmaskShares;
          const s = msg[kind].find((r) => r.owner === owner) as RevealedShare;
          return { x, y: decodeFieldElement(s.share) };
        });
      const sum = new Uint32Array(length);
      for (const u of this.#survivors) addMask(sum, this.#masked.get(u) as Uint32Array, 1);
      const terms: MaskTerm[] = this.#survivors.map((u) => ({
        seed: toBytes(reconstructSecret(sharesOf(u, 'selfMaskShares')), SEED_BYTES, u),
        sign: -1,
      }));
      for (const u of this.#sharers) {
        if (this.#survivors.includes(u)) continue;
        const keys = this.#keys.get(u) as Keys;
        const scalar = toBytes(reconstructSecret(sharesOf(u, 'maskKeyShares')), 32, u);
        const privateKey = await importPrivateScalar(scalar, keys.maskKey, `dropped client ${u}`);
        // Every pairwise derivation starts at once; masks are expanded ahead of the additions.
        const seeds = startAll(this.#survivors, async (v) => {
          const publicKey = await importPublicKey(
            (this.#keys.get(v) as Keys).maskKey,
            `client ${v}`,
          );
          return deriveSharedBytes(privateKey, publicKey, session, 'mask', u, v);
        });
        this.#survivors.forEach((v, k) => {
          // v added +PRG(s_uv) when v < u, −PRG(s_uv) when v > u: undo it.
          terms.push({ seed: seeds[k] as Promise<Uint8Array>, sign: v < u ? -1 : 1 });
        });
      }
      await addMasks(sum, terms);
      this.#phase = 'done';
      return sum;
    } finally {
      this.#busy = false;
    }
  }

  /** U1, U2, U3 and the unmask responders so far, for logs and metrics. */
  get participants(): {
    roster: number[];
    sharers: number[];
    survivors: number[];
    responders: number[];
  } {
    return {
      roster: this.#roster.slice(),
      sharers: this.#sharers.slice(),
      survivors: this.#survivors.slice(),
      responders: [...this.#unmask.keys()].sort((a, b) => a - b),
    };
  }
}

function toBytes(value: bigint, bytes: number, owner: number): Uint8Array {
  try {
    return bigIntToBytes(value, bytes);
  } catch {
    throw new SecAggError(`shares of client ${owner}'s secret do not reconstruct`, 'bad-message');
  }
}
