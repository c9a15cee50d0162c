/**
 * `npm install git+file://<clone>`: npm clones the repository, runs its install and prepare
 * scripts (addon and dist/), packs it and installs that into the app. A clone has no
 * prebuilds, so the addon is built from source there (cmake, g++ and libtorch needed).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..', '..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'animatorch-git-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 900_000, env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

describe('npm install git+file://<clone> in a scratch app', () => {
  it('builds from source and gives a working CLI and import', () => {
    // Clone what is committed, as a user's git URL would give it.
    const clone = path.join(tmp, 'clone');
    run('git', ['clone', '--quiet', '--depth', '1', `file://${root}`, clone], tmp);
    const app = path.join(tmp, 'app');
    mkdirSync(app);
    writeFileSync(path.join(app, 'package.json'), '{"name":"git-app","version":"1.0.0","private":true}');
    const t = process.hrtime.bigint();
    run('npm', ['install', `git+file://${clone}`], app);
    console.log(`npm install git+file://: ${(Number(process.hrtime.bigint() - t) / 1e9).toFixed(1)} s`);
    const installed = path.join(app, 'node_modules', 'animatorch');
    expect(existsSync(path.join(installed, 'dist', 'index.js'))).toBe(true);
    expect(existsSync(path.join(installed, 'build', 'Release', 'animatorch.node'))).toBe(true);
    const out = run(process.execPath, ['-e', "const a = require('animatorch'); a.tensor(new Float32Array([2, 3]), [2]).mul(2).toArray().then((v) => console.log(a.addonInfo().kind, Array.from(v).join(',')));"], app);
    expect(out.trim()).toBe('local build 4,6');
    expect(run('npx', ['animatorch', '--help'], app)).toMatch(/render/);
  }, 1_200_000);
});
