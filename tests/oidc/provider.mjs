// A real OpenID Connect provider (oidc-provider, certified) on the
// loopback for Guichet's tests (tests/api/common/oidc.rs starts it),
// configured as FranceConnect answers: its scopes (one per claim), the
// `acr` values `eidas1`…`eidas3`, the user info as a signed JWT (RS256 or
// ES256, as each client asks), the end of
// the session at `end_session_endpoint`; and `email_verified` for staff.
//
// Its settings come as JSON in OIDC_TEST_CONFIG:
//   port       the port to listen on (0: any; the issuer is printed)
//   clients    oidc-provider client metadata, one per relying party
//   accounts   { login: { sub, given_name, family_name, email, email_verified } }
//   acr        the level each sign-in reaches ("eidas1"), or null: none said
//   tamper     null, or how each ID token is altered after it is issued, to
//              test the relying party's checks: "audience" and "issuer"
//              (re-signed with the provider's own key), "signature" (signed
//              with a key the provider does not publish)
//   id_token_ttl seconds an ID token is valid (3600 unless said)
// It prints one line, `issuer <url>`, once it listens.
//
// The sign-in page is a plain form (no script): the login, then « Continuer ».

import http from 'node:http';
import { generateKeyPair, exportJWK, decodeJwt, SignJWT } from 'jose';
import Provider from 'oidc-provider';

const config = JSON.parse(process.env.OIDC_TEST_CONFIG || '{}');
const accounts = config.accounts || {};

const server = http.createServer();
await new Promise((resolve) => server.listen(config.port || 0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const signing = await generateKeyPair('RS256', { extractable: true });
const stranger = await generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await exportJWK(signing.privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
// FranceConnect v2 signs in ES256 or RS256: a client may ask for either.
const curve = await generateKeyPair('ES256', { extractable: true });
const ecJwk = { ...(await exportJWK(curve.privateKey)), kid: 'test-key-ec', alg: 'ES256', use: 'sig' };

const html = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const provider = new Provider(issuer, {
  clients: config.clients || [],
  jwks: { keys: [jwk, ecJwk] },
  // FranceConnect's scopes, one per claim, and e-mail with its check.
  claims: {
    openid: ['sub'],
    given_name: ['given_name'],
    family_name: ['family_name'],
    preferred_username: ['preferred_username'],
    birthdate: ['birthdate'],
    gender: ['gender'],
    email: ['email', 'email_verified'],
    profile: ['given_name', 'family_name'],
  },
  acrValues: ['eidas1', 'eidas2', 'eidas3'],
  features: {
    devInteractions: { enabled: false },
    jwtUserinfo: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource(ctx, form) {
        ctx.body = `<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Déconnexion</title></head>
<body><h1>Se déconnecter du fournisseur d'identité ?</h1>${form}
<button type="submit" form="op.logoutForm" value="yes" name="logout" id="logout-yes">Se déconnecter</button>
</body></html>`;
      },
    },
  },
  pkce: { required: () => true },
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return { accountId: id, async claims() { return { ...account, sub: account.sub || id }; } };
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ['guichet-test-provider'] },
  // The relying party's clock may be set apart from this one in tests.
  clockTolerance: 0,
  ttl: { AccessToken: 3600, AuthorizationCode: 600, IdToken: config.id_token_ttl || 3600, Interaction: 3600, Session: 86400, Grant: 86400 },
});

// The sign-in page: a login, then back to the relying party.
provider.use(async (ctx, next) => {
  const match = ctx.path.match(/^\/interaction\/([^/]+)$/);
  if (!match) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (ctx.method === 'GET') {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Fournisseur d'identité de test</title></head>
<body><h1>Fournisseur d'identité de test</h1>
<form method="post" action="/interaction/${html(details.uid)}">
<label for="login">Identifiant</label> <input id="login" name="login" value="${html(Object.keys(accounts)[0] || '')}">
<button type="submit" id="continue">Continuer</button></form></body></html>`;
    return undefined;
  }
  const body = await new Promise((resolve) => {
    let data = '';
    ctx.req.on('data', (chunk) => { data += chunk; });
    ctx.req.on('end', () => resolve(new URLSearchParams(data)));
  });
  const accountId = body.get('login');
  if (!accounts[accountId]) {
    ctx.status = 400;
    ctx.body = 'unknown login';
    return undefined;
  }
  const { params } = details;
  const grant = new provider.Grant({ accountId, clientId: params.client_id });
  grant.addOIDCScope(params.scope);
  const grantId = await grant.save();
  const login = { accountId };
  if (config.acr) login.acr = config.acr;
  const url = await provider.interactionResult(ctx.req, ctx.res, { login, consent: { grantId } }, { mergeWithLastSubmission: false });
  ctx.redirect(url);
  return undefined;
});

// A misbehaving provider, when asked: the ID token altered once issued.
provider.use(async (ctx, next) => {
  await next();
  if (!config.tamper || ctx.path !== '/token' || !ctx.body || !ctx.body.id_token) return;
  const claims = decodeJwt(ctx.body.id_token);
  let key = signing.privateKey;
  if (config.tamper === 'audience') claims.aud = 'another-relying-party';
  if (config.tamper === 'issuer') claims.iss = 'https://impostor.example.org';
  if (config.tamper === 'signature') key = stranger.privateKey;
  ctx.body = {
    ...ctx.body,
    id_token: await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'test-key' }).sign(key),
  };
});

server.on('request', provider.callback());
process.stdout.write(`issuer ${issuer}\n`);
process.on('SIGTERM', () => process.exit(0));
