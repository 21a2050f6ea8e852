// English and Thai: the switch (a plain form post, so the same with and without JavaScript), the
// browser's Accept-Language, and the language reaching Logto (the dev IdP) as ui_locales.
import { test, expect } from '@playwright/test';
import { APP_URL, IDP_URL } from '../processes.js';
import { ALICE, open, passIdpSignOut } from './helpers.js';

const TH = {
  heading: 'เข้าสู่ระบบด้วย Logto',
  signIn: 'เข้าสู่ระบบ',
  facebook: 'ดำเนินการต่อด้วย Facebook',
  signOut: 'ออกจากระบบ',
};

test('switch to Thai and stay in it across a full sign-in and sign-out, then back to English', async ({ page }) => {
  await open(page, '/');
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await page.getByRole('button', { name: 'ไทย' }).click();
  await expect(page).toHaveURL(`${APP_URL}/`);
  await expect(page.locator('html')).toHaveAttribute('lang', 'th');
  await expect(page.getByRole('heading', { name: TH.heading })).toBeVisible();
  await expect(page.getByRole('button', { name: 'ไทย' })).toHaveAttribute('aria-pressed', 'true');
  await open(page, '/'); // remembered
  await expect(page.locator('html')).toHaveAttribute('lang', 'th');

  // Logto's page in Thai: the app asked for ui_locales=th.
  const authorize = page.waitForRequest((r) => r.url().startsWith(`${IDP_URL}/oidc/auth`));
  await page.getByRole('button', { name: TH.signIn, exact: true }).click();
  expect(new URL((await authorize).url()).searchParams.get('ui_locales')).toBe('th');
  await expect(page).toHaveURL(new RegExp(`^${IDP_URL}/interaction/`));
  await expect(page.locator('html')).toHaveAttribute('lang', 'th');
  await expect(page.getByRole('heading', { name: 'เข้าสู่ระบบ' })).toBeVisible();
  await page.getByLabel('ชื่อผู้ใช้').fill(ALICE.username);
  await page.getByLabel('รหัสผ่าน').fill('wrong-password');
  await page.getByRole('button', { name: 'เข้าสู่ระบบ' }).click();
  await expect(page.getByRole('alert')).toHaveText('ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง');
  await page.getByLabel('รหัสผ่าน').fill(ALICE.password);
  await page.getByRole('button', { name: 'เข้าสู่ระบบ' }).click();

  // Back in the app, still Thai; times in the claims table in the Buddhist era.
  await expect(page.locator('.user-name')).toHaveText(ALICE.name);
  await expect(page.locator('html')).toHaveAttribute('lang', 'th');
  await expect(page.getByRole('heading', { name: 'ข้อมูล claims ของคุณ' })).toBeVisible();
  const iat = page.locator('.claims tr').filter({ has: page.locator('th', { hasText: /^iat$/ }) }).locator('td');
  await expect(iat).toContainText(/^\d{1,2} \S+ พ\.ศ\. 25\d\d เวลา \d\d:\d\d:\d\d น\. \(เวลาประเทศไทย\)$/);
  // The way a reader goes there: the Thai nav link (after this page has finished loading).
  await page.waitForLoadState('load');
  await page.getByRole('link', { name: 'เซสชัน' }).click();
  await expect(page).toHaveURL(`${APP_URL}/sessions`);
  await expect(page.getByRole('heading', { name: 'เซสชันของคุณ' })).toBeVisible();
  await expect(page.locator('.session').first()).toContainText('พ.ศ.');
  await expect(page.locator('.session-browser').first()).toHaveText('Chrome บน Linux');

  // Sign-out goes through Logto in Thai and lands on the Thai start page.
  await open(page, '/');
  const signOutPage = page.waitForResponse((r) => r.url().startsWith(`${IDP_URL}/oidc/session/end?`));
  await page.getByRole('button', { name: TH.signOut }).click();
  expect(new URL((await signOutPage).url()).searchParams.get('ui_locales')).toBe('th');
  await passIdpSignOut(page, { cont: 'ดำเนินการต่อ', signIn: TH.signIn });
  await expect(page.getByRole('heading', { name: TH.heading })).toBeVisible();

  // And back: English, remembered too.
  await page.getByRole('button', { name: 'English' }).click();
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page.getByRole('heading', { name: 'Sign in with Logto' })).toBeVisible();
  await open(page, '/profile?x=1');
  await expect(page).toHaveURL(/\/sign-in\?return_to=/);
  await expect(page.getByRole('heading', { name: 'Sign in to continue' })).toBeVisible();
});

test('the switch comes back to the page it was pressed on, query included', async ({ page }) => {
  await open(page, '/sign-in?return_to=%2Fprofile');
  await page.getByRole('button', { name: 'ไทย' }).click();
  await expect(page).toHaveURL(`${APP_URL}/sign-in?return_to=%2Fprofile`);
  await expect(page.getByRole('heading', { name: 'เข้าสู่ระบบเพื่อดำเนินการต่อ' })).toBeVisible();
});

test('Facebook, straight from the app, in Thai', async ({ page }) => {
  await page.context().addCookies([{ name: 'lang', value: 'th', url: APP_URL }]);
  await open(page, '/');
  await page.getByRole('button', { name: TH.facebook }).click();
  await expect(page).toHaveURL(new RegExp(`^${IDP_URL}/facebook/dialog`));
  await expect(page.locator('html')).toHaveAttribute('lang', 'th');
  await page.getByRole('button', { name: 'ยกเลิก' }).click();
  await expect(page.getByRole('alert')).toHaveText(/การเข้าสู่ระบบด้วย Facebook ถูกยกเลิก/);
  await page.getByRole('link', { name: TH.facebook }).click();
  await page.getByRole('button', { name: 'ดำเนินการต่อในชื่อ Jamie Rivera' }).click();
  await expect(page.locator('.user-name')).toHaveText('Jamie Rivera');
  await expect(page.locator('.user .badge')).toHaveText('ผ่าน Facebook');
});

test.describe('a Thai browser', () => {
  test.use({ locale: 'th-TH' });

  test('gets Thai pages and Logto is asked for ui_locales=th', async ({ page }) => {
    await open(page, '/');
    await expect(page.locator('html')).toHaveAttribute('lang', 'th');
    await expect(page.getByRole('heading', { name: TH.heading })).toBeVisible();
    // Nothing was chosen, so nothing is remembered.
    expect((await page.context().cookies(APP_URL)).some((c) => c.name === 'lang')).toBe(false);
    const authorize = page.waitForRequest((r) => r.url().startsWith(`${IDP_URL}/oidc/auth`));
    await page.getByRole('button', { name: TH.signIn, exact: true }).click();
    expect(new URL((await authorize).url()).searchParams.get('ui_locales')).toBe('th');
    await expect(page.getByText('ui_locales: th')).toBeVisible();
    await expect(page.getByRole('heading', { name: 'เข้าสู่ระบบ' })).toBeVisible();
  });

  test('an explicit English choice wins over the browser', async ({ page }) => {
    await open(page, '/');
    await page.getByRole('button', { name: 'English' }).click();
    await expect(page.locator('html')).toHaveAttribute('lang', 'en');
    const authorize = page.waitForRequest((r) => r.url().startsWith(`${IDP_URL}/oidc/auth`));
    await page.getByRole('button', { name: 'Create account' }).click();
    expect(new URL((await authorize).url()).searchParams.get('ui_locales')).toBe('en');
    await expect(page.getByRole('heading', { name: 'Create your account' })).toBeVisible();
  });
});
