// HTML for the dev IdP's pages, in English or Thai. Every page works without JavaScript.
const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

// The words of every page. Logto ships its sign-in experience in both (its tags `en` and `th`).
const TEXT = {
  en: {
    sub: 'Logto-compatible dev IdP',
    signInTitle: 'Sign in – Logto (dev)', signIn: 'Sign in',
    registerTitle: 'Create account – Logto (dev)', createHeading: 'Create your account', createAccount: 'Create account',
    username: 'Username', fullName: 'Full name', email: 'Email', password: 'Password',
    haveAccount: 'I already have an account', or: 'or', continueFacebook: 'Continue with Facebook',
    fbTitle: 'Log in with Facebook', fbSub: "Stand-in for Facebook's OAuth dialog (dev IdP)",
    fbRequest: '<strong>Logto (dev)</strong> is requesting access to your name, profile picture and email address.',
    fbContinueAs: 'Continue as Jamie Rivera', cancel: 'Cancel',
    signingOutTitle: 'Signing out – Logto (dev)', signingOut: 'Signing you out…', continue: 'Continue',
    signedOutTitle: 'Signed out – Logto (dev)', signedOut: 'You are signed out',
    errorTitle: 'Error – Logto (dev)', somethingWrong: 'Something went wrong',
    errors: {
      wrong_password: 'Wrong username or password.',
      facebook_cancelled: 'Facebook sign-in was cancelled. Choose another way to sign in or try again.',
      username_invalid: 'Username must be 3–32 letters, digits or underscores, not starting with a digit.',
      username_taken: 'That username is already taken.',
      password_short: 'Password must be at least 8 characters.',
      unknown: 'Something went wrong. Please try again.',
      session_not_found: 'This sign-in has expired. Go back to the app and start again.',
      interaction_mismatch: 'This page belongs to another sign-in. Go back to the app and start again.',
    },
  },
  th: {
    sub: 'IdP สำหรับพัฒนาที่เข้ากันได้กับ Logto',
    signInTitle: 'เข้าสู่ระบบ – Logto (dev)', signIn: 'เข้าสู่ระบบ',
    registerTitle: 'สร้างบัญชี – Logto (dev)', createHeading: 'สร้างบัญชีของคุณ', createAccount: 'สร้างบัญชี',
    username: 'ชื่อผู้ใช้', fullName: 'ชื่อ-นามสกุล', email: 'อีเมล', password: 'รหัสผ่าน',
    haveAccount: 'ฉันมีบัญชีอยู่แล้ว', or: 'หรือ', continueFacebook: 'ดำเนินการต่อด้วย Facebook',
    fbTitle: 'เข้าสู่ระบบด้วย Facebook', fbSub: 'หน้าจำลองกล่องโต้ตอบ OAuth ของ Facebook (dev IdP)',
    fbRequest: '<strong>Logto (dev)</strong> ขอเข้าถึงชื่อ รูปโปรไฟล์ และอีเมลของคุณ',
    fbContinueAs: 'ดำเนินการต่อในชื่อ Jamie Rivera', cancel: 'ยกเลิก',
    signingOutTitle: 'กำลังออกจากระบบ – Logto (dev)', signingOut: 'กำลังออกจากระบบ…', continue: 'ดำเนินการต่อ',
    signedOutTitle: 'ออกจากระบบแล้ว – Logto (dev)', signedOut: 'คุณออกจากระบบแล้ว',
    errorTitle: 'ข้อผิดพลาด – Logto (dev)', somethingWrong: 'เกิดข้อผิดพลาด',
    errors: {
      wrong_password: 'ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง',
      facebook_cancelled: 'การเข้าสู่ระบบด้วย Facebook ถูกยกเลิก เลือกวิธีเข้าสู่ระบบอื่นหรือลองอีกครั้ง',
      username_invalid: 'ชื่อผู้ใช้ต้องยาว 3–32 ตัว ประกอบด้วยตัวอักษรภาษาอังกฤษ ตัวเลข หรือขีดล่าง และไม่ขึ้นต้นด้วยตัวเลข',
      username_taken: 'ชื่อผู้ใช้นี้ถูกใช้แล้ว',
      password_short: 'รหัสผ่านต้องมีอย่างน้อย 8 ตัวอักษร',
      unknown: 'เกิดข้อผิดพลาด โปรดลองอีกครั้ง',
      session_not_found: 'การเข้าสู่ระบบนี้หมดอายุแล้ว กลับไปที่แอปแล้วเริ่มใหม่อีกครั้ง',
      interaction_mismatch: 'หน้านี้เป็นของการเข้าสู่ระบบอื่น กลับไปที่แอปแล้วเริ่มใหม่อีกครั้ง',
    },
  },
};

/**
 * The page language as Logto picks it (core `getExperienceLanguage`): each tag of `ui_locales`
 * in order, then the browser's `Accept-Language` (Logto's "auto-detect"), then English; a tag
 * matches exactly or by its base language (`th-TH` → `th`).
 */
export function pickLanguage(uiLocales, acceptLanguage) {
  const fromHeader = String(acceptLanguage || '')
    .split(',')
    .map((part, i) => {
      const [tag, ...params] = part.trim().split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      return { tag: tag.trim(), q: q ? Number(q.slice(2)) : 1, i };
    })
    .filter((c) => c.tag && c.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i)
    .map((c) => c.tag);
  const candidates = [...String(uiLocales || '').split(/\s+/), ...fromHeader].filter(Boolean);
  for (const tag of candidates) {
    const lower = tag.toLowerCase().replace('_', '-');
    if (Object.hasOwn(TEXT, lower)) return lower;
    const base = lower.split('-')[0];
    if (Object.hasOwn(TEXT, base)) return base;
  }
  return 'en';
}

const style = `
  body{font-family:system-ui,sans-serif;background:#f3f4f8;color:#1b1d29;margin:0;display:flex;justify-content:center}
  .box{background:#fff;margin:3rem 1rem;padding:2rem;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08);width:100%;max-width:24rem}
  h1{font-size:1.4rem;margin:0 0 .25rem} p.sub{color:#5a5f73;margin:0 0 1.25rem}
  label{display:block;font-weight:600;margin:.75rem 0 .25rem} input{width:100%;box-sizing:border-box;padding:.6rem;border:1px solid #cfd3e0;border-radius:8px;font:inherit}
  button,.btn{display:block;width:100%;box-sizing:border-box;margin-top:1rem;padding:.7rem;border-radius:8px;border:0;font:inherit;font-weight:600;cursor:pointer;text-align:center;text-decoration:none}
  .primary{background:#5d34f2;color:#fff} .fb{background:#0866ff;color:#fff} .plain{background:#eceef6;color:#1b1d29}
  .error{background:#fef3f2;color:#b42318;border:1px solid #fda29b;padding:.6rem;border-radius:8px;margin-bottom:1rem}
  .divider{text-align:center;color:#5a5f73;margin:1rem 0 0} .switch{margin-top:1rem;text-align:center}
  .badge{font-size:.75rem;background:#eceef6;border-radius:999px;padding:.1rem .5rem;color:#5a5f73}
  a:focus-visible,button:focus-visible,input:focus-visible{outline:3px solid #5d34f2;outline-offset:2px}`;

const layout = (lang, title, body, extraHead = '') => `<!DOCTYPE html>
<html lang="${esc(lang)}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><style>${style}</style>${extraHead}</head>
<body><main class="box">${body}</main></body></html>`;

/** `error` is a code (`wrong_password`, `facebook_cancelled`, …): the page words it. */
export function signInPage({ uid, screen, error, username, locales, lang = 'en' }) {
  const t = Object.hasOwn(TEXT, lang) ? TEXT[lang] : TEXT.en;
  const base = `/interaction/${encodeURIComponent(uid)}`;
  const message = Object.hasOwn(t.errors, error) ? t.errors[error] : t.errors.unknown;
  const err = error ? `<div class="error" role="alert">${esc(message)}</div>` : '';
  const badge = locales ? ` <span class="badge">ui_locales: ${esc(locales)}</span>` : '';
  const facebook = `<p class="divider">${t.or}</p>
    <a class="btn fb" href="/facebook/dialog?uid=${encodeURIComponent(uid)}">${t.continueFacebook}</a>`;
  if (screen === 'register') {
    return layout(lang, t.registerTitle, `
      <h1>${t.createHeading}</h1><p class="sub">${t.sub}${badge}</p>${err}
      <form method="post" action="${base}/register">
        <label for="username">${t.username}</label><input id="username" name="username" autocomplete="username" required value="${esc(username)}">
        <label for="name">${t.fullName}</label><input id="name" name="name" autocomplete="name">
        <label for="email">${t.email}</label><input id="email" name="email" type="email" autocomplete="email">
        <label for="password">${t.password}</label><input id="password" name="password" type="password" autocomplete="new-password" required minlength="8">
        <button class="primary" type="submit">${t.createAccount}</button>
      </form>${facebook}
      <p class="switch"><a href="${base}?page=1&screen=sign_in">${t.haveAccount}</a></p>`);
  }
  return layout(lang, t.signInTitle, `
    <h1>${t.signIn}</h1><p class="sub">${t.sub}${badge}</p>${err}
    <form method="post" action="${base}/login">
      <label for="username">${t.username}</label><input id="username" name="username" autocomplete="username" required value="${esc(username)}">
      <label for="password">${t.password}</label><input id="password" name="password" type="password" autocomplete="current-password" required>
      <button class="primary" type="submit">${t.signIn}</button>
    </form>${facebook}
    <p class="switch"><a href="${base}?page=1&screen=register">${t.createAccount}</a></p>`);
}

export function facebookDialog({ uid, lang = 'en' }) {
  const t = Object.hasOwn(TEXT, lang) ? TEXT[lang] : TEXT.en;
  const action = `/interaction/${encodeURIComponent(uid)}/facebook`;
  return layout(lang, t.fbTitle, `
    <h1 style="color:#1877f2">facebook</h1>
    <p class="sub">${t.fbSub}</p>
    <p>${t.fbRequest}</p>
    <form method="post" action="${action}">
      <input type="hidden" name="profile" value="default">
      <button class="fb" type="submit" name="decision" value="approve">${t.fbContinueAs}</button>
      <button class="plain" type="submit" name="decision" value="cancel">${t.cancel}</button>
    </form>`);
}

export function logoutPage(form, lang = 'en') {
  const t = Object.hasOwn(TEXT, lang) ? TEXT[lang] : TEXT.en;
  return layout(lang, t.signingOutTitle, `
    <h1>${t.signingOut}</h1><p class="sub">${t.sub}</p>
    ${form}
    <button class="primary" type="submit" form="op.logoutForm" value="yes" name="logout" autofocus>${t.continue}</button>
    <script>document.forms['op.logoutForm'].insertAdjacentHTML('beforeend','<input type="hidden" name="logout" value="yes">');document.forms['op.logoutForm'].submit();</script>`);
}

export function loggedOutPage(lang = 'en') {
  const t = Object.hasOwn(TEXT, lang) ? TEXT[lang] : TEXT.en;
  return layout(lang, t.signedOutTitle, `<h1>${t.signedOut}</h1>`);
}

/** oidc-provider's errors (codes and descriptions stay as sent) and the dev IdP's own (`error` a
 * code of `TEXT.*.errors`: its description is worded in the page's language). */
export function errorPage(out, lang = 'en') {
  const t = Object.hasOwn(TEXT, lang) ? TEXT[lang] : TEXT.en;
  if (Object.hasOwn(t.errors, out.error) && !out.error_description) out = { ...out, error_description: t.errors[out.error] };
  const rows = Object.entries(out).map(([k, v]) => `<p><strong>${esc(k)}</strong>: ${esc(v)}</p>`).join('');
  return layout(lang, t.errorTitle, `<h1>${t.somethingWrong}</h1>${rows}`);
}

export function homePage({ publicUrl, clientId }) {
  return layout('en', 'Logto-compatible dev IdP', `
    <h1>Logto-compatible dev IdP</h1>
    <p>Issuer <code>${esc(publicUrl)}/oidc</code>, client <code>${esc(clientId)}</code>.</p>
    <p>Test user <code>alice</code> / <code>wonderland-42</code>.</p>`);
}

export function avatarSvg(name) {
  const initials = name.startsWith('facebook') ? 'JR' : '?';
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" fill="#1877f2"/><text x="32" y="41" font-family="sans-serif" font-size="24" font-weight="700" fill="#fff" text-anchor="middle">${initials}</text></svg>`;
}
