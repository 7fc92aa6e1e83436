// A DPoP client made with panva's oauth4webapi (pinned in package.json), independent of the filter's
// code and of the tests' jwcrypto proofs: it gets a DPoP-bound access token by client credentials
// (client_secret_basic, a proof made by the library with a fresh ES256 key pair) and calls a
// protected resource with it. When the resource answers with a `use_dpop_nonce` challenge, the
// library has already cached the `DPoP-Nonce` it sent; as its documentation says, the caller
// catches the error (`isDPoPNonceError`) and makes the same request once more.
//
//   node dpop-client.mjs <token_endpoint> <client_id> <client_secret> <resource_url> [x-test-id]
//
// Prints one JSON line:
//   {"status": ..., "body": "...", "nonce_retry": bool, "token_type": "DPoP",
//    "first": null | {"status": ..., "error": "use_dpop_nonce", "dpop_nonce": "..."}}
// (`first` describes the refused first attempt when there was a retry). Exits 2 on usage errors,
// 1 on any other failure (the error on stderr). Loopback HTTP only: `allowInsecureRequests`.

import * as oauth from 'oauth4webapi';

const [tokenEndpoint, clientId, clientSecret, resourceUrl, testId] = process.argv.slice(2);
if (!tokenEndpoint || !clientId || !clientSecret || !resourceUrl) {
  process.stderr.write('usage: node dpop-client.mjs <token_endpoint> <client_id> <client_secret> <resource_url> [x-test-id]\n');
  process.exit(2);
}

const insecure = { [oauth.allowInsecureRequests]: true, signal: AbortSignal.timeout(10000) };
// Client-side authorization server metadata: only the token endpoint is used (no ID token is
// involved, so the issuer is not checked against anything).
const as = { issuer: new URL(tokenEndpoint).origin, token_endpoint: tokenEndpoint };
const client = { client_id: clientId };
const clientAuth = oauth.ClientSecretBasic(clientSecret);

const keyPair = await oauth.generateKeyPair('ES256');
const DPoP = oauth.DPoP(client, keyPair);

// Retries `fn` once when it fails with a DPoP nonce error (the handle already holds the new nonce).
async function onceMoreOnNonce(fn) {
  try {
    return { value: await fn(), retried: false, first: null };
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err;
    // What the refusal said, as the library parsed it (a WWW-Authenticate challenge from a
    // resource server, an error body from an authorization server).
    const challenge = Array.isArray(err.cause) ? err.cause.find((c) => c.scheme === 'dpop') : undefined;
    const first = {
      status: err.status ?? err.response?.status ?? null,
      error: challenge?.parameters.error ?? err.error ?? null,
      dpop_nonce: err.response?.headers.get('dpop-nonce') ?? null,
    };
    return { value: await fn(), retried: true, first };
  }
}

const token = await onceMoreOnNonce(async () => {
  const response = await oauth.clientCredentialsGrantRequest(as, client, clientAuth,
    { scope: 'webhook:write' }, { ...insecure, DPoP });
  return oauth.processClientCredentialsResponse(as, client, response);
});
const accessToken = token.value.access_token;

const resource = await onceMoreOnNonce(async () => {
  const headers = new Headers({ 'content-type': 'application/json' });
  if (testId) headers.set('x-test-id', testId);
  const response = await oauth.protectedResourceRequest(accessToken, 'POST', new URL(resourceUrl), headers,
    JSON.stringify({ event: 'order.created', id: 42 }), { ...insecure, DPoP });
  return { status: response.status, body: await response.text() };
});

process.stdout.write(`${JSON.stringify({
  status: resource.value.status,
  body: resource.value.body,
  nonce_retry: resource.retried,
  first: resource.first,
  token_type: token.value.token_type,
})}\n`);
