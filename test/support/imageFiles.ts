/**
 * Small PNG and JPEG files written with the same libraries the image-folder
 * loader decodes them with (pngjs, jpeg-js), for tests of image data sources.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { encode as encodeJpeg } from 'jpeg-js';
import { PNG } from 'pngjs';

/** An RGB value 0..255 for pixel (row, col). */
export type PixelFn = (row: number, col: number) => readonly [number, number, number];

function rgbaOf(width: number, height: number, pixel: PixelFn): Buffer {
  const data = Buffer.alloc(width * height * 4);
  for (let r = 0; r < height; r++)
    for (let c = 0; c < width; c++) {
      const [red, green, blue] = pixel(r, c);
      const i = (r * width + c) * 4;
      data[i] = red;
      data[i + 1] = green;
      data[i + 2] = blue;
      data[i + 3] = 255;
    }
  return data;
}

/** Writes a PNG: greyscale (colour type 0) when `grey`, else RGB (colour type 2). */
export function writePng(
  path: string,
  width: number,
  height: number,
  pixel: PixelFn,
  grey = false,
): void {
  const png = new PNG({ width, height });
  png.data = rgbaOf(width, height, pixel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, PNG.sync.write(png, { colorType: grey ? 0 : 2 }));
}

/** Writes a baseline JPEG at `quality` (1..100). */
export function writeJpeg(
  path: string,
  width: number,
  height: number,
  pixel: PixelFn,
  quality = 95,
): void {
  const { data } = encodeJpeg({ width, height, data: rgbaOf(width, height, pixel) }, quality);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
}

/** A grey level for every channel. */
export function grey(value: number): readonly [number, number, number] {
  return [value, value, value];
}
