// Test realm for kubectl-runai-token: fake Run:ai control planes ("tenants") whose tokens
// are issued by a real OpenID provider (oidc-provider), a Kubernetes API stand-in that
// accepts those tokens, and HTTP forward proxies. Driven by a JSON admin API; see README.md.
//
// Process contract: prints one line {"admin":"http://127.0.0.1:PORT"} on stdout when ready,
// nothing else ever goes to stdout, and the process exits on stdin EOF, SIGTERM or SIGINT.

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import { createLocalJWKSet, jwtVerify } from 'jose';

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
const { default: Provider } = await import('oidc-provider');

const HOST = '127.0.0.1';
const ENDPOINTS = ['v2', 'v1', 'app-token', 'keycloak'];
const AUDIENCE = 'runai';
const RESOURCE = 'urn:runai:api';
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

function parseFault(value) {
  const f = expectObject(value, 'a fault');
  expectKeys(f, ['path', 'times', 'status', 'headers', 'contentType', 'body', 'bodyBytes', 'hang', 'echo'], 'fault');
  const fault = {
    path: optional(f, 'path', 'string', ''),
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
    expectKeys(o, ['realm', 'endpoints', 'html', 'clients', 'ttl', 'expiresIn', 'tls', 'clockSkew', 'kube'], 'tenant');
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

    this.generation = 1; // the `gen` claim; tokens below the current value are revoked
    this.faults = [];
    this.requests = [];
    this.clusterUuid = crypto.randomUUID();
  }

  async start() {
    const main = createServer(this.tls, (req, res) => this.serve(req, res, 'tenant'));
    const port = await listen(main);
    this.url = `${this.tls ? 'https' : 'http'}://${HOST}:${port}`;
    this.prefix = `/auth/realms/${this.realm}`;
    this.issuer = `${this.url}${this.prefix}`;
    this.#createProvider();

    // Back channel to the provider for the hand-written /api/v1/token endpoint, which mints
    // its tokens with a real client-credentials request (as Run:ai's backend asks Keycloak).
    // It works whether or not the public Keycloak paths are enabled, and is not logged.
    const internal = http.createServer((req, res) => {
      const path = pathOf(req.url);
      if (path.startsWith(`${this.prefix}/`)) this.#toProvider(req, res, path.slice(this.prefix.length));
      else sendJson(res, 404, { code: 404, message: 'not found' });
    });
    this.internalUrl = `http://${HOST}:${await listen(internal)}${this.prefix}`;

    if (this.kube) {
      const kube = https.createServer(pki.tls, (req, res) => this.serve(req, res, 'kube'));
      this.kubeUrl = `https://${HOST}:${await listen(kube)}`;
    }
  }

  describe() {
    return {
      id: this.id,
      url: this.url,
      realm: this.realm,
      issuer: this.issuer,
      ...(this.kubeUrl ? { kubeUrl: this.kubeUrl } : {}),
      ca: pki.caPem,
    };
  }

  // --- the OpenID provider (Keycloak realm stand-in) -----------------------------------

  #createProvider() {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const kid = crypto.randomBytes(8).toString('hex');
    const jwk = (key) => ({ ...key.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' });
    this.verificationKeys = createLocalJWKSet({ keys: [jwk(publicKey)] });

    const base = '/protocol/openid-connect';
    this.provider = new Provider(this.issuer, {
      adapter: (model) => this.#storage(model),
      jwks: { keys: [jwk(privateKey)] },
      clientDefaults: { id_token_signed_response_alg: 'ES256' },
      routes: {
        authorization: `${base}/auth`,
        end_session: `${base}/logout`,
        introspection: `${base}/token/introspect`,
        jwks: `${base}/certs`,
        revocation: `${base}/revoke`,
        token: `${base}/token`,
        userinfo: `${base}/userinfo`,
      },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        introspection: { enabled: true },
        // Resource indicators are how oidc-provider v9 issues JWT (not opaque) access
        // tokens: every request defaults to one resource whose tokens are ES256 JWTs.
        resourceIndicators: {
          enabled: true,
          defaultResource: () => RESOURCE,
          getResourceServerInfo: () => ({
            scope: '',
            audience: AUDIENCE,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          }),
        },
      },
      ttl: { ClientCredentials: () => this.ttl },
      extraTokenClaims: (_ctx, token) => this.#claims(token.clientId),
    });
    // Keycloak's `scope=openid` and `response_type=id_token` form fields need no special
    // handling: oidc-provider ignores parameters the token endpoint does not define, and
    // `openid` is a known scope it accepts (and drops, as the resource defines no scopes).
    this.provider.use(async (ctx, next) => {
      await next();
      if (!this.expiresIn && ctx.oidc?.route === 'token' && ctx.body?.expires_in !== undefined) {
        delete ctx.body.expires_in;
      }
    });
    this.provider.on('server_error', (_ctx, err) => console.error(`tenant ${this.id}: provider error`, err));
    this.providerCallback = this.provider.callback();
  }

  /** oidc-provider storage: clients come from this tenant's (mutable) client list. */
  #storage(model) {
    if (model === 'Client') {
      return {
        find: async (id) => {
          const c = this.clients.get(id);
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
    return {
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

  /** Hands a request to oidc-provider, mounted at the realm prefix, as `providerPath` (no query). */
  #toProvider(req, res, providerPath) {
    // oidc-provider derives its mount path from req.originalUrl minus req.url.
    const query = req.url.includes('?') ? req.url.slice(req.url.indexOf('?')) : '';
    req.originalUrl = `${this.prefix}${providerPath}${query}`;
    req.url = `${providerPath}${query}`;
    this.providerCallback(req, res);
  }

  /** Mints a token with a real client-credentials request on the back channel. */
  async #mint(clientId, clientSecret) {
    const response = await fetch(`${this.internalUrl}/protocol/openid-connect/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }),
    });
    const body = await response.json();
    if (response.status === 401 || body.error === 'invalid_client') return null;
    if (!response.ok) throw new Error(`provider answered ${response.status}: ${JSON.stringify(body)}`);
    return body;
  }

  /** Claims of a valid, unexpired, unrevoked bearer token from this realm, else null. */
  async authenticate(req) {
    const match = /^Bearer +(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!match) return null;
    try {
      const { payload } = await jwtVerify(match[1], this.verificationKeys, { issuer: this.issuer, algorithms: ['ES256'] });
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
      if (this.#fault(path, body, res)) return;
      if (listener === 'kube') await this.#kube(req, res, path, entry);
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
    if (listener === 'kube') entry.authenticated = false;
    this.requests.push(entry);
    return entry;
  }

  /** Answers from the fault queue when a scripted response matches; true if it did. */
  #fault(path, body, res) {
    const index = this.faults.findIndex((f) => f.path === path);
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
      return this.#toProvider(req, res, path.slice(this.prefix.length));
    }
    if (has('v2') && path === '/api/v2/token') {
      if (req.method !== 'POST') return v1Error(res, 405, 'method not allowed');
      req.body = body;
      return this.#toProvider(req, res, '/protocol/openid-connect/token');
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

  /** POST /api/v1/token: the JSON endpoint of Run:ai 2.15-2.23 (app_token, then client_credentials). */
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
    if (!appToken && !(grantType === 'client_credentials' && this.endpoints.has('v1'))) {
      return v1Error(res, 400, `grantType "${grantType}" is not supported`);
    }
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

  // --- the Kubernetes API stand-in ------------------------------------------------------

  async #kube(req, res, path, entry) {
    const claims = await this.authenticate(req);
    entry.authenticated = Boolean(claims);
    if (!claims) return k8sStatus(res, 401, 'Unauthorized', 'Unauthorized');

    const group = 'authentication.k8s.io';
    const versions = ['v1', 'v1beta1', 'v1alpha1'];
    const groupVersions = versions.map((version) => ({ groupVersion: `${group}/${version}`, version }));
    const apiGroup = { name: group, versions: groupVersions, preferredVersion: groupVersions[0] };
    const [, version, resource] = new RegExp(`^/apis/${group.replace(/\./g, '\\.')}/([^/]+)(?:/([^/]+))?$`).exec(path) ?? [];
    const knownVersion = versions.includes(version);

    if (req.method === 'POST' && knownVersion && resource === 'selfsubjectreviews') {
      return sendJson(res, 201, {
        kind: 'SelfSubjectReview',
        apiVersion: `${group}/${version}`,
        metadata: { creationTimestamp: null },
        status: {
          userInfo: {
            username: claims.preferred_username ?? claims.sub,
            groups: ['system:authenticated', ...(claims.realm_access?.roles ?? [])],
          },
        },
      });
    }
    if (req.method === 'GET') {
      // Plain JSON: kubectl asks for aggregated discovery first, and falls back to these
      // legacy documents when the answer's Content-Type is plain application/json.
      const documents = {
        '/version': {
          major: '1',
          minor: '33',
          gitVersion: 'v1.33.0',
          gitCommit: '60a317eadfcb839692a5eab88ed62a3ee1b61fb9',
          gitTreeState: 'clean',
          buildDate: '2025-04-23T13:07:26Z',
          goVersion: 'go1.24.2',
          compiler: 'gc',
          platform: 'linux/amd64',
        },
        '/api': {
          kind: 'APIVersions',
          versions: ['v1'],
          serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: new URL(this.kubeUrl).host }],
        },
        // client-go rejects a group version that lists no resources, so core v1 has one.
        '/api/v1': {
          kind: 'APIResourceList',
          groupVersion: 'v1',
          resources: [{ name: 'namespaces', singularName: 'namespace', namespaced: false, kind: 'Namespace', verbs: ['get', 'list'], shortNames: ['ns'] }],
        },
        '/api/v1/namespaces': {
          kind: 'NamespaceList',
          apiVersion: 'v1',
          metadata: { resourceVersion: '1' },
          items: [{ metadata: { name: 'default', uid: this.clusterUuid, resourceVersion: '1', creationTimestamp: '2025-01-01T00:00:00Z' }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } }],
        },
        '/apis': { kind: 'APIGroupList', apiVersion: 'v1', groups: [apiGroup] },
        [`/apis/${group}`]: { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup },
      };
      if (documents[path]) return sendJson(res, 200, documents[path]);
      if (knownVersion && resource === undefined) {
        return sendJson(res, 200, {
          kind: 'APIResourceList',
          apiVersion: 'v1',
          groupVersion: `${group}/${version}`,
          resources: [{ name: 'selfsubjectreviews', singularName: 'selfsubjectreview', namespaced: false, kind: 'SelfSubjectReview', verbs: ['create'] }],
        });
      }
    }
    return k8sStatus(res, 404, 'NotFound', 'the server could not find the requested resource');
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
    tenant.clients.set(client.id, client);
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
