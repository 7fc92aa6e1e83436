// A real OAuth 2.0 authorization server for dpop-gate's end-to-end tests and demo: panva's
// oidc-provider (pinned in package.json), laid out like a Keycloak realm and issuing Keycloak-shaped
// JWT access tokens by client credentials, plain Bearer or DPoP-bound (RFC 9449, `cnf.jkt`).
//
//   node server.mjs <port>            (or IDP_PORT=<port>; 0 picks a free port)
//
// issuer     http://127.0.0.1:<port>/realms/test
// discovery  {issuer}/.well-known/openid-configuration
// token      {issuer}/protocol/openid-connect/token   (client_secret_basic)
// JWKS       {issuer}/protocol/openid-connect/certs
//
// Test controls, on loopback only, under /__admin/ (with the header `x-admin-token: <token>` from the
// ready line; never counted in the stats):
//   GET  /__admin/stats           {"paths": {"/realms/test/...": n, ...}, "kids": {...}}: requests per path
//   POST /__admin/reset           zeroes the counters
//   POST /__admin/rotate?alg=RS256  adds a new signing key (new kid) for alg, used for new tokens from
//                                 then on; the old key stays published. Answers {"kid": ...}.
//   POST /__admin/delay?ms=N      delays discovery and JWKS responses by N ms (cold-start bursts)
//
// Mutual TLS (RFC 8705): with IDP_TLS_CERT, IDP_TLS_KEY and IDP_TLS_CA (PEM files) set, the same
// endpoints are also served over TLS on a second port (`tls_port` in the ready line), which asks every
// client for a certificate and verifies it against IDP_TLS_CA (without requiring one). There the
// client `webhook-partner-mtls` authenticates with its certificate (tls_client_auth, subject
// `CN=webhook-partner-mtls`) and gets access tokens bound to it (`cnf.x5t#S256`). (oidc-provider
// refuses to bind one token both to a certificate and to a DPoP key.)
//
// Keys: IDP_KEYS_FILE, if set, holds the key set (written at first start, read on restart), so a
// restarted server signs with the same keys. On stdout, once listening, one line:
//   IDP READY {"port": ..., "issuer": ..., "admin_token": ...}

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';

import Provider from 'oidc-provider';

const HOST = '127.0.0.1';
const REALM = '/realms/test';
const API = 'https://api.example.com';
const OTHER_API = 'https://other.example.com';
const SCOPES = ['webhook:write', 'orders:read'];

// Per-client profile: the access token's signing alg, its lifetime, Keycloak realm roles.
// Secrets are `<client_id>-secret`.
const CLIENTS = {
  // Plain Bearer tokens, RS256 (Keycloak's default).
  'webhook-partner': { alg: 'RS256', scope: 'webhook:write orders:read', roles: ['partner', 'webhook-writer'] },
  // Plain Bearer tokens, ES256.
  'webhook-partner-es256': { alg: 'ES256', scope: 'webhook:write orders:read', roles: ['partner'] },
  // DPoP-bound tokens (a proof is required at the token endpoint; the token carries cnf.jkt).
  'webhook-partner-dpop': { alg: 'RS256', scope: 'webhook:write orders:read', roles: ['partner', 'dpop'], dpop: true },
  'webhook-partner-dpop-es256': { alg: 'ES256', scope: 'webhook:write orders:read', roles: ['partner', 'dpop'], dpop: true },
  // Lacks the webhook:write scope.
  'orders-reader': { alg: 'RS256', scope: 'orders:read', roles: ['reader'] },
  // Certificate-bound tokens (RFC 8705) for a client authenticating with its certificate over TLS.
  'webhook-partner-mtls': { alg: 'RS256', scope: 'webhook:write orders:read', roles: ['partner', 'mtls'], mtls: true },
  // Tokens that live 2 seconds.
  'short-lived': { alg: 'RS256', scope: 'webhook:write orders:read', roles: ['partner'], ttl: 2 },
};

function log(...args) {
  process.stderr.write(`idp: ${args.join(' ')}\n`);
}

// ---- keys ----------------------------------------------------------------------------------------

function newKey(alg, n) {
  const { privateKey } = alg === 'RS256'
    ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
    : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = `${alg === 'RS256' ? 'rsa' : 'ec'}-${n}-${crypto.randomBytes(4).toString('hex')}`;
  return { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}

const keysFile = process.env.IDP_KEYS_FILE;
let keyState; // {keys: [jwk...], current: {RS256: kid, ES256: kid}}
if (keysFile && fs.existsSync(keysFile)) {
  keyState = JSON.parse(fs.readFileSync(keysFile, 'utf8'));
} else {
  const rsa = newKey('RS256', 1);
  const ec = newKey('ES256', 1);
  keyState = { keys: [rsa, ec], current: { RS256: rsa.kid, ES256: ec.kid } };
  saveKeys();
}

function saveKeys() {
  if (keysFile) fs.writeFileSync(keysFile, JSON.stringify(keyState), { mode: 0o600 });
}

// The certificate the client presented on this connection (TLS port only), or undefined.
function peerCertificate(ctx) {
  const raw = ctx.socket.getPeerCertificate?.()?.raw;
  return raw ? new crypto.X509Certificate(raw) : undefined;
}

// ---- the provider --------------------------------------------------------------------------------

function buildProvider(issuer) {
  const provider = new Provider(issuer, {
    clients: Object.entries(CLIENTS).map(([id, p]) => ({
      client_id: id,
      ...(p.mtls
        ? { token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: `CN=${id}`,
          tls_client_certificate_bound_access_tokens: true }
        : { client_secret: `${id}-secret`, token_endpoint_auth_method: 'client_secret_basic' }),
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: p.scope,
      dpop_bound_access_tokens: Boolean(p.dpop),
    })),
    jwks: { keys: keyState.keys },
    clientAuthMethods: ['client_secret_basic', 'tls_client_auth'],
    scopes: ['openid', ...SCOPES],
    // Proof algorithms accepted at the token endpoint: every one the tests' proof keys use.
    enabledJWA: { dPoPSigningAlgValues: ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'RS256', 'PS256'] },
    cookies: { keys: ['dpop-gate-test-idp-cookie-key'] },
    routes: {
      token: '/protocol/openid-connect/token',
      jwks: '/protocol/openid-connect/certs',
      introspection: '/protocol/openid-connect/token/introspect',
      revocation: '/protocol/openid-connect/revoke',
      userinfo: '/protocol/openid-connect/userinfo',
      authorization: '/protocol/openid-connect/auth',
      end_session: '/protocol/openid-connect/logout',
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      dPoP: { enabled: true },
      mTLS: {
        enabled: true,
        certificateBoundAccessTokens: true,
        tlsClientAuth: true,
        getCertificate: peerCertificate,
        // The TLS listener verified the certificate against IDP_TLS_CA.
        certificateAuthorized: (ctx) => ctx.socket.authorized === true,
        certificateSubjectMatches: (ctx, property, expected) => property === 'tls_client_auth_subject_dn'
          && peerCertificate(ctx)?.subject === expected,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => API,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, resource, client) => {
          if (resource !== API && resource !== OTHER_API) {
            throw new Provider.errors.InvalidTarget();
          }
          const p = CLIENTS[client.clientId];
          return {
            scope: SCOPES.join(' '),
            audience: resource,
            accessTokenTTL: p.ttl ?? 300,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: p.alg, kid: keyState.current[p.alg] } },
          };
        },
      },
    },
    // The claims a Keycloak client-credentials token carries besides the standard ones.
    extraTokenClaims: async (ctx, token) => {
      const p = CLIENTS[token.clientId];
      if (!p) return undefined;
      return {
        typ: 'Bearer',
        azp: token.clientId,
        acr: '1',
        'allowed-origins': [],
        realm_access: { roles: [...p.roles, 'default-roles-test'] },
        resource_access: { [token.clientId]: { roles: ['uma_protection'] } },
        preferred_username: `service-account-${token.clientId}`,
        email_verified: false,
        clientHost: HOST,
        clientAddress: HOST,
      };
    },
  });
  provider.on('server_error', (ctx, err) => log('server_error', err.stack || err));
  return { provider, handler: provider.callback() };
}

// ---- HTTP ----------------------------------------------------------------------------------------

const stats = new Map();
const adminToken = process.env.IDP_ADMIN_TOKEN || crypto.randomBytes(16).toString('hex');
let delayMs = 0;
let current; // {provider, handler}
let issuer;

function json(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function admin(req, res, url) {
  if (req.headers['x-admin-token'] !== adminToken) return json(res, 403, { error: 'admin token required' });
  switch (`${req.method} ${url.pathname}`) {
    case 'GET /__admin/stats':
      return json(res, 200, { paths: Object.fromEntries(stats), current: keyState.current });
    case 'POST /__admin/reset':
      stats.clear();
      return json(res, 200, {});
    case 'POST /__admin/delay':
      delayMs = Math.max(0, Math.min(10000, Number(url.searchParams.get('ms')) || 0));
      return json(res, 200, { delay_ms: delayMs });
    case 'POST /__admin/rotate': {
      const alg = url.searchParams.get('alg') || 'RS256';
      if (alg !== 'RS256' && alg !== 'ES256') return json(res, 400, { error: 'alg must be RS256 or ES256' });
      const key = newKey(alg, keyState.keys.length + 1);
      keyState.keys.push(key);
      keyState.current[alg] = key.kid;
      saveKeys();
      current = buildProvider(issuer);
      log(`rotated ${alg}: new kid ${key.kid}`);
      return json(res, 200, { kid: key.kid, alg });
    }
    default:
      return json(res, 404, { error: 'unknown admin endpoint' });
  }
}

function handle(req, res) {
  const url = new URL(req.url, `http://${HOST}`);
  if (url.pathname.startsWith('/__admin/')) return admin(req, res, url);
  stats.set(url.pathname, (stats.get(url.pathname) || 0) + 1);
  if (url.pathname !== REALM && !url.pathname.startsWith(`${REALM}/`)) {
    return json(res, 404, { error: 'not_found' });
  }
  // Mounted under the realm: oidc-provider derives its mount path from originalUrl.
  req.originalUrl = req.url;
  req.url = req.url.slice(REALM.length) || '/';
  const slow = delayMs > 0 && (url.pathname.endsWith('/openid-configuration') || url.pathname.endsWith('/certs'));
  const { handler } = current;
  if (slow) setTimeout(() => handler(req, res), delayMs);
  else handler(req, res);
  return undefined;
}

const server = http.createServer(handle);
server.keepAliveTimeout = 5000;
const tls = process.env.IDP_TLS_CERT
  ? https.createServer({
    cert: fs.readFileSync(process.env.IDP_TLS_CERT),
    key: fs.readFileSync(process.env.IDP_TLS_KEY),
    ca: fs.readFileSync(process.env.IDP_TLS_CA),
    requestCert: true,
    rejectUnauthorized: false,
  }, handle)
  : undefined;

const port = Number(process.argv[2] ?? process.env.IDP_PORT ?? 0);
server.listen(port, HOST, () => {
  const actual = server.address().port;
  issuer = `http://${HOST}:${actual}${REALM}`;
  current = buildProvider(issuer);
  const ready = (extra) => process.stdout.write(
    `IDP READY ${JSON.stringify({ port: actual, issuer, admin_token: adminToken, ...extra })}\n`,
  );
  if (tls) tls.listen(0, HOST, () => ready({ tls_port: tls.address().port }));
  else ready({});
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close();
    server.closeAllConnections();
    tls?.close();
    tls?.closeAllConnections();
    process.exit(0);
  });
}
