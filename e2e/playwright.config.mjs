// Playwright Test configuration for the Rookery web client's end-to-end tests.
// The server is started by ../.ci/browser, which passes its URL in E2E_BASE_URL.
// Chromium is Debian's (/usr/bin/chromium); no browser is ever downloaded.
import { defineConfig } from '@playwright/test';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const target = process.env.E2E_TARGET_DIR || path.join(here, '..', 'target');

export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export default defineConfig({
  testDir: './tests',
  testMatch: /.*\.spec\.mjs$/,
  timeout: 90_000,
  expect: { timeout: 10_000 },
  // Two cores: one worker drives Chromium while the other waits on the server.
  workers: Number(process.env.E2E_WORKERS || 2),
  fullyParallel: true,
  forbidOnly: !!process.env.CI,
  // In CI one retry; a test that passes only on it is reported as flaky.
  retries: process.env.CI ? 1 : 0,
  reporter: [['list'], ['./summary-reporter.mjs']],
  outputDir: path.join(target, 'e2e-results'),
  use: {
    baseURL: process.env.E2E_BASE_URL || 'http://127.0.0.1:8080',
    browserName: 'chromium',
    // Playwright makes a fresh user-data-dir for every launch.
    launchOptions: {
      executablePath: process.env.E2E_CHROMIUM || '/usr/bin/chromium',
      args: chromiumArgs,
    },
    screenshot: 'only-on-failure',
    trace: 'off',
    actionTimeout: 10_000,
    navigationTimeout: 15_000,
  },
  projects: [
    { name: 'js', use: { javaScriptEnabled: true } },
    // The main flows again, with JavaScript off: plain links and forms.
    { name: 'nojs', use: { javaScriptEnabled: false }, testMatch: /flows\.spec\.mjs$/ },
  ],
});
