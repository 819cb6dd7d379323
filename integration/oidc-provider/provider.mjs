// A panva/oidc-provider instance for oidcsession's integration tests, set
// up the way the package expects a strict, certified provider to behave:
// refresh tokens rotate on every use and a reused one revokes its grant,
// offline_access needs prompt=consent (OIDC Core section 11, the library's
// default), resource indicators (with JWT access tokens for each API),
// revocation, RP-initiated logout and back-channel logout are on, and
// access tokens live a few seconds.
//
//   node provider.mjs [config.json]
//
// Without a config file it serves http://127.0.0.1:3000 with one client for
// `go run ./example` (see the README, "Interop with real providers"). With
// one, it listens on 127.0.0.1 on the given port (0: any free one) and
// registers the given clients; the Go tests write that file.
//
// Once it accepts requests it prints one line, {"issuer":"http://..."}.
// Besides the provider's own routes it serves:
//   GET  /interaction/:uid   the sign-in and consent pages (username and
//   POST /interaction/:uid   password form; any username, one password)
//   GET  /__events           the provider's own events, as JSON, so tests
//                            count grants at the provider (?account=NAME
//                            filters by account)
// Everything is kept in memory (the library's default adapter) and lost on
// exit. Nothing here is fit for production.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

import Provider, { errors } from 'oidc-provider';

const defaults = {
  port: 3000,
  password: 'password',
  accessTokenTTL: 30,
  idTokenTTL: 300,
  // The APIs (RFC 8707 resource indicators) the provider issues JWT access
  // tokens for, each with its own scope.
  resources: [
    { indicator: 'https://api.example.test/', scope: 'api:read' },
    { indicator: 'https://orders.example/', scope: 'orders:read' },
  ],
  clients: [{
    client_id: 'example',
    client_secret: 'example-secret',
    redirect_uris: ['http://127.0.0.1:8080/auth/callback'],
    post_logout_redirect_uris: ['http://127.0.0.1:8080/signed-out'],
    grant_types: ['authorization_code', 'refresh_token'],
  }],
};
const config = process.argv[2]
  ? { ...defaults, ...JSON.parse(readFileSync(process.argv[2], 'utf8')) }
  : defaults;

// Signing keys, new on every start: RSA for RS256 and PS256, P-256 for
// ES256, so clients can ask for either with id_token_signed_response_alg.
function signingKey(type, options, kid) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig' };
}
const jwks = {
  keys: [
    signingKey('rsa', { modulusLength: 2048 }, 'rsa-1'),
    signingKey('ec', { namedCurve: 'P-256' }, 'ec-1'),
  ],
};

// Accounts: any name made of these characters signs in with the one
// password, so every test can use its own account and count only its own
// grants.
const accountName = /^[A-Za-z0-9._-]{1,64}$/;

async function findAccount(_ctx, id) {
  if (!accountName.test(id)) return undefined;
  return {
    accountId: id,
    async claims() {
      return {
        sub: id, name: `Test User ${id}`, email: `${id}@example.test`, email_verified: true,
      };
    },
  };
}

// The provider's events, recorded for GET /__events. Every entry names the
// account it concerns where the library tells, never a token.
const events = [];

// refreshTokenOwners maps every refresh token ever issued (an opaque
// token's value is its jti) to its account, so a refused refresh request
// can be attributed even when the provider refused it before loading the
// token, or after destroying it.
const refreshTokenOwners = new Map();

// accountOf names the account an event concerns. Before anyone has signed
// in (prompt=none answered login_required, say) only the request's
// login_hint can tell; the tests send one for that.
function accountOf(ctx) {
  const e = ctx?.oidc?.entities ?? {};
  const params = ctx?.oidc?.params ?? {};
  return e.Account?.accountId ?? e.RefreshToken?.accountId ?? e.AuthorizationCode?.accountId
    ?? e.AccessToken?.accountId ?? e.Session?.accountId ?? ctx?.oidc?.session?.accountId
    ?? refreshTokenOwners.get(params.refresh_token) ?? refreshTokenOwners.get(params.token)
    ?? jwtSubject(params.token) ?? params.login_hint;
}

// jwtSubject reads the sub of a JWT access token without verifying it: a
// request to revoke one is refused before the library looks at it.
function jwtSubject(token) {
  const parts = typeof token === 'string' ? token.split('.') : [];
  if (parts.length !== 3) return undefined;
  try {
    return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')).sub;
  } catch {
    return undefined;
  }
}

function record(name, fields) {
  const entry = { event: name, at: new Date().toISOString(), ...fields };
  events.push(entry);
  console.log(JSON.stringify(entry));
}

const resources = new Map(config.resources.map((r) => [r.indicator, r]));

// apisForScope names the APIs whose scope an authorization request asks
// for: a request that names no resource gets them all, since the
// authorization request is the only place a grant's resources come from
// (a refresh may ask only for a resource the grant holds) and an app may
// send a single resource parameter there.
function apisForScope(scope) {
  const asked = new Set(String(scope ?? '').split(' '));
  const apis = [...resources.values()].filter((r) => asked.has(r.scope)).map((r) => r.indicator);
  return apis.length ? apis : undefined;
}

// createProvider builds the provider for its issuer, which holds the port
// and so is known only once the server listens.
function createProvider(issuer) {
  const provider = new Provider(issuer, {
    clients: config.clients,
    jwks,
    findAccount,
    claims: {
      openid: ['sub'],
      profile: ['name'],
      email: ['email', 'email_verified'],
    },
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    pkce: { required: () => true },
    // Every refresh rotates the token; presenting a rotated (consumed) one
    // makes the library destroy it and revoke the whole grant.
    rotateRefreshToken: true,
    // The library's default, spelled out: a refresh token only for
    // offline_access, which it grants only with prompt=consent.
    issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token')
      && code.scopes.has('offline_access'),
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      backchannelLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // At the authorization endpoint, a request without a resource
        // parameter is for the APIs whose scopes it asks for. At the token
        // endpoint nothing is defaulted: a token request without a
        // resource gets the userinfo token.
        defaultResource: async (ctx) => (['authorization', 'resume'].includes(ctx.oidc.route)
          ? apisForScope(ctx.oidc.params.scope) : undefined),
        // A token request without a resource parameter gets a token for
        // userinfo even when the grant holds the API: the API's token is
        // asked for explicitly (oidcsession's RefreshOptions.Resource).
        useGrantedResource: async () => false,
        getResourceServerInfo: async (_ctx, indicator) => {
          const resource = resources.get(indicator);
          if (!resource) {
            throw new errors.InvalidTarget();
          }
          return {
            scope: resource.scope,
            audience: resource.indicator,
            accessTokenTTL: config.accessTokenTTL,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.accessTokenTTL,
      IdToken: config.idTokenTTL,
      AuthorizationCode: 60,
      RefreshToken: 24 * 60 * 60,
      Interaction: 10 * 60,
      Session: 24 * 60 * 60,
      Grant: 24 * 60 * 60,
    },
    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    // The library refuses outgoing requests to special-use addresses
    // (SSRF protection), loopback included; the back-channel logout
    // receiver of the tests is on loopback.
    fetch: (url, { dispatcher: _ssrfProtection, ...options }) => globalThis.fetch(url, options),
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Error', `<p id="error">${escape(out.error)}: ${escape(out.error_description ?? '')}</p>`);
    },
  });

  // Every event the tests (or a person reading the log) may want.
  provider.on('grant.success', (ctx) => record('grant.success', {
    grant_type: ctx.oidc.params.grant_type, client: ctx.oidc.client?.clientId, account: accountOf(ctx),
  }));
  provider.on('grant.error', (ctx, err) => record('grant.error', {
    grant_type: ctx.oidc.params?.grant_type, client: ctx.oidc.client?.clientId, account: accountOf(ctx),
    // error_detail is the library's reason, which it does not send.
    error: err.error, error_description: err.error_description, error_detail: err.error_detail,
  }));
  provider.on('grant.revoked', (ctx, grantId) => record('grant.revoked', {
    route: ctx.oidc.route, client: ctx.oidc.client?.clientId, account: accountOf(ctx), grant: grantId,
  }));
  provider.on('refresh_token.saved', (token) => refreshTokenOwners.set(token.jti, token.accountId));
  provider.on('refresh_token.consumed', (token) => record('refresh_token.consumed', {
    client: token.clientId, account: token.accountId,
  }));
  provider.on('refresh_token.destroyed', (token) => record('refresh_token.destroyed', {
    client: token.clientId, account: token.accountId,
  }));
  provider.on('authorization.success', (ctx) => record('authorization.success', {
    client: ctx.oidc.client?.clientId, account: accountOf(ctx), prompt: ctx.oidc.params?.prompt,
  }));
  provider.on('authorization.error', (ctx, err) => record('authorization.error', {
    client: ctx.oidc.client?.clientId, account: accountOf(ctx), prompt: ctx.oidc.params?.prompt,
    error: err.error, error_description: err.error_description,
  }));
  provider.on('end_session.success', (ctx) => record('end_session.success', {
    client: ctx.oidc.client?.clientId, account: accountOf(ctx),
  }));
  provider.on('backchannel.success', (_ctx, client, accountId) => record('backchannel.success', {
    client: client.clientId, account: accountId,
  }));
  provider.on('backchannel.error', (_ctx, err, client, accountId) => record('backchannel.error', {
    client: client.clientId, account: accountId, error: err.message,
  }));
  for (const name of ['revocation.error', 'userinfo.error', 'end_session.error', 'end_session_confirm.error']) {
    provider.on(name, (ctx, err) => record(name, {
      client: ctx.oidc?.client?.clientId, account: accountOf(ctx), error: err.error, error_description: err.error_description,
    }));
  }
  provider.on('server_error', (ctx, err) => record('server_error', { route: ctx.oidc?.route, error: err.message }));
  return provider;
}

// The sign-in and consent pages.

function escape(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escape(title)}</title></head>`
    + `<body><h1>${escape(title)}</h1>${body}</body></html>`;
}

function send(res, status, html) {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(html);
}

function loginPage(uid, params, failed) {
  return page('Sign in', `${failed ? '<p id="error">Wrong username or password.</p>' : ''}
<form id="login" method="post" action="/interaction/${escape(uid)}">
  <input type="hidden" name="prompt" value="login">
  <label>Username <input type="text" name="username" value="${escape(params.login_hint ?? '')}" autofocus></label>
  <label>Password <input type="password" name="password"></label>
  <button type="submit">Sign in</button>
</form>`);
}

function consentPage(uid, client, details) {
  const scopes = [...(details.missingOIDCScope ?? []),
    ...Object.values(details.missingResourceScopes ?? {}).flat()];
  return page('Authorize', `<p>${escape(client?.clientName ?? client?.clientId ?? '')} asks for: ${escape(scopes.join(' '))}</p>
<form id="consent" method="post" action="/interaction/${escape(uid)}">
  <input type="hidden" name="prompt" value="consent">
  <button type="submit">Allow</button>
</form>`);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16 << 10) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function interaction(req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    send(res, 400, page('Error', '<p id="error">This sign-in is not in progress in this browser.</p>'));
    return;
  }
  const { prompt, params, session } = details;
  const client = await provider.Client.find(params.client_id);
  if (req.method === 'GET') {
    if (prompt.name === 'login') send(res, 200, loginPage(uid, params, false));
    else send(res, 200, consentPage(uid, client, prompt.details));
    return;
  }
  const form = await readForm(req);
  if (prompt.name === 'login') {
    const username = form.get('username') ?? '';
    if (form.get('password') !== config.password || !accountName.test(username)) {
      send(res, 200, loginPage(uid, params, true));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: username } }, { mergeWithLastSubmission: false });
    return;
  }
  // Consent: grant what the request asked for, as a user clicking Allow.
  const { details: missing } = prompt;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

let provider;
let callback;

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  try {
    if (url.pathname === '/__events' && req.method === 'GET') {
      const account = url.searchParams.get('account');
      const body = JSON.stringify(account ? events.filter((e) => e.account === account) : events);
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(body);
      return;
    }
    const m = url.pathname.match(/^\/interaction\/([A-Za-z0-9_-]+)$/);
    if (m && (req.method === 'GET' || req.method === 'POST')) {
      await interaction(req, res, m[1]);
      return;
    }
    callback(req, res);
  } catch (err) {
    record('server_error', { route: url.pathname, error: err.message });
    if (!res.headersSent) send(res, 400, page('Error', `<p id="error">${escape(err.message)}</p>`));
  }
});

server.listen(config.port, '127.0.0.1', () => {
  provider = createProvider(`http://127.0.0.1:${server.address().port}`);
  callback = provider.callback();
  console.log(JSON.stringify({ issuer: provider.issuer }));
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
