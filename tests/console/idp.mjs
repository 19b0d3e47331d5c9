// A real OpenID provider for the console's browser tests: panva's oidc-provider
// (OpenID Certified), installed by scripts/install-console-test-deps.sh into
// .tools/console, on 127.0.0.1 only.
//
//   node tests/console/idp.mjs <port>
//
// Environment (all optional except the secret):
//   WARDEN_OIDC_CLIENT_SECRET          the `warden` client's secret
//   WARDEN_REDIRECT_URIS               comma-separated redirect_uris
//   WARDEN_POST_LOGOUT_REDIRECT_URIS   comma-separated post_logout_redirect_uris
//   WARDEN_BACKCHANNEL_LOGOUT_URI      the client's backchannel_logout_uri
//   IDP_MAX_SECS                       exit after this long (default 900)
//
// Prints `IDP READY <issuer>` on stdout once listening; exits when stdin closes.
// One line per notable event (login, token, back-channel logout) on stderr.
import crypto from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const tools = process.env.WARDEN_CONSOLE_TOOLS || path.resolve(here, '../../.tools/console');
const { default: Provider } = await import(pathToFileURL(path.join(tools, 'node_modules/oidc-provider/lib/index.js')).href);

const port = Number(process.argv[2] || process.env.IDP_PORT || 0);
const list = (v) => (v || '').split(',').map((s) => s.trim()).filter(Boolean);
const secret = process.env.WARDEN_OIDC_CLIENT_SECRET;
if (!secret) {
  console.error('WARDEN_OIDC_CLIENT_SECRET is required');
  process.exit(2);
}
const log = (...a) => console.error('[idp]', ...a);

// The test users: password = `<login>-pw`. `groups` is the claim Warden maps to roles.
const USERS = {
  alice: { name: 'Alice Admin', groups: ['warden-admins'] },
  paula: { name: 'Paula Payments', groups: ['payments-approvers'] },
  olga: { name: 'Olga Other', groups: ['other-approvers'] },
  audrey: { name: 'Audrey Auditor', groups: ['auditors'] },
  victor: { name: 'Victor Viewer', groups: ['viewers'] },
  nobody: { name: 'No Body', groups: ['unmapped-group'] },
  wrongaud: { name: 'Wrong Audience', groups: ['warden-admins'] },
};
const password = (login) => `${login}-pw`;

// Signing key generated here, per run: the same private key signs every token
// the provider issues and the substituted one below.
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const kid = crypto.randomBytes(8).toString('hex');
const jwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };

const server = http.createServer();
await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body><h1 id="idp-title">${esc(title)}</h1>${body}</body></html>`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'warden',
    client_secret: secret,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: list(process.env.WARDEN_REDIRECT_URIS),
    post_logout_redirect_uris: list(process.env.WARDEN_POST_LOGOUT_REDIRECT_URIS),
    ...(process.env.WARDEN_BACKCHANNEL_LOGOUT_URI
      ? { backchannel_logout_uri: process.env.WARDEN_BACKCHANNEL_LOGOUT_URI, backchannel_logout_session_required: true }
      : {}),
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  // Put the scope's claims (groups among them) in the ID token too, as most
  // enterprise IdPs do; they are also at the userinfo endpoint.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: async (ctx, form) => {
        ctx.body = page('Sign out of the test IdP?', `${form}
<button id="logout-yes" autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button id="logout-no" type="submit" form="op.logoutForm">No, stay signed in</button>`);
      },
      postLogoutSuccessSource: async (ctx) => {
        ctx.body = page('Signed out', '<p id="signed-out">You are signed out of the test IdP.</p>');
      },
    },
    backchannelLogout: { enabled: true },
  },
  findAccount: async (_ctx, sub) => {
    const u = USERS[sub];
    if (!u) return undefined;
    return {
      accountId: sub,
      claims: async () => ({
        sub, email: `${sub}@example.com`, email_verified: true, name: u.name, preferred_username: sub, groups: u.groups,
      }),
    };
  },
  // `warden` is first-party: consent is implied (no consent screen).
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
  // The only outgoing request is the back-channel logout to Warden on loopback,
  // which oidc-provider's SSRF guard (its dispatcher refuses special-use IPs
  // such as 127.0.0.1) would drop: use the plain fetch, the URL is ours.
  fetch: (url, options) => {
    delete options.dispatcher;
    return globalThis.fetch(url, options);
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = page('IdP error', `<pre id="idp-error">${esc(JSON.stringify(out))}</pre>`);
  },
});

// `wrongaud`: a real IdP never gives the right client an ID token for another
// audience, so to test that Warden checks `aud` the token response for this
// one user is rewritten: the id_token is re-signed with the IdP's own private
// key (same kid, so its JWKS verifies it) with aud `someone-else`. That is a
// token-substitution attack (a token minted for another relying party replayed
// at Warden) with a signature only the audience check can catch.
const b64u = (b) => Buffer.from(b).toString('base64url');
provider.use(async (ctx, next) => {
  await next();
  if (ctx.method !== 'POST' || ctx.path !== '/token' || !ctx.body || typeof ctx.body !== 'object' || !ctx.body.id_token) return;
  const [h, p] = ctx.body.id_token.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url'));
  log('token issued', JSON.stringify({ sub: claims.sub, aud: claims.aud, groups: claims.groups }));
  if (claims.sub !== 'wrongaud') return;
  claims.aud = 'someone-else';
  const input = `${h}.${b64u(JSON.stringify(claims))}`;
  const sig = crypto.sign('sha256', Buffer.from(input), privateKey);
  ctx.body = { ...ctx.body, id_token: `${input}.${b64u(sig)}` };
  log('token for wrongaud re-signed with aud someone-else');
});
provider.on('backchannel.success', (_ctx, client, accountId, sid) => log('backchannel logout sent', client.clientId, accountId, sid));
provider.on('backchannel.error', (_ctx, err, client, accountId, sid) => log('backchannel logout failed', client.clientId, accountId, sid, String(err)));
provider.on('server_error', (_ctx, err) => log('server_error', err.stack || String(err)));

// The login form: a real form the browser fills in, checked against USERS.
async function formBody(req) {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  return Object.fromEntries(new URLSearchParams(raw));
}
function loginPage(uid, error = '') {
  return page('Sign in to the test IdP', `${error ? `<p id="login-error">${esc(error)}</p>` : ''}
<form id="login-form" method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
  <label>User <input id="login" name="login" autofocus></label>
  <label>Password <input id="password" name="password" type="password"></label>
  <button id="submit" type="submit">Sign in</button>
</form>`);
}
function send(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

const callback = provider.callback();
server.on('request', async (req, res) => {
  const m = /^\/interaction\/([\w-]+)(\/login)?$/.exec(new URL(req.url, issuer).pathname);
  if (!m) return callback(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name !== 'login') {
      // Consent is implied by loadExistingGrant; anything else finishes as is.
      return await provider.interactionFinished(req, res, {}, { mergeWithLastSubmission: true });
    }
    if (req.method === 'GET' && !m[2]) return send(res, 200, loginPage(details.uid));
    if (req.method === 'POST' && m[2]) {
      const { login = '', password: pw = '' } = await formBody(req);
      if (!USERS[login] || pw !== password(login)) {
        log('login refused', login);
        return send(res, 401, loginPage(details.uid, 'Wrong user or password.'));
      }
      log('login', login);
      return await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
    }
    return send(res, 405, page('Method not allowed', ''));
  } catch (err) {
    log('interaction error', String(err));
    return send(res, 400, page('Interaction error', `<pre id="idp-error">${esc(String(err))}</pre>`));
  }
});

console.log(`IDP READY ${issuer}`);
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
setTimeout(() => { log('time limit reached'); process.exit(0); }, Number(process.env.IDP_MAX_SECS || 900) * 1000).unref();
