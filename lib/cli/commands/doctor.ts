/** `animatorch doctor`: checks Node, the addon, libtorch, CUDA, Python+torch, ffmpeg and sharp. */
import type { Argv, CommandModule } from 'yargs';
import { type DoctorReport, formatDoctorReport, runDoctor } from '../../doctor';

export interface DoctorArgs {
  json?: boolean;
  /** Skip the Python/torch probe (it imports torch, which is slow). */
  skipPython?: boolean;
  /** Module the addon probe requires (default: the package's dist/index.js). */
  entry?: string;
}

export interface DoctorIO {
  stdout?: (text: string) => void;
}

/** Runs the checks and prints them; resolves to the report (report.ok false = something needs fixing). */
export async function doctor(args: DoctorArgs = {}, io: DoctorIO = {}): Promise<DoctorReport> {
  const print = io.stdout ?? ((t: string) => process.stdout.write(`${t}\n`));
  const report = await runDoctor({ skipPython: args.skipPython, ...(args.entry ? { entry: args.entry } : {}) });
  print(args.json ? JSON.stringify(report, null, 2) : formatDoctorReport(report));
  return report;
}

export const DoctorCommand: CommandModule<object, DoctorArgs> = {
  command: 'doctor',
  describe: 'Check the installation (addon, libtorch, CUDA, Python+torch, ffmpeg, sharp) and say how to fix problems',
  builder: (yargs: Argv<object>) =>
    yargs
      .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
      .option('skip-python', { type: 'boolean', default: false, describe: 'do not look for Python with torch' })
      .example('$0 doctor', 'versions, libtorch, CUDA, Python, ffmpeg, and how to fix what is missing') as unknown as Argv<DoctorArgs>,
  handler: async (args) => {
    const report = await doctor(args);
    if (!report.ok) process.exitCode = 1;
  },
};
