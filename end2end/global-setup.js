import fs from 'node:fs';
import path from 'node:path';
import { root, startApp, startIdp, stopAll } from './processes.js';

export default async function globalSetup() {
  await stopAll(); // leftovers of an interrupted run
  fs.rmSync(path.join(root, 'target', 'e2e', 'sessions.db'), { force: true });
  await startIdp();
  await startApp();
}
