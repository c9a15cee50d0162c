/** animatorch's own version, as package.json gives it. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from './native/binding';

let pkgVersion: string | undefined;

/** animatorch's version from package.json. */
export function animatorchVersion(): string {
  if (pkgVersion === undefined) {
    try {
      pkgVersion = String(JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')).version ?? 'unknown');
    } catch {
      pkgVersion = 'unknown';
    }
  }
  return pkgVersion;
}
