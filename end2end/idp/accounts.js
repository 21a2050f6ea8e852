// In-memory users for the dev IdP: password users, self-registered users and Facebook users.
import crypto from 'node:crypto';

const FACEBOOK_PROFILES = {
  default: { fbId: '10220000000000001', name: 'Jamie Rivera', email: 'jamie.rivera@facebook.example' },
};

// Organizations of the dev "tenant", and what each organization role may do.
const ORGANIZATIONS = [
  { id: 'org-acme', name: 'Acme', description: 'The company' },
  { id: 'org-globex', name: 'Globex', description: 'A partner' },
];
const ORG_ROLE_PERMISSIONS = { admin: ['read:members', 'invite:members'], viewer: ['read:members'] };

export class Accounts {
  constructor(publicUrl) {
    this.publicUrl = publicUrl;
    this.byId = new Map();
    this.byUsername = new Map();
    /** accountId -> target -> { accessToken, scope, expiresAt } (Logto's Secret Vault) */
    this.vault = new Map();
    const alice = this.add({ username: 'alice', password: 'wonderland-42', name: 'Alice Liddell', email: 'alice@example.com' });
    alice.organizations = { 'org-acme': ['admin'], 'org-globex': ['viewer'] };
  }

  isMember(accountId, orgId) { return Boolean(this.byId.get(accountId)?.organizations?.[orgId]); }

  organizationPermissions(accountId, orgId) {
    const roles = this.byId.get(accountId)?.organizations?.[orgId] || [];
    return [...new Set(roles.flatMap((r) => ORG_ROLE_PERMISSIONS[r] || []))];
  }

  allOrganizationPermissions() { return [...new Set(Object.values(ORG_ROLE_PERMISSIONS).flat())]; }

  storeFacebookToken(accountId) {
    const tokens = this.vault.get(accountId) || new Map();
    // A long-lived Facebook token lasts about 60 days.
    tokens.set('facebook', { accessToken: `EAAdev${crypto.randomBytes(24).toString('hex')}`, scope: 'email,public_profile', expiresAt: Date.now() + 60 * 24 * 3600 * 1000 });
    this.vault.set(accountId, tokens);
  }

  storedToken(accountId, target) { return this.vault.get(accountId)?.get(target); }

  dropStoredToken(accountId, target) { this.vault.get(accountId)?.delete(target); }

  byFacebookToken(token) {
    for (const [accountId, tokens] of this.vault) {
      const t = tokens.get('facebook');
      if (t && t.accessToken === token && t.expiresAt > Date.now()) return this.byId.get(accountId);
    }
    return undefined;
  }

  describe() { return 'alice / wonderland-42 (or create one, or Continue with Facebook)'; }

  add({ username, password, name, email, picture, identities }) {
    const id = `u_${crypto.randomBytes(6).toString('hex')}`;
    const now = Date.now();
    const account = {
      id, username, password, name, email, picture, identities: identities || {}, createdAt: now, updatedAt: now,
    };
    this.byId.set(id, account);
    if (username) this.byUsername.set(username.toLowerCase(), account);
    return account;
  }

  verifyPassword(username, password) {
    const account = this.byUsername.get(String(username || '').toLowerCase());
    if (!account || !account.password) return undefined;
    const a = Buffer.from(String(password || ''));
    const b = Buffer.from(account.password);
    return a.length === b.length && crypto.timingSafeEqual(a, b) ? account : undefined;
  }

  register({ username, password, name, email }) {
    username = String(username || '').trim();
    if (!/^[A-Za-z_][A-Za-z0-9_]{2,31}$/.test(username)) {
      return { error: 'username_invalid' };
    }
    if (this.byUsername.has(username.toLowerCase())) return { error: 'username_taken' };
    if (String(password || '').length < 8) return { error: 'password_short' };
    const account = this.add({ username, password, name: String(name || '').trim() || username, email: String(email || '').trim() || undefined });
    return { account };
  }

  facebookUser(profileKey) {
    const profile = FACEBOOK_PROFILES[profileKey] || FACEBOOK_PROFILES.default;
    for (const account of this.byId.values()) {
      if (account.identities.facebook?.userId === profile.fbId) return account;
    }
    const picture = `${this.publicUrl}/avatars/facebook-${profile.fbId}.svg`;
    return this.add({
      name: profile.name,
      email: profile.email,
      picture,
      identities: {
        facebook: { userId: profile.fbId, details: { id: profile.fbId, name: profile.name, email: profile.email, avatar: picture } },
      },
    });
  }

  async findAccount(id) {
    const account = this.byId.get(id);
    if (!account) return undefined;
    return {
      accountId: id,
      claims: async () => ({
        sub: id,
        name: account.name,
        username: account.username || null,
        picture: account.picture || null,
        email: account.email || null,
        email_verified: Boolean(account.email),
        identities: account.identities,
        custom_data: {},
        roles: [],
        organizations: Object.keys(account.organizations || {}),
        organization_roles: Object.entries(account.organizations || {}).flatMap(([org, roles]) => roles.map((r) => `${org}:${r}`)),
        organization_data: ORGANIZATIONS.filter((o) => account.organizations?.[o.id]),
        created_at: account.createdAt,
        updated_at: account.updatedAt,
      }),
    };
  }
}
