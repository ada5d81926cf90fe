#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx's loader (no build step).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
const code = await main(process.argv.slice(2));
// Dawn keeps the event loop alive; leave once output is flushed.
process.stdout.write('', () => process.exit(code));
