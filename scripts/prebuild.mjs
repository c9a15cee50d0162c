// `npm run prebuilds`: builds the addon with prebuildify (cmake-js in node-gyp's place), then
// tags the result with the libtorch it was built against, so the loader
// (lib/native/prebuilds.ts) can pick the prebuild that fits the libtorch on a user's machine:
//   prebuilds/linux-x64/animatorch.libtorch-1_13_0.cpu.napi.glibc.node  + .json sidecar
// Which libtorch is used is the build's choice (LIBTORCH, a Python torch, the system's); see
// CMakeLists.txt. Run it once per libtorch flavour to ship; each adds its own file.
import { execFileSync } from 'node:child_process';
import { readdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { cwd: root, encoding: 'utf8', ...opts });

// prebuildify names its output <name>.<tags>.node; a temporary name marks the fresh one.
const fresh = 'animatorch.prebuilding';
run(process.execPath, [path.join(root, 'node_modules', 'prebuildify', 'bin.js'), '--napi', '--strip', '--tag-libc', '--name', fresh, '--node-gyp', path.join(root, 'scripts', 'prebuild', 'cmake-js-rebuild.sh')], { stdio: 'inherit' });
const built = readdirSync(dir).find((f) => f.startsWith(`${fresh}.`) && f.endsWith('.node'));
if (!built) throw new Error(`prebuildify left no ${fresh}.*.node in ${dir}`);
const builtPath = path.join(dir, built);

// What it was built against: the addon's own report, and the ELF's dynamic section.
const versions = JSON.parse(run(process.execPath, ['-e', 'process.stdout.write(JSON.stringify(require(process.argv[1]).versions))', builtPath]));
const dynamic = run('readelf', ['-d', builtPath]);
const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]).filter((l) => /^lib(torch|c10)/.test(l));
const runpath = /\((?:RUNPATH|RPATH)\)\s+Library (?:runpath|rpath): \[([^\]]+)\]/.exec(dynamic)?.[1];
if (!runpath) throw new Error(`${builtPath} has no RUNPATH: the loader could not say which libtorch it needs`);
const { libtorchTags, libtorchVersionAt } = await import(path.join(root, 'dist', 'native', 'prebuilds.js')).then((m) => m.default ?? m);
const libDir = runpath.split(':')[0];
// '2.15.0+cu128' from a pip torch's version.py names the CUDA flavour; the headers' TORCH_VERSION does not.
const tags = libtorchTags(libtorchVersionAt(libDir) ?? versions.libtorch, versions.cudaBuild);
const meta = { libtorch: versions.libtorch, flavour: tags.flavour, cxx11Abi: versions.cxx11Abi, libDir, needed };
const name = built.replace(fresh, `animatorch.libtorch-${tags.version}.${tags.flavour}.napi`);
renameSync(builtPath, path.join(dir, name));
writeFileSync(path.join(dir, name.replace(/\.node$/, '.json')), `${JSON.stringify(meta, null, 2)}\n`);
console.log(`prebuilds/${process.platform}-${process.arch}/${name}: libtorch ${meta.libtorch} (${meta.flavour}) from ${meta.libDir}; links ${needed.join(', ')}`);
