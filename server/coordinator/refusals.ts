/** The shape of every refusal the coordinator acks, and how schema complaints read in one. */
import type { ErrorCode } from '../../shared/protocol/index.js';

/** A schema's complaints about a payload, one `path: message` each, for an error ack. */
export function describeIssues(error: {
  issues: readonly { path: PropertyKey[]; message: string }[];
}): string {
  return error.issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`).join('; ');
}

export function refusal(
  code: ErrorCode,
  message: string,
): { ok: false; error: { code: ErrorCode; message: string } } {
  return { ok: false, error: { code, message } };
}
