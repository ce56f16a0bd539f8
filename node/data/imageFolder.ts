/**
 * Folders of PNG and JPEG images, laid out as torchvision's ImageFolder reads
 * them: `<split>/<class>/*.png|jpg`, the class folders' names sorted into
 * label indices 0, 1, …, or image files straight in a folder for unlabelled
 * data (a proxy set needs no labels). Images decode with pure-JS decoders
 * (pngjs, jpeg-js), load as `[height, width, channels]` rows divided by 255
 * like IDX pixels, greyscale or RGB as asked (by default greyscale when every
 * image is grey). Every error names the file or folder at fault.
 */
import type { Dirent } from 'node:fs';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { decode as decodeJpeg } from 'jpeg-js';
import { PNG } from 'pngjs';
import { DatasetError } from '../../shared/errors.js';

/** File names read as images (others beside them are ignored, as ImageFolder does). */
export const IMAGE_FILE = /\.(png|jpe?g)$/i;

/** Channels of loaded image rows: `auto` is 1 when every image of the folder is grey, else 3. */
export type ImageChannels = 'auto' | 1 | 3;

/** An image split of a data folder: a folder of class folders, or of images (unlabelled). */
export interface ImageSplit {
  readonly name: string;
  /** The split's folder, relative to the data folder ('' for the data folder itself). */
  readonly folder: string;
  /** Class names, sorted, index = label; absent for an unlabelled split. */
  readonly classes?: readonly string[];
}

export interface LoadedImages {
  readonly x: Float32Array;
  readonly count: number;
  readonly y?: Int32Array;
  /** `[height, width, channels]`. */
  readonly inputShape: readonly [number, number, number];
  readonly classNames?: readonly string[];
  /** What was read: the folder, its image count and size, and the class mapping. */
  readonly description: string;
}

/** A followed link's target; undefined for a dangling one, a DatasetError for a loop or no access. */
function statOf(path: string): ReturnType<typeof statSync> {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch (err) {
    throw new DatasetError(`cannot read ${path}: ${(err as Error).message}`);
  }
}

interface FolderEntries {
  images: string[];
  dirs: string[];
}

function entriesOf(dir: string): FolderEntries {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    throw new DatasetError(`cannot read data folder ${dir}: ${(err as Error).message}`);
  }
  const images: string[] = [];
  const dirs: string[] = [];
  for (const entry of entries) {
    const { name } = entry;
    // Hidden entries (.DS_Store, .git) are never data.
    if (name.startsWith('.')) continue;
    // The entry's own type saves a stat per image; a symbolic link is followed.
    const stat = entry.isSymbolicLink() ? statOf(join(dir, name)) : entry;
    if (stat?.isDirectory()) dirs.push(name);
    else if (stat?.isFile() && IMAGE_FILE.test(name)) images.push(name);
  }
  // Character-code order, as Python's sorted (and so ImageFolder) orders names (the two differ
  // only for characters past U+FFFF).
  return { images: images.sort(), dirs: dirs.sort() };
}

/** The class folders of a split folder: its subfolders that hold images. */
function classFoldersOf(dir: string): string[] {
  return entriesOf(dir).dirs.filter((d) => entriesOf(join(dir, d)).images.length > 0);
}

/**
 * The image splits a data folder holds: the folder itself when it holds class folders (or
 * images, unlabelled); else each subfolder that does. Class indices of a folder of several
 * splits come from the union of their class folders, so `train/` and `test/` agree on them
 * even when one lacks a class.
 */
export function listImageSplits(dir: string): ImageSplit[] {
  const top = entriesOf(dir);
  const found = new Map<string, string[]>();
  const classes = (folder: string): string[] => {
    let names = found.get(folder);
    if (!names) found.set(folder, (names = classFoldersOf(join(dir, folder))));
    return names;
  };
  const splitDirs = top.dirs.filter((d) => classes(d).length > 0);
  if (splitDirs.length > 0) {
    if (top.images.length > 0) {
      throw new DatasetError(
        `data folder ${dir} holds images (${top.images[0]}, …) beside split folders (${splitDirs.join(', ')}); move them into a split or class folder`,
      );
    }
    const union = [...new Set(splitDirs.flatMap(classes))].sort();
    return top.dirs.flatMap((d): ImageSplit[] => {
      const own = entriesOf(join(dir, d));
      if (splitDirs.includes(d)) {
        if (own.images.length > 0) {
          throw new DatasetError(
            `${join(dir, d)} holds images (${own.images[0]}, …) beside class folders (${classes(d).join(', ')}); put every image in a class folder, or unlabelled images in a split folder of their own`,
          );
        }
        return [{ name: d.toLowerCase(), folder: d, classes: union }];
      }
      // Images straight in a split folder: unlabelled (a proxy set).
      return own.images.length > 0 ? [{ name: d.toLowerCase(), folder: d }] : [];
    });
  }
  const classDirs = top.dirs.filter((d) => entriesOf(join(dir, d)).images.length > 0);
  if (classDirs.length > 0) {
    if (top.images.length > 0) {
      throw new DatasetError(
        `data folder ${dir} holds images (${top.images[0]}, …) beside class folders (${classDirs.join(', ')}); put every image in a class folder, or unlabelled images in a folder of their own`,
      );
    }
    return [{ name: basename(dir).toLowerCase() || 'images', folder: '', classes: classDirs }];
  }
  if (top.images.length > 0) return [{ name: basename(dir).toLowerCase() || 'images', folder: '' }];
  return [];
}

interface DecodedImage {
  width: number;
  height: number;
  /** Row-major RGBA, 8 bits a channel. */
  rgba: Uint8Array;
}

function hexStart(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** Decodes a PNG or JPEG file (told apart by its first bytes, not its name) to RGBA. */
export function decodeImageFile(path: string): DecodedImage {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new DatasetError(`cannot read ${path}: ${(err as Error).message}`);
  }
  const isPng = bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47;
  const isJpeg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (!isPng && !isJpeg) {
    throw new DatasetError(
      `${path} is not a decodable image: neither PNG nor JPEG (${bytes.length === 0 ? 'empty file' : `${bytes.length} bytes starting ${hexStart(bytes)}`})`,
    );
  }
  try {
    if (isPng) {
      // 16-bit PNGs are scaled to 8 bits, palettes and grey expanded to RGBA.
      const png = PNG.sync.read(bytes);
      return { width: png.width, height: png.height, rgba: png.data };
    }
    const jpeg = decodeJpeg(bytes, { useTArray: true, formatAsRGBA: true });
    return { width: jpeg.width, height: jpeg.height, rgba: jpeg.data };
  } catch (err) {
    throw new DatasetError(
      `${path} is not a decodable image: ${isPng ? 'PNG' : 'JPEG'} decoding failed (${(err as Error).message})`,
    );
  }
}

function isGrey(rgba: Uint8Array): boolean {
  for (let i = 0; i < rgba.length; i += 4)
    if (rgba[i] !== rgba[i + 1] || rgba[i] !== rgba[i + 2]) return false;
  return true;
}

function describeClasses(classes: readonly string[]): string {
  const shown = classes.slice(0, 20).map((name, i) => `${i} ${name}`);
  if (classes.length > 20) shown.push(`… ${classes.length - 20} more`);
  return shown.join(', ');
}

/**
 * Loads one image split: every image of its class folders (labelled, classes in
 * `split.classes` order) or of the folder itself (unlabelled), in sorted order.
 */
export function loadImageSplit(
  dir: string,
  split: ImageSplit,
  channels: ImageChannels = 'auto',
): LoadedImages {
  const root = join(dir, split.folder);
  const files: { path: string; label: number }[] = [];
  if (split.classes) {
    for (const name of classFoldersOf(root)) {
      const label = split.classes.indexOf(name);
      // The folders changed since they were listed, or the classes were given (--classes).
      if (label < 0)
        throw new DatasetError(
          `${join(root, name)} is a class folder the split's classes (${split.classes.join(', ')}) do not name`,
        );
      for (const image of entriesOf(join(root, name)).images)
        files.push({ path: join(root, name, image), label });
    }
  } else {
    for (const image of entriesOf(root).images) files.push({ path: join(root, image), label: -1 });
  }
  if (files.length === 0) {
    throw new DatasetError(`${root} holds no PNG or JPEG images (*.png, *.jpg, *.jpeg)`);
  }
  // RGB bytes of every image first: whether all are grey is known only at the end.
  let width = 0;
  let height = 0;
  let first = '';
  let grey = true;
  const pixels: Uint8Array[] = [];
  for (const { path } of files) {
    const image = decodeImageFile(path);
    if (pixels.length === 0) {
      ({ width, height } = image);
      first = path;
    } else if (image.width !== width || image.height !== height) {
      throw new DatasetError(
        `${path} is ${image.width}×${image.height} pixels, but ${first} is ${width}×${height} ` +
          '(width×height): the images of a data source must share one size (resize them first)',
      );
    }
    if (grey && channels === 'auto') grey = isGrey(image.rgba);
    pixels.push(image.rgba);
  }
  const c = channels === 'auto' ? (grey ? 1 : 3) : channels;
  const size = width * height;
  const x = new Float32Array(files.length * size * c);
  pixels.forEach((rgba, n) => {
    const base = n * size * c;
    for (let p = 0; p < size; p++) {
      const r = rgba[p * 4]!;
      const g = rgba[p * 4 + 1]!;
      const b = rgba[p * 4 + 2]!;
      if (c === 1) {
        // ITU-R BT.601 luma 0.299 R + 0.587 G + 0.114 B, kept fractional (PIL's convert('L')
        // uses these weights but rounds to an integer 0–255); exact for grey pixels.
        x[base + p] = (r === g && g === b ? r : 0.299 * r + 0.587 * g + 0.114 * b) / 255;
      } else {
        x[base + p * 3] = r / 255;
        x[base + p * 3 + 1] = g / 255;
        x[base + p * 3 + 2] = b / 255;
      }
    }
  });
  const shape = `${height}×${width}×${c}`;
  const description = split.classes
    ? `${root}: ${files.length} images ${shape}, ${split.classes.length} classes: ${describeClasses(split.classes)}`
    : `${root}: ${files.length} unlabelled images ${shape}`;
  return {
    x,
    count: files.length,
    ...(split.classes ? { y: Int32Array.from(files, (f) => f.label) } : {}),
    inputShape: [height, width, c],
    ...(split.classes ? { classNames: split.classes } : {}),
    description,
  };
}
