#!/usr/bin/env node
// The hyperd binary.
import { daemonCommand } from './command.js';

daemonCommand('hyperd').parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`hyperd: ${err.message}\n`);
  process.exit(1);
});
