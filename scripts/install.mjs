// npm's install script. A package with a prebuild that fits this machine's libtorch needs no
// compiler; otherwise the addon is built from source with cmake-js (which finds libtorch:
// LIBTORCH, a Python torch, Debian's libtorch-dev, or lists these three ways).
// In a git clone dist/ does not exist yet (npm runs `prepare` after `install`) and there are
// no prebuilds, so this always builds there.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const prebuildsJs = path.join(root, 'dist', 'native', 'prebuilds.js');

/** Loads an addon in a child process, so a crash (libtorch mismatch) cannot take npm down. */
function loads(file) {
  const r = spawnSync(process.execPath, ['-e', 'require(process.argv[1])', file], { encoding: 'utf8' });
  return r.status === 0 ? '' : (r.stderr || `exit ${r.status ?? r.signal}`).trim().split('\n')[0];
}

if (existsSync(prebuildsJs) && !process.env.ANIMATORCH_BUILD_FROM_SOURCE) {
  const { chooseAddon } = createRequire(import.meta.url)(prebuildsJs);
  let choice;
  try {
    choice = chooseAddon(root);
  } catch (err) {
    console.log(`animatorch: ${err.message.split('\n').join('\n  ')}`);
  }
  if (choice) {
    const failure = loads(choice.path);
    if (!failure) {
      console.log(`animatorch: using the ${choice.kind} ${path.relative(root, choice.path)}: ${choice.reason}`);
      process.exit(0);
    }
    console.log(`animatorch: ${path.relative(root, choice.path)} does not load (${failure})`);
  }
}

const hasCmake = spawnSync('cmake', ['--version']).status === 0;
if (!hasCmake) {
  console.error(
    [
      'animatorch: no prebuilt addon fits this machine, and cmake is not installed to build one.',
      'Either install the libtorch a prebuild is made for (Debian/Ubuntu: apt-get install libtorch1.13),',
      'or install cmake, g++ and libtorch (LIBTORCH=/path/to/libtorch, pip install torch, or apt-get install libtorch-dev)',
      'and run: npm rebuild animatorch',
    ].join('\n'),
  );
  process.exit(1);
}
console.log('animatorch: building the addon from source (cmake-js)');
execFileSync(process.execPath, [createRequire(import.meta.url).resolve('cmake-js/bin/cmake-js'), 'compile'], { cwd: root, stdio: 'inherit' });
