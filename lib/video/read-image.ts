/**
 * readImage(): an image file (PNG, JPEG, WebP, ... as sharp reads them) -> RGB uint8 [H, W, 3], the
 * conditioning image of image-to-video. Alpha is dropped (PIL's convert('RGB') on an opaque image);
 * with `size` different from the file's, the image is resized (Lanczos, as diffusers' PIL default).
 */
import { InvalidParameterError } from '../errors';
import { loadSharp } from './sharp';

export interface RgbImage {
  data: Uint8Array;
  shape: [number, number, 3];
}

/** Reads `file`; `size` is [height, width]. */
export async function readImage(file: string, options: { size?: [number, number]; name?: string } = {}): Promise<RgbImage> {
  const sharp = loadSharp('to read images');
  const name = options.name ?? 'image';
  try {
    let img = sharp(file).removeAlpha().toColourspace('srgb');
    if (options.size) img = img.resize(options.size[1], options.size[0], { fit: 'fill', kernel: 'lanczos3' });
    const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`${info.channels} channels after conversion to RGB`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), shape: [info.height, info.width, 3] };
  } catch (err) {
    throw new InvalidParameterError(name, 'an image file (PNG, JPEG, WebP...)', `${file} (${(err as Error).message})`);
  }
}
