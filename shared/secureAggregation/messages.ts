/**
 * The messages of one secure aggregation (Bonawitz et al. 2017, §4, semi-honest
 * variant), in the order they flow. Client ids are positive integers unique in
 * the round; they double as the Shamir share points.
 *
 * 0. client → server {@link AdvertiseKeys}; server → every client: the roster (all of them).
 * 1. client → server {@link ShareKeys}; server → each client: the {@link EncryptedShare}s addressed to it.
 * 2. client → server {@link MaskedInput}; server → survivors: the ids whose input arrived.
 * 3. client → server {@link UnmaskShares}; the server outputs the sum.
 */

/** Step 0: a client's two ECDH P-256 public keys, raw (65 bytes each). */
export interface AdvertiseKeys {
  readonly id: number;
  /** Key agreement for the pairwise channel that carries shares. */
  readonly channelKey: Uint8Array;
  /** Key agreement for the pairwise mask seeds. */
  readonly maskKey: Uint8Array;
}

/** One Shamir share pair (of the sender's self-mask seed and mask private key), sealed for one recipient. */
export interface EncryptedShare {
  readonly from: number;
  readonly to: number;
  /** AES-GCM IV, 12 bytes. */
  readonly iv: Uint8Array;
  /** AES-GCM ciphertext with tag. */
  readonly ciphertext: Uint8Array;
}

/** Step 1: a client's shares, one for every other client of the roster. */
export interface ShareKeys {
  readonly id: number;
  readonly shares: readonly EncryptedShare[];
}

/** Step 2: the client's fixed-point input plus its masks, mod 2³². */
export interface MaskedInput {
  readonly id: number;
  readonly masked: Uint32Array;
}

/** A revealed share of `owner`'s secret, held by the sender. */
export interface RevealedShare {
  readonly owner: number;
  /** The share's value, 66 big-endian bytes (a GF(2⁵²¹ − 1) element). */
  readonly share: Uint8Array;
}

/**
 * Step 3: for every client whose masked input arrived, a share of its
 * self-mask seed; for every client that shared keys but sent no input, a share
 * of its mask private key. Never both for one client.
 */
export interface UnmaskShares {
  readonly id: number;
  readonly selfMaskShares: readonly RevealedShare[];
  readonly maskKeyShares: readonly RevealedShare[];
}

/** What every step needs to agree on. */
export interface SecAggConfig {
  /**
   * Names this aggregation (e.g. `${runId}/${round}`): salts every derived key
   * and authenticates every share, so nothing carries over between rounds.
   */
  session: string;
  /**
   * t: shares needed to reconstruct a secret, and the fewest clients that may
   * remain at each step. Should exceed half the clients (Bonawitz et al.).
   */
  threshold: number;
  /** Values in every input vector. */
  length: number;
}
