// Copies the cmake-js output into prebuilds/<platform>-<arch>/ where
// node-gyp-build finds it (prebuildify cannot drive cmake-js itself).
// The .node links libtorch by RPATH: ship it with the same libtorch.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const built = path.join(root, 'build', 'Release', 'animatorch.node');
if (!existsSync(built)) {
  console.error(`No addon at ${built}: run \`npm run build:native\` first.`);
  process.exit(1);
}
const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
mkdirSync(dir, { recursive: true });
// node-gyp-build picks files named <name>.napi.node (N-API, any Node version).
const target = path.join(dir, 'animatorch.napi.node');
copyFileSync(built, target);
console.log(`copied ${path.relative(root, built)} -> ${path.relative(root, target)}`);
