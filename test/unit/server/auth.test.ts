import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { JoinAuthority, bearerToken, tokenEquals } from '../../../server/auth.js';
import { TokensFileError, parseTokensFile } from '../../../server/tokensFile.js';
import type { ArtifactStore } from '../../../server/artifacts.js';
import { createHttpHandler } from '../../../server/httpRoutes.js';

test('tokens files: JSON object, JSON array and name:token lines', () => {
  const expected = new Map([
    ['alice', 'alice-token-1'],
    ['bob.phone', 'b:o:b-token'],
  ]);
  assert.deepEqual(
    parseTokensFile('{ "alice": "alice-token-1", "bob.phone": "b:o:b-token" }'),
    expected,
  );
  assert.deepEqual(
    parseTokensFile(
      '[{"name":"alice","token":"alice-token-1"},{"name":"bob.phone","token":"b:o:b-token"}]',
    ),
    expected,
  );
  assert.deepEqual(
    parseTokensFile('# devices\n\nalice: alice-token-1\r\nbob.phone:b:o:b-token\n'),
    expected,
  );
});

test('tokens files: bad names, short or shared tokens and duplicates are refused with where', () => {
  const bad: [string, RegExp][] = [
    ['alice alice-token-1', /line 1: expected name:token/],
    ['al ice:alice-token-1', /line 1: client name "al ice"/],
    ['alice:short', /line 1: the token of "alice" must be 8–500 characters/],
    ['alice:same-token-1\nbob:same-token-1', /line 2: two clients share the token of "bob"/],
    ['alice:alice-token-1\nalice:alice-token-2', /line 2: "alice" appears twice/],
    ['{ "alice": 5 }', /the token of "alice" must be a string/],
    ['[{ "name": "alice" }]', /entry 0 needs string "name" and "token"/],
    ['{ nope', /invalid JSON/],
    ['# nothing\n', /no client tokens/],
  ];
  for (const [text, message] of bad)
    assert.throws(
      () => parseTokensFile(text),
      (e: unknown) => e instanceof TokensFileError && message.test(e.message),
      text,
    );
});

test('token helpers: constant-time equality and bearer parsing', () => {
  assert.ok(tokenEquals('abc', 'abc'));
  assert.ok(!tokenEquals('abc', 'abd'));
  assert.ok(!tokenEquals('abc', 'abcd'));
  assert.equal(bearerToken('Bearer s3cret'), 's3cret');
  assert.equal(bearerToken('Basic s3cret'), '');
  assert.equal(bearerToken(undefined), '');
});

test('JoinAuthority: who a token is, and the client-id binding rule', () => {
  const authority = new JoinAuthority({
    tokens: ['shared-token'],
    clientTokens: new Map([
      ['alice', 'alice-token-1'],
      ['bob', 'bob-token-22'],
    ]),
    known: [
      { id: 'id-carol', name: null },
      { id: 'id-bob', name: 'bob' },
    ],
  });
  assert.deepEqual(authority.authenticate('shared-token'), { principal: null });
  assert.deepEqual(authority.authenticate('alice-token-1'), { principal: 'alice' });
  assert.equal(authority.authenticate('nope'), undefined);
  assert.equal(authority.authenticate(undefined), undefined);
  assert.deepEqual(authority.joinTokens.sort(), ['alice-token-1', 'bob-token-22', 'shared-token']);

  const join = { platform: 'node', backend: 'cpu', numSamples: 3 };
  // alice has no id yet: her join goes on, under her name.
  assert.deepEqual(authority.checkJoin('alice', { ...join, name: 'mallory' }), {
    request: { ...join, name: 'alice' },
  });
  // ids owned by someone else are refused, whoever asks.
  assert.ok('refused' in authority.checkJoin('alice', { ...join, clientId: 'id-bob' }));
  assert.ok('refused' in authority.checkJoin('alice', { ...join, clientId: 'id-carol' }));
  assert.ok('refused' in authority.checkJoin(null, { ...join, clientId: 'id-bob' }));
  // a shared-token client keeps the old bearer-id behaviour for ids no name owns.
  assert.deepEqual(authority.checkJoin(null, { ...join, clientId: 'id-carol' }), {
    request: { ...join, clientId: 'id-carol' },
  });
  // bob's later joins continue as his bound id, with or without naming it.
  assert.deepEqual(authority.checkJoin('bob', join), {
    request: { ...join, name: 'bob', clientId: 'id-bob' },
  });
  assert.deepEqual(authority.checkJoin('bob', { ...join, clientId: 'id-bob' }), {
    request: { ...join, name: 'bob', clientId: 'id-bob' },
  });
  assert.ok('refused' in authority.checkJoin('bob', { ...join, clientId: 'some-other-id' }));
  // what the schema refuses anyway is handed on untouched.
  assert.deepEqual(authority.checkJoin('bob', 42), { request: 42 });
});

test('JoinAuthority.guard binds the id an acked join gets and refuses overlapping joins', () => {
  const authority = new JoinAuthority({
    tokens: [],
    clientTokens: new Map([['alice', 'alice-token-1']]),
  });
  const sockets: { disconnected: boolean; run: (packet: unknown[]) => boolean }[] = [];
  const socket = () => {
    let middleware: ((packet: unknown[], next: () => void) => void) | undefined;
    const state = {
      disconnected: false,
      run(packet: unknown[]) {
        let passed = false;
        middleware!(packet, () => (passed = true));
        return passed;
      },
    };
    authority.guard(
      {
        use: (fn) => void (middleware = fn),
        disconnect: () => void (state.disconnected = true),
      },
      'alice',
    );
    sockets.push(state);
    return state;
  };
  const first = socket();
  const answers: unknown[] = [];
  const packet: unknown[] = ['join', { platform: 'node' }, (r: unknown) => answers.push(r)];
  assert.ok(first.run(packet));
  // A second join of alice while the first is unanswered is refused.
  const second = socket();
  const refused: unknown[] = [];
  assert.ok(!second.run(['join', { platform: 'node' }, (r: unknown) => refused.push(r)]));
  assert.equal((refused[0] as { error: { code: string } }).error.code, 'unauthorized');
  assert.ok(second.disconnected);
  // The coordinator accepts the first: the id is bound, and the next join continues as it.
  (packet[2] as (r: unknown) => void)({ ok: true, clientId: 'id-a' });
  assert.deepEqual(answers, [{ ok: true, clientId: 'id-a' }]);
  const third = socket();
  const rejoin: unknown[] = ['join', { platform: 'node' }, () => undefined];
  assert.ok(third.run(rejoin));
  assert.deepEqual(rejoin[1], { platform: 'node', name: 'alice', clientId: 'id-a' });
  // Without an ack a per-client join is refused (its id could not be bound).
  const fourth = socket();
  assert.ok(!fourth.run(['join', { platform: 'node' }]));
  assert.ok(fourth.disconnected);
  // Other events pass untouched.
  assert.ok(socket().run(['update', {}]));
});

test('admin routes answer 404 when no admin token is configured', async () => {
  const server = createServer(
    createHttpHandler({
      artifacts: {} as ArtifactStore,
      tokens: [],
      status: { status: () => ({}), rounds: () => [], clients: () => [] },
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    for (const [method, path] of [
      ['POST', '/api/admin/stop'],
      ['GET', '/api/admin/export'],
    ] as const) {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: 'Bearer anything-at-all-0000' },
      });
      assert.equal(response.status, 404, path);
      assert.match(((await response.json()) as { error: string }).error, /admin endpoints are off/);
    }
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
