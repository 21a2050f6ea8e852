// Browser tests in Debian's Chromium (Playwright's own browser download cannot work on these machines).
// The app and the dev IdP are started by global-setup.js, not by Playwright's webServer,
// because one test restarts the app mid-run.
import { defineConfig } from '@playwright/test';
import { APP_URL } from './processes.js';

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1, // tests share one app, one IdP and one session store
  retries: 0,
  reporter: process.env.CI ? [['list']] : [['list']],
  globalSetup: './global-setup.js',
  globalTeardown: './global-teardown.js',
  use: {
    baseURL: APP_URL,
    trace: 'off',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    },
  },
  projects: [
    { name: 'hydrated', use: { javaScriptEnabled: true } },
    { name: 'no-js', use: { javaScriptEnabled: false } },
  ],
});
