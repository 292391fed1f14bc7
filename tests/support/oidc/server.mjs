// A real OpenID Connect provider for Prism's single sign-on tests: panva's oidc-provider (OpenID
// Certified), configured the way a company's IdP would be: authorization code flow only, PKCE (S256)
// required, ID tokens signed with an RSA key generated at start, a confidential client per entry of
// OIDC_CLIENTS. Nothing is stubbed: the provider checks the client secret, the redirect URI, the code
// verifier, single use of codes, and signs what it issues.
//
// What the tests drive without a browser form: GET /interaction/:uid says what the provider asks
// (JSON); POST /interaction/:uid/login (form: login, password) signs a test user in and consent is
// implied (a first-party client, as an admin configures Prism); POST /interaction/:uid/abort ends the
// flow with error=access_denied.
//
// Environment:
//   OIDC_PORT      port on 127.0.0.1 (required)
//   OIDC_ISSUER    issuer URL (default http://127.0.0.1:$OIDC_PORT)
//   OIDC_CLIENTS   JSON list of {client_id, client_secret, redirect_uris}
//   OIDC_KEYS_FILE optional: the signing keys (JWKS with private parts) are read from it when it
//                  exists, else generated and written there (two providers can then share keys:
//                  tokens of one verify under the other's JWKS, only the issuer differs)
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
if (!port) throw new Error('OIDC_PORT is required');
const issuer = process.env.OIDC_ISSUER || `http://127.0.0.1:${port}`;
const clients = JSON.parse(process.env.OIDC_CLIENTS || '[]').map((c) => ({
  client_id: c.client_id,
  client_secret: c.client_secret,
  redirect_uris: c.redirect_uris,
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
}));
if (!clients.length) throw new Error('OIDC_CLIENTS must name at least one client');

// The test users: login -> password and claims. alice is in the admins' group, bob in none, carol's
// email address is not verified.
const USERS = {
  alice: {
    password: 'alice-password',
    claims: { email: 'alice@example.com', email_verified: true, name: 'Alice Admin', groups: ['prism-admins'] },
  },
  bob: {
    password: 'bob-password',
    claims: { email: 'bob@example.com', email_verified: true, name: 'Bob Viewer', groups: [] },
  },
  carol: {
    password: 'carol-password',
    claims: { email: 'carol@example.com', email_verified: false, name: 'Carol Unverified', groups: [] },
  },
};

function signingKeys() {
  const file = process.env.OIDC_KEYS_FILE;
  if (file && existsSync(file)) return JSON.parse(readFileSync(file, 'utf8'));
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };
  const jwks = { keys: [jwk] };
  if (file) writeFileSync(file, JSON.stringify(jwks), { mode: 0o600 });
  return jwks;
}

const provider = new Provider(issuer, {
  clients,
  jwks: signingKeys(),
  cookies: { keys: [randomBytes(32).toString('hex')] },
  pkce: { required: () => true },
  ttl: { AuthorizationCode: 60, AccessToken: 600, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
  features: { devInteractions: { enabled: false } },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const user = USERS[sub];
    if (!user) return undefined;
    return { accountId: sub, claims: async () => ({ sub, ...user.claims }) };
  },
  // Consent is implied for these first-party clients: a grant of what was asked for.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.params.scope);
    await grant.save();
    return grant;
  },
  renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function form(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, { error: 'interaction_mismatch' });
  if (req.method === 'GET' && !action) {
    return send(res, 200, { uid, prompt: details.prompt.name, client_id: details.params.client_id });
  }
  if (req.method !== 'POST') return send(res, 405, { error: 'method_not_allowed' });
  if (action === 'abort') {
    return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the user said no' }, { mergeWithLastSubmission: false });
  }
  if (action === 'login') {
    const fields = await form(req);
    const user = USERS[fields.get('login')];
    if (!user || user.password !== fields.get('password')) return send(res, 401, { error: 'invalid_credentials' });
    return provider.interactionFinished(req, res, { login: { accountId: fields.get('login') } }, { mergeWithLastSubmission: false });
  }
  return send(res, 404, { error: 'not_found' });
}

const callback = provider.callback();
createServer(async (req, res) => {
  const match = /^\/interaction\/([^/?]+)(?:\/(login|abort))?(?:\?.*)?$/.exec(req.url);
  if (!match) return callback(req, res);
  try {
    await interaction(req, res, match[1], match[2]);
  } catch (err) {
    send(res, 400, { error: err.name || 'error', error_description: err.message });
  }
}).listen(port, '127.0.0.1', () => console.log(`oidc provider ${issuer} on 127.0.0.1:${port}`));

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
