// Accessibility: axe-core on every page, in English and Thai, light and dark theme (the theme switch
// needs JavaScript, so the no-JS project checks light only), signed out and signed in: no serious
// or critical violations. And a sign-in done with the keyboard alone.
import { test, expect } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { APP_URL, IDP_URL } from '../processes.js';
import { ALICE, open, passIdpSignOut, signInWithPassword } from './helpers.js';

const SIGNED_OUT = [
  '/', '/sign-in?return_to=%2Fprofile', '/auth/error?code=state_mismatch', '/callback?state=x&code=y', '/no-such-page',
];
const SIGNED_IN = [
  '/', '/profile', '/profile?call=api', '/profile?organization=org-acme', '/sessions',
  '/auth/error?code=rate_limited', '/no-such-page',
];
// A Facebook user's profile has the Facebook card; its answer is part of the page.
const SIGNED_IN_WITH_FACEBOOK = ['/profile', '/profile?facebook=1'];

async function setLanguage(page, lang) {
  await page.context().addCookies([{ name: 'lang', value: lang, url: APP_URL }]);
}

/** Runs axe on the page as it is; returns the serious and critical violations, logs the rest. */
async function audit(page, label) {
  const { violations } = await new AxeBuilder({ page })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'])
    .analyze();
  const blocking = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const others = violations.filter((v) => !blocking.includes(v)).map((v) => `${v.id}(${v.impact})`);
  // A figure for the record, not an assertion: what axe found besides the blocking ones.
  console.log(`axe ${label}: ${blocking.length} serious/critical${others.length ? `; also ${others.join(', ')}` : ''}`);
  return blocking.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) }));
}

/** axe runs as a script in the page, so in the hydrated project only; the pages a browser without
 * JavaScript gets are the same HTML (the theme switch, which needs JavaScript, stays light). */
function needsJavaScript(info) {
  test.skip(info.project.use.javaScriptEnabled === false, 'axe is a script in the page');
}

async function auditPages(page, paths, state, info) {
  const themes = ['light', 'dark'];
  for (const lang of ['en', 'th']) {
    await setLanguage(page, lang);
    for (const path of paths) {
      for (const theme of themes) {
        await open(page, path);
        await expect(page.locator('html')).toHaveAttribute('lang', lang);
        if (theme === 'dark') {
          await page.locator('.theme-toggle').click();
          await expect(page.locator('.page')).toHaveAttribute('data-theme', 'dark');
        }
        const label = `[${info.project.name}] ${state} ${lang} ${theme} ${path}`;
        expect(await audit(page, label), label).toEqual([]);
      }
    }
  }
}

test('axe: every page signed out, both languages and themes', async ({ page }, info) => {
  needsJavaScript(info);
  test.setTimeout(120_000);
  await auditPages(page, SIGNED_OUT, 'signed-out', info);
});

test('axe: every page signed in, both languages and themes', async ({ page }, info) => {
  needsJavaScript(info);
  test.setTimeout(120_000);
  await signInWithPassword(page);
  await auditPages(page, SIGNED_IN, 'signed-in', info);
});

test("axe: a Facebook user's profile and its Facebook answer, both languages and themes", async ({ page }, info) => {
  needsJavaScript(info);
  test.setTimeout(120_000);
  await open(page, '/');
  await page.locator('.actions .btn-facebook').click();
  await page.locator('button.fb').click();
  await expect(page.locator('.user-name')).toHaveText('Jamie Rivera');
  await auditPages(page, SIGNED_IN_WITH_FACEBOOK, 'facebook', info);
});

test("axe: the dev IdP's sign-in, sign-up and Facebook pages in both languages", async ({ page }, info) => {
  needsJavaScript(info);
  for (const lang of ['en', 'th']) {
    await setLanguage(page, lang);
    await open(page, '/');
    await page.locator('.actions button').first().click();
    await expect(page).toHaveURL(new RegExp(`^${IDP_URL}/interaction/`));
    await expect(page.locator('html')).toHaveAttribute('lang', lang);
    expect(await audit(page, `[${info.project.name}] idp ${lang} sign-in`)).toEqual([]);
    await page.locator('.switch a').click();
    await expect(page.locator('#name')).toBeVisible();
    expect(await audit(page, `[${info.project.name}] idp ${lang} sign-up`)).toEqual([]);
    await page.locator('a.fb').click();
    await expect(page).toHaveURL(new RegExp(`^${IDP_URL}/facebook/dialog`));
    expect(await audit(page, `[${info.project.name}] idp ${lang} facebook`)).toEqual([]);
  }
});

/** Tabs until `locator` has the focus (at most `max` presses); fails if it never does. */
async function tabTo(page, locator, max = 20) {
  for (let i = 0; i < max; i += 1) {
    if (await locator.evaluate((el) => el === document.activeElement)) return;
    await page.keyboard.press('Tab');
  }
  await expect(locator).toBeFocused();
}

test('sign in with the keyboard only, and the focus is visible on the way', async ({ page }) => {
  await open(page, '/');
  const signIn = page.getByRole('button', { name: 'Sign in', exact: true });
  await tabTo(page, signIn);
  // The focused button is outlined (not just the browser default, which some themes hide).
  const outline = await signIn.evaluate((el) => getComputedStyle(el).outlineStyle);
  expect(outline).toBe('solid');
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(new RegExp(`^${IDP_URL}/interaction/`));
  const username = page.getByLabel('Username');
  await tabTo(page, username);
  await page.keyboard.type(ALICE.username);
  await page.keyboard.press('Tab');
  await expect(page.getByLabel('Password')).toBeFocused();
  await page.keyboard.type(ALICE.password);
  await page.keyboard.press('Enter');
  await expect(page.locator('.user-name')).toHaveText(ALICE.name);
  // Signing out is reachable from the keyboard too.
  const signOut = page.getByRole('button', { name: 'Sign out' });
  await tabTo(page, signOut, 30);
  await page.keyboard.press('Enter');
  await passIdpSignOut(page, { keyboard: true });
});
