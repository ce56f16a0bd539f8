/** `serve`'s fedbuff flags: the weighting's short form, laid over the config file's fields. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fedBuffFromFlags, parseStalenessFlag } from '../../../cli/fedBuffFlags.js';
import { buildProgram } from '../../../cli/program.js';
import { parseCoordinatorConfig } from '../../../server/config.js';

test('--staleness: polynomial[:a], hinge[:a,b], constant; anything else is refused', () => {
  assert.deepEqual(parseStalenessFlag('polynomial'), { kind: 'polynomial' });
  assert.deepEqual(parseStalenessFlag('polynomial:1'), { kind: 'polynomial', exponent: 1 });
  assert.deepEqual(parseStalenessFlag('hinge:5,2'), { kind: 'hinge', slope: 5, after: 2 });
  assert.deepEqual(parseStalenessFlag('constant'), { kind: 'constant' });
  for (const bad of ['linear', 'hinge:5', 'polynomial:x', 'constant:1', 'polynomial:1:2'])
    assert.throws(() => parseStalenessFlag(bad), /expected polynomial/);
});

test('the flags override the file field by field and the schema checks the result', () => {
  const merged = fedBuffFromFlags(
    { bufferSize: 4, maxStaleness: 6 },
    { maxStaleness: 2, serverLr: 0.5, staleness: parseStalenessFlag('hinge:10,1') },
  );
  assert.deepEqual(parseCoordinatorConfig({ strategy: 'fedbuff', fedbuff: merged }).fedbuff, {
    bufferSize: 4,
    maxStaleness: 2,
    serverLearningRate: 0.5,
    staleness: { kind: 'hinge', slope: 10, after: 1 },
  });
  assert.equal(fedBuffFromFlags(undefined, {}), undefined);
  assert.throws(
    () => parseCoordinatorConfig({ fedbuff: fedBuffFromFlags({}, { bufferSize: 0 }) }),
    /fedbuff/,
  );
  const serve = buildProgram().commands.find((c) => c.name() === 'serve')!;
  for (const flag of ['--buffer-size', '--max-staleness', '--staleness', '--server-lr'])
    assert.match(serve.helpInformation(), new RegExp(flag));
});
