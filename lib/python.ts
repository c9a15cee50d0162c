/**
 * Finds a Python that imports torch, for the export scripts. Tried in order:
 * ANIMATORCH_PYTHON, /usr/bin/python3 (Debian's python3-torch), python3, python.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TorchPython {
  executable: string;
  torchVersion: string;
}

let found: Promise<TorchPython> | undefined;

export function findTorchPython(): Promise<TorchPython> {
  found ??= search().catch((err) => {
    found = undefined; // a later call may succeed once torch is installed
    throw err;
  });
  return found;
}

async function search(): Promise<TorchPython> {
  const candidates = [process.env.ANIMATORCH_PYTHON, '/usr/bin/python3', 'python3', 'python'].filter((c): c is string => !!c);
  const tried: string[] = [];
  for (const executable of candidates) {
    try {
      const { stdout } = await run(executable, ['-c', 'import torch; print(torch.__version__)'], { timeout: 60_000 });
      return { executable, torchVersion: stdout.trim() };
    } catch (err) {
      tried.push(`${executable}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(
    [
      'No Python with torch was found (needed for exporting models). Tried:',
      ...tried.map((t) => `  ${t}`),
      'Install one: apt-get install python3-torch (Debian/Ubuntu), or pip install torch;',
      'or set ANIMATORCH_PYTHON=/path/to/python.',
    ].join('\n'),
  );
}
