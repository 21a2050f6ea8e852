// Sessions across browsers: Logto's back-channel logout, the sessions page, sign out everywhere.
// Runs hydrated and with JavaScript disabled, like every flow.
import { test, expect } from '@playwright/test';
import { APP_URL, IDP_URL } from '../processes.js';
import { open, passIdpSignOut, registerNewUser, signInWithPassword } from './helpers.js';

/** A second browser (its own cookies) with the project's JavaScript setting. */
async function otherBrowser(browser) {
  const js = test.info().project.use.javaScriptEnabled !== false;
  const context = await browser.newContext({ baseURL: APP_URL, javaScriptEnabled: js });
  return context.newPage();
}

/** Passes the dev IdP's sign-out confirmation (auto-submitting with JS, a button without). */
async function confirmIdpSignOut(page) {
  await expect(page.getByRole('heading', { name: 'You are signed out' }).or(page.getByRole('button', { name: 'Continue' }))).toBeVisible();
  const cont = page.getByRole('button', { name: 'Continue' });
  if (await cont.isVisible().catch(() => false)) await cont.click().catch(() => {});
}

test('signing out of Logto elsewhere signs the app out (back-channel logout)', async ({ page }) => {
  await signInWithPassword(page);
  // Straight to Logto's end-session page, not through the app: only the back-channel can tell it.
  await page.goto(`${IDP_URL}/oidc/session/end`);
  await confirmIdpSignOut(page);
  await expect(page.getByRole('heading', { name: 'You are signed out' })).toBeVisible();
  await open(page, '/');
  await expect(page.getByRole('button', { name: 'Sign in', exact: true })).toBeVisible();
  await expect(page.locator('.user-name')).toHaveCount(0);
});

test('the sessions page ends another browser, then every session', async ({ page, browser }) => {
  // A new user: other tests leave alice signed in in browsers that are gone.
  const user = await registerNewUser(page);
  const phone = await otherBrowser(browser);
  await signInWithPassword(phone, user);

  await open(page, '/sessions');
  await expect(page.locator('.session')).toHaveCount(2);
  await expect(page.locator('.session[data-current="true"]')).toContainText('This browser');
  await expect(page.locator('.session[data-current="true"]')).toContainText('Chrome on Linux');
  await page.locator('.session[data-current="false"]').getByRole('button', { name: 'End' }).click();
  await expect(page).toHaveURL(`${APP_URL}/sessions`);
  await expect(page.locator('.session')).toHaveCount(1);

  await open(phone, '/');
  await expect(phone.getByRole('button', { name: 'Sign in', exact: true })).toBeVisible();

  // Signed in on the phone again (Logto still knows that browser: no password asked), then
  // "Sign out everywhere" from the laptop ends both.
  await phone.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(phone.locator('.user-name')).toHaveText(user.name);
  await open(page, '/sessions');
  await expect(page.locator('.session')).toHaveCount(2);
  await page.getByRole('button', { name: 'Sign out everywhere' }).click();
  await passIdpSignOut(page);
  await open(phone, '/');
  await expect(phone.getByRole('button', { name: 'Sign in', exact: true })).toBeVisible();
  await phone.context().close();
});

test('the sessions page asks signed-out visitors to sign in first', async ({ page }) => {
  await open(page, '/sessions');
  await expect(page).toHaveURL(/\/sign-in\?return_to=%2Fsessions$/);
});
