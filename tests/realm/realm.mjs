// Test realm for kubectl-runai-token: fake Run:ai control planes ("tenants") whose tokens
// are issued by a real OpenID provider (oidc-provider), to applications (client
// credentials) and to users (password, authorization code with PKCE on real login pages,
// device flow, rotating refresh tokens), a Kubernetes API stand-in that accepts those
// tokens and static account tokens and stores namespaces and Secrets (kube.mjs), and HTTP
// forward proxies. Driven by a JSON admin API; see README.md.
//
// Process contract: prints one line {"admin":"http://127.0.0.1:PORT"} on stdout when ready,
// nothing else ever goes to stdout, and the process exits on stdin EOF, SIGTERM or SIGINT.

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { KubeCluster, KubeError, isNamespaceName } from './kube.mjs';

// stdout belongs to the ready line. oidc-provider prints notices with console.info, so
// route every console method to stderr, and drop two warnings that are expected here:
// the Node 20 runtime notice, and the note that request bodies arrive pre-read (we read
// them first to log the grant type; oidc-provider documents that fallback).
const QUIET = [/Unsupported runtime/, /already parsed request body detected/];
const toStderr = console.error.bind(console);
console.log = console.info = console.debug = toStderr;
console.warn = (...args) => {
  if (!QUIET.some((re) => re.test(String(args[0])))) toStderr(...args);
};
// Imported only now so that its import-time warning goes through the filter above.
const { default: Provider, errors: oidcErrors } = await import('oidc-provider');

const HOST = '127.0.0.1';
const ENDPOINTS = ['v2', 'v1', 'app-token', 'keycloak'];
const AUDIENCE = 'runai';
const RESOURCE = 'urn:runai:api';
// The Run:ai API as oidc-provider's resource server: ES256 JWT access tokens, aud "runai".
const resourceServer = () => ({ scope: '', audience: AUDIENCE, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } });
const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';
// Scopes a user grant can be given (besides openid, which every user grant has).
const USER_SCOPES = ['openid', 'offline_access', 'profile', 'email'];
// Where oidc-provider sends the browser to sign in, for both issuers of a tenant.
const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]+)$/;
// The non-Keycloak issuer of every tenant, with oidc-provider's own route names.
const PLAIN_PREFIX = '/oidc';
const MAX_BODY = 1024 * 1024;
const HTML_PAGE = '<!doctype html><html><head><meta charset="utf-8"><title>Run:ai</title></head>'
  + '<body><div id="root">Run:ai</div><noscript>You need to enable JavaScript to run Run:ai.</noscript></body></html>';

// ---------------------------------------------------------------------------------------
// Small HTTP helpers

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const pathOf = (url) => url.split('?')[0];

function send(res, status, contentType, body) {
  const data = Buffer.from(body);
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': data.length });
  res.end(data);
}

const sendJson = (res, status, value) => send(res, status, 'application/json', JSON.stringify(value));
const noContent = (res) => { res.writeHead(204); res.end(); };

// ---------------------------------------------------------------------------------------
// The sign-in pages a browser sees. Self-contained (no outside fonts, scripts or images:
// the test machines reach nothing beyond loopback). Every page's <body> names its kind in
// `data-realm-page`, which is how browser.mjs tells them apart.

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const PAGE_STYLE = 'body{font-family:sans-serif;max-width:26em;margin:3em auto}label,input,button{display:block;margin:.4em 0}'
  + 'input{width:100%;box-sizing:border-box;padding:.3em}.error{color:#b00020}code{font-size:1.4em}';

/** A whole HTML page; `body` is trusted markup (callers escape what they put in it). */
function htmlPage(kind, title, body) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>`
    + `<style>${PAGE_STYLE}</style></head><body data-realm-page="${kind}"><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

function sendHtml(res, status, page) {
  const data = Buffer.from(page);
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': data.length, 'Cache-Control': 'no-store' });
  res.end(data);
}

function loginPage({ uid, realm, clientId, login = '', error }) {
  return htmlPage('login', `Sign in to ${realm}`, [
    `<p>${escapeHtml(clientId)} asks you to sign in.</p>`,
    error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : '',
    `<form method="post" action="/interaction/${escapeHtml(uid)}">`,
    `<label>Username or email<input name="login" value="${escapeHtml(login)}" autocomplete="username" autofocus></label>`,
    '<label>Password<input name="password" type="password" autocomplete="current-password"></label>',
    '<button type="submit">Sign in</button></form>',
  ].join(''));
}

const errorPage = (error, description) => htmlPage('error', 'Sign-in failed',
  `<p class="error" role="alert"><strong>${escapeHtml(error)}</strong>: ${escapeHtml(description ?? '')}</p>`);

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req.iterator({ destroyOnReturn: false })) { // keep the socket to answer 413
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, 'request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function parseJson(buf, what = 'request body') {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw new HttpError(400, `${what} is not valid JSON: ${err.message}`);
  }
}

/** Binds a server to 127.0.0.1 on an ephemeral port and resolves to that port. */
function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolve(server.address().port));
  });
}

const isLoopback = (host) => host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
// A name no resolver knows: only the test proxies map it (and its subdomains) to
// 127.0.0.1, so a client reaches it through a proxy or not at all. The tests use it
// for a non-loopback host, which a client must send through the proxy.
const PROXIED_DOMAIN = 'runai.test';
const isProxiedName = (host) => host === PROXIED_DOMAIN || host.endsWith(`.${PROXIED_DOMAIN}`);
const proxyTarget = (host) => (isProxiedName(host) ? '127.0.0.1' : isLoopback(host) ? host : null);

// ---------------------------------------------------------------------------------------
// Test CA and server certificate: EC P-256, DER written by hand (node:crypto signs). An
// X.509 library would cost ~0.3 s of start-up here for a few dozen bytes of structure.

function tlv(tag, ...parts) {
  const body = Buffer.concat(parts);
  let len;
  if (body.length < 0x80) {
    len = [body.length];
  } else {
    const bytes = [];
    for (let n = body.length; n > 0; n >>= 8) bytes.unshift(n & 0xff);
    len = [0x80 | bytes.length, ...bytes];
  }
  return Buffer.concat([Buffer.from([tag, ...len]), body]);
}

const seq = (...parts) => tlv(0x30, ...parts);

function oid(dotted) {
  const [first, second, ...rest] = dotted.split('.').map(Number);
  const out = [40 * first + second];
  for (let v of rest) {
    const base128 = [v & 0x7f];
    while ((v >>= 7) > 0) base128.unshift(0x80 | (v & 0x7f));
    out.push(...base128);
  }
  return tlv(0x06, Buffer.from(out));
}

const TRUE = tlv(0x01, Buffer.from([0xff]));
const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));
const commonName = (cn) => seq(tlv(0x31, seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from(cn)))));
const utcTime = (date) => tlv(0x17, Buffer.from(`${date.toISOString().slice(2, 19).replace(/[-:T]/g, '')}Z`));
const extension = (id, critical, value) => seq(oid(id), ...(critical ? [TRUE] : []), tlv(0x04, value));

function issueCertificate({ subject, publicKey, issuer, issuerKey, extensions }) {
  const serial = crypto.randomBytes(16);
  serial[0] = (serial[0] & 0x7f) | 0x40; // positive and minimally encoded
  const now = Date.now();
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))), // version v3
    tlv(0x02, serial),
    ECDSA_SHA256,
    issuer,
    seq(utcTime(new Date(now - 3600e3)), utcTime(new Date(now + 30 * 86400e3))),
    subject,
    publicKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa3, seq(...extensions)),
  );
  const signature = crypto.sign('sha256', tbs, issuerKey); // DER-encoded ECDSA signature
  const der = seq(tbs, ECDSA_SHA256, tlv(0x03, Buffer.from([0]), signature));
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`;
}

const keyId = (publicKey) => crypto.createHash('sha1').update(publicKey.export({ type: 'spki', format: 'der' })).digest();

/** A CA and one server certificate (IP 127.0.0.1, DNS localhost) used by every TLS listener. */
function createPki() {
  const ca = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const caName = commonName('kubectl-runai-token test realm CA');
  const caCert = issueCertificate({
    subject: caName,
    publicKey: ca.publicKey,
    issuer: caName,
    issuerKey: ca.privateKey,
    extensions: [
      extension('2.5.29.19', true, seq(TRUE)), // basicConstraints: CA
      extension('2.5.29.15', true, tlv(0x03, Buffer.from([0x01, 0x86]))), // keyUsage: digitalSignature, keyCertSign, cRLSign
      extension('2.5.29.14', false, tlv(0x04, keyId(ca.publicKey))), // subjectKeyIdentifier
    ],
  });
  const server = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const serverCert = issueCertificate({
    subject: commonName(HOST),
    publicKey: server.publicKey,
    issuer: caName,
    issuerKey: ca.privateKey,
    extensions: [
      extension('2.5.29.19', true, seq()), // basicConstraints: not a CA
      extension('2.5.29.15', true, tlv(0x03, Buffer.from([0x07, 0x80]))), // keyUsage: digitalSignature
      extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))), // extKeyUsage: serverAuth
      extension(
        '2.5.29.17',
        false,
        seq(
          tlv(0x82, Buffer.from('localhost')),
          tlv(0x82, Buffer.from(`*.${PROXIED_DOMAIN}`)),
          tlv(0x87, Buffer.from([127, 0, 0, 1])),
        ),
      ),
      extension('2.5.29.35', false, seq(tlv(0x80, keyId(ca.publicKey)))), // authorityKeyIdentifier
    ],
  });
  return {
    caPem: caCert,
    tls: { cert: serverCert + caCert, key: server.privateKey.export({ type: 'pkcs8', format: 'pem' }) },
  };
}

const pki = createPki();
const createServer = (tls, handler) => (tls ? https.createServer(pki.tls, handler) : http.createServer(handler));

// ---------------------------------------------------------------------------------------
// Admin input validation

function expectObject(value, what) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new HttpError(400, `${what} must be a JSON object`);
  return value;
}

function expectKeys(obj, allowed, what) {
  const unknown = Object.keys(obj).filter((k) => !allowed.includes(k));
  if (unknown.length) throw new HttpError(400, `${what}: unknown field(s) ${unknown.join(', ')}; allowed: ${allowed.join(', ')}`);
}

function optional(obj, key, type, fallback) {
  const value = obj[key];
  if (value === undefined) return fallback;
  const ok = {
    boolean: typeof value === 'boolean',
    string: typeof value === 'string',
    integer: Number.isInteger(value),
    strings: Array.isArray(value) && value.every((v) => typeof v === 'string'),
    object: value !== null && typeof value === 'object' && !Array.isArray(value),
  }[type];
  if (!ok) throw new HttpError(400, `"${key}" must be ${type === 'strings' ? 'a list of strings' : `a(n) ${type}`}`);
  return value;
}

function parseClient(value) {
  const c = expectObject(value, 'a client');
  expectKeys(c, ['id', 'secret', 'roles', 'resourceRoles'], 'client');
  const id = optional(c, 'id', 'string', '');
  const secret = optional(c, 'secret', 'string', '');
  if (!id || !secret) throw new HttpError(400, 'a client needs a non-empty "id" and "secret"');
  const resourceRoles = optional(c, 'resourceRoles', 'object', {});
  for (const [k, roles] of Object.entries(resourceRoles)) optional({ [k]: roles }, k, 'strings');
  return { id, secret, roles: optional(c, 'roles', 'strings', []), resourceRoles };
}

function parseUser(value) {
  const u = expectObject(value, 'a user');
  expectKeys(u, ['username', 'password', 'name', 'roles'], 'user');
  const username = optional(u, 'username', 'string', '');
  const password = optional(u, 'password', 'string', '');
  if (!username || !password) throw new HttpError(400, 'a user needs a non-empty "username" and "password"');
  return { username, password, name: optional(u, 'name', 'string', username), roles: optional(u, 'roles', 'strings', []) };
}

function parseFault(value) {
  const f = expectObject(value, 'a fault');
  expectKeys(f, ['path', 'method', 'times', 'status', 'headers', 'contentType', 'body', 'bodyBytes', 'hang', 'echo'], 'fault');
  const fault = {
    path: optional(f, 'path', 'string', ''),
    method: optional(f, 'method', 'string', undefined),
    times: optional(f, 'times', 'integer', 1),
    status: optional(f, 'status', 'integer', 200),
    headers: optional(f, 'headers', 'object', {}),
    contentType: optional(f, 'contentType', 'string', 'application/json'),
    body: optional(f, 'body', 'string', ''),
    bodyBytes: optional(f, 'bodyBytes', 'integer', undefined),
    hang: optional(f, 'hang', 'boolean', false),
    echo: optional(f, 'echo', 'boolean', false),
  };
  if (!fault.path.startsWith('/')) throw new HttpError(400, 'a fault needs a "path" starting with /');
  if (fault.method !== undefined && !/^[A-Za-z]+$/.test(fault.method)) throw new HttpError(400, '"method" must be an HTTP method such as "PATCH"');
  if (fault.method !== undefined) fault.method = fault.method.toUpperCase();
  if (fault.times < 1) throw new HttpError(400, '"times" must be at least 1');
  if (fault.status < 200 || fault.status > 599) throw new HttpError(400, '"status" must be 200..599');
  if (fault.bodyBytes !== undefined && fault.bodyBytes < 0) throw new HttpError(400, '"bodyBytes" must be >= 0');
  if (fault.echo && (f.body !== undefined || f.bodyBytes !== undefined || fault.hang)) {
    throw new HttpError(400, '"echo" makes the body: it cannot be combined with "body", "bodyBytes" or "hang"');
  }
  for (const [k, v] of Object.entries(fault.headers)) {
    if (typeof v !== 'string') throw new HttpError(400, `header "${k}" must be a string`);
  }
  return fault;
}

/**
 * An account of the kube stand-in: a static bearer token, the user it authenticates, and
 * RBAC PolicyRules, each bound in one namespace (a RoleBinding) or cluster-wide.
 */
function parseAccount(value) {
  const a = expectObject(value, 'an account');
  expectKeys(a, ['token', 'username', 'groups', 'rules'], 'account');
  const token = optional(a, 'token', 'string', '');
  const username = optional(a, 'username', 'string', '');
  if (!token || !username) throw new HttpError(400, 'an account needs a non-empty "token" and "username"');
  if (!/^[\x21-\x7e]+$/.test(token)) throw new HttpError(400, '"token" must be printable ASCII without spaces (it is sent as a bearer token)');
  // A service account's groups, unless told otherwise (as its token would carry them).
  const sa = /^system:serviceaccount:([^:]+):[^:]+$/.exec(username);
  const groups = optional(a, 'groups', 'strings', sa ? ['system:serviceaccounts', `system:serviceaccounts:${sa[1]}`] : []);
  if (a.rules !== undefined && !Array.isArray(a.rules)) throw new HttpError(400, '"rules" must be a list');
  const rules = (a.rules ?? []).map((value) => {
    const r = expectObject(value, 'a rule');
    expectKeys(r, ['namespace', 'apiGroups', 'resources', 'verbs', 'resourceNames'], 'rule');
    const rule = {
      namespace: optional(r, 'namespace', 'string', undefined),
      apiGroups: optional(r, 'apiGroups', 'strings', []),
      resources: optional(r, 'resources', 'strings', []),
      verbs: optional(r, 'verbs', 'strings', []),
      resourceNames: optional(r, 'resourceNames', 'strings', []),
    };
    if (rule.namespace !== undefined && !isNamespaceName(rule.namespace)) throw new HttpError(400, `rule "namespace" "${rule.namespace}" is not a namespace name`);
    // As the API server validates a PolicyRule: verbs, apiGroups and resources are required.
    for (const field of ['verbs', 'apiGroups', 'resources']) {
      if (!rule[field].length) throw new HttpError(400, `a rule needs "${field}" (apiGroups [""] is the core group)`);
    }
    return rule;
  });
  return { token, username, groups: groups.includes('system:authenticated') ? groups : [...groups, 'system:authenticated'], rules };
}

function parseKubeNamespace(value) {
  const n = expectObject(value, 'a namespace');
  expectKeys(n, ['name'], 'namespace');
  const name = optional(n, 'name', 'string', '');
  if (!isNamespaceName(name)) throw new HttpError(400, `"name" must be a namespace name (an RFC 1123 label): "${name}"`);
  return name;
}

// ---------------------------------------------------------------------------------------
// Tenants: one Run:ai control plane each

const tenants = new Map();

// Looks up a JSON field the way Go's encoding/json does: exact name first, else any case.
function field(obj, name) {
  if (obj[name] !== undefined) return obj[name];
  const key = Object.keys(obj).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : obj[key];
}

// The `echo` fault's answer: a broken server that quotes the request it could not parse,
// secrets included, in both of the error fields clients show (OAuth2's and Run:ai's).
function echoError(body) {
  const text = `cannot parse ${body.toString('utf8')}`;
  return JSON.stringify({ error: 'invalid_request', error_description: text, message: text });
}

function v1Error(res, status, message) {
  sendJson(res, status, { code: status, message });
}

function k8sStatus(res, code, reason, message) {
  sendJson(res, code, {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code,
  });
}

class Tenant {
  constructor(options) {
    const o = expectObject(options, 'the tenant');
    expectKeys(o, [
      'realm', 'endpoints', 'html', 'clients', 'ttl', 'expiresIn', 'tls', 'clockSkew', 'kube',
      'users', 'userClient', 'refreshTtl', 'deviceInterval',
    ], 'tenant');
    this.realm = optional(o, 'realm', 'string', 'runai');
    if (!/^[A-Za-z0-9._-]+$/.test(this.realm)) throw new HttpError(400, '"realm" must match [A-Za-z0-9._-]+');
    this.endpoints = new Set(optional(o, 'endpoints', 'strings', ENDPOINTS));
    for (const e of this.endpoints) {
      if (!ENDPOINTS.includes(e)) throw new HttpError(400, `unknown endpoint "${e}"; known: ${ENDPOINTS.join(', ')}`);
    }
    this.html = optional(o, 'html', 'boolean', false);
    this.ttl = optional(o, 'ttl', 'integer', 3600);
    if (this.ttl < 1) throw new HttpError(400, '"ttl" must be at least 1');
    this.expiresIn = optional(o, 'expiresIn', 'boolean', true);
    this.tls = optional(o, 'tls', 'boolean', false);
    this.clockSkew = optional(o, 'clockSkew', 'integer', 0);
    this.kube = optional(o, 'kube', 'boolean', false);
    if (!Array.isArray(o.clients)) throw new HttpError(400, '"clients" must be a list');
    this.clients = new Map(o.clients.map(parseClient).map((c) => [c.id, c]));

    // People who sign in as themselves, through the one public client `userClient`.
    this.userClient = optional(o, 'userClient', 'string', 'runai-cli');
    if (!this.userClient) throw new HttpError(400, '"userClient" must not be empty');
    if (this.clients.has(this.userClient)) throw new HttpError(400, `"userClient" "${this.userClient}" is also the id of a client`);
    this.refreshTtl = optional(o, 'refreshTtl', 'integer', 86400);
    if (this.refreshTtl < 1) throw new HttpError(400, '"refreshTtl" must be at least 1');
    this.deviceInterval = optional(o, 'deviceInterval', 'integer', 1);
    if (this.deviceInterval < 0) throw new HttpError(400, '"deviceInterval" must be at least 0');
    if (o.users !== undefined && !Array.isArray(o.users)) throw new HttpError(400, '"users" must be a list');
    this.users = new Map(); // username -> {id, username, password, name, roles}
    for (const user of (o.users ?? []).map(parseUser)) this.setUser(user);

    this.generation = 1; // the `gen` claim; tokens below the current value are revoked
    this.faults = [];
    this.requests = [];
    this.clusterUuid = crypto.randomUUID();
  }

  /** Adds a user, or replaces the one with the same username (keeping its id, the `sub`). */
  setUser(user) {
    const id = this.users.get(user.username)?.id ?? crypto.randomUUID();
    this.users.set(user.username, { ...user, id });
  }

  async start() {
    const main = createServer(this.tls, (req, res) => this.serve(req, res, 'tenant'));
    const port = await listen(main);
    this.url = `${this.tls ? 'https' : 'http'}://${HOST}:${port}`;
    this.prefix = `/auth/realms/${this.realm}`;
    this.issuer = `${this.url}${this.prefix}`;
    this.plainIssuer = `${this.url}${PLAIN_PREFIX}`;
    this.#createProviders();

    // Back channel to the provider for the hand-written /api/v1/token endpoint, which mints
    // its tokens with real token requests (as Run:ai's backend asks Keycloak). It works
    // whether or not the public Keycloak paths are enabled, and is not logged.
    const internal = http.createServer((req, res) => {
      const path = pathOf(req.url);
      if (path.startsWith(`${this.prefix}/`)) this.#toProvider(this.keycloak, req, res, path.slice(this.prefix.length));
      else sendJson(res, 404, { code: 404, message: 'not found' });
    });
    this.internalUrl = `http://${HOST}:${await listen(internal)}${this.prefix}`;

    if (this.kube) {
      const kube = https.createServer(pki.tls, (req, res) => this.serve(req, res, 'kube'));
      this.kubeUrl = `https://${HOST}:${await listen(kube)}`;
      this.cluster = new KubeCluster({ host: new URL(this.kubeUrl).host, defaultNamespaceUid: this.clusterUuid });
    }
  }

  describe() {
    return {
      id: this.id,
      url: this.url,
      realm: this.realm,
      issuer: this.issuer,
      plainIssuer: this.plainIssuer,
      ...(this.kubeUrl ? { kubeUrl: this.kubeUrl } : {}),
      ca: pki.caPem,
    };
  }

  // --- the OpenID providers --------------------------------------------------------------
  //
  // Two per tenant, one signing key: the Keycloak realm stand-in at the realm prefix, with
  // Keycloak's route names, which serves the applications and the users; and a "plain"
  // issuer at /oidc with oidc-provider's own route names, which serves the users only (a
  // non-Keycloak OIDC issuer). Both sign tokens with the same key, and the Run:ai API and
  // the kube stand-in accept tokens of either.

  #createProviders() {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const kid = crypto.randomBytes(8).toString('hex');
    const jwk = (key) => ({ ...key.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' });
    this.verificationKeys = createLocalJWKSet({ keys: [jwk(publicKey)] });
    const signingKey = jwk(privateKey);
    const cookieKey = crypto.randomBytes(32).toString('base64url');

    const base = '/protocol/openid-connect';
    this.keycloak = this.#createProvider({
      issuer: this.issuer,
      prefix: this.prefix,
      signingKey,
      cookieKey,
      applications: true,
      routes: {
        authorization: `${base}/auth`,
        device_authorization: `${base}/auth/device`,
        code_verification: '/device', // Keycloak's verification_uri is {issuer}/device
        end_session: `${base}/logout`,
        introspection: `${base}/token/introspect`,
        jwks: `${base}/certs`,
        revocation: `${base}/revoke`,
        token: `${base}/token`,
        userinfo: `${base}/userinfo`,
      },
      cookieNames: { session: '_session', interaction: '_interaction', resume: '_interaction_resume' },
    });
    this.plain = this.#createProvider({
      issuer: this.plainIssuer,
      prefix: PLAIN_PREFIX,
      signingKey,
      cookieKey,
      applications: false,
      routes: {}, // oidc-provider's defaults: /auth, /token, /device/auth, /device, /token/revocation, /jwks, ...
      cookieNames: { session: '_oidc_session', interaction: '_oidc_interaction', resume: '_oidc_interaction_resume' },
    });
  }

  /**
   * One oidc-provider instance, mounted at `prefix` of the tenant listener. `applications`:
   * whether the tenant's confidential clients (client_credentials) are served too, besides
   * the user client. Returns {provider, prefix, callback}.
   */
  #createProvider({ issuer, prefix, signingKey, cookieKey, applications, routes, cookieNames }) {
    const ttl = () => this.ttl;
    const provider = new Provider(issuer, {
      adapter: (model) => this.#storage(model, applications),
      jwks: { keys: [signingKey] },
      clientDefaults: { id_token_signed_response_alg: 'ES256' },
      clientBasedCORS: () => false, // no browser calls the token endpoint from a page here
      responseTypes: ['code'], // the authorization code flow only (no implicit or hybrid)
      cookies: { keys: [cookieKey], names: cookieNames },
      routes,
      // Every user grant gets the identity claims in its ID token (as Keycloak's default
      // client scopes do); profile and email are accepted as scopes for the same claims.
      claims: {
        acr: null,
        auth_time: null,
        iss: null,
        sid: null,
        openid: ['sub', 'preferred_username', 'name', 'email', 'realm_access', 'gen'],
        profile: ['name', 'preferred_username'],
        email: ['email'],
      },
      features: {
        // Replaced by the tenant's own sign-in page (GET/POST /interaction/:uid): the
        // development interactions accept any password.
        devInteractions: { enabled: false },
        clientCredentials: { enabled: applications },
        introspection: { enabled: true },
        revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
        deviceFlow: {
          enabled: true,
          userCodeInputSource: (ctx, form, _out, err) => this.#userCodePage(ctx, form, err),
          userCodeConfirmSource: (ctx, form, client, _info, userCode) => this.#confirmPage(ctx, form, client, userCode),
          successSource: (ctx) => this.#deviceSuccessPage(ctx),
        },
        // Resource indicators are how oidc-provider v9 issues JWT (not opaque) access
        // tokens: every request defaults to one resource whose tokens are ES256 JWTs.
        // useGrantedResource: user grants with `openid` get that resource too (by default
        // their access token would be an opaque one for the userinfo endpoint).
        resourceIndicators: {
          enabled: true,
          defaultResource: () => RESOURCE,
          useGrantedResource: () => true,
          getResourceServerInfo: resourceServer,
        },
      },
      interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
      findAccount: (_ctx, id) => this.#account(id),
      // Refresh tokens for every user grant (not only with offline_access and
      // prompt=consent), rotated on every use, never bound to the browser session.
      issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
      rotateRefreshToken: () => true,
      expiresWithSession: () => false,
      renderError: (ctx, out) => {
        ctx.type = 'html';
        ctx.body = errorPage(out.error, out.error_description);
      },
      ttl: {
        AccessToken: ttl,
        ClientCredentials: ttl,
        IdToken: ttl,
        RefreshToken: () => this.refreshTtl,
        AuthorizationCode: 60,
        DeviceCode: 600,
        Interaction: 3600,
        Session: 86400,
        Grant: 10 * 365 * 86400, // outlives every refresh token of the grant
      },
      extraTokenClaims: (_ctx, token) => (token.accountId ? this.#userClaims(token.accountId, token.clientId) : this.#claims(token.clientId)),
    });
    // ROPC, which oidc-provider does not implement (on purpose); Keycloak's Direct Access
    // Grants and Run:ai's password grant are it.
    provider.registerGrantType('password', (ctx) => this.#passwordGrant(ctx), ['username', 'password', 'scope']);
    // Keycloak's `scope=openid` and `response_type=id_token` form fields need no special
    // handling: oidc-provider ignores parameters the token endpoint does not define, and
    // `openid` is a known scope it accepts (and drops, as the resource defines no scopes).
    provider.use(async (ctx, next) => {
      await next();
      const route = ctx.oidc?.route;
      if (route === 'token' && ctx.body && typeof ctx.body === 'object') {
        if (!this.expiresIn) delete ctx.body.expires_in;
        // The access token's own scope is the resource's (none); a user grant answers
        // with the OpenID scopes it was granted instead, as Keycloak does.
        const refreshToken = ctx.oidc.entities.RefreshToken;
        if (ctx.body.refresh_token && refreshToken) ctx.body.scope = refreshToken.scope;
      }
      if (route === 'device_authorization' && ctx.status === 200 && this.deviceInterval) {
        ctx.body.interval = this.deviceInterval;
      }
    });
    provider.on('server_error', (_ctx, err) => console.error(`tenant ${this.id}: provider error`, err));
    return { provider, prefix, callback: provider.callback() };
  }

  /** oidc-provider storage: clients come from this tenant's (mutable) client and user lists. */
  #storage(model, applications) {
    if (model === 'Client') {
      return {
        find: async (id) => {
          if (id === this.userClient) {
            // A public native client: PKCE is required (oidc-provider's default for public
            // clients), and loopback redirect URIs match on any port.
            return {
              client_id: id,
              application_type: 'native',
              token_endpoint_auth_method: 'none',
              grant_types: ['authorization_code', 'refresh_token', DEVICE_CODE, 'password'],
              response_types: ['code'],
              redirect_uris: ['http://127.0.0.1/callback', 'http://localhost/callback'],
            };
          }
          const c = applications && this.clients.get(id);
          return c && {
            client_id: c.id,
            client_secret: c.secret,
            grant_types: ['client_credentials'],
            response_types: [],
            redirect_uris: [],
            token_endpoint_auth_method: 'client_secret_post',
          };
        },
      };
    }
    // JWT access tokens are never stored; a plain map covers anything else the provider saves.
    const items = new Map();
    const storage = {
      upsert: async (id, payload) => { items.set(id, payload); },
      find: async (id) => items.get(id),
      findByUid: async (uid) => [...items.values()].find((p) => p.uid === uid),
      findByUserCode: async (code) => [...items.values()].find((p) => p.userCode === code),
      consume: async (id) => { const p = items.get(id); if (p) p.consumed = Math.floor(Date.now() / 1000); },
      destroy: async (id) => { items.delete(id); },
      revokeByGrantId: async (grantId) => {
        for (const [id, p] of items) if (p.grantId === grantId) items.delete(id);
      },
    };
    if (model === 'RefreshToken') {
      // `revoke` covers refresh tokens too: each remembers the generation it was issued in,
      // and one from an older generation is not found (so: 400 invalid_grant).
      const generations = new Map();
      return {
        ...storage,
        upsert: async (id, payload) => {
          if (!generations.has(id)) generations.set(id, this.generation);
          items.set(id, payload);
        },
        find: async (id) => (generations.get(id) >= this.generation ? items.get(id) : undefined),
      };
    }
    return storage;
  }

  #claims(clientId) {
    const c = this.clients.get(clientId);
    const resourceAccess = Object.fromEntries(Object.entries(c?.resourceRoles ?? {}).map(([k, roles]) => [k, { roles }]));
    return {
      azp: clientId,
      preferred_username: `service-account-${clientId}`,
      realm_access: { roles: c?.roles ?? [] },
      resource_access: resourceAccess,
      gen: this.generation,
    };
  }

  #userById(id) {
    for (const user of this.users.values()) if (user.id === id) return user;
    return undefined;
  }

  /** The user whose username and password these are, else undefined. */
  #checkPassword(username, password) {
    const user = typeof username === 'string' ? this.users.get(username) : undefined;
    return user && typeof password === 'string' && user.password === password ? user : undefined;
  }

  /** The identity claims of a user, current roles and generation included. */
  #identity(user) {
    return {
      preferred_username: user.username,
      name: user.name,
      email: user.username,
      realm_access: { roles: user.roles },
      gen: this.generation,
    };
  }

  #userClaims(id, clientId) {
    const user = this.#userById(id);
    return user && { azp: clientId, ...this.#identity(user) };
  }

  /** oidc-provider's account lookup (ID token claims, and the check that a grant's user exists). */
  #account(id) {
    const user = this.#userById(id);
    return user && { accountId: id, claims: () => ({ sub: id, ...this.#identity(user) }) };
  }

  /**
   * grant_type=password (ROPC) for the user client: the same tokens as an authorization
   * code grant (JWT access token, ID token, refresh token), from a grant made here.
   */
  async #passwordGrant(ctx) {
    const { provider, client, params } = ctx.oidc;
    for (const name of ['username', 'password']) {
      if (!params[name]) throw new oidcErrors.InvalidRequest(`missing required parameter '${name}'`);
    }
    const user = this.#checkPassword(params.username, params.password);
    if (!user) throw new oidcErrors.InvalidGrant('invalid user credentials');

    // openid always (so there is an ID token), plus whichever known scopes were asked for.
    const requested = new Set((params.scope ?? '').split(' '));
    const scope = USER_SCOPES.filter((s) => s === 'openid' || requested.has(s)).join(' ');
    const grant = new provider.Grant({ accountId: user.id, clientId: client.clientId });
    grant.addOIDCScope(scope);
    const grantId = await grant.save();
    const account = this.#account(user.id);
    ctx.oidc.entity('Grant', grant);
    ctx.oidc.entity('Account', account);

    const common = { accountId: user.id, client, grantId, gty: 'password', expiresWithSession: false };
    const accessToken = new provider.AccessToken(common);
    accessToken.resourceServer = new provider.ResourceServer(RESOURCE, resourceServer());
    ctx.oidc.entity('AccessToken', accessToken);
    const refreshToken = new provider.RefreshToken({
      ...common, scope, resource: RESOURCE, rotations: 0, authTime: Math.floor(Date.now() / 1000),
    });
    ctx.oidc.entity('RefreshToken', refreshToken);
    const idToken = new provider.IdToken(await account.claims(), { ctx });
    idToken.scope = scope;

    ctx.body = {
      access_token: await accessToken.save(),
      expires_in: accessToken.expiration,
      id_token: await idToken.issue({ use: 'idtoken' }),
      refresh_token: await refreshToken.save(),
      scope,
      token_type: accessToken.tokenType,
    };
  }

  /** Hands a request to one of the tenant's providers, as `providerPath` (no query) under its prefix. */
  #toProvider({ prefix, callback }, req, res, providerPath) {
    // oidc-provider derives its mount path from req.originalUrl minus req.url.
    const query = req.url.includes('?') ? req.url.slice(req.url.indexOf('?')) : '';
    req.originalUrl = `${prefix}${providerPath}${query}`;
    req.url = `${providerPath}${query}`;
    callback(req, res);
  }

  /** A token request on the back channel: {status, body} of the Keycloak provider's answer. */
  async #backChannel(form) {
    const response = await fetch(`${this.internalUrl}/protocol/openid-connect/token`, {
      method: 'POST',
      body: new URLSearchParams(form),
    });
    return { status: response.status, body: await response.json() };
  }

  /** Mints a token with a real client-credentials request on the back channel. */
  async #mint(clientId, clientSecret) {
    const { status, body } = await this.#backChannel({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret });
    if (status === 401 || body.error === 'invalid_client') return null;
    if (status !== 200) throw new Error(`provider answered ${status}: ${JSON.stringify(body)}`);
    return body;
  }

  // --- sign-in pages ---------------------------------------------------------------------

  /** GET/POST /interaction/:uid: the login form (any prompt "login"), and automatic consent. */
  async #interaction(req, res, uid, body) {
    let issuer;
    for (const candidate of [this.keycloak, this.plain]) {
      if (await candidate.provider.Interaction.find(uid)) issuer = candidate;
    }
    if (!issuer) return sendHtml(res, 400, errorPage('invalid_request', 'this sign-in request is unknown or has expired'));
    const { provider } = issuer;
    let details;
    try {
      details = await provider.interactionDetails(req, res);
    } catch (err) {
      return sendHtml(res, 400, errorPage(err.error ?? 'invalid_request', err.error_description ?? err.message));
    }
    if (details.uid !== uid) return sendHtml(res, 400, errorPage('invalid_request', 'this sign-in request belongs to another browser'));

    const { prompt, params } = details;
    if (prompt.name === 'consent') {
      // No consent page: grant whatever the request asks for, as a first-party client
      // with consent turned off does in Keycloak.
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
      const missing = prompt.details;
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      const result = { consent: { grantId: await grant.save() } };
      return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
    }
    if (prompt.name !== 'login') return sendHtml(res, 400, errorPage('invalid_request', `unsupported prompt "${prompt.name}"`));

    const page = { uid, realm: this.realm, clientId: params.client_id, login: params.login_hint ?? '' };
    if (req.method === 'GET') return sendHtml(res, 200, loginPage(page));
    if (req.method !== 'POST') return sendHtml(res, 405, errorPage('invalid_request', 'method not allowed'));
    const form = new URLSearchParams(body.toString('utf8'));
    const user = this.#checkPassword(form.get('login'), form.get('password'));
    if (!user) {
      return sendHtml(res, 200, loginPage({ ...page, login: form.get('login') ?? '', error: 'Invalid username or password.' }));
    }
    return provider.interactionFinished(req, res, { login: { accountId: user.id } }, { mergeWithLastSubmission: false });
  }

  // Device flow pages, in place of oidc-provider's (which load fonts from the internet).
  // `form` is oidc-provider's own form markup (hidden xsrf and user_code fields); the
  // buttons sit outside it and name it in their `form` attribute.

  #userCodePage(ctx, form, err) {
    let message = 'There was an error processing your request.';
    if (err?.name === 'AbortedError') message = 'The sign-in request was aborted.';
    else if (err?.userCode || err?.name === 'NoCodeError') message = 'The code you entered is incorrect, expired or used. Try again.';
    message = err ? `<p class="error" role="alert">${escapeHtml(message)}</p>` : '<p>Enter the code displayed on your device.</p>';
    ctx.type = 'html';
    ctx.body = htmlPage(err ? 'device-code-error' : 'device-code', 'Device sign-in',
      `${message}${form}<button type="submit" form="op.deviceInputForm">Continue</button>`);
  }

  #confirmPage(ctx, form, client, userCode) {
    ctx.type = 'html';
    ctx.body = htmlPage('device-confirm', 'Confirm device',
      `<p>${escapeHtml(client.clientId)} on a device shows this code:</p><p><code>${escapeHtml(userCode)}</code></p>${form}`
      + '<button id="confirm" type="submit" form="op.deviceConfirmForm">Continue</button>'
      + '<button id="abort" type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Abort</button>');
  }

  #deviceSuccessPage(ctx) {
    ctx.type = 'html';
    ctx.body = htmlPage('device-success', 'Sign-in successful',
      '<p>The device is signed in. You can close this window and return to the terminal.</p>');
  }

  /** Claims of a valid, unexpired, unrevoked bearer token of this tenant (either issuer), else null. */
  async authenticate(req) {
    const match = /^Bearer +(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!match) return null;
    try {
      const { payload } = await jwtVerify(match[1], this.verificationKeys, { issuer: [this.issuer, this.plainIssuer], algorithms: ['ES256'] });
      return Number(payload.gen) >= this.generation ? payload : null;
    } catch {
      return null;
    }
  }

  // --- request pipeline shared by the tenant and kube listeners ------------------------

  async serve(req, res, listener) {
    const path = pathOf(req.url);
    let body = Buffer.alloc(0);
    let tooLarge;
    try {
      body = await readBody(req);
    } catch (err) {
      if (!(err instanceof HttpError)) return req.destroy(); // the client went away mid-body
      tooLarge = err;
    }
    const entry = this.#log(req, path, body, listener);
    // Every answer passes through writeHead (Node calls it implicitly too): record the
    // status as it is sent, and shift the Date header by the tenant's clock skew.
    const writeHead = res.writeHead;
    res.writeHead = (status, ...rest) => {
      entry.status = status;
      res.setHeader('Date', new Date(Date.now() + this.clockSkew * 1000).toUTCString());
      return writeHead.call(res, status, ...rest);
    };

    if (tooLarge) return sendJson(res, tooLarge.status, { code: tooLarge.status, message: tooLarge.message });
    try {
      if (this.#fault(req.method, path, body, res)) return;
      if (listener === 'kube') await this.#kube(req, res, path, body, entry);
      else await this.#tenant(req, res, path, body);
    } catch (err) {
      console.error(`tenant ${this.id}: ${req.method} ${path} failed`, err);
      if (!res.headersSent) sendJson(res, 500, { code: 500, message: 'internal error in test realm' });
      else res.destroy();
    }
  }

  #log(req, path, body, listener) {
    const contentType = req.headers['content-type'] ?? null;
    let grantType = null;
    if (contentType?.startsWith('application/x-www-form-urlencoded')) {
      grantType = new URLSearchParams(body.toString('utf8')).get('grant_type');
    } else if (contentType?.startsWith('application/json')) {
      try {
        const json = JSON.parse(body.toString('utf8'));
        const g = json && typeof json === 'object' ? field(json, 'grantType') : undefined;
        grantType = typeof g === 'string' ? g : null;
      } catch { /* not JSON: no grant type */ }
    }
    const entry = {
      method: req.method,
      path,
      status: 0,
      contentType,
      grantType,
      authorization: /^Bearer /i.test(req.headers.authorization ?? ''),
      listener,
      userAgent: req.headers['user-agent'] ?? null,
    };
    if (listener === 'kube') {
      entry.authenticated = false;
      // Kube requests carry no secrets in their query (the Run:ai listener's may: codes).
      entry.query = req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : null;
      entry.user = null;
    }
    this.requests.push(entry);
    return entry;
  }

  /** Answers from the fault queue when a scripted response matches; true if it did. */
  #fault(method, path, body, res) {
    const index = this.faults.findIndex((f) => f.path === path && (f.method === undefined || f.method === method));
    if (index < 0) return false;
    const fault = this.faults[index];
    if (--fault.times === 0) this.faults.splice(index, 1);
    if (fault.hang) return true; // never answer; the socket closes when the client gives up
    let payload = Buffer.from(fault.echo ? echoError(body) : fault.body);
    if (fault.bodyBytes !== undefined) {
      // `body` (if any) is a prefix, then 'x' filler up to exactly bodyBytes bytes.
      payload = Buffer.concat([payload, Buffer.alloc(Math.max(0, fault.bodyBytes - payload.length), 'x')]).subarray(0, fault.bodyBytes);
    }
    res.writeHead(fault.status, { 'Content-Type': fault.contentType, 'Content-Length': payload.length, ...fault.headers });
    res.end(payload);
    return true;
  }

  #notFound(res) {
    if (this.html) send(res, 200, 'text/html; charset=utf-8', HTML_PAGE);
    else sendJson(res, 404, { code: 404, message: 'not found' });
  }

  // --- the Run:ai control plane --------------------------------------------------------

  async #tenant(req, res, path, body) {
    const has = (e) => this.endpoints.has(e);
    if (has('keycloak') && path.startsWith(`${this.prefix}/`)) {
      req.body = body; // already read; oidc-provider falls back to req.body
      return this.#toProvider(this.keycloak, req, res, path.slice(this.prefix.length));
    }
    if (path.startsWith(`${PLAIN_PREFIX}/`)) { // the plain issuer is always served
      req.body = body;
      return this.#toProvider(this.plain, req, res, path.slice(PLAIN_PREFIX.length));
    }
    const interaction = INTERACTION.exec(path);
    if (interaction) return this.#interaction(req, res, interaction[1], body);
    if (has('v2') && path === '/api/v2/token') {
      if (req.method !== 'POST') return v1Error(res, 405, 'method not allowed');
      req.body = body;
      return this.#toProvider(this.keycloak, req, res, '/protocol/openid-connect/token');
    }
    if ((has('v1') || has('app-token')) && path === '/api/v1/token') return this.#v1Token(req, res, body);

    const api = this.#apiRoute(req.method, path);
    if (!api) return this.#notFound(res);
    const claims = await this.authenticate(req);
    if (!claims) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return v1Error(res, 401, 'unauthorized');
    }
    const roles = new Set(claims.realm_access?.roles ?? []);
    if (api.roles && !api.roles.some((r) => roles.has(r))) return v1Error(res, 403, 'forbidden: missing role');
    return api.handle(req, res, body);
  }

  #apiRoute(method, path) {
    if (method === 'GET' && path === '/api/v1/clusters') {
      return {
        roles: ['Administrator', 'Editor'],
        handle: (req, res) => sendJson(res, 200, [{
          uuid: this.clusterUuid, name: 'test-cluster', domain: this.url, version: '2.24.0', status: { state: 'Connected' },
        }]),
      };
    }
    if (method === 'GET' && path === '/researcher/api/v1/projects') {
      return { roles: ['Researcher'], handle: (req, res) => sendJson(res, 200, { data: [{ name: 'team-a' }] }) };
    }
    if (path === '/api/v1/echo') {
      return {
        handle: (req, res, body) => {
          const headers = { ...req.headers };
          delete headers.authorization;
          sendJson(res, 200, { method: req.method, contentType: req.headers['content-type'] ?? null, headers, body: body.toString('utf8') });
        },
      };
    }
    const status = /^\/api\/v1\/status\/([1-5]\d\d)$/.exec(path);
    if (status && Number(status[1]) >= 200) {
      const code = Number(status[1]);
      return { handle: (req, res) => v1Error(res, code, `status ${code}`) };
    }
    return null;
  }

  /**
   * POST /api/v1/token: the JSON endpoint of Run:ai 2.15-2.23 (app_token, then
   * client_credentials; password and refresh_token for users).
   */
  async #v1Token(req, res, raw) {
    if (req.method !== 'POST') return v1Error(res, 405, 'method not allowed');
    let body;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return v1Error(res, 400, 'invalid JSON body');
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return v1Error(res, 400, 'invalid JSON body');

    const grantType = field(body, 'grantType');
    if (typeof grantType !== 'string' || !grantType) return v1Error(res, 400, 'Required parameter is missing');
    const appToken = grantType === 'app_token' && this.endpoints.has('app-token');
    const v1Grant = ['client_credentials', 'password', 'refresh_token'].includes(grantType) && this.endpoints.has('v1');
    if (!appToken && !v1Grant) return v1Error(res, 400, `grantType "${grantType}" is not supported`);
    if (grantType === 'password' || grantType === 'refresh_token') return this.#v1UserToken(res, grantType, body);
    // client_credentials field names are matched in any letter case (clientId/clientID),
    // as Go's encoding/json does. app_token takes only the spelling Run:ai documents,
    // `AppId` and `AppSecret`, so a client that sends appId is caught here.
    const id = appToken ? body.AppId : field(body, 'clientId');
    const secret = appToken ? body.AppSecret : field(body, 'clientSecret');
    if (typeof id !== 'string' || !id || typeof secret !== 'string' || !secret) {
      return v1Error(res, 400, 'Required parameter is missing');
    }

    const token = await this.#mint(id, secret);
    if (!token) return v1Error(res, 401, 'invalid client credentials');
    if (appToken) return sendJson(res, 200, { accessToken: token.access_token }); // that generation had no expiresIn
    return sendJson(res, 200, {
      accessToken: token.access_token,
      idToken: token.access_token,
      ...(this.expiresIn ? { expiresIn: token.expires_in } : {}),
    });
  }

  /**
   * /api/v1/token for users: {grantType:"password", clientID, username, password} or
   * {grantType:"refresh_token", refreshToken, clientID} (field names in any letter case),
   * as a form request to the provider on the back channel, so that its tokens, rotation
   * and revocation are the provider's.
   */
  async #v1UserToken(res, grantType, body) {
    const password = grantType === 'password';
    const names = password ? ['clientId', 'username', 'password'] : ['clientId', 'refreshToken'];
    const values = names.map((name) => field(body, name));
    if (values.some((v) => typeof v !== 'string' || !v)) return v1Error(res, 400, 'Required parameter is missing');
    const [clientId, ...rest] = values;
    const form = password
      ? { grant_type: 'password', client_id: clientId, username: rest[0], password: rest[1], scope: 'openid offline_access' }
      : { grant_type: 'refresh_token', client_id: clientId, refresh_token: rest[0] };

    const { status, body: answer } = await this.#backChannel(form);
    if (status === 200) {
      return sendJson(res, 200, {
        accessToken: answer.access_token,
        idToken: answer.id_token,
        refreshToken: answer.refresh_token,
        ...(this.expiresIn ? { expiresIn: answer.expires_in } : {}),
      });
    }
    if (answer.error === 'invalid_client') return v1Error(res, 401, 'invalid client credentials');
    if (answer.error === 'invalid_grant') {
      return v1Error(res, 401, password ? 'invalid username or password' : 'invalid or expired refresh token');
    }
    if (status < 500) return v1Error(res, 400, answer.error_description ?? answer.error);
    throw new Error(`provider answered ${status}: ${JSON.stringify(answer)}`);
  }

  // --- the Kubernetes API stand-in ------------------------------------------------------

  async #kube(req, res, path, body, entry) {
    const user = await this.#kubeUser(req);
    entry.authenticated = Boolean(user);
    entry.user = user?.username ?? null;
    if (!user) return k8sStatus(res, 401, 'Unauthorized', 'Unauthorized');
    const query = req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '';
    return this.cluster.serve(req, res, { path, query, body, user });
  }

  /**
   * Who a kube request is: an account (its static token, username, groups and rules), or
   * the user of a JWT the Run:ai API would accept (no rules), else null.
   */
  async #kubeUser(req) {
    const match = /^Bearer +(\S+)$/i.exec(req.headers.authorization ?? '');
    const account = match && this.cluster.account(match[1]);
    if (account) return account;
    const claims = await this.authenticate(req);
    if (!claims) return null;
    return {
      username: claims.preferred_username ?? claims.sub,
      groups: ['system:authenticated', ...(claims.realm_access?.roles ?? [])],
      rules: [],
    };
  }
}

// ---------------------------------------------------------------------------------------
// HTTP forward proxies (absolute-form requests and CONNECT tunnels, loopback targets only)

const proxies = new Map();

function splitHostPort(authority) {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(authority);
  return m ? { host: m[1], port: Number(m[2]) } : null;
}

async function createProxy(id) {
  const requests = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method, target: req.url });
    let target;
    try {
      target = new URL(req.url);
    } catch {
      return sendJson(res, 400, { code: 400, message: 'a proxy request needs an absolute-form target' });
    }
    const host = proxyTarget(target.hostname.replace(/^\[|\]$/g, ''));
    if (target.protocol !== 'http:' || !host) {
      return sendJson(res, 403, { code: 403, message: 'the test proxy only forwards to loopback http targets' });
    }
    const headers = { ...req.headers };
    delete headers['proxy-connection'];
    delete headers['proxy-authorization'];
    const upstream = http.request(
      { host, port: target.port || 80, method: req.method, path: `${target.pathname}${target.search}`, headers },
      (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) sendJson(res, 502, { code: 502, message: 'upstream unreachable' });
      else res.destroy();
    });
    res.on('close', () => upstream.destroy()); // the client gave up: drop the upstream side too
    req.pipe(upstream);
  });

  server.on('connect', (req, socket, head) => {
    requests.push({ method: 'CONNECT', target: req.url });
    const target = splitHostPort(req.url);
    const host = target && proxyTarget(target.host);
    if (!host) {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const upstream = net.connect(target.port, host);
    let connected = false;
    upstream.on('connect', () => {
      connected = true;
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => {
      if (connected) socket.destroy();
      else socket.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
    });
    socket.on('error', () => upstream.destroy());
    socket.on('close', () => upstream.destroy());
  });

  const port = await listen(server);
  const proxy = { id, url: `http://${HOST}:${port}`, requests };
  proxies.set(id, proxy);
  return proxy;
}

// ---------------------------------------------------------------------------------------
// Admin API

let tenantCount = 0;
let proxyCount = 0;

function lookup(map, id, what) {
  const item = map.get(id);
  if (!item) throw new HttpError(404, `no ${what} "${id}"`);
  return item;
}

/** The kube stand-in's cluster of a tenant (400 for a tenant without one). */
function kubeOf(id) {
  const tenant = lookup(tenants, id, 'tenant');
  if (!tenant.cluster) throw new HttpError(400, `tenant "${id}" has no Kubernetes API stand-in (it was created without "kube": true)`);
  return tenant.cluster;
}

async function admin(req, res) {
  const path = pathOf(req.url);
  const body = await readBody(req);
  const json = () => parseJson(body.length ? body : Buffer.from('{}'));
  const route = `${req.method} ${path}`;
  let m;

  if (route === 'POST /tenants') {
    const tenant = new Tenant(json()); // validates; nothing is started yet
    tenant.id = `t${++tenantCount}`;
    await tenant.start();
    tenants.set(tenant.id, tenant);
    return sendJson(res, 201, tenant.describe());
  }
  if ((m = /^POST \/tenants\/([^/]+)\/clients$/.exec(route))) {
    const tenant = lookup(tenants, m[1], 'tenant');
    const client = parseClient(json());
    if (client.id === tenant.userClient) throw new HttpError(400, `"${client.id}" is the tenant's userClient`);
    tenant.clients.set(client.id, client);
    return noContent(res);
  }
  if ((m = /^POST \/tenants\/([^/]+)\/users$/.exec(route))) {
    const tenant = lookup(tenants, m[1], 'tenant');
    tenant.setUser(parseUser(json()));
    return noContent(res);
  }
  if ((m = /^POST \/tenants\/([^/]+)\/faults$/.exec(route))) {
    const tenant = lookup(tenants, m[1], 'tenant');
    const list = json();
    const faults = (Array.isArray(list) ? list : [list]).map(parseFault);
    tenant.faults.push(...faults);
    return noContent(res);
  }
  if ((m = /^GET \/tenants\/([^/]+)\/requests$/.exec(route))) {
    return sendJson(res, 200, lookup(tenants, m[1], 'tenant').requests);
  }
  if ((m = /^POST \/tenants\/([^/]+)\/revoke$/.exec(route))) {
    lookup(tenants, m[1], 'tenant').generation += 1;
    return noContent(res);
  }
  if ((m = /^POST \/tenants\/([^/]+)\/kube\/accounts$/.exec(route))) {
    kubeOf(m[1]).setAccount(parseAccount(json()));
    return noContent(res);
  }
  if ((m = /^POST \/tenants\/([^/]+)\/kube\/namespaces$/.exec(route))) {
    kubeOf(m[1]).addNamespace(parseKubeNamespace(json()));
    return noContent(res);
  }
  if ((m = /^(PUT|GET) \/tenants\/([^/]+)\/kube\/secrets\/([^/]+)\/([^/]+)$/.exec(route))) {
    const cluster = kubeOf(m[2]);
    const [namespace, name] = [m[3], m[4]].map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch {
        throw new HttpError(400, `bad path segment "${segment}"`);
      }
    });
    if (m[1] === 'GET') {
      const secret = cluster.adminGetSecret(namespace, name);
      if (!secret) throw new HttpError(404, `secrets "${name}" not found`);
      return sendJson(res, 200, secret);
    }
    const manager = new URL(req.url, 'http://admin').searchParams.get('fieldManager') || 'kubectl-create';
    try {
      const { status, object } = cluster.adminPutSecret(namespace, name, manager, body.length ? body : Buffer.from('{}'));
      return sendJson(res, status, object);
    } catch (err) {
      // The API server's message; its 422 (invalid) is this API's 400.
      if (err instanceof KubeError) throw new HttpError(err.status.code === 404 ? 404 : 400, err.message);
      throw err;
    }
  }
  if (route === 'POST /proxies') {
    const proxy = await createProxy(`p${++proxyCount}`);
    return sendJson(res, 201, { id: proxy.id, url: proxy.url });
  }
  if ((m = /^GET \/proxies\/([^/]+)\/requests$/.exec(route))) {
    return sendJson(res, 200, lookup(proxies, m[1], 'proxy').requests);
  }
  throw new HttpError(404, `no admin route ${route}`);
}

const adminServer = http.createServer((req, res) => {
  admin(req, res).catch((err) => {
    if (!(err instanceof HttpError)) console.error('admin request failed', err);
    const status = err instanceof HttpError ? err.status : 500;
    if (!res.headersSent) sendJson(res, status, { message: err.message });
  });
});

// ---------------------------------------------------------------------------------------
// Lifecycle: ready line on stdout; exit on stdin EOF (the test process closed it or died)
// and on SIGTERM/SIGINT.

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();

const adminPort = await listen(adminServer);
process.stdout.write(`${JSON.stringify({ admin: `http://${HOST}:${adminPort}` })}\n`);
