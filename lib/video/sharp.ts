/** sharp (libvips), loaded when first needed, so that a broken install fails with what to do, not at import. */
export type SharpModule = typeof import('sharp');

/** sharp, or an Error saying what it was `neededFor` and how to reinstall it. */
export function loadSharp(neededFor: string): SharpModule {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('sharp') as SharpModule;
  } catch (err) {
    throw new Error(`sharp could not be loaded (needed ${neededFor}): ${(err as Error).message.split('\n')[0]}\nReinstall it: npm install sharp`, { cause: err });
  }
}
