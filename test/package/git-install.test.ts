/**
 * `npm install git+file://<clone>`: npm clones the repository, runs its install and prepare
 * scripts (addon and dist/), packs it and installs that into the app. A clone has no
 * prebuilds, so the addon is built from source there (cmake, g++ and libtorch needed).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..', '..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'animatorch-git-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// Asynchronous, so vitest's worker keeps answering its runner through minutes of npm and cmake.
async function run(cmd: string, args: string[], cwd: string): Promise<string> {
  const env = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' };
  return (await promisify(execFile)(cmd, args, { cwd, encoding: 'utf8', timeout: 900_000, maxBuffer: 64 * 2 ** 20, env })).stdout;
}

describe('npm install git+file://<clone> in a scratch app', () => {
  it('builds from source and gives a working CLI and import', async () => {
    // Clone what is committed, as a user's git URL would give it.
    const clone = path.join(tmp, 'clone');
    await run('git', ['clone', '--quiet', '--depth', '1', `file://${root}`, clone], tmp);
    const app = path.join(tmp, 'app');
    mkdirSync(app);
    writeFileSync(path.join(app, 'package.json'), '{"name":"git-app","version":"1.0.0","private":true}');
    const t = process.hrtime.bigint();
    await run('npm', ['install', `git+file://${clone}`], app);
    console.log(`npm install git+file://: ${(Number(process.hrtime.bigint() - t) / 1e9).toFixed(1)} s`);
    const installed = path.join(app, 'node_modules', 'animatorch');
    expect(existsSync(path.join(installed, 'dist', 'index.js'))).toBe(true);
    expect(existsSync(path.join(installed, 'build', 'Release', 'animatorch.node'))).toBe(true);
    const out = await run(process.execPath, ['-e', "const a = require('animatorch'); a.tensor(new Float32Array([2, 3]), [2]).mul(2).toArray().then((v) => console.log(a.addonInfo().kind, Array.from(v).join(',')));"], app);
    expect(out.trim()).toBe('local build 4,6');
    expect(await run('npx', ['animatorch', '--help'], app)).toMatch(/render/);
  }, 1_200_000);
});
