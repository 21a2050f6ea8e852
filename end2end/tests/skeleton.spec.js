import { test, expect } from '@playwright/test';

test('the start page is complete server-rendered HTML', async ({ page }) => {
  const res = await page.goto('/');
  expect(res.status()).toBe(200);
  await expect(page.locator('h1')).toHaveText('Sign in with Logto');
  await expect(page).toHaveTitle('Sign in with Logto');
  // The stylesheet is served, so the page is styled without any script.
  const css = await page.request.get('/pkg/logto-leptos.css');
  expect(css.ok()).toBeTruthy();
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
