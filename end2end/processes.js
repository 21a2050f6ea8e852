// Starts and stops the app binary and the dev IdP for the browser tests.
// PIDs live in a state file so a test (another process) can restart the app.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..');
const stateDir = path.join(root, 'target', 'e2e');
const stateFile = path.join(stateDir, 'pids.json');

export const APP_ADDR = process.env.E2E_APP_ADDR || '127.0.0.1:3000';
export const IDP_PORT = Number(process.env.E2E_IDP_PORT || 3100);
export const APP_URL = `http://${APP_ADDR}`;
export const IDP_URL = `http://127.0.0.1:${IDP_PORT}`;
export const GRAPH_URL = `http://127.0.0.1:${IDP_PORT + 1}`;
export const API_RESOURCE = 'https://api.example.com';
/** Which `cargo leptos build` output the tests run against: `debug` (the default) or `release`. */
export const BUILD = process.env.E2E_BUILD || 'debug';
if (!['debug', 'release'].includes(BUILD)) throw new Error(`E2E_BUILD must be debug or release, not ${BUILD}`);

/**
 * A key's string value in one table of the app's Cargo.toml (first match), as scripts/lib.sh
 * reads it: a project made from the template (cargo-generate.toml) has its own names.
 */
function cargoTomlValue(table, key) {
  let inTable = false;
  for (const line of fs.readFileSync(path.join(root, 'Cargo.toml'), 'utf8').split('\n')) {
    if (line.startsWith('[')) { inTable = line.trim() === `[${table}]`; continue; }
    const m = inTable && line.match(/^([A-Za-z0-9_-]+)\s*=\s*"([^"]*)"/);
    if (m && m[1] === key) return m[2];
  }
  throw new Error(`Cargo.toml has no ${key} in [${table}]`);
}
/** The server binary's name (the package's) and the site files' (`pkg/<name>.wasm`). */
export const PACKAGE_NAME = cargoTomlValue('package', 'name');
export const OUTPUT_NAME = cargoTomlValue('package.metadata.leptos', 'output-name');

function readState() {
  try { return JSON.parse(fs.readFileSync(stateFile, 'utf8')); } catch { return {}; }
}
function writeState(state) {
  fs.mkdirSync(stateDir, { recursive: true });
  fs.writeFileSync(stateFile, JSON.stringify(state));
}

function logStream(name) {
  fs.mkdirSync(stateDir, { recursive: true });
  return fs.openSync(path.join(stateDir, `${name}.log`), 'a');
}

export async function waitForHttp(url, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let lastErr;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
      lastErr = new Error(`HTTP ${res.status}`);
    } catch (err) { lastErr = err; }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up: ${lastErr}`);
}

function startDetached(name, cmd, args, env) {
  const out = logStream(name);
  const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', out, out], detached: true });
  child.unref();
  return child.pid;
}

export function appEnv() {
  return {
    LEPTOS_OUTPUT_NAME: OUTPUT_NAME,
    LEPTOS_SITE_ROOT: 'target/site',
    LEPTOS_SITE_PKG_DIR: 'pkg',
    LEPTOS_SITE_ADDR: APP_ADDR,
    LEPTOS_RELOAD_PORT: '3001',
    // Release builds are built with content-hashed names (hash.txt beside the binary).
    LEPTOS_HASH_FILES: BUILD === 'release' ? 'true' : 'false',
    LOGTO_ENDPOINT: IDP_URL,
    LOGTO_APP_ID: 'leptos-dev-app',
    LOGTO_APP_SECRET: 'leptos-dev-secret-not-for-production',
    APP_BASE_URL: APP_URL,
    SESSION_STORE_URL: `sqlite://${path.join(stateDir, 'sessions.db')}`,
    DEMO_API_RESOURCE: API_RESOURCE,
    // The defaults plus an organization permission, so organization tokens carry a scope.
    LOGTO_SCOPES: 'openid offline_access profile email identities urn:logto:scope:organizations urn:logto:scope:organization_roles read:members',
    FACEBOOK_GRAPH_URL: GRAPH_URL,
    RUST_LOG: 'info,logto_leptos=debug',
    // Every test signs in from 127.0.0.1, faster than a person would; still limited.
    SIGN_IN_RATE_LIMIT_PER_MINUTE: '600',
  };
}

export async function startApp() {
  const bin = path.join(root, 'target', BUILD, PACKAGE_NAME);
  const how = BUILD === 'release'
    ? 'LEPTOS_HASH_FILES=true cargo leptos build --release --precompress'
    : 'cargo leptos build';
  if (!fs.existsSync(bin)) throw new Error(`${bin} missing: run ${how} first`);
  const pid = startDetached('app', bin, [], appEnv());
  writeState({ ...readState(), app: pid });
  await waitForHttp(`${APP_URL}/healthz`);
}

export async function stopApp() {
  const { app } = readState();
  if (app) await killAndWait(app);
  writeState({ ...readState(), app: undefined });
}

export async function startIdp() {
  const pid = startDetached('idp', process.execPath, [path.join(here, 'idp', 'server.js')], {
    IDP_PORT: String(IDP_PORT),
    IDP_CLIENT_ID: 'leptos-dev-app',
    IDP_CLIENT_SECRET: 'leptos-dev-secret-not-for-production',
    IDP_APP_BASE_URLS: APP_URL,
    IDP_GRAPH_PORT: String(IDP_PORT + 1),
    IDP_API_RESOURCES: `${API_RESOURCE}=read:hello`,
  });
  writeState({ ...readState(), idp: pid });
  await waitForHttp(`${IDP_URL}/oidc/.well-known/openid-configuration`);
}

export async function stopAll() {
  const state = readState();
  for (const pid of [state.app, state.idp]) if (pid) await killAndWait(pid);
  writeState({});
}

async function killAndWait(pid, timeoutMs = 10_000) {
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try { process.kill(pid, 0); } catch { return; }
    await new Promise((r) => setTimeout(r, 50));
  }
  try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
}
