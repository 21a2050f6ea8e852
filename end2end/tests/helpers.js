import { expect, test } from '@playwright/test';
import { IDP_URL } from '../processes.js';

export const ALICE = { username: 'alice', password: 'wonderland-42', name: 'Alice Liddell' };

/** Fills the dev IdP's sign-in form. */
export async function idpPasswordSignIn(page, { username, password } = ALICE) {
  await expect(page).toHaveURL(new RegExp(`^${IDP_URL}/interaction/`));
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Opens an app page; with JavaScript on, waits until the WASM has hydrated it (the theme toggle
 * is enabled only then), so clicks go through the hydrated components, not the plain forms. */
export async function open(page, path) {
  const res = await page.goto(path);
  if (test.info().project.use.javaScriptEnabled !== false) {
    await expect(page.locator('.theme-toggle')).toBeEnabled();
  }
  return res;
}

export async function signInWithPassword(page, user = ALICE) {
  await open(page, '/');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await idpPasswordSignIn(page, user);
  await expect(page.locator('.user-name')).toHaveText(user.name);
}

/** Signs out in the app and passes Logto's sign-out page (auto-submitting with JS, a button without). */
export async function signOut(page) {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await passIdpSignOut(page);
}

/** Creates a new account through Logto's sign-up first screen; returns its credentials. */
export async function registerNewUser(page) {
  const username = `user_${Date.now()}_${Math.floor(Math.random() * 1000)}`;
  const user = { username, password: 'correct-horse-battery', name: `New ${username}` };
  await open(page, '/');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('heading', { name: 'Create your account' })).toBeVisible();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Full name').fill(user.name);
  await page.getByLabel('Email').fill(`${username}@example.com`);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.locator('.user-name')).toHaveText(user.name);
  return user;
}

/** After Sign out was pressed: passes the dev IdP's sign-out page (it submits itself with
 * JavaScript; without, it shows a Continue button, pressed here by mouse or keyboard) and waits
 * for the app's signed-out page. `names` are the buttons' names in the page's language. */
export async function passIdpSignOut(page, { cont = 'Continue', signIn = 'Sign in', keyboard = false } = {}) {
  const continueButton = page.getByRole('button', { name: cont, exact: true });
  const signInButton = page.getByRole('button', { name: signIn, exact: true });
  await expect(continueButton.or(signInButton).first()).toBeVisible();
  const js = test.info().project.use.javaScriptEnabled !== false;
  if (page.url().startsWith(IDP_URL) && (await continueButton.isVisible().catch(() => false))) {
    if (keyboard) {
      // With JavaScript the page submits itself (the button may already be going away).
      if (!js) {
        await expect(continueButton).toBeFocused(); // autofocus
        await page.keyboard.press('Enter');
      }
    } else {
      await continueButton.click().catch(() => {}); // may already be submitting itself
    }
  }
  await expect(signInButton).toBeVisible();
}
