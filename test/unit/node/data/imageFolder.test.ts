/**
 * Image-folder data sources on PNG and JPEG files the test writes itself:
 * `<dir>/<split>/<class>/*.png|jpg`, class names sorted into labels (the
 * union over a folder's splits), unlabelled proxy folders, greyscale or RGB,
 * pixels / 255 like IDX; errors naming the file; `fedistill partition`
 * writing client folders from such a source.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  loadProxySource,
  parseClassNames,
  pickDataFlags,
  sourceOptions,
} from '../../../../cli/dataFlags.js';
import { loadTrainAndValidation } from '../../../../cli/joinCommand.js';
import { partitionToFolders } from '../../../../cli/partitionCommand.js';
import { loadImageSplit } from '../../../../node/data/imageFolder.js';
import { listFolderSplits, loadDataSource } from '../../../../node/data/source.js';
import { DatasetError } from '../../../../shared/errors.js';
import { grey, writeJpeg, writePng } from '../../../support/imageFiles.js';

function withTempDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-images-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Grey level of pixel (r, c) of image `n` of class `label`: distinct everywhere, exact in PNG. */
const level = (label: number, n: number, r: number, c: number) => 60 * label + 20 * n + 4 * r + c;

/** `<dir>/train/{cat,dog,fish}/` with two 4×3 grey PNGs each; `<dir>/test/{cat,fish}/` one each. */
function writeSplits(dir: string): void {
  ['cat', 'dog', 'fish'].forEach((name, label) => {
    for (let n = 0; n < 2; n++)
      writePng(
        join(dir, 'train', name, `img${n}.png`),
        4,
        3,
        (r, c) => grey(level(label, n, r, c)),
        true,
      );
  });
  writePng(join(dir, 'test', 'cat', 'a.png'), 4, 3, () => grey(7), true);
  writePng(join(dir, 'test', 'fish', 'b.png'), 4, 3, () => grey(9), true);
}

test('class folders: sorted names are labels, pixels / 255 as [height, width, 1], the mapping recorded', () => {
  withTempDir((dir) => {
    writeSplits(dir);
    const train = loadDataSource(`${dir}:train`);
    assert.equal(train.count, 6);
    assert.deepEqual(train.inputShape, [3, 4, 1]);
    assert.deepEqual(train.classNames, ['cat', 'dog', 'fish']);
    assert.equal(train.numClasses, 3);
    assert.deepEqual([...train.y!], [0, 0, 1, 1, 2, 2]);
    const expected = new Float32Array(6 * 12);
    for (let label = 0; label < 3; label++)
      for (let n = 0; n < 2; n++)
        for (let r = 0; r < 3; r++)
          for (let c = 0; c < 4; c++)
            expected[(label * 2 + n) * 12 + r * 4 + c] = level(label, n, r, c) / 255;
    assert.deepEqual(train.x, expected);
    assert.match(train.origin, /6 images 3×4×1, 3 classes: 0 cat, 1 dog, 2 fish/);
    // The test split lacks dog: fish keeps label 2, from the union of the splits' classes.
    const testSplit = loadDataSource(`${dir}:test`);
    assert.deepEqual([...testSplit.y!], [0, 2]);
    assert.deepEqual(testSplit.classNames, ['cat', 'dog', 'fish']);
    assert.deepEqual([...testSplit.x.subarray(0, 2)], [7 / 255, 7 / 255].map(Math.fround));
    // Nothing is picked silently from a folder of two splits.
    assert.throws(
      () => loadDataSource(dir),
      /holds 2 splits: test \(test\/\), train \(train\/\); choose one: .*:test or .*:train$/,
    );
    // The split folder named directly is a source of its own classes.
    const direct = loadDataSource(join(dir, 'train'));
    assert.deepEqual(direct.classNames, ['cat', 'dog', 'fish']);
    assert.deepEqual(direct.x, train.x);
    assert.deepEqual(
      listFolderSplits(dir).map((s) => `${s.name} ${s.kind}`),
      ['test images', 'train images'],
    );
  });
});

test('an unlabelled proxy folder beside the splits: accepted where labels are optional', () => {
  withTempDir((dir) => {
    writeSplits(dir);
    for (let n = 0; n < 3; n++)
      writePng(join(dir, 'proxy', `p${n}.png`), 4, 3, () => grey(100 + n), true);
    writeFileSync(join(dir, 'proxy', 'README.txt'), 'not an image, ignored');
    const proxy = loadDataSource(`${dir}:proxy`, { labels: 'optional' });
    assert.equal(proxy.count, 3);
    assert.equal(proxy.y, undefined);
    assert.equal(proxy.numClasses, 0);
    assert.deepEqual(proxy.inputShape, [3, 4, 1]);
    assert.equal(proxy.x[12], Math.fround(101 / 255));
    assert.match(proxy.origin, /3 unlabelled images 3×4×1/);
    // serve --proxy-data takes it as it is.
    const served = loadProxySource(`${dir}:proxy`, {}, 12);
    assert.equal(served.y, undefined);
    assert.deepEqual(served.x, proxy.x);
    assert.throws(
      () => loadDataSource(`${dir}:proxy`),
      /proxy holds images but no class folders \(<class>\/\*\.png\); labelled data is needed here/,
    );
  });
});

test('RGB images load as 3 channels; channels can be forced either way', () => {
  withTempDir((dir) => {
    const rgb = (r: number, c: number) => [10 + r, 100 + c, 200] as const;
    writePng(join(dir, 'red', 'x.png'), 2, 2, rgb);
    writePng(join(dir, 'zebra', 'y.png'), 2, 2, () => grey(51), true);
    const auto = loadDataSource(dir);
    assert.deepEqual(auto.inputShape, [2, 2, 3]);
    assert.deepEqual(
      [...auto.x.subarray(0, 6)],
      [10, 100, 200, 10, 101, 200].map((v) => Math.fround(v / 255)),
    );
    // A grey image among colour ones is repeated over the three channels.
    assert.deepEqual([...auto.x.subarray(12, 15)], [0.2, 0.2, 0.2].map(Math.fround));
    const luma = loadDataSource(dir, { imageChannels: 1 });
    assert.deepEqual(luma.inputShape, [2, 2, 1]);
    assert.equal(luma.x[0], Math.fround((0.299 * 10 + 0.587 * 100 + 0.114 * 200) / 255));
    assert.equal(luma.x[4], Math.fround(51 / 255));
    // Only grey images: auto reads one channel, 3 repeats it.
    rmSync(join(dir, 'red'), { recursive: true });
    writePng(join(dir, 'red', 'x.png'), 2, 2, () => grey(0), true);
    assert.deepEqual(loadDataSource(dir).inputShape, [2, 2, 1]);
    assert.deepEqual(loadDataSource(dir, { imageChannels: 3 }).inputShape, [2, 2, 3]);
  });
});

test('JPEG files decode beside PNGs, close to the pixels they were written from', () => {
  withTempDir((dir) => {
    writeJpeg(join(dir, 'a', 'flat.jpg'), 8, 8, () => grey(128), 100);
    writeJpeg(join(dir, 'b', 'colour.jpeg'), 8, 8, () => [200, 40, 90], 100);
    writePng(join(dir, 'b', 'zz.png'), 8, 8, () => [200, 40, 90]);
    const data = loadDataSource(dir);
    assert.deepEqual(data.inputShape, [8, 8, 3]);
    assert.deepEqual([...data.y!], [0, 1, 1]);
    const near = (values: Float32Array, want: readonly number[]) => {
      for (let i = 0; i < values.length; i++) {
        const gap = Math.abs(values[i]! * 255 - want[i % 3]!);
        assert.ok(gap <= 3, `value ${values[i]! * 255} vs ${want[i % 3]}`);
      }
    };
    near(data.x.subarray(0, 192), [128, 128, 128]);
    near(data.x.subarray(192, 384), [200, 40, 90]);
    // JPEGs of grey pixels decode grey: one channel.
    rmSync(join(dir, 'b'), { recursive: true });
    writeJpeg(join(dir, 'b', 'ramp.jpg'), 8, 8, (r, c) => grey(10 * r + c), 50);
    assert.deepEqual(loadDataSource(dir).inputShape, [8, 8, 1]);
  });
});

test('bad image data gets a DatasetError naming the file: mixed sizes, undecodable files, no data', () => {
  withTempDir((dir) => {
    const sizes = join(dir, 'sizes');
    writePng(join(sizes, 'a', '1.png'), 4, 3, () => grey(1), true);
    writePng(join(sizes, 'b', '2.png'), 5, 3, () => grey(1), true);
    assert.throws(
      () => loadDataSource(sizes),
      (error: Error) =>
        error instanceof DatasetError &&
        error.message.includes(
          `${join(sizes, 'b', '2.png')} is 5×3 pixels, but ${join(sizes, 'a', '1.png')} is 4×3 (width×height)`,
        ),
    );

    const text = join(dir, 'text');
    mkdirSync(join(text, 'a'), { recursive: true });
    writeFileSync(join(text, 'a', 'photo.png'), 'hello, not a picture');
    assert.throws(
      () => loadDataSource(text),
      new RegExp(`${join(text, 'a', 'photo.png')} is not a decodable image: neither PNG nor JPEG`),
    );

    const truncated = join(dir, 'truncated');
    writePng(join(truncated, 'a', 'ok.png'), 4, 3, () => grey(1), true);
    const whole = readFileSync(join(truncated, 'a', 'ok.png'));
    writeFileSync(join(truncated, 'a', 'cut.png'), whole.subarray(0, 30));
    assert.throws(
      () => loadDataSource(truncated),
      new RegExp(
        `${join(truncated, 'a', 'cut.png')} is not a decodable image: PNG decoding failed`,
      ),
    );

    const empty = join(dir, 'empty');
    mkdirSync(join(empty, 'notes'), { recursive: true });
    writeFileSync(join(empty, 'notes', 'a.txt'), 'x');
    assert.throws(
      () => loadDataSource(empty),
      /has no recognised data: .*PNG\/JPEG images in class folders .*found notes/,
    );

    const mixed = join(dir, 'mixed');
    writePng(join(mixed, 'cat', '1.png'), 4, 3, () => grey(1), true);
    writePng(join(mixed, 'stray.png'), 4, 3, () => grey(1), true);
    assert.throws(
      () => loadDataSource(mixed),
      /holds images \(stray\.png, …\) beside class folders \(cat\)/,
    );
  });
});

test('fedistill partition deals an image folder out to IDX client folders and records the class names', () => {
  withTempDir((dir) => {
    writeSplits(dir);
    const out = join(dir, 'clients');
    const result = partitionToFolders({
      data: `${dir}:train`,
      out,
      clients: 2,
      scheme: { kind: 'iid' },
      seed: 3,
      log: () => undefined,
    });
    assert.deepEqual(result.sizes, [3, 3]);
    const record = JSON.parse(readFileSync(join(out, 'partition.json'), 'utf8')) as {
      classNames: string[];
      inputShape: number[];
    };
    assert.deepEqual(record.classNames, ['cat', 'dog', 'fish']);
    assert.deepEqual(record.inputShape, [3, 4, 1]);
    // The client folders hold the same pixels, exactly (uint8 IDX), and their labels.
    const source = loadDataSource(`${dir}:train`);
    const rows = new Map<string, number>();
    for (let i = 0; i < source.count; i++)
      rows.set(source.x.subarray(i * 12, (i + 1) * 12).join(','), source.y![i]!);
    let seen = 0;
    for (const folder of result.folders) {
      const client = loadDataSource(folder);
      assert.deepEqual(client.inputShape, [3, 4, 1]);
      for (let i = 0; i < client.count; i++) {
        const key = client.x.subarray(i * 12, (i + 1) * 12).join(',');
        assert.equal(rows.get(key), client.y![i], 'each row keeps its label');
        seen += 1;
      }
    }
    assert.equal(seen, 6);
  });
});

test("the run's class names (--classes) give the labels: a folder lacking a class keeps the others'; an unknown class is refused", () => {
  withTempDir((dir) => {
    // A non-IID client's folder: no dog.
    writePng(join(dir, 'mine', 'cat', 'a.png'), 2, 2, () => grey(10), true);
    writePng(join(dir, 'mine', 'fish', 'b.png'), 2, 2, () => grey(20), true);
    const own = loadDataSource(join(dir, 'mine'));
    assert.deepEqual([...own.y!], [0, 1], "the folder's own sorted names: fish shifts to 1");
    const run = loadDataSource(join(dir, 'mine'), { classes: ['cat', 'dog', 'fish'] });
    assert.deepEqual([...run.y!], [0, 2], "the run's names: fish keeps 2");
    assert.deepEqual(run.classNames, ['cat', 'dog', 'fish']);
    assert.equal(run.numClasses, 3);
    assert.match(run.origin, /3 classes: 0 cat, 1 dog, 2 fish/);
    // Through the CLI flag's parser and loader options.
    const flags = pickDataFlags({ classes: parseClassNames('cat, dog,fish') });
    assert.deepEqual([...loadDataSource(join(dir, 'mine'), sourceOptions(flags)).y!], [0, 2]);
    assert.throws(
      () => loadDataSource(join(dir, 'mine'), { classes: ['cat', 'dog'] }),
      (error: unknown) =>
        error instanceof DatasetError &&
        /mine has class folder 'fish' that the run's classes \(cat, dog\) do not name/.test(
          error.message,
        ),
    );
    assert.throws(
      () => loadDataSource(join(dir, 'mine'), { classes: ['cat', 'cat', 'fish'] }),
      /name 'cat' twice/,
    );
    assert.throws(() => parseClassNames('cat,,dog'), /not a list of class names/);
    // Labels of IDX and CSV data are numbers: the names do not apply there.
    writeFileSync(join(dir, 'rows.csv'), '0,1,2\n1,3,4\n');
    assert.throws(
      () => loadDataSource(dir, { classes: ['a'], split: 'rows' }),
      /apply to image class folders only; CSV labels are numbers already/,
    );
    // fedistill join tells the mapping it trains with, and where it came from.
    assert.match(
      loadTrainAndValidation({ data: join(dir, 'mine'), dataFlags: flags }).description,
      /labels by class folder \(--classes\): 0 cat, 1 dog, 2 fish$/,
    );
    assert.match(
      loadTrainAndValidation({ data: join(dir, 'mine') }).description,
      /labels by class folder \(this folder's own sorted names, unless the coordinator names the run's\): 0 cat, 1 fish$/,
    );
  });
});

test('links that cannot be followed: an IDX or CSV folder ignores them; in an image folder they are a DatasetError naming the path', () => {
  withTempDir((dir) => {
    // A CSV folder with a looping link and a subfolder that is no image split: it loads as before.
    writeFileSync(join(dir, 'rows.csv'), '0,1,2\n1,3,4\n');
    symlinkSync('loop', join(dir, 'loop'));
    mkdirSync(join(dir, 'notes', 'old'), { recursive: true });
    symlinkSync('self', join(dir, 'notes', 'old', 'self'));
    assert.equal(loadDataSource(dir).count, 2);
    assert.deepEqual(
      listFolderSplits(dir).map((s) => `${s.name} ${s.kind}`),
      ['rows csv'],
    );
  });
  withTempDir((dir) => {
    writePng(join(dir, 'cat', 'a.png'), 2, 2, () => grey(10), true);
    symlinkSync('b.png', join(dir, 'cat', 'b.png'));
    assert.throws(
      () => loadDataSource(dir),
      (error: unknown) =>
        error instanceof DatasetError &&
        error.message.includes(`cannot read ${join(dir, 'cat', 'b.png')}`) &&
        /ELOOP/.test(error.message),
    );
  });
  withTempDir((dir) => {
    // Folders that changed between listing and loading: a class folder the split does not name.
    writePng(join(dir, 'cat', 'a.png'), 2, 2, () => grey(10), true);
    writePng(join(dir, 'dog', 'b.png'), 2, 2, () => grey(20), true);
    assert.throws(
      () => loadImageSplit(dir, { name: 'x', folder: '', classes: ['cat'] }),
      (error: unknown) =>
        error instanceof DatasetError &&
        error.message.startsWith(`${join(dir, 'dog')} is a class folder the split's classes (cat)`),
    );
  });
});
