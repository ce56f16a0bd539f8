/**
 * No Docker engine runs here, so docker-compose.yml is checked by reading it:
 * the services exist, the image builds from a Dockerfile whose entry point is
 * the CLI, and every command and flag the services use is one the CLI knows.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { buildProgram } from '../../../cli/program.js';

interface ComposeService {
  build?: string;
  image?: string;
  profiles?: string[];
  command?: string[];
  depends_on?: Record<string, unknown>;
}

const compose = parse(readFileSync('docker-compose.yml', 'utf8')) as {
  services: Record<string, ComposeService>;
};

test('compose names a coordinator and a scalable client built from the Dockerfile, and Redis simulation and edge profiles', () => {
  assert.deepEqual(Object.keys(compose.services).sort(), [
    'client',
    'coordinator',
    'edge',
    'edge-client',
    'master',
    'redis',
    'simulate',
    'worker',
  ]);
  // Everything but Redis itself runs the project's image; the simulation parts only on request.
  for (const [name, service] of Object.entries(compose.services))
    if (name !== 'redis') assert.equal(service.build, '.', name);
  assert.match(compose.services.redis!.image ?? '', /^redis:/);
  assert.deepEqual(compose.services.redis!.profiles, ['simulate', 'edges']);
  for (const name of ['worker', 'simulate'])
    assert.deepEqual(compose.services[name]!.profiles, ['simulate'], name);
  for (const name of ['master', 'edge', 'edge-client'])
    assert.deepEqual(compose.services[name]!.profiles, ['edges'], name);
  assert.ok(existsSync('Dockerfile'));
  assert.match(readFileSync('Dockerfile', 'utf8'), /ENTRYPOINT \["node", "bin\/fedistill.js"\]/);
  assert.ok(existsSync('bin/fedistill.js'));
  assert.ok(compose.services.client!.depends_on?.coordinator, 'clients wait for the coordinator');
});

test('every command and flag in compose exists in the CLI', () => {
  const program = buildProgram();
  const expected = {
    coordinator: 'serve',
    client: 'join',
    worker: 'worker',
    simulate: 'simulate',
    master: 'serve',
    edge: 'edge',
    'edge-client': 'join',
  } as const;
  for (const [name, subcommand] of Object.entries(expected)) {
    const args = compose.services[name]!.command!;
    assert.equal(args[0], subcommand);
    const command = program.commands.find((c) => c.name() === subcommand);
    assert.ok(command, `fedistill ${subcommand} exists`);
    const known = new Set(command.options.map((o) => o.long));
    for (const arg of args.filter((a) => a.startsWith('--'))) {
      assert.ok(known.has(arg), `fedistill ${subcommand} knows ${arg}`);
    }
  }
  const clientArgs = compose.services.client!.command!;
  const server = clientArgs[clientArgs.indexOf('--server') + 1];
  assert.equal(
    server,
    'http://coordinator:8080',
    'clients reach the coordinator service by name on its port',
  );
  for (const name of ['worker', 'simulate', 'master', 'edge']) {
    const args = compose.services[name]!.command!;
    assert.equal(args[args.indexOf('--redis') + 1], 'redis://redis:6379', `${name} reaches Redis`);
  }
  const edgeClientArgs = compose.services['edge-client']!.command!;
  const edgeArgs = compose.services.edge!.command!;
  assert.equal(
    edgeClientArgs[edgeClientArgs.indexOf('--server') + 1],
    `http://edge:${edgeArgs[edgeArgs.indexOf('--port') + 1]}`,
    'edge clients reach the edge service on its port',
  );
});
