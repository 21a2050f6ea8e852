// The README's screenshots: the signed-out page, the Facebook step and the signed-in profile, in
// English and Thai. A test like the others (the flow must work to take them); `scripts/screenshots`
// runs it with SCREENSHOTS_DIR=end2end/screenshots and optimises the PNGs. Hydrated only: the
// pictures are the same without JavaScript.
import fs from 'node:fs';
import path from 'node:path';
import { test, expect } from '@playwright/test';
import { APP_URL, IDP_URL, root } from '../processes.js';
import { open } from './helpers.js';

test.use({ viewport: { width: 900, height: 640 } });

test('the README shows screenshots that exist', async () => {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const pictures = [...readme.matchAll(/\]\((end2end\/screenshots\/[^)]+\.png)\)/g)].map((m) => m[1]);
  const expected = ['en', 'th'].flatMap((lang) => ['signed-out', 'facebook', 'profile']
    .map((name) => `end2end/screenshots/${lang}-${name}.png`));
  expect(pictures.sort()).toEqual(expected.sort());
  for (const picture of pictures) {
    const file = path.join(root, picture);
    expect(fs.existsSync(file), picture).toBe(true);
    // Optimised by pngquant: a palette PNG (IHDR colour type 3), not a raw capture.
    expect(fs.readFileSync(file)[25], picture).toBe(3);
  }
});

for (const lang of ['en', 'th']) {
  test(`screenshots in ${lang}`, async ({ page }, info) => {
    test.skip(info.project.name !== 'hydrated', 'the same pictures without JavaScript');
    const dir = path.resolve(process.env.SCREENSHOTS_DIR || info.outputDir);
    fs.mkdirSync(dir, { recursive: true });
    const shot = async (name) => {
      const file = path.join(dir, `${lang}-${name}.png`);
      await page.screenshot({ path: file });
    };
    await page.context().addCookies([{ name: 'lang', value: lang, url: APP_URL }]);
    await open(page, '/');
    await expect(page.locator('html')).toHaveAttribute('lang', lang);
    await shot('signed-out');
    await page.locator('.actions .btn-facebook').click();
    await expect(page).toHaveURL(new RegExp(`^${IDP_URL}/facebook/dialog`));
    await expect(page.locator('html')).toHaveAttribute('lang', lang);
    await shot('facebook');
    await page.locator('button.fb').click();
    await expect(page.locator('.user-name')).toHaveText('Jamie Rivera');
    await open(page, '/profile');
    await expect(page.locator('.claims')).toBeVisible();
    await shot('profile');
  });
}
