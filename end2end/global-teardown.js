import { stopAll } from './processes.js';

export default async function globalTeardown() {
  await stopAll();
}
