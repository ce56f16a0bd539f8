/**
 * The client side of secure aggregation: one instance per client per round,
 * driven step by step. Each method may be called once, in order; a step that
 * throws leaves the client where it was.
 */
import {
  channelKey,
  deriveSharedBytes,
  exportPrivateScalar,
  generateKeyPair,
  importPublicKey,
  openShare,
  sealShare,
  SEED_BYTES,
} from './crypto.js';
import type { KeyPair } from './crypto.js';
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
import { addMasks, startAll } from './masks.js';
import { checkConfig, checkId, decodeSharePlaintext, encodeSharePlaintext } from './wire.js';
import { bigIntToBytes, bytesToBigInt, FIELD_BYTES, shareSecret } from './shamir.js';

type ClientPhase = 'new' | 'advertised' | 'shared' | 'masked' | 'done';

interface Peer {
  readonly channel: CryptoKey;
  readonly mask: CryptoKey;
}

export { addMask } from './masks.js';

export class SecAggClient {
  readonly config: Readonly<SecAggConfig>;
  #phase: ClientPhase = 'new';
  #busy = false;
  #channelPair?: KeyPair;
  #maskPair?: KeyPair;
  #roster = new Map<number, Peer>();
  #selfSeed = new Uint8Array(0);
  /** Shares this client holds of each owner's (selfSeed, maskKey), itself included. */
  #held = new Map<number, { selfSeed: bigint; maskKey: bigint }>();
  #sharers: number[] = [];
  /** Channel keys by peer id, set with the roster when shareKeys succeeds. */
  #channels = new Map<number, Promise<CryptoKey>>();

  /**
   * @param id this client's id in the round: a positive integer, unique.
   * @throws SecAggError `bad-option` / `unknown-client` for a bad config or id.
   */
  constructor(
    readonly id: number,
    config: Readonly<SecAggConfig>,
  ) {
    checkId(id);
    checkConfig(config);
    this.config = Object.freeze({ ...config });
  }

  /**
   * The AES-GCM key of the pairwise channel between this client and `other`,
   * derived once (ECDH + HKDF) and reused: the same key seals this client's
   * shares for `other` and opens the shares `other` sealed for it.
   */
  #channelWith(
    channels: Map<number, Promise<CryptoKey>>,
    peer: Peer,
    other: number,
  ): Promise<CryptoKey> {
    let key = channels.get(other);
    if (key === undefined) {
      const channelPair = this.#channelPair as KeyPair;
      key = deriveSharedBytes(
        channelPair.privateKey,
        peer.channel,
        this.config.session,
        'channel',
        this.id,
        other,
      ).then(channelKey);
      key.catch(() => undefined);
      channels.set(other, key);
    }
    return key;
  }

  /** Where the client is: 'new' → 'advertised' → 'shared' → 'masked' → 'done'. */
  get phase(): ClientPhase {
    return this.#phase;
  }

  async #step<T>(from: ClientPhase, to: ClientPhase, run: () => Promise<T>): Promise<T> {
    if (this.#busy || this.#phase !== from) {
      throw new SecAggError(
        `client ${this.id}: step needs phase '${from}', is '${this.#phase}'`,
        'phase',
      );
    }
    this.#busy = true;
    try {
      const result = await run();
      this.#phase = to;
      return result;
    } finally {
      this.#busy = false;
    }
  }

  /** Step 0: generates this round's two key pairs and returns the public halves. */
  advertiseKeys(): Promise<AdvertiseKeys> {
    return this.#step('new', 'advertised', async () => {
      this.#channelPair = await generateKeyPair();
      this.#maskPair = await generateKeyPair();
      return {
        id: this.id,
        channelKey: this.#channelPair.publicRaw,
        maskKey: this.#maskPair.publicRaw,
      };
    });
  }

  /**
   * Step 1: given the roster (every client's advertised keys, this one
   * included), draws the self-mask seed, Shamir-shares it and the mask private
   * key among the roster with threshold t, and seals each other client's
   * shares for it.
   *
   * @throws SecAggError `too-few` for a roster smaller than t; `bad-message` when
   *   this client's own keys are missing or altered, or a key does not parse;
   *   `duplicate`/`unknown-client` for bad ids.
   */
  shareKeys(roster: readonly AdvertiseKeys[]): Promise<ShareKeys> {
    return this.#step('advertised', 'shared', async () => {
      const { session, threshold } = this.config;
      const ids = roster.map((r) => r.id);
      ids.forEach(checkId);
      if (new Set(ids).size !== ids.length)
        throw new SecAggError('roster repeats an id', 'duplicate');
      if (roster.length < threshold) {
        throw new SecAggError(
          `roster has ${roster.length} clients, threshold is ${threshold}`,
          'too-few',
        );
      }
      const self = roster.find((r) => r.id === this.id);
      const channelPair = this.#channelPair as KeyPair;
      const maskPair = this.#maskPair as KeyPair;
      if (
        self === undefined ||
        !sameBytes(self.channelKey, channelPair.publicRaw) ||
        !sameBytes(self.maskKey, maskPair.publicRaw)
      ) {
        throw new SecAggError(`roster lacks client ${this.id}'s own keys`, 'bad-message');
      }
      // Every key parses, or the step fails naming the first client (in roster order) whose key does not.
      const imported = startAll(roster, async (r) => {
        const who = `client ${r.id}`;
        const [channel, mask] = await Promise.all([
          importPublicKey(r.channelKey, who),
          importPublicKey(r.maskKey, who),
        ]);
        return { channel, mask };
      });
      const peers = new Map<number, Peer>();
      for (let k = 0; k < roster.length; k++) {
        peers.set((roster[k] as AdvertiseKeys).id, await (imported[k] as Promise<Peer>));
      }
      const selfSeed = globalThis.crypto.getRandomValues(new Uint8Array(SEED_BYTES));
      const maskScalar = await exportPrivateScalar(maskPair.privateKey);
      const seedShares = shareSecret(bytesToBigInt(selfSeed), ids, threshold);
      const keyShares = shareSecret(bytesToBigInt(maskScalar), ids, threshold);
      const held = new Map<number, { selfSeed: bigint; maskKey: bigint }>();
      const channels = new Map<number, Promise<CryptoKey>>();
      // Key agreement and sealing for all peers at once: WebCrypto runs them off the JS thread.
      const sealed = startAll(ids, async (to): Promise<EncryptedShare | undefined> => {
        const k = ids.indexOf(to);
        const selfSeedShare = (seedShares[k] as { y: bigint }).y;
        const maskKeyShare = (keyShares[k] as { y: bigint }).y;
        if (to === this.id) {
          held.set(this.id, { selfSeed: selfSeedShare, maskKey: maskKeyShare });
          return undefined;
        }
        const key = await this.#channelWith(channels, peers.get(to) as Peer, to);
        const plaintext = encodeSharePlaintext(this.id, to, selfSeedShare, maskKeyShare);
        return { from: this.id, to, ...(await sealShare(key, session, this.id, to, plaintext)) };
      });
      const shares: EncryptedShare[] = [];
      for (const share of sealed) {
        const done = await share;
        if (done !== undefined) shares.push(done);
      }
      this.#roster = peers;
      this.#channels = channels;
      this.#selfSeed = selfSeed;
      this.#held = held;
      return { id: this.id, shares };
    });
  }

  /**
   * Step 2: opens the shares other clients sealed for this one (their senders
   * are the clients still in the round, U2), then returns
   * y = x + PRG(selfSeed) + Σ_{v ∈ U2, v ≠ u} ±PRG(s_uv) mod 2³², with + when
   * this id is the smaller of the pair: every pairwise mask cancels in the sum.
   *
   * @param input the fixed-point input ({@link quantize}), `config.length` words.
   * @throws SecAggError `too-few` when fewer than t clients remain; `bad-message`
   *   for shares that do not open or an input of the wrong length.
   */
  maskInput(inbox: readonly EncryptedShare[], input: Uint32Array): Promise<MaskedInput> {
    return this.#step('shared', 'masked', async () => {
      const { session, threshold, length } = this.config;
      if (input.length !== length) {
        throw new SecAggError(
          `input has ${input.length} values, expected ${length}`,
          'bad-message',
        );
      }
      const maskPair = this.#maskPair as KeyPair;
      const held = new Map(this.#held);
      const seen = new Set<number>();
      for (const s of inbox) {
        const peer = this.#roster.get(s.from);
        if (peer === undefined || s.from === this.id || s.to !== this.id) {
          throw new SecAggError(
            `share from ${s.from} to ${s.to} is not for client ${this.id}`,
            'unknown-client',
          );
        }
        if (seen.has(s.from)) throw new SecAggError(`two shares from ${s.from}`, 'duplicate');
        seen.add(s.from);
      }
      // Every share is tried (all at once), so that all senders whose shares do not open are named.
      const opened = startAll(inbox, async (s) => {
        try {
          const peer = this.#roster.get(s.from) as Peer;
          const key = await this.#channelWith(this.#channels, peer, s.from);
          const plain = await openShare(key, session, s.from, this.id, s.iv, s.ciphertext);
          const decoded = decodeSharePlaintext(plain);
          if (decoded.from !== s.from || decoded.to !== this.id) {
            throw new SecAggError(
              `share from ${s.from} is labelled ${decoded.from} → ${decoded.to}`,
              'bad-message',
            );
          }
          return { selfSeed: decoded.selfSeed, maskKey: decoded.maskKey };
        } catch (error) {
          if (!(error instanceof SecAggError)) throw error;
          return undefined;
        }
      });
      const culprits: number[] = [];
      for (let k = 0; k < inbox.length; k++) {
        const from = (inbox[k] as EncryptedShare).from;
        const share = await (opened[k] as Promise<
          { selfSeed: bigint; maskKey: bigint } | undefined
        >);
        if (share === undefined) culprits.push(from);
        else held.set(from, share);
      }
      if (culprits.length > 0) {
        throw new SecAggError(
          `shares from client${culprits.length > 1 ? 's' : ''} ${culprits.join(', ')} to ${this.id} do not authenticate`,
          'bad-message',
          culprits,
        );
      }
      if (held.size < threshold) {
        throw new SecAggError(`${held.size} clients remain, threshold is ${threshold}`, 'too-few');
      }
      const masked = Uint32Array.from(input);
      // y = x + PRG(b_u) ± PRG(s_uv) for every other holder v: all pairwise ECDH
      // derivations start at once, and masks are expanded ahead of the additions.
      const others = [...held.keys()].filter((v) => v !== this.id);
      const seeds = startAll(others, (v) =>
        deriveSharedBytes(
          maskPair.privateKey,
          (this.#roster.get(v) as Peer).mask,
          session,
          'mask',
          this.id,
          v,
        ),
      );
      await addMasks(masked, [
        { seed: this.#selfSeed, sign: 1 },
        ...others.map((v, k) => ({
          seed: seeds[k] as Promise<Uint8Array>,
          sign: this.id < v ? (1 as const) : (-1 as const),
        })),
      ]);
      this.#held = held;
      this.#sharers = [...held.keys()].sort((a, b) => a - b);
      return { id: this.id, masked };
    });
  }

  /**
   * Step 3: given the ids whose masked input the server received (U3), reveals
   * this client's share of each survivor's self-mask seed and of each dropped
   * client's mask key. Refuses a survivor list that is not a subset of U2 with
   * this client in it and at least t members; callable once.
   */
  unmask(survivors: readonly number[]): Promise<UnmaskShares> {
    return this.#step('masked', 'done', async () => {
      const alive = new Set(survivors);
      if (alive.size !== survivors.length)
        throw new SecAggError('survivor list repeats an id', 'duplicate');
      for (const s of survivors) {
        if (!this.#held.has(s))
          throw new SecAggError(`survivor ${s} never shared keys`, 'unknown-client');
      }
      if (!alive.has(this.id))
        throw new SecAggError(`client ${this.id} is not among the survivors`, 'bad-message');
      if (alive.size < this.config.threshold) {
        throw new SecAggError(
          `${alive.size} survivors, threshold is ${this.config.threshold}`,
          'too-few',
        );
      }
      const selfMaskShares: RevealedShare[] = [];
      const maskKeyShares: RevealedShare[] = [];
      for (const owner of this.#sharers) {
        const h = this.#held.get(owner) as { selfSeed: bigint; maskKey: bigint };
        if (alive.has(owner))
          selfMaskShares.push({ owner, share: bigIntToBytes(h.selfSeed, FIELD_BYTES) });
        else maskKeyShares.push({ owner, share: bigIntToBytes(h.maskKey, FIELD_BYTES) });
      }
      return { id: this.id, selfMaskShares, maskKeyShares };
    });
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
