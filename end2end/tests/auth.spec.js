// Every flow runs twice: hydrated (WASM loaded) and with JavaScript disabled (plain form posts).
import { test, expect } from '@playwright/test';
import { APP_URL, IDP_URL, startApp, stopApp } from '../processes.js';
import { ALICE, idpPasswordSignIn, open, signInWithPassword, signOut } from './helpers.js';

test('sign in with password shows name, email and claims; no tokens in the page', async ({ page }, info) => {
  const signInRequests = [];
  page.on('request', (r) => { if (r.url().endsWith('/api/sign_in')) signInRequests.push(r.resourceType()); });
  const t0 = Date.now();
  await signInWithPassword(page);
  // Hydrated: the ActionForm posts with fetch; without JavaScript: a plain form submission.
  expect(signInRequests).toEqual([info.project.name === 'hydrated' ? 'fetch' : 'document']);
  // Not an assertion: a figure for the record (app -> IdP -> password -> callback -> signed-in page).
  console.log(`[${info.project.name}] sign-in round trip: ${Date.now() - t0} ms`);
  await expect(page).toHaveURL(`${APP_URL}/`);
  await expect(page.locator('.user-email')).toHaveText('alice@example.com');
  await expect(page.locator('.claims')).toContainText('sub');
  const html = await page.content();
  expect(html).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./); // no JWTs
  const cookies = await page.context().cookies(APP_URL);
  const session = cookies.find((c) => c.name === 'session');
  expect(session.httpOnly).toBe(true);
  expect(session.sameSite).toBe('Lax');
});

test('create account via the sign-up first screen', async ({ page }) => {
  const username = `user_${Date.now()}_${Math.floor(Math.random() * 1000)}`;
  await open(page, '/');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('heading', { name: 'Create your account' })).toBeVisible();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Full name').fill('New Person');
  await page.getByLabel('Email').fill(`${username}@example.com`);
  await page.getByLabel('Password').fill('correct-horse-battery');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.locator('.user-name')).toHaveText('New Person');
  await expect(page.locator('.claims')).toContainText(username);
});

test('Continue with Facebook goes straight to Facebook and back', async ({ page }) => {
  await open(page, '/');
  await page.getByRole('button', { name: 'Continue with Facebook' }).click();
  await expect(page).toHaveURL(new RegExp(`^${IDP_URL}/facebook/dialog`));
  await page.getByRole('button', { name: 'Continue as Jamie Rivera' }).click();
  await expect(page.locator('.user-name')).toHaveText('Jamie Rivera');
  await expect(page.locator('img.avatar')).toHaveAttribute('src', /\/avatars\/facebook-/);
  await expect(page.locator('.user .badge')).toHaveText('via Facebook');
  await expect(page.locator('.claims')).toContainText('identities');
});

test('Continue with Facebook from the Logto sign-in page', async ({ page }) => {
  await open(page, '/');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await page.getByRole('link', { name: 'Continue with Facebook' }).click();
  await page.getByRole('button', { name: 'Continue as Jamie Rivera' }).click();
  await expect(page.locator('.user-name')).toHaveText('Jamie Rivera');
});

test('cancel at Facebook returns to the sign-in page with an error and no app session', async ({ page }) => {
  await open(page, '/');
  await page.getByRole('button', { name: 'Continue with Facebook' }).click();
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(page).toHaveURL(new RegExp(`^${IDP_URL}/interaction/`));
  await expect(page.getByRole('alert')).toContainText('Facebook sign-in was cancelled');
  // The user can still choose another way.
  await idpPasswordSignIn(page);
  await expect(page.locator('.user-name')).toHaveText(ALICE.name);
});

test('cancel at Facebook leaves the app signed out', async ({ page }) => {
  await open(page, '/');
  await page.getByRole('button', { name: 'Continue with Facebook' }).click();
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByRole('alert')).toBeVisible();
  await open(page, '/');
  await expect(page.getByRole('button', { name: 'Sign in', exact: true })).toBeVisible();
  await expect(page.locator('.user-name')).toHaveCount(0);
});

test('the profile page needs sign-in and brings the user back', async ({ page }) => {
  await open(page, '/profile');
  await expect(page).toHaveURL(`${APP_URL}/sign-in?return_to=%2Fprofile`);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await idpPasswordSignIn(page);
  await expect(page).toHaveURL(`${APP_URL}/profile`);
  await expect(page.getByRole('heading', { name: 'Your profile' })).toBeVisible();
  await expect(page.locator('.user-name')).toHaveText(ALICE.name);
});

test('sign out ends the local and the IdP session', async ({ page }, info) => {
  await signInWithPassword(page);
  await open(page, '/profile');
  await expect(page.locator('.user-name')).toHaveText(ALICE.name);
  const signOutRequests = [];
  page.on('request', (r) => { if (r.url().endsWith('/api/sign_out')) signOutRequests.push(r.resourceType()); });
  await signOut(page);
  await expect(page).toHaveURL(`${APP_URL}/`);
  // Hydrated: the user card is an island whose ActionForm posts with fetch; without JS, a form post.
  expect(signOutRequests).toEqual([info.project.name === 'hydrated' ? 'fetch' : 'document']);
  // A fresh request.
  await open(page, '/profile');
  await expect(page).toHaveURL(/\/sign-in\?return_to=%2Fprofile$/);
  // The IdP session is gone too: signing in asks for credentials again.
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await expect(page.getByLabel('Password')).toBeVisible();
});

test('Back after signing out (in another tab) does not show the signed-in page', async ({ page, context }) => {
  await signInWithPassword(page);
  await open(page, '/profile');
  await expect(page.locator('.user-name')).toHaveText(ALICE.name);
  await open(page, '/sign-in');
  // Signed out in another tab of the same browser: no IdP pages in this tab's history.
  const other = await context.newPage();
  await open(other, '/');
  await signOut(other);
  await other.close();
  // Back to /profile: fetched again (no-store, no back/forward cache), so it sends the now
  // signed-out visitor to sign in instead of showing the cached signed-in page.
  await page.goBack();
  await expect(page).toHaveURL(/\/sign-in\?return_to=%2Fprofile$/);
  await expect(page.locator('.user-name')).toHaveCount(0);
});

test('a signed-in user stays signed in across a server restart', async ({ page }) => {
  await signInWithPassword(page);
  await stopApp();
  await startApp();
  await open(page, '/profile');
  await expect(page.locator('.user-name')).toHaveText(ALICE.name);
});
