#!/usr/bin/env node
// The convscope command. It runs the TypeScript sources directly through tsx's loader
// (no build step), in a child process whose stderr passes through a filter: Dawn
// prints two adapter notices from native code at start-up ("Warning:
// max...BuffersPerPipelineLayout artificially reduced ...") that users read as
// errors and JavaScript cannot silence. Only those exact lines are dropped; every
// other byte, real WebGPU errors included, goes through as it comes.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const NOTICE = /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.\r?$/;
const PREFIX = 'Warning: maxDynamic';

if (process.env.CONVSCOPE_CHILD === '1') {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('../src/cli/main.ts');
  const code = await main(process.argv.slice(2));
  // Dawn keeps the event loop alive; leave once output is flushed.
  process.stdout.write('', () => process.exit(code));
} else {
  const env = { ...process.env, CONVSCOPE_CHILD: '1' };
  if (process.stderr.isTTY) env.CONVSCOPE_STDERR_TTY = '1';
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: ['inherit', 'inherit', 'pipe'], env });
  let pending = '';
  const flush = (text) => {
    if (text) process.stderr.write(text);
  };
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    const parts = (pending + chunk).split('\n');
    pending = parts.pop() ?? '';
    flush(parts.filter((l) => !NOTICE.test(l)).map((l) => `${l}\n`).join(''));
    // hold back only what may still become one of the notices
    if (!(PREFIX.startsWith(pending) || pending.startsWith(PREFIX))) {
      flush(pending);
      pending = '';
    }
  });
  child.stderr.on('end', () => flush(NOTICE.test(pending) ? '' : pending));
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
  child.on('close', (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exitCode = code ?? 1;
  });
}
