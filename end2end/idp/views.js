// HTML for the dev IdP's pages. Every page works without JavaScript.
const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

const style = `
  body{font-family:system-ui,sans-serif;background:#f3f4f8;color:#1b1d29;margin:0;display:flex;justify-content:center}
  .box{background:#fff;margin:3rem 1rem;padding:2rem;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08);width:100%;max-width:24rem}
  h1{font-size:1.4rem;margin:0 0 .25rem} p.sub{color:#5a5f73;margin:0 0 1.25rem}
  label{display:block;font-weight:600;margin:.75rem 0 .25rem} input{width:100%;box-sizing:border-box;padding:.6rem;border:1px solid #cfd3e0;border-radius:8px;font:inherit}
  button,.btn{display:block;width:100%;box-sizing:border-box;margin-top:1rem;padding:.7rem;border-radius:8px;border:0;font:inherit;font-weight:600;cursor:pointer;text-align:center;text-decoration:none}
  .primary{background:#5d34f2;color:#fff} .fb{background:#1877f2;color:#fff} .plain{background:#eceef6;color:#1b1d29}
  .error{background:#fef3f2;color:#b42318;border:1px solid #fda29b;padding:.6rem;border-radius:8px;margin-bottom:1rem}
  .divider{text-align:center;color:#8a8fa3;margin:1rem 0 0} .switch{margin-top:1rem;text-align:center}
  .badge{font-size:.75rem;background:#eceef6;border-radius:999px;padding:.1rem .5rem;color:#5a5f73}`;

const layout = (title, body, extraHead = '') => `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><style>${style}</style>${extraHead}</head>
<body><div class="box">${body}</div></body></html>`;

export function signInPage({ uid, screen, error, username, locales }) {
  const base = `/interaction/${encodeURIComponent(uid)}`;
  const err = error ? `<div class="error" role="alert">${esc(error)}</div>` : '';
  const lang = locales ? ` <span class="badge">ui_locales: ${esc(locales)}</span>` : '';
  const facebook = `<p class="divider">or</p>
    <a class="btn fb" href="/facebook/dialog?uid=${encodeURIComponent(uid)}">Continue with Facebook</a>`;
  if (screen === 'register') {
    return layout('Create account – Logto (dev)', `
      <h1>Create your account</h1><p class="sub">Logto-compatible dev IdP${lang}</p>${err}
      <form method="post" action="${base}/register">
        <label for="username">Username</label><input id="username" name="username" autocomplete="username" required value="${esc(username)}">
        <label for="name">Full name</label><input id="name" name="name" autocomplete="name">
        <label for="email">Email</label><input id="email" name="email" type="email" autocomplete="email">
        <label for="password">Password</label><input id="password" name="password" type="password" autocomplete="new-password" required minlength="8">
        <button class="primary" type="submit">Create account</button>
      </form>${facebook}
      <p class="switch"><a href="${base}?page=1&screen=sign_in">I already have an account</a></p>`);
  }
  return layout('Sign in – Logto (dev)', `
    <h1>Sign in</h1><p class="sub">Logto-compatible dev IdP${lang}</p>${err}
    <form method="post" action="${base}/login">
      <label for="username">Username</label><input id="username" name="username" autocomplete="username" required value="${esc(username)}">
      <label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
      <button class="primary" type="submit">Sign in</button>
    </form>${facebook}
    <p class="switch"><a href="${base}?page=1&screen=register">Create account</a></p>`);
}

export function facebookDialog({ uid }) {
  const action = `/interaction/${encodeURIComponent(uid)}/facebook`;
  return layout('Log in with Facebook', `
    <h1 style="color:#1877f2">facebook</h1>
    <p class="sub">Stand-in for Facebook's OAuth dialog (dev IdP)</p>
    <p><strong>Logto (dev)</strong> is requesting access to your name, profile picture and email address.</p>
    <form method="post" action="${action}">
      <input type="hidden" name="profile" value="default">
      <button class="fb" type="submit" name="decision" value="approve">Continue as Jamie Rivera</button>
      <button class="plain" type="submit" name="decision" value="cancel">Cancel</button>
    </form>`);
}

export function logoutPage(form) {
  return layout('Signing out – Logto (dev)', `
    <h1>Signing you out…</h1><p class="sub">Logto-compatible dev IdP</p>
    ${form}
    <button class="primary" type="submit" form="op.logoutForm" value="yes" name="logout" autofocus>Continue</button>
    <script>document.forms['op.logoutForm'].insertAdjacentHTML('beforeend','<input type="hidden" name="logout" value="yes">');document.forms['op.logoutForm'].submit();</script>`);
}

export function loggedOutPage() {
  return layout('Signed out – Logto (dev)', '<h1>You are signed out</h1>');
}

export function errorPage(out) {
  const rows = Object.entries(out).map(([k, v]) => `<p><strong>${esc(k)}</strong>: ${esc(v)}</p>`).join('');
  return layout('Error – Logto (dev)', `<h1>Something went wrong</h1>${rows}`);
}

export function homePage({ publicUrl, clientId }) {
  return layout('Logto-compatible dev IdP', `
    <h1>Logto-compatible dev IdP</h1>
    <p>Issuer <code>${esc(publicUrl)}/oidc</code>, client <code>${esc(clientId)}</code>.</p>
    <p>Test user <code>alice</code> / <code>wonderland-42</code>.</p>`);
}

export function avatarSvg(name) {
  const initials = name.startsWith('facebook') ? 'JR' : '?';
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" fill="#1877f2"/><text x="32" y="41" font-family="sans-serif" font-size="24" font-weight="700" fill="#fff" text-anchor="middle">${initials}</text></svg>`;
}
