// The oauth4webapi DPoP client of dpop-client.mjs, making many requests in a row with one token and
// one DPoP handle, as a long-lived client behind a load balancer does: what does it cost when the
// gateway nodes behind one origin do not share their DPoP nonce secret? Each request is retried on
// a `use_dpop_nonce` challenge (the library has already cached the new `DPoP-Nonce`), at most
// <retries> times (the library's documentation retries once).
//
//   node dpop-fleet-client.mjs <token_endpoint> <client_id> <client_secret> <resource_url> <count> [retries]
//
// Every attempt carries `x-fleet-seq: <request index>`, so a test load balancer can route a request
// and its retries to the same node. Prints one JSON line:
//   {"token_type": "dpop", "requests": [{"seq": 0, "status": 200 | null, "attempts": [
//     {"status": 401, "error": "use_dpop_nonce", "ms": 3.1}, {"status": 200, "ms": 2.0}], "ms": 5.2}, ...]}
// (`status` null: still refused after the last retry; `ms`: wall time, proof signing included).
// Exits 2 on usage errors, 1 on any other failure. Loopback HTTP only: `allowInsecureRequests`.

import * as oauth from 'oauth4webapi';

const [tokenEndpoint, clientId, clientSecret, resourceUrl, countArg, retriesArg] = process.argv.slice(2);
const count = Number.parseInt(countArg ?? '', 10);
const retries = Number.parseInt(retriesArg ?? '1', 10);
if (!tokenEndpoint || !clientId || !clientSecret || !resourceUrl || !(count > 0) || !(retries >= 0)) {
  process.stderr.write('usage: node dpop-fleet-client.mjs <token_endpoint> <client_id> <client_secret> <resource_url> <count> [retries]\n');
  process.exit(2);
}

const insecure = () => ({ [oauth.allowInsecureRequests]: true, signal: AbortSignal.timeout(10000) });
const as = { issuer: new URL(tokenEndpoint).origin, token_endpoint: tokenEndpoint };
const client = { client_id: clientId };
const keyPair = await oauth.generateKeyPair('ES256');
const DPoP = oauth.DPoP(client, keyPair);

// The token endpoint is one server: a nonce retry there is not what is measured.
let token;
for (let attempt = 0; ; attempt++) {
  try {
    const response = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(clientSecret),
      { scope: 'webhook:write' }, { ...insecure(), DPoP });
    token = await oauth.processClientCredentialsResponse(as, client, response);
    break;
  } catch (err) {
    if (attempt > 0 || !oauth.isDPoPNonceError(err)) throw err;
  }
}

const requests = [];
for (let seq = 0; seq < count; seq++) {
  const attempts = [];
  const start = performance.now();
  let status = null;
  for (let attempt = 0; attempt <= retries; attempt++) {
    const t0 = performance.now();
    const headers = new Headers({ 'content-type': 'application/json', 'x-fleet-seq': String(seq) });
    try {
      const response = await oauth.protectedResourceRequest(token.access_token, 'POST', new URL(resourceUrl), headers,
        JSON.stringify({ event: 'order.created', id: seq }), { ...insecure(), DPoP });
      await response.text();
      attempts.push({ status: response.status, ms: performance.now() - t0 });
      status = response.status;
      break;
    } catch (err) {
      if (!oauth.isDPoPNonceError(err)) throw err;
      const challenge = Array.isArray(err.cause) ? err.cause.find((c) => c.scheme === 'dpop') : undefined;
      attempts.push({
        status: err.status ?? err.response?.status ?? null,
        error: challenge?.parameters.error ?? null,
        ms: performance.now() - t0,
      });
    }
  }
  requests.push({ seq, status, attempts, ms: performance.now() - start });
}

process.stdout.write(`${JSON.stringify({ token_type: token.token_type, requests })}\n`);
