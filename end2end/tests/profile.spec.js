// What signed-in users do with the sign-in: call an API with its access token, see their
// organizations and an organization token, and read their Facebook profile with the token Logto
// stored. Each runs hydrated and with JavaScript disabled (plain GET forms).
import { test, expect } from '@playwright/test';
import { API_RESOURCE, APP_URL, IDP_URL } from '../processes.js';
import { open, signInWithPassword } from './helpers.js';

const JWT = /eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/;

async function setFacebookTokenStorage(request, on) {
  const res = await request.post(`${IDP_URL}/console/connectors/facebook`, { form: { store_tokens: on ? 'on' : 'off' } });
  expect(res.ok()).toBe(true);
}

async function signInWithFacebook(page) {
  await open(page, '/');
  await page.getByRole('button', { name: 'Continue with Facebook' }).click();
  await page.getByRole('button', { name: 'Continue as Jamie Rivera' }).click();
  await expect(page.locator('.user-name')).toHaveText('Jamie Rivera');
}

test('call the API with an access token for it', async ({ page }) => {
  await signInWithPassword(page);
  await open(page, '/profile');
  await page.getByRole('button', { name: 'Call the API' }).click();
  const result = page.locator('.api-result');
  await expect(result).toHaveAttribute('data-outcome', 'Ok');
  await expect(result).toContainText('Hello from the demo API');
  await expect(result).toContainText(API_RESOURCE);
  await expect(result).toContainText('read:hello');
  await expect(page).toHaveURL(`${APP_URL}/profile?call=api`);
  expect(await page.content()).not.toMatch(JWT);
});

test('organizations with roles, and an organization token shown as its claims', async ({ page }) => {
  await signInWithPassword(page);
  await open(page, '/profile');
  const acme = page.locator('.org[data-org-id="org-acme"]');
  await expect(acme.locator('.org-name')).toHaveText('Acme');
  await expect(acme.locator('.org-roles')).toHaveText('admin');
  await expect(page.locator('.org[data-org-id="org-globex"] .org-roles')).toHaveText('viewer');
  await acme.getByRole('button', { name: 'Get organization token' }).click();
  const token = page.locator('.org-token[data-org-id="org-acme"]');
  await expect(token).toContainText('urn:logto:organization:org-acme');
  await expect(token).toContainText('read:members');
  expect(await page.content()).not.toMatch(JWT);
});

test('From Facebook: the profile read with the token Logto stored', async ({ page, request }) => {
  await setFacebookTokenStorage(request, true);
  await signInWithFacebook(page);
  await open(page, '/profile');
  await page.getByRole('button', { name: 'Load from Facebook' }).click();
  const card = page.locator('.facebook-result');
  await expect(card).toHaveAttribute('data-facebook', 'profile');
  await expect(card.locator('.facebook-name')).toHaveText('Jamie Rivera');
  await expect(card.locator('img.avatar')).toHaveAttribute('src', /\/avatars\/facebook-/);
  expect(await page.content()).not.toMatch(/EAAdev/);
});

test('From Facebook without stored tokens: a hint to enable Store tokens', async ({ page, request }) => {
  await setFacebookTokenStorage(request, false);
  try {
    await signInWithFacebook(page);
    await open(page, '/profile');
    await page.getByRole('button', { name: 'Load from Facebook' }).click();
    const card = page.locator('.facebook-result');
    await expect(card).toHaveAttribute('data-facebook', 'not_stored');
    await expect(card).toContainText('Store tokens for persistent API access');
  } finally {
    await setFacebookTokenStorage(request, true);
  }
});

test('password users see no Facebook card', async ({ page }) => {
  await signInWithPassword(page);
  await open(page, '/profile');
  await expect(page.getByRole('heading', { name: 'Your API' })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'From Facebook' })).toHaveCount(0);
});

test('pressing Call the API again calls it again', async ({ page }) => {
  await signInWithPassword(page);
  await open(page, '/profile');
  const calls = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname === '/api/call_api' || (u.pathname === '/profile' && u.searchParams.get('call') === 'api')) calls.push(r.resourceType());
  });
  const button = page.getByRole('button', { name: 'Call the API' });
  await button.click();
  await expect(page.locator('.api-result')).toHaveAttribute('data-outcome', 'Ok');
  await expect.poll(() => calls.length).toBe(1);
  await button.click();
  await expect.poll(() => calls.length).toBe(2);
  await expect(page.locator('.api-result')).toHaveAttribute('data-outcome', 'Ok');
  // The profile is server-rendered (only islands hydrate): each press is a page load, with or
  // without JavaScript, and the server renders the answer into it.
  expect(calls).toEqual(['document', 'document']);
});
