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
// introspect {issuer}/protocol/openid-connect/token/introspect   (RFC 7662; RFC 9701 signed answers)
// revoke     {issuer}/protocol/openid-connect/revoke            (RFC 7009)
//
// Introspection: the `gateway` client (secret `gateway-secret`, client_secret_basic; `gateway-post`
// the same with client_secret_post) introspects every client's tokens; `gateway-jwt` gets RFC 9701 signed answers
// (application/token-introspection+jwt, RS256) when it asks for them. The `*-opaque` clients get
// opaque access tokens (oidc-provider's own format), which oidc-provider introspects and revokes.
// oidc-provider refuses to introspect or revoke its JWT access tokens (`unsupported_token_type`);
// Keycloak does both. For those, this server answers itself, in Keycloak's shape (see
// `keycloakIntrospection` below): THAT PART STANDS IN FOR KEYCLOAK, it is not oidc-provider.
//
// Test controls, on loopback only, under /__admin/ (with the header `x-admin-token: <token>` from the
// ready line; never counted in the stats):
//   GET  /__admin/stats           {"paths": {"/realms/test/...": n, ...}, "kids": {...}}: requests per path
//   POST /__admin/reset           zeroes the counters
//   POST /__admin/rotate?alg=RS256  adds a new signing key (new kid) for alg, used for new tokens from
//                                 then on; the old key stays published. Answers {"kid": ...}.
//   POST /__admin/delay?ms=N      delays discovery and JWKS responses by N ms (cold-start bursts)
//   POST /__admin/introspection-delay?ms=N  delays introspection answers by N ms (single-flight bursts)
//   POST /__admin/forge-introspection?on=1  answers every signed (RFC 9701) introspection request with
//                                 `active: true` signed by a key nobody publishes: an attacker's answer
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
  // Opaque access tokens (not JWTs): only introspection can tell what they are.
  'webhook-partner-opaque': { alg: 'RS256', scope: 'webhook:write orders:read', roles: ['partner'], opaque: true },
  'webhook-partner-opaque-dpop': {
    alg: 'RS256', scope: 'webhook:write orders:read', roles: ['partner', 'dpop'], opaque: true, dpop: true,
  },
};

// The resource servers' own clients: they introspect, they get no tokens.
const GATEWAYS = {
  gateway: {},
  'gateway-post': { token_endpoint_auth_method: 'client_secret_post' },
  'gateway-jwt': { introspection_signed_response_alg: 'RS256' },
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
    })).concat(Object.entries(GATEWAYS).map(([id, extra]) => ({
      client_id: id,
      client_secret: `${id}-secret`,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
      ...extra,
    }))),
    jwks: { keys: keyState.keys },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'tls_client_auth'],
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
      jwtIntrospection: { enabled: true },
      revocation: { enabled: true },
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
            accessTokenFormat: p.opaque ? 'opaque' : 'jwt',
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

// ---- Keycloak-shaped introspection and revocation of JWT access tokens ---------------------------
//
// STANDS IN FOR KEYCLOAK: oidc-provider answers `unsupported_token_type` when asked to introspect or
// revoke one of its own JWT access tokens; Keycloak introspects and revokes both kinds. So for a JWT
// this server answers itself, as Keycloak documents it: the client authenticates (Basic or form), the
// token's signature and `exp` are checked with this server's keys, a revoked token (by `jti`) is
// `{"active": false}`, and an active one is its claims plus `active`, `client_id`, `username` and
// `token_type` (`DPoP` for a `cnf.jkt`-bound token, else `Bearer`).

const revokedJti = new Set();

function isJwt(token) {
  const parts = token.split('.');
  if (parts.length !== 3) return false;
  try {
    return typeof JSON.parse(Buffer.from(parts[0], 'base64url').toString()).alg === 'string';
  } catch {
    return false;
  }
}

// The client's id if it authenticated with its secret (`<id>-secret`), Basic or form.
function authenticatedClient(req, form) {
  let id;
  let secret;
  const basic = /^Basic (.+)$/i.exec(req.headers.authorization || '');
  if (basic) {
    const text = Buffer.from(basic[1], 'base64').toString();
    const at = text.indexOf(':');
    id = decodeURIComponent(text.slice(0, at).replace(/\+/g, ' '));
    secret = decodeURIComponent(text.slice(at + 1).replace(/\+/g, ' '));
  } else {
    id = form.get('client_id');
    secret = form.get('client_secret');
  }
  const known = id && (CLIENTS[id] || GATEWAYS[id]);
  return known && secret === `${id}-secret` ? id : undefined;
}

// The claims of a JWT this server signed, if its signature verifies and it has not expired.
function verifiedClaims(token) {
  const [h, p, sig] = token.split('.');
  try {
    const header = JSON.parse(Buffer.from(h, 'base64url').toString());
    const jwk = keyState.keys.find((k) => k.kid === header.kid);
    if (!jwk || jwk.alg !== header.alg) return undefined;
    const { d, p: _p, q, dp, dq, qi, ...pub } = jwk;
    const key = crypto.createPublicKey({ key: pub, format: 'jwk' });
    const ok = crypto.verify('sha256', Buffer.from(`${h}.${p}`), header.alg === 'ES256'
      ? { key, dsaEncoding: 'ieee-p1363' } : key, Buffer.from(sig, 'base64url'));
    if (!ok) return undefined;
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    return claims.exp > Date.now() / 1000 ? claims : undefined;
  } catch {
    return undefined;
  }
}

function keycloakIntrospection(req, res, form, revoke) {
  if (!authenticatedClient(req, form)) {
    return json(res, 401, { error: 'invalid_client', error_description: 'Invalid client or Invalid client credentials' });
  }
  const claims = verifiedClaims(form.get('token') || '');
  if (revoke) {
    if (claims?.jti) revokedJti.add(claims.jti);
    res.writeHead(200, { 'content-length': 0 });
    return res.end();
  }
  if (!claims || revokedJti.has(claims.jti)) return json(res, 200, { active: false });
  return json(res, 200, {
    ...claims,
    active: true,
    client_id: claims.client_id ?? claims.azp,
    username: claims.preferred_username,
    token_type: claims.cnf?.jkt ? 'DPoP' : 'Bearer',
  });
}

// An attacker's signed answer: `active: true` for any token, signed by a key nobody publishes.
const forgeKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
let forging = false;

function forgedAnswer(res) {
  const kid = keyState.current.RS256; // it even claims the real key's kid
  const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'token-introspection+jwt', kid })).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const payload = Buffer.from(JSON.stringify({
    iss: issuer, aud: API, iat: now,
    token_introspection: { active: true, iss: issuer, aud: API, exp: now + 300, sub: 'attacker', scope: 'webhook:write' },
  })).toString('base64url');
  const sig = crypto.sign('sha256', Buffer.from(`${header}.${payload}`), forgeKey).toString('base64url');
  const text = `${header}.${payload}.${sig}`;
  res.writeHead(200, { 'content-type': 'application/token-introspection+jwt', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

// ---- HTTP ----------------------------------------------------------------------------------------

const stats = new Map();
const adminToken = process.env.IDP_ADMIN_TOKEN || crypto.randomBytes(16).toString('hex');
let delayMs = 0;
let introspectionDelayMs = 0;
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
    case 'POST /__admin/introspection-delay':
      introspectionDelayMs = Math.max(0, Math.min(10000, Number(url.searchParams.get('ms')) || 0));
      return json(res, 200, { delay_ms: introspectionDelayMs });
    case 'POST /__admin/forge-introspection':
      forging = url.searchParams.get('on') === '1';
      return json(res, 200, { forging });
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
  const intro = url.pathname === `${REALM}/protocol/openid-connect/token/introspect`;
  const revoke = url.pathname === `${REALM}/protocol/openid-connect/revoke`;
  if (req.method === 'POST' && (intro || revoke)) {
    // Read the form here to see whether the token is a JWT; oidc-provider then reads `req.body`.
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const form = new URLSearchParams(body.toString());
      const go = () => {
        if (intro && forging && /token-introspection\+jwt/.test(req.headers.accept || '')) return forgedAnswer(res);
        if (isJwt(form.get('token') || '')) return keycloakIntrospection(req, res, form, revoke);
        req.body = body;
        return toProvider(req, res);
      };
      if (intro && introspectionDelayMs > 0) setTimeout(go, introspectionDelayMs);
      else go();
    });
    return undefined;
  }
  return toProvider(req, res);
}

function toProvider(req, res) {
  const url = new URL(req.url, `http://${HOST}`);
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
