// A Logto-compatible OpenID provider for development and browser tests.
// Built on `oidc-provider` (the library Logto itself is built on) and configured like Logto:
// issuer at /oidc, ES384 ID tokens, userinfo at /oidc/me, end session at /oidc/session/end,
// refresh tokens only with offline_access + prompt=consent, rotation with reuse detection,
// Logto's auth parameters (first_screen, direct_sign_in, ui_locales) and a stand-in Facebook dialog.
// State lives in memory. It is test tooling: the app must never special-case it.
import http from 'node:http';
import crypto from 'node:crypto';
import { URL } from 'node:url';
import Provider, { errors } from 'oidc-provider';
import { Accounts } from './accounts.js';
import * as views from './views.js';

const port = Number(process.env.IDP_PORT || 3100);
const host = process.env.IDP_HOST || '127.0.0.1';
const publicUrl = process.env.IDP_PUBLIC_URL || `http://${host}:${port}`;
const clientId = process.env.IDP_CLIENT_ID || 'leptos-dev-app';
const clientSecret = process.env.IDP_CLIENT_SECRET || 'leptos-dev-secret-not-for-production';
// Base URLs of apps allowed to use this client: each gets {base}/callback and {base}/ registered.
const appBases = (process.env.IDP_APP_BASE_URLS || 'http://127.0.0.1:3000,http://localhost:3000')
  .split(',').map((s) => s.trim().replace(/\/$/, '')).filter(Boolean);

// Back-channel logout as configured in Logto Console ("Backchannel logout URI", "Is session
// required"): the first app base's /auth/backchannel-logout unless set; session required by default.
const backchannelLogoutUri = process.env.IDP_BACKCHANNEL_LOGOUT_URI ?? `${appBases[0]}/auth/backchannel-logout`;
const backchannelSessionRequired = process.env.IDP_BACKCHANNEL_SESSION_REQUIRED !== 'false';

const graphPort = Number(process.env.IDP_GRAPH_PORT || port + 1);
const graphUrl = process.env.IDP_GRAPH_PUBLIC_URL || `http://${host}:${graphPort}`;
const accounts = new Accounts(publicUrl);

// API resources registered in this "tenant", with their permissions (Console > API resources).
// IDP_API_RESOURCES: `indicator=perm1 perm2;indicator2=perm`.
const apiResources = Object.fromEntries(
  (process.env.IDP_API_RESOURCES || 'https://api.example.com=read:hello')
    .split(';').map((s) => s.trim()).filter(Boolean)
    .map((entry) => { const [indicator, perms = ''] = entry.split('='); return [indicator.trim(), perms.split(/\s+/).filter(Boolean)]; }),
);
// Logto's reserved resource and scopes for organizations.
const ORG_RESOURCE = 'urn:logto:resource:organizations';
const ORG_SCOPE = 'urn:logto:scope:organizations';
const ORG_ROLES_SCOPE = 'urn:logto:scope:organization_roles';
const SIGN = { alg: 'ES384' };
// The Facebook connector's "Store tokens for persistent API access" (Console > Connectors).
const facebookConnector = { storeTokens: process.env.IDP_FACEBOOK_STORE_TOKENS !== 'false' };

function es384Key() {
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, alg: 'ES384', use: 'sig', kid: crypto.randomBytes(8).toString('hex') };
}

const provider = new Provider(`${publicUrl}/oidc`, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: appBases.map((b) => `${b}/callback`),
    post_logout_redirect_uris: appBases.map((b) => `${b}/`),
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES384',
    ...(backchannelLogoutUri ? {
      backchannel_logout_uri: backchannelLogoutUri,
      backchannel_logout_session_required: backchannelSessionRequired,
    } : {}),
  }],
  jwks: { keys: [es384Key()] },
  enabledJWA: { idTokenSigningAlgValues: ['RS256', 'PS256', 'ES256', 'ES384', 'ES512', 'EdDSA'] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  findAccount: (ctx, id) => accounts.findAccount(id),
  scopes: ['openid', 'offline_access', 'profile', 'email', 'phone', 'identities', 'custom_data', 'roles', ORG_SCOPE, ORG_ROLES_SCOPE],
  claims: {
    openid: ['sub'],
    profile: ['name', 'picture', 'username', 'given_name', 'family_name', 'updated_at', 'created_at'],
    email: ['email', 'email_verified'],
    phone: ['phone_number', 'phone_number_verified'],
    identities: ['identities'],
    custom_data: ['custom_data'],
    roles: ['roles'],
    [ORG_SCOPE]: ['organizations', 'organization_data'],
    [ORG_ROLES_SCOPE]: ['organization_roles'],
  },
  // Logto puts the scope's claims into the ID token too.
  conformIdTokenClaims: false,
  extraParams: ['first_screen', 'interaction_mode', 'direct_sign_in', 'identifier', 'organization_id'],
  routes: {
    authorization: '/auth',
    token: '/token',
    userinfo: '/me',
    end_session: '/session/end',
    jwks: '/jwks',
    revocation: '/token/revocation',
  },
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    // Logto: when a user's session ends (sign-out from any app, or here), every app of that
    // session with a back-channel logout URI gets a logout token (typ logout+jwt, 120 s, sid when
    // "session required").
    backchannelLogout: { enabled: true },
    // API resources and organization tokens as Logto issues them: JWT access tokens (typ at+jwt,
    // ES384) with aud = the resource indicator or urn:logto:organization:{id}. A token request
    // without resource gets the opaque token for userinfo and the Account API (Logto: the same).
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, client, oneOf) => oneOf,
      useGrantedResource: async () => false,
      getResourceServerInfo: async (ctx, indicator) => {
        const base = { accessTokenFormat: 'jwt', jwt: { sign: SIGN } };
        if (indicator === ORG_RESOURCE) {
          const orgId = ctx.req.logtoOrganizationId; // set by the organization_id pre-step below
          if (!orgId) return { ...base, scope: accounts.allOrganizationPermissions().join(' ') };
          const accountId = ctx.oidc.entities.Account?.accountId;
          return { ...base, audience: `urn:logto:organization:${orgId}`, scope: accounts.organizationPermissions(accountId, orgId).join(' ') };
        }
        const perms = apiResources[indicator];
        if (!perms) throw new errors.InvalidTarget();
        return { ...base, scope: perms.join(' ') };
      },
    },
    rpInitiatedLogout: {
      enabled: true,
      // Logto's sign-out confirmation submits itself; the button covers browsers without JavaScript.
      // Logto ignores `ui_locales` here (its sign-out page is an invisible, self-submitting form);
      // the dev IdP's has a button without JavaScript, so it speaks the app's language.
      logoutSource: async (ctx, form) => {
        ctx.body = views.logoutPage(form, views.pickLanguage(ctx.oidc.params?.ui_locales, ctx.get('accept-language')));
      },
      postLogoutSuccessSource: async (ctx) => { ctx.body = views.loggedOutPage(views.pickLanguage('', ctx.get('accept-language'))); },
    },
  },
  pkce: { required: () => false }, // Logto does not force PKCE on confidential clients; the app sends it anyway.
  rotateRefreshToken: true, // reuse of a consumed refresh token revokes the grant, as in Logto
  ttl: {
    AccessToken: Number(process.env.IDP_ACCESS_TOKEN_TTL || 3600),
    IdToken: 3600,
    RefreshToken: 14 * 24 * 3600,
    AuthorizationCode: 60,
    Interaction: 3600,
    Session: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
  },
  // oidc-provider refuses to fetch loopback and private addresses (SSRF protection), and so would a
  // Logto Cloud tenant; the dev IdP and the app share a machine, so the one back-channel logout URI
  // configured above is let through. Everything else keeps the protection.
  fetch: (url, options) => {
    if (backchannelLogoutUri && String(url) === new URL(backchannelLogoutUri).href) {
      const { dispatcher, ...rest } = options;
      return globalThis.fetch(url, rest);
    }
    return globalThis.fetch(url, options);
  },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = views.errorPage(out, views.pickLanguage(ctx.oidc?.params?.ui_locales, ctx.get('accept-language')));
  },
});
provider.proxy = false;

// Logto's organization tokens: the refresh-token grant with `organization_id`. Logto checks
// membership (403 access_denied) and the organizations scope before it rotates anything; the dev
// IdP does the same here, then lets oidc-provider issue the token for the organizations resource
// with the organization as audience (see getResourceServerInfo). README: differences.
provider.use(async (ctx, next) => {
  if (ctx.method !== 'POST' || ctx.path !== '/token' || !ctx.is('application/x-www-form-urlencoded')) return next();
  const chunks = [];
  for await (const c of ctx.req) chunks.push(c);
  const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
  const orgId = form.get('organization_id');
  if (form.get('grant_type') === 'refresh_token' && orgId && !form.has('resource')) {
    const rt = await provider.RefreshToken.find(form.get('refresh_token'), { ignoreExpiration: true });
    if (rt && !rt.consumed && !rt.isExpired) {
      const deny = (status, body) => { ctx.status = status; ctx.set('cache-control', 'no-store'); ctx.body = body; };
      if (!rt.scopes.has(ORG_SCOPE)) {
        return deny(403, { error: 'insufficient_scope', error_description: 'refresh token missing required scope', scope: ORG_SCOPE });
      }
      if (!accounts.isMember(rt.accountId, orgId)) {
        return deny(403, { error: 'access_denied', error_description: 'user is not a member of the organization' });
      }
      if (!rt.resourceIndicators?.has(ORG_RESOURCE)) {
        return deny(400, { error: 'invalid_target', error_description: 'resource indicator is missing, or unknown' });
      }
      ctx.req.logtoOrganizationId = orgId;
      form.delete('organization_id');
      form.set('resource', ORG_RESOURCE);
    }
  }
  ctx.req.body = form.toString();
  return next();
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.on('backchannel.error', (ctx, err, client) => console.error(`back-channel logout to ${client.clientId} failed: ${err.message}`));

async function readForm(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
}

function send(res, status, html, headers = {}) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(html);
}

function redirect(res, location) {
  res.writeHead(303, { location, 'cache-control': 'no-store' });
  res.end();
}

/** Completes the login and, like Logto for first-party apps, grants consent without asking. */
async function finishLogin(req, res, accountId) {
  await provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
}

async function autoConsent(req, res, details) {
  const { prompt: { details: missing }, params, session } = details;
  let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
  if (!grant) grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  if (missing.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

async function interaction(req, res, url) {
  const parts = url.pathname.split('/').filter(Boolean); // interaction/:uid[/action]
  const uid = parts[1];
  const action = parts[2];
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    const lang = views.pickLanguage('', req.headers['accept-language']);
    return send(res, 400, views.errorPage({ error: 'session_not_found' }, lang));
  }
  if (details.uid !== uid) {
    return send(res, 400, views.errorPage({ error: 'interaction_mismatch' }, views.pickLanguage(details.params.ui_locales, req.headers['accept-language'])));
  }
  const { prompt, params } = details;
  const lang = views.pickLanguage(params.ui_locales, req.headers['accept-language']);

  if (req.method === 'GET' && !action) {
    if (prompt.name === 'consent') return autoConsent(req, res, details);
    const error = url.searchParams.get('error');
    if (params.direct_sign_in === 'social:facebook' && !error && !url.searchParams.has('page')) {
      return redirect(res, `/facebook/dialog?uid=${encodeURIComponent(uid)}`);
    }
    const screen = url.searchParams.get('screen')
      || (params.first_screen === 'register' || params.interaction_mode === 'signUp' ? 'register' : 'sign_in');
    return send(res, 200, views.signInPage({ uid, screen, error, locales: params.ui_locales, lang }));
  }
  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    const account = accounts.verifyPassword(form.username, form.password);
    if (!account) {
      return send(res, 401, views.signInPage({ uid, screen: 'sign_in', error: 'wrong_password', username: form.username, lang }));
    }
    return finishLogin(req, res, account.id);
  }
  if (req.method === 'POST' && action === 'register') {
    const form = await readForm(req);
    const result = accounts.register(form);
    if (result.error) {
      return send(res, 422, views.signInPage({ uid, screen: 'register', error: result.error, username: form.username, lang }));
    }
    return finishLogin(req, res, result.account.id);
  }
  if (req.method === 'POST' && action === 'facebook') {
    // Facebook's answer comes back here (the interaction cookie is scoped to this path).
    const form = await readForm(req);
    if (form.decision !== 'approve') {
      // Like Logto: back on the sign-in page with an error; the app gets no callback.
      return redirect(res, `/interaction/${encodeURIComponent(uid)}?page=1&error=facebook_cancelled`);
    }
    const account = accounts.facebookUser(form.profile || 'default');
    // The connector exchanges Facebook's token for a long-lived one and stores it, if configured.
    if (facebookConnector.storeTokens) accounts.storeFacebookToken(account.id);
    else accounts.dropStoredToken(account.id, 'facebook');
    return finishLogin(req, res, account.id);
  }
  return send(res, 404, views.errorPage({ error: 'not_found' }, lang));
}

function sendJson(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

const bearer = (req) => /^Bearer (.+)$/i.exec(req.headers.authorization || '')?.[1];

/** Logto's Account API, the part the app uses: the Secret Vault's stored social token
 * (logto core routes/account/third-party-tokens.ts). Takes the user's opaque Logto access token. */
async function accountApi(req, res, url) {
  const m = /^\/api\/my-account\/identities\/([^/]+)\/access-token$/.exec(url.pathname);
  if (!m || req.method !== 'GET') return sendJson(res, 404, { code: 'guard.invalid_input', message: 'Not found.' });
  const token = bearer(req);
  if (!token) return sendJson(res, 401, { code: 'auth.authorization_header_missing', message: 'Authorization header is missing.' });
  const at = await provider.AccessToken.find(token);
  if (!at || !at.accountId) return sendJson(res, 401, { code: 'auth.unauthorized', message: 'Unauthorized.' });
  if (!at.scopes.has('openid') || !at.scopes.has('identities')) return sendJson(res, 403, { code: 'auth.forbidden', message: 'Forbidden.' });
  const stored = accounts.storedToken(at.accountId, decodeURIComponent(m[1]));
  if (!stored) return sendJson(res, 404, { code: 'secrets.third_party_token_set.token_not_found', message: 'Token record not found.' });
  const expiresIn = Math.floor((stored.expiresAt - Date.now()) / 1000);
  if (expiresIn <= 0) {
    accounts.dropStoredToken(at.accountId, decodeURIComponent(m[1])); // Logto deletes it, as here
    return sendJson(res, 401, { code: 'secrets.third_party_token_set.access_token_expired', message: 'The access token has expired. Please reconnect your account.' });
  }
  return sendJson(res, 200, { access_token: stored.accessToken, scope: stored.scope, token_type: 'bearer', expires_in: expiresIn });
}

/** Stand-in for Console settings the browser tests flip: the Facebook connector's token storage. */
async function consoleSettings(req, res) {
  if (req.method !== 'POST') return sendJson(res, 405, { error: 'method_not_allowed' });
  const form = await readForm(req);
  if ('store_tokens' in form) facebookConnector.storeTokens = form.store_tokens === 'on';
  return sendJson(res, 200, { facebook: facebookConnector });
}

/** The stand-in for Facebook's OAuth dialog that Logto's Facebook connector sends users to. Real
 * Facebook speaks its user's language; the stand-in speaks the sign-in's (`ui_locales`), else the
 * browser's. */
async function facebookDialog(req, res, url) {
  if (req.method === 'GET' && url.pathname === '/facebook/dialog') {
    const uid = url.searchParams.get('uid') || '';
    const pending = uid ? await provider.Interaction.find(uid).catch(() => undefined) : undefined;
    const lang = views.pickLanguage(pending?.params?.ui_locales, req.headers['accept-language']);
    return send(res, 200, views.facebookDialog({ uid, lang }));
  }
  return send(res, 404, views.errorPage({ error: 'not_found' }, views.pickLanguage('', req.headers['accept-language'])));
}

const oidc = provider.callback();
const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, publicUrl);
  try {
    if (url.pathname === '/oidc' || url.pathname.startsWith('/oidc/')) {
      req.originalUrl = req.url;
      req.url = req.url.slice('/oidc'.length) || '/';
      return oidc(req, res);
    }
    if (url.pathname.startsWith('/interaction/')) return await interaction(req, res, url);
    if (url.pathname.startsWith('/facebook/')) return await facebookDialog(req, res, url);
    if (url.pathname.startsWith('/api/my-account/')) return await accountApi(req, res, url);
    if (url.pathname === '/console/connectors/facebook') return await consoleSettings(req, res);
    if (url.pathname.startsWith('/avatars/')) {
      const svg = views.avatarSvg(url.pathname.slice('/avatars/'.length));
      res.writeHead(200, { 'content-type': 'image/svg+xml', 'cache-control': 'public, max-age=3600' });
      return res.end(svg);
    }
    if (url.pathname === '/' || url.pathname === '/healthz') return send(res, 200, views.homePage({ publicUrl, clientId }));
    return send(res, 404, views.errorPage({ error: 'not_found' }, views.pickLanguage('', req.headers['accept-language'])));
  } catch (err) {
    console.error(err);
    if (!res.headersSent) send(res, 500, views.errorPage({ error: 'server_error' }, views.pickLanguage('', req.headers['accept-language'])));
  }
});
server.listen(port, host, () => {
  console.log(`dev IdP (Logto-compatible) listening on ${publicUrl} — issuer ${publicUrl}/oidc, client ${clientId}`);
  console.log(`test users: ${accounts.describe()}`);
});

// Stand-in for Facebook's Graph API, on its own origin like the real one: GET /me?fields=id,name,picture
// with the Facebook token (Bearer header or access_token parameter). Unknown or revoked: code 190.
const graph = http.createServer((req, res) => {
  const url = new URL(req.url, graphUrl);
  const token = bearer(req) || url.searchParams.get('access_token');
  if (url.pathname.replace(/^\/v\d+\.\d+/, '') !== '/me') {
    return sendJson(res, 404, { error: { message: 'Unknown path components', type: 'OAuthException', code: 2500 } });
  }
  const account = token && accounts.byFacebookToken(token);
  if (!account) {
    return sendJson(res, 400, { error: { message: 'Error validating access token: The session has been invalidated.', type: 'OAuthException', code: 190, error_subcode: 460 } });
  }
  const fb = account.identities.facebook;
  const fields = (url.searchParams.get('fields') || 'id,name').split(',');
  const out = { id: fb.userId };
  if (fields.includes('name')) out.name = fb.details.name;
  if (fields.includes('picture')) out.picture = { data: { url: fb.details.avatar, width: 50, height: 50, is_silhouette: false } };
  return sendJson(res, 200, out);
});
graph.listen(graphPort, host, () => console.log(`Facebook Graph API stand-in on ${graphUrl}`));

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { graph.close(); server.close(() => process.exit(0)); });
