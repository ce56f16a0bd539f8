/** Typed errors of shared/privacy. */

/** Parameters of a privacy mechanism or accountant outside their domain. */
export class PrivacyError extends Error {
  override readonly name = 'PrivacyError';
}
