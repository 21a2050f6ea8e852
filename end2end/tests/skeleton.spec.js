import { test, expect } from '@playwright/test';
import { BUILD, OUTPUT_NAME } from '../processes.js';

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

test('scripts, WASM and styles: hashed names cached for a year and precompressed in the release build', async ({ page }) => {
  const res = await page.goto('/');
  expect(res.headers()['cache-control']).toBe('no-store'); // the page itself is per user
  const urls = [
    await page.locator('link[rel=stylesheet]').getAttribute('href'),
    await page.locator('link[rel=modulepreload]').getAttribute('href'),
    await page.locator('link[rel=preload][as=fetch]').getAttribute('href'),
  ];
  const types = ['text/css', 'text/javascript', 'application/wasm'];
  const release = BUILD === 'release';
  for (const [i, url] of urls.entries()) {
    // Release: cargo-leptos hash-files names, <output-name>.<22-character hash>.<ext>; debug
    // (`cargo leptos watch`): plain names that browsers must revalidate. (A project name is
    // kebab-case: nothing in it to escape.)
    expect(url).toMatch(new RegExp(release
      ? `^/pkg/${OUTPUT_NAME}\\.[A-Za-z0-9_-]{22}\\.(css|js|wasm)$`
      : `^/pkg/${OUTPUT_NAME}\\.(css|js|wasm)$`));
    const asset = await page.request.get(url, { headers: { 'accept-encoding': 'br, gzip' } });
    expect(asset.status()).toBe(200);
    const h = asset.headers();
    expect(h['content-type']).toContain(types[i]);
    expect(h['cache-control']).toBe(release ? 'public, max-age=31536000, immutable' : 'no-cache');
    expect(h['vary']).toMatch(/accept-encoding/i);
    // The release build is precompressed (.br and .gz beside each file); the debug build is not.
    expect(h['content-encoding']).toBe(release ? 'br' : undefined);
    const gz = await page.request.get(url, { headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers()['content-encoding']).toBe(release ? 'gzip' : undefined);
    const plain = await page.request.get(url, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers()['content-encoding']).toBeUndefined();
    expect(await gz.body()).toEqual(await plain.body()); // the same file, decoded
    expect(await asset.body()).toEqual(await plain.body());
  }
  // Other static files (not hashed): revalidated, and Vary when a compressed variant is sent.
  const icon = await page.request.get('/favicon.svg', { headers: { 'accept-encoding': 'br' } });
  expect(icon.status()).toBe(200);
  expect(icon.headers()['cache-control']).toBe('no-cache');
  if (release) {
    expect(icon.headers()['content-encoding']).toBe('br');
    expect(icon.headers()['vary']).toMatch(/accept-encoding/i);
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
    await expect(toggle).toHaveAttribute('aria-pressed', 'false');
    await toggle.click();
    await expect(page.locator('.page')).toHaveAttribute('data-theme', 'dark');
    await expect(toggle).toHaveAttribute('aria-pressed', 'true'); // the state, not a new label
    await toggle.click();
    await expect(page.locator('.page')).toHaveAttribute('data-theme', 'light');
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
