/**
 * The per-client tokens file (`tokensFile`, `--tokens-file`): which client name each token
 * belongs to. server/auth.ts applies the rules; this module only reads the file.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** Client names in a tokens file: what the clients table records. */
const CLIENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$/;
const MIN_TOKEN_LENGTH = 8;
const MAX_TOKEN_LENGTH = 500;

export class TokensFileError extends Error {
  override readonly name = 'TokensFileError';
}

/** The two JSON shapes: `[{ "name": …, "token": … }, …]` or `{ "name": "token", … }`. */
const tokenList = z.array(z.object({ name: z.string(), token: z.string() }));
const tokenRecord = z.record(z.string(), z.string());

/** [name, token, where] from either JSON shape. */
function jsonEntries(text: string, source: string): [string, string, string][] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new TokensFileError(`${source}: invalid JSON: ${(error as Error).message}`);
  }
  if (Array.isArray(value)) {
    const list = tokenList.safeParse(value);
    if (!list.success)
      throw new TokensFileError(
        `${source}: entry ${String(list.error.issues[0]?.path[0])} needs string "name" and "token"`,
      );
    return list.data.map(({ name, token }, i) => [name, token, `entry ${i}`]);
  }
  const record = tokenRecord.safeParse(value);
  if (!record.success)
    throw new TokensFileError(
      record.error.issues[0]?.path.length
        ? `${source}: the token of "${String(record.error.issues[0].path[0])}" must be a string`
        : `${source}: expected a JSON object or array of client tokens`,
    );
  return Object.entries(record.data).map(([name, token]) => [name, token, `"${name}"`]);
}

/** [name, token, where] from `name:token` lines (the token is all after the first colon). */
function lineEntries(text: string, source: string): [string, string, string][] {
  const entries: [string, string, string][] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon < 0) throw new TokensFileError(`${source} line ${i + 1}: expected name:token`);
    entries.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim(), `line ${i + 1}`]);
  });
  return entries;
}

/**
 * Parses a tokens file: JSON (`{ "name": "token", … }` or
 * `[{ "name": …, "token": … }, …]`), or one `name:token` per line (blank
 * lines and lines starting with `#` are skipped; the token is everything after
 * the first colon, trimmed). Names are 1–100 of `A-Z a-z 0-9 . _ @ -`;
 * tokens 8–500 characters; names and tokens must each be unique.
 * @returns client name → token
 * @throws TokensFileError naming the line or entry
 */
export function parseTokensFile(text: string, source = 'tokens file'): Map<string, string> {
  const trimmed = text.trim();
  const entries =
    trimmed.startsWith('{') || trimmed.startsWith('[')
      ? jsonEntries(trimmed, source)
      : lineEntries(text, source);
  const byName = new Map<string, string>();
  const tokens = new Set<string>();
  for (const [name, token, where] of entries) {
    if (!CLIENT_NAME.test(name))
      throw new TokensFileError(
        `${source} ${where}: client name "${name}" must be 1–100 of A-Z a-z 0-9 . _ @ -`,
      );
    if (token.length < MIN_TOKEN_LENGTH || token.length > MAX_TOKEN_LENGTH)
      throw new TokensFileError(
        `${source} ${where}: the token of "${name}" must be ${MIN_TOKEN_LENGTH}–${MAX_TOKEN_LENGTH} characters`,
      );
    if (byName.has(name)) throw new TokensFileError(`${source} ${where}: "${name}" appears twice`);
    if (tokens.has(token))
      throw new TokensFileError(`${source} ${where}: two clients share the token of "${name}"`);
    byName.set(name, token);
    tokens.add(token);
  }
  if (byName.size === 0) throw new TokensFileError(`${source}: no client tokens`);
  return byName;
}

export function loadTokensFile(path: string): Map<string, string> {
  return parseTokensFile(readFileSync(path, 'utf8'), path);
}
