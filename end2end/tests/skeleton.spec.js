import { test, expect } from '@playwright/test';
import { BUILD } from '../processes.js';

test('the start page is complete server-rendered HTML', async ({ page }) => {
  const res = await page.goto('/');
  expect(res.status()).toBe(200);
  await expect(page.locator('h1')).toHaveText('Sign in with Logto');
  await expect(page).toHaveTitle('Sign in with Logto');
  // The stylesheet is served, so the page is styled without any script.
  const href = await page.locator('link[rel=stylesheet]').getAttribute('href');
  const css = await page.request.get(href);
  expect(css.ok()).toBeTruthy();
  expect(css.headers()['content-type']).toContain('text/css');
});

test('scripts, WASM and styles: content-hashed names, cached for a year, compressed in the release build', async ({ page }) => {
  const res = await page.goto('/');
  expect(res.headers()['cache-control']).toBe('no-store'); // the page itself is per user
  const urls = [
    await page.locator('link[rel=stylesheet]').getAttribute('href'),
    await page.locator('link[rel=modulepreload]').getAttribute('href'),
    await page.locator('link[rel=preload][as=fetch]').getAttribute('href'),
  ];
  const types = ['text/css', 'text/javascript', 'application/wasm'];
  for (const [i, url] of urls.entries()) {
    // cargo-leptos hash-files: logto-leptos.<22-character hash>.<ext>
    expect(url).toMatch(/^\/pkg\/logto-leptos\.[A-Za-z0-9_-]{22}\.(css|js|wasm)$/);
    const asset = await page.request.get(url, { headers: { 'accept-encoding': 'br, gzip' } });
    expect(asset.status()).toBe(200);
    const h = asset.headers();
    expect(h['content-type']).toContain(types[i]);
    expect(h['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(h['vary']).toMatch(/accept-encoding/i);
    // The release build is precompressed (.br beside each file); the debug build is not.
    expect(h['content-encoding']).toBe(BUILD === 'release' ? 'br' : undefined);
    const gz = await page.request.get(url, { headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers()['content-encoding']).toBe(BUILD === 'release' ? 'gzip' : undefined);
    expect(await gz.body()).toEqual(await asset.body()); // the same file, decoded
  }
});

test('unknown paths get a 404 page', async ({ page }) => {
  const res = await page.goto('/no-such-page');
  expect(res.status()).toBe(404);
  await expect(page.locator('h1')).toHaveText('Page not found');
});

test('healthz answers ok', async ({ request }) => {
  const res = await request.get('/healthz');
  expect(res.status()).toBe(200);
  expect(await res.text()).toBe('ok');
});

test.describe('hydration', () => {
  test('the theme toggle works only once the WASM has hydrated the page', async ({ page }, info) => {
    test.skip(info.project.name !== 'hydrated', 'needs JavaScript');
    const cspViolations = [];
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
    await page.goto('/');
    const toggle = page.getByRole('button', { name: 'Dark theme' });
    await expect(toggle).toBeEnabled(); // enabled by an Effect, which only runs in the browser
    await toggle.click();
    await expect(page.locator('.page')).toHaveAttribute('data-theme', 'dark');
    await expect(page.getByRole('button', { name: 'Light theme' })).toBeVisible();
    expect(cspViolations).toEqual([]); // the CSP header lets hydration run untouched
  });

  test('without JavaScript the SSR page is complete and the JS-only toggle stays inert', async ({ page }, info) => {
    test.skip(info.project.name !== 'no-js', 'checks the script-free page');
    await page.goto('/');
    await expect(page.locator('h1')).toHaveText('Sign in with Logto');
    await expect(page.locator('footer')).toContainText('reference app');
    await expect(page.getByRole('button', { name: 'Dark theme' })).toBeDisabled();
  });
});
