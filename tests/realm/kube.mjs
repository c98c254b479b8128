// The Kubernetes API stand-in's cluster, for realm.mjs: discovery, SelfSubjectReview,
// namespaces, core v1 Secrets (get, list, create, update, delete, merge and JSON patches,
// and server-side apply with managed fields), static-token accounts with RBAC rules, and
// empty stand-ins for the other kinds kubectl needs to map a manifest. What it reproduces
// of kube-apiserver 1.33, and what it does not, is in README.md ("Kubernetes API stand-in").
//
// The order of the checks, the status codes and the messages follow kube-apiserver's code
// paths (k8s.io/apiserver handlers and registry, k8s.io/apimachinery errors and
// managedfields, structured-merge-diff), for the fields modelled here.

import * as crypto from 'node:crypto';

// ---------------------------------------------------------------------------------------
// Status answers, built as k8s.io/apimachinery/pkg/api/errors builds them

/** A kube-apiserver error answer: `status` is the whole `Status` object. */
export class KubeError extends Error {
  constructor(status) {
    super(status.message);
    this.status = status;
  }
}

// Go's %q, close enough for the names and values that reach a message here.
const q = (text) => JSON.stringify(String(text));

function failure(code, reason, message, details) {
  return new KubeError({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    ...(reason ? { reason } : {}), // an error that is not a Status has no reason (StatusReasonUnknown)
    ...(details ? { details } : {}),
    code,
  });
}

const qualified = (resource, group) => (group ? `${resource}.${group}` : resource);
const details = (name, resource, group) => ({ ...(name ? { name } : {}), ...(group ? { group } : {}), kind: resource });

const notFound = (resource, name, group = '') => failure(404, 'NotFound', `${qualified(resource, group)} ${q(name)} not found`, details(name, resource, group));
const alreadyExists = (name) => failure(409, 'AlreadyExists', `secrets ${q(name)} already exists`, details(name, 'secrets'));
const conflict = (name, why) => failure(409, 'Conflict', `Operation cannot be fulfilled on secrets ${q(name)}: ${why}`, details(name, 'secrets'));
const badRequest = (message) => failure(400, 'BadRequest', message);
const internal = (message) => failure(500, '', message);
const methodNotAllowed = () => failure(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {});
const noSuchResource = () => failure(404, 'NotFound', 'the server could not find the requested resource', {});
const MODIFIED = 'the object has been modified; please apply your changes to the latest version and try again';
const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];
const unsupportedMediaType = (accepted) => failure(415, 'UnsupportedMediaType',
  `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`);

// Field errors (k8s.io/apimachinery/pkg/util/validation/field): `body` is ErrorBody().
const fieldValue = (v) => (typeof v === 'string' ? q(v) : String(v));
const fieldError = {
  required: (field, detail) => ({ type: 'FieldValueRequired', field, body: `Required value${detail ? `: ${detail}` : ''}` }),
  invalid: (field, value, detail) => ({ type: 'FieldValueInvalid', field, body: `Invalid value: ${fieldValue(value)}: ${detail}` }),
  forbidden: (field, detail) => ({ type: 'FieldValueForbidden', field, body: `Forbidden: ${detail}` }),
  notSupported: (field, value, supported) => ({
    type: 'FieldValueNotSupported', field, body: `Unsupported value: ${value}: supported values: ${supported.map(q).join(', ')}`,
  }),
  tooLong: (field, max) => ({ type: 'FieldValueTooLong', field, body: `Too long: may not be more than ${max} bytes` }),
};

/** 422 Invalid: `kind` is the GroupKind's string ("Secret", "PatchOptions.meta.k8s.io"). */
function invalid(kind, name, errors, group = '') {
  const texts = [...new Set(errors.map((e) => `${e.field}: ${e.body}`))];
  const summary = texts.length === 1 ? texts[0] : `[${texts.join(', ')}]`;
  return failure(422, 'Invalid', `${group ? `${kind}.${group}` : kind} ${q(name)} is invalid: ${summary}`, {
    ...(name ? { name } : {}),
    ...(group ? { group } : {}),
    ...(kind ? { kind } : {}),
    causes: errors.map((e) => ({ reason: e.type, message: e.body, field: e.field })),
  });
}

/** The authorization filter's 403 (responsewriters.Forbidden), for a request on secrets. */
function forbidden(user, verb, namespace, name) {
  const where = namespace ? `in the namespace ${q(namespace)}` : 'at the cluster scope';
  const why = `User ${q(user.username)} cannot ${verb} resource "secrets" in API group "" ${where}`
    .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return failure(403, 'Forbidden', name ? `secrets ${q(name)} is forbidden: ${why}` : `secrets is forbidden: ${why}`, details(name, 'secrets'));
}

// ---------------------------------------------------------------------------------------
// Small helpers

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'); // metav1.Time: whole seconds
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const sortedObject = (entries) => Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** JSON with every object's keys sorted, as Go marshals a map[string]interface{}. */
function sortedJson(value) {
  if (Array.isArray(value)) return value.map(sortedJson);
  if (isObject(value)) return sortedObject(Object.entries(value).map(([k, v]) => [k, sortedJson(v)]));
  return value;
}

function sendJson(res, status, value, headers = {}) {
  const data = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': data.length, ...headers });
  res.end(data);
}

// ---------------------------------------------------------------------------------------
// Tables (meta.k8s.io/v1 Table), which kubectl asks for to print `get` as the server's
// printers do: NAME TYPE DATA AGE for Secrets, NAME STATUS AGE for namespaces.

const TABLE_TYPE = 'application/json;as=Table;v=v1;g=meta.k8s.io';
const wantsTable = (accept) => (accept ?? '').split(',').some((part) => {
  const p = part.replace(/\s+/g, '');
  return p.includes('as=Table') && p.includes('g=meta.k8s.io') && /;v=v1(;|$)/.test(p);
});

/** duration.HumanDuration, as the AGE column shows it. */
function humanDuration(ms) {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 ? `${minutes}m${seconds % 60}s` : `${minutes}m`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 ? `${hours}h${minutes % 60}m` : `${hours}h`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return hours % 24 ? `${Math.floor(hours / 24)}d${hours % 24}h` : `${hours / 24}d`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  const years = Math.floor(hours / 24 / 365);
  if (hours < 24 * 365 * 8) return Math.floor(hours / 24) % 365 ? `${years}y${Math.floor(hours / 24) % 365}d` : `${years}y`;
  return `${years}y`;
}

const column = (name, description, format = '') => ({ name, type: 'string', format, description, priority: 0 });
const NAME_COLUMN = column('Name', 'Name must be unique within a namespace. Is required when creating resources, although some '
  + 'resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended '
  + 'for creation idempotence and configuration definition. Cannot be updated. More info: '
  + 'https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names', 'name');
const AGE_COLUMN = column('Age', 'CreationTimestamp is a timestamp representing the server time when this object was created.');
const TABLE_COLUMNS = {
  secrets: [
    NAME_COLUMN,
    column('Type', 'Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types'),
    column('Data', 'Data contains the secret data.'),
    AGE_COLUMN,
  ],
  namespaces: [NAME_COLUMN, column('Status', 'The current lifecycle phase of the namespace.'), AGE_COLUMN],
};

/** A Table of `objects` (JSON, with metadata): one row each, its object the metadata only. */
function table(resourceName, objects, resourceVersion) {
  const age = (o) => humanDuration(Date.now() - Date.parse(o.metadata.creationTimestamp));
  const cells = resourceName === 'secrets'
    ? (o) => [o.metadata.name, o.type, Object.keys(o.data ?? {}).length, age(o)]
    : (o) => [o.metadata.name, o.status.phase, age(o)];
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions: TABLE_COLUMNS[resourceName],
    rows: objects.map((o) => {
      const { managedFields: _m, ...metadata } = o.metadata;
      return { cells: cells(o), object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata } };
    }),
  };
}

function sendError(res, err) {
  const headers = err.status.code === 403 ? { 'X-Content-Type-Options': 'nosniff' } : {};
  sendJson(res, err.status.code, err.status, headers);
}

function decodePathSegment(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * The byte offset Go's base64.StdEncoding.DecodeString reports for `text`
 * ("illegal base64 data at input byte N"), or null when it decodes. Go skips CR and LF,
 * requires the padding, and ignores the unused bits of the last quantum.
 */
function base64Error(text) {
  const src = Buffer.from(text, 'utf8');
  const newline = (b) => b === 0x0a || b === 0x0d;
  const alphabet = (b) => (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2b || b === 0x2f;
  let si = 0;
  for (;;) {
    for (let j = 0; j < 4; j++) {
      if (si === src.length) return j === 0 ? null : si - j;
      const c = src[si++];
      if (alphabet(c)) continue;
      if (newline(c)) {
        j--;
        continue;
      }
      if (c !== 0x3d || j < 2) return si - 1;
      if (j === 2) { // "==" expected; the first "=" is consumed
        while (si < src.length && newline(src[si])) si++;
        if (si === src.length) return src.length;
        if (src[si] !== 0x3d) return si - 1;
        si++;
      }
      while (si < src.length && newline(src[si])) si++;
      return si < src.length ? si : null; // anything after the padding is garbage
    }
  }
}

/** The canonical base64 of a valid Go base64 string (as the server re-encodes it). */
const canonicalBase64 = (text) => Buffer.from(text.replace(/[\r\n]/g, ''), 'base64').toString('base64');

// ---------------------------------------------------------------------------------------
// Names, keys, labels (k8s.io/apimachinery/pkg/util/validation)

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const QUALIFIED_NAME_FORMAT = "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'";

/** A namespace name: an RFC 1123 label (IsDNS1123Label). */
export const isNamespaceName = (name) => name.length <= 63 && DNS1123_LABEL.test(name);

function subdomainErrors(value) {
  const errors = [];
  if (value.length > 253) errors.push('must be no more than 253 characters');
  if (!DNS1123_SUBDOMAIN.test(value)) {
    errors.push("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and "
      + "end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
      + "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
  }
  return errors;
}

function configKeyErrors(key) {
  const errors = [];
  if (key.length > 253) errors.push('must be no more than 253 characters');
  if (!/^[-._a-zA-Z0-9]+$/.test(key)) {
    errors.push("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or "
      + "'key-name', regex used for validation is '[-._a-zA-Z0-9]+')");
  }
  if (key === '.') errors.push("must not be '.'");
  else if (key === '..') errors.push("must not be '..'");
  else if (key.startsWith('..')) errors.push("must not start with '..'");
  return errors;
}

function qualifiedNameErrors(value) {
  const parts = value.split('/');
  if (parts.length > 2) {
    return ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
      + `character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is ${QUALIFIED_NAME_FORMAT}) with an `
      + "optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"];
  }
  const errors = [];
  const name = parts.at(-1);
  if (parts.length === 2) {
    if (!parts[0]) errors.push('prefix part must be non-empty');
    else errors.push(...subdomainErrors(parts[0]).map((m) => `prefix part ${m}`));
  }
  if (!name) errors.push('name part must be non-empty');
  else if (name.length > 63) errors.push('name part must be no more than 63 characters');
  if (!QUALIFIED_NAME.test(name)) {
    errors.push("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
      + `character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is ${QUALIFIED_NAME_FORMAT})`);
  }
  return errors;
}

function labelValueErrors(value) {
  const errors = [];
  if (value.length > 63) errors.push('must be no more than 63 characters');
  if (value && !QUALIFIED_NAME.test(value)) {
    errors.push("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and "
      + "end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
      + "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')");
  }
  return errors;
}

// ---------------------------------------------------------------------------------------
// Discovery: the resources kubectl may map (core v1, apps, batch, rbac) and the
// authentication group. Verbs are kube-apiserver's; README.md says which are served.

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const AUTHENTICATION = 'authentication.k8s.io';
const GROUPS = [
  { name: 'apps', versions: ['v1'] },
  { name: AUTHENTICATION, versions: ['v1', 'v1beta1', 'v1alpha1'] },
  { name: 'batch', versions: ['v1'] },
  { name: 'rbac.authorization.k8s.io', versions: ['v1'] },
];

const resource = (group, versions, name, kind, namespaced, verbs, extra = {}) => ({
  group, versions, name, singularName: kind.toLowerCase(), namespaced, kind, verbs, ...extra,
});
const RESOURCES = [
  resource('', ['v1'], 'namespaces', 'Namespace', false, ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'], { shortNames: ['ns'] }),
  resource('', ['v1'], 'secrets', 'Secret', true, ALL_VERBS),
  resource('', ['v1'], 'serviceaccounts', 'ServiceAccount', true, ALL_VERBS, { shortNames: ['sa'] }),
  resource('apps', ['v1'], 'deployments', 'Deployment', true, ALL_VERBS, { shortNames: ['deploy'], categories: ['all'] }),
  resource(AUTHENTICATION, ['v1', 'v1beta1', 'v1alpha1'], 'selfsubjectreviews', 'SelfSubjectReview', false, ['create']),
  resource('batch', ['v1'], 'cronjobs', 'CronJob', true, ALL_VERBS, { shortNames: ['cj'], categories: ['all'] }),
  resource('batch', ['v1'], 'jobs', 'Job', true, ALL_VERBS, { categories: ['all'] }),
  resource('rbac.authorization.k8s.io', ['v1'], 'clusterrolebindings', 'ClusterRoleBinding', false, ALL_VERBS),
  resource('rbac.authorization.k8s.io', ['v1'], 'clusterroles', 'ClusterRole', false, ALL_VERBS),
  resource('rbac.authorization.k8s.io', ['v1'], 'rolebindings', 'RoleBinding', true, ALL_VERBS),
  resource('rbac.authorization.k8s.io', ['v1'], 'roles', 'Role', true, ALL_VERBS),
];

const findResource = (group, version, name) => RESOURCES.find((r) => r.group === group && r.versions.includes(version) && r.name === name);

function apiGroup({ name, versions }) {
  const groupVersions = versions.map((version) => ({ groupVersion: `${name}/${version}`, version }));
  return { name, versions: groupVersions, preferredVersion: groupVersions[0] };
}

function resourceList(group, version) {
  const resources = RESOURCES.filter((r) => r.group === group && r.versions.includes(version))
    .map(({ group: _g, versions: _v, ...r }) => r);
  // The core list has no apiVersion, as kube-apiserver's /api/v1 answer.
  return group
    ? { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: `${group}/${version}`, resources }
    : { kind: 'APIResourceList', groupVersion: version, resources };
}

const VERSION = {
  major: '1',
  minor: '33',
  gitVersion: 'v1.33.0',
  gitCommit: '60a317eadfcb839692a5eab88ed62a3ee1b61fb9',
  gitTreeState: 'clean',
  buildDate: '2025-04-23T13:07:26Z',
  goVersion: 'go1.24.2',
  compiler: 'gc',
  platform: 'linux/amd64',
};

// ---------------------------------------------------------------------------------------
// RBAC: an account's rules are PolicyRules, each bound in one namespace (a RoleBinding)
// or cluster-wide (a ClusterRoleBinding), matched as the RBAC authorizer matches them.

const matches = (list, value) => list.includes('*') || list.includes(value);

function allows(user, verb, namespace, name) {
  return user.rules.some((rule) => (rule.namespace === undefined || rule.namespace === namespace)
    && matches(rule.apiGroups, '')
    && matches(rule.resources, 'secrets')
    && matches(rule.verbs, verb)
    && (rule.resourceNames.length === 0 || (name !== '' && rule.resourceNames.includes(name))));
}

// ---------------------------------------------------------------------------------------
// Field sets and server-side apply, over the fields of a Secret modelled here: data.KEY,
// stringData.KEY, type, immutable, metadata.labels.KEY, metadata.annotations.KEY, and the
// maps themselves (data, stringData, metadata.labels, metadata.annotations), as
// structured-merge-diff tracks them (its Compare, Apply with prune, and Update).
//
// A "view" of an object maps a path key (JSON of the path) to a leaf value, or to MAP for
// a map that is present. A set is a Set of path keys.

const MAP = Symbol('map');
const pathKey = (path) => JSON.stringify(path);
const MAP_FIELDS = [['labels', ['metadata', 'labels']], ['annotations', ['metadata', 'annotations']], ['data', ['data']], ['stringData', ['stringData']]];

/** The view of a Secret's content {labels, annotations, data, stringData, type, immutable}. */
function viewOf(content) {
  const view = new Map();
  for (const [field, path] of MAP_FIELDS) {
    if (content[field] === undefined) continue;
    view.set(pathKey(path), MAP);
    for (const [k, v] of Object.entries(content[field])) view.set(pathKey([...path, k]), v);
  }
  if (content.type !== undefined) view.set(pathKey(['type']), content.type);
  if (content.immutable !== undefined) view.set(pathKey(['immutable']), content.immutable);
  return view;
}

/** The content of a view, as it is stored: stringData merged into data, empty maps dropped, type defaulted. */
function contentOf(view) {
  const content = {};
  for (const [field, path] of MAP_FIELDS) {
    if (!view.has(pathKey(path))) continue;
    const map = {};
    for (const [key, value] of view) {
      const p = JSON.parse(key);
      if (p.length === path.length + 1 && path.every((seg, i) => seg === p[i])) map[p.at(-1)] = value;
    }
    content[field] = map;
  }
  if (content.stringData) {
    content.data = { ...content.data };
    for (const [k, v] of Object.entries(content.stringData)) content.data[k] = Buffer.from(v, 'utf8').toString('base64');
    delete content.stringData;
  }
  for (const field of ['labels', 'annotations', 'data']) {
    if (content[field] && Object.keys(content[field]).length === 0) delete content[field];
  }
  const type = view.get(pathKey(['type']));
  content.type = type === undefined || type === '' ? 'Opaque' : type;
  const immutable = view.get(pathKey(['immutable']));
  if (immutable !== undefined) content.immutable = immutable;
  return content;
}

const leaves = (view) => new Set([...view].filter(([, v]) => v !== MAP).map(([k]) => k));

/** structured-merge-diff's Compare: added and removed maps and leaves, modified leaves. */
function compare(live, next) {
  const added = new Set();
  const modified = new Set();
  const removed = new Set();
  for (const [key, value] of next) {
    if (!live.has(key)) added.add(key);
    else if (value !== MAP && live.get(key) !== value) modified.add(key);
  }
  for (const key of live.keys()) if (!next.has(key)) removed.add(key);
  return { added, modified, removed, changed: added.size + modified.size + removed.size > 0 };
}

const sameView = (a, b) => a.size === b.size && [...a].every(([k, v]) => b.has(k) && b.get(k) === v);

/**
 * The order in which structured-merge-diff iterates a set: at each level the members
 * (fields that end there) before the children, each group by name.
 */
function comparePaths(a, b) {
  const pa = JSON.parse(a);
  const pb = JSON.parse(b);
  for (let i = 0; ; i++) {
    const leafA = i === pa.length - 1;
    const leafB = i === pb.length - 1;
    if (leafA !== leafB) return leafA ? -1 : 1;
    if (pa[i] !== pb[i]) return pa[i] < pb[i] ? -1 : 1;
    if (leafA) return 0;
  }
}

const fieldPathString = (key) => JSON.parse(key).map((seg) => `.${seg}`).join('');

/** A set as FieldsV1: {"f:data":{"f:token":{}}}, "." marking a map owned as a whole. */
function fieldsV1(set) {
  const root = { member: false, children: new Map() };
  for (const key of set) {
    let node = root;
    for (const seg of JSON.parse(key)) {
      if (!node.children.has(seg)) node.children.set(seg, { member: false, children: new Map() });
      node = node.children.get(seg);
    }
    node.member = true;
  }
  const encode = (node) => {
    const out = {};
    if (node.member && node.children.size) out['.'] = {};
    for (const seg of [...node.children.keys()].sort()) out[`f:${seg}`] = encode(node.children.get(seg));
    return out;
  };
  return encode(root);
}

// A manager entry: {manager, operation: 'Apply'|'Update', time: string|null, set}. Entries
// are keyed by operation and manager: an applier and an updater of the same name are two
// managers, as in kube-apiserver (the API version, always v1 here, is part of an updater's key).
const managerId = (operation, manager) => `${operation}\u0000${manager}`;
const cloneManagers = (managers) => new Map([...managers].map(([id, m]) => [id, { ...m, set: new Set(m.set) }]));

// How a conflict names its manager (printManager): appliers by name, updaters with their API version.
const managerName = (m) => (m.operation === 'Apply' ? q(m.manager) : `${q(m.manager)} using v1`);

function applyConflict(conflicts) {
  conflicts.sort((a, b) => (a.m.manager === b.m.manager ? comparePaths(a.path, b.path) : a.m.manager < b.m.manager ? -1 : 1));
  const causes = conflicts.map(({ m, path }) => ({ reason: 'FieldManagerConflict', message: `conflict with ${managerName(m)}`, field: fieldPathString(path) }));
  let message;
  if (conflicts.length === 1) {
    message = `Apply failed with 1 conflict: conflict with ${managerName(conflicts[0].m)}: ${fieldPathString(conflicts[0].path)}`;
  } else {
    const lines = [];
    let last;
    for (const { m, path } of conflicts) {
      const id = managerId(m.operation, m.manager);
      if (id !== last) lines.push(`conflicts with ${managerName(m)}:`);
      last = id;
      lines.push(`- ${fieldPathString(path)}`);
    }
    message = `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
  }
  return failure(409, 'Conflict', message, { causes });
}

/**
 * Server-side apply of `patch` (a view) by `manager` over `live` (a view) and its managers.
 * Returns {view, managers, changed}, or throws the 409 of the conflicts (without `force`).
 */
function applyFields(live, liveManagers, patch, manager, force) {
  const id = managerId('Apply', manager);
  const last = liveManagers.get(id)?.set ?? new Set();
  const mine = leaves(patch);
  const managers = cloneManagers(liveManagers);
  const previous = managers.get(id);
  managers.set(id, { manager, operation: 'Apply', time: previous?.time ?? null, set: mine });

  const merged = new Map(live);
  for (const [key, value] of patch) merged.set(key, value);
  // Prune: what this manager applied last time and omits now goes, unless someone owns it.
  for (const key of last) {
    if (mine.has(key)) continue;
    const owned = [...managers].some(([other, m]) => other !== id && m.set.has(key));
    if (!owned) merged.delete(key);
  }

  const { added, modified, removed, changed } = compare(live, merged);
  const conflicts = [];
  for (const [other, m] of managers) {
    if (other === id) continue;
    for (const key of m.set) if (added.has(key) || modified.has(key)) conflicts.push({ m, path: key });
  }
  if (conflicts.length && !force) throw applyConflict(conflicts);
  for (const [other, m] of managers) {
    if (other === id) continue;
    m.set = new Set([...m.set].filter((key) => !added.has(key) && !modified.has(key) && !removed.has(key)));
  }
  for (const [key, m] of managers) if (m.set.size === 0) managers.delete(key);
  if (changed && managers.has(id)) managers.get(id).time = now();
  return { view: merged, managers, changed };
}

/** An update (create, update, patch) by `manager`: it takes what it changed, and nobody keeps what it removed. */
function updateFields(live, liveManagers, next, manager) {
  const { added, modified, removed } = compare(live, next);
  const managers = cloneManagers(liveManagers);
  for (const m of managers.values()) {
    m.set = new Set([...m.set].filter((key) => !added.has(key) && !modified.has(key) && !removed.has(key)));
  }
  const taken = new Set([...added, ...modified]);
  if (taken.size) {
    const id = managerId('Update', manager);
    managers.set(id, { manager, operation: 'Update', time: now(), set: new Set([...(managers.get(id)?.set ?? []), ...taken]) });
  }
  for (const [key, m] of managers) if (m.set.size === 0) managers.delete(key);
  return managers;
}

function sameManagers(a, b) {
  if (a.size !== b.size) return false;
  for (const [id, m] of a) {
    const n = b.get(id);
    if (!n || n.set.size !== m.set.size || [...m.set].some((key) => !n.set.has(key))) return false;
  }
  return true;
}

function encodeManagedFields(managers) {
  const seconds = (m) => (m.time ? Date.parse(m.time) / 1000 : 0);
  return [...managers.values()]
    .sort((a, b) => (a.operation !== b.operation ? (a.operation < b.operation ? -1 : 1)
      : seconds(a) !== seconds(b) ? seconds(a) - seconds(b)
        : a.manager < b.manager ? -1 : a.manager > b.manager ? 1 : 0))
    .map((m) => ({
      manager: m.manager,
      operation: m.operation,
      apiVersion: 'v1',
      ...(m.time ? { time: m.time } : {}),
      fieldsType: 'FieldsV1',
      fieldsV1: fieldsV1(m.set),
    }));
}

// ---------------------------------------------------------------------------------------
// Request options (k8s.io/apimachinery/pkg/apis/meta/v1/validation)

/** A manager named by the User-Agent (the part before the first "/"), as kube-apiserver defaults it. */
function managerFromUserAgent(userAgent) {
  let out = '';
  for (const ch of (userAgent ?? '').split('/')[0]) {
    if (/\p{C}/u.test(ch)) continue;
    if (Buffer.byteLength(out + ch) > 128) break;
    out += ch;
  }
  return out;
}

/** Options of a write: {dryRun, fieldManager, force, fieldValidation}; 400 or 422 as the server. */
function writeOptions(query, kind, { apply = false, patch = false } = {}) {
  const params = new URLSearchParams(query ?? '');
  const errors = [];
  const fieldManager = params.get('fieldManager') ?? '';
  const dryRun = params.getAll('dryRun');
  const fieldValidation = params.get('fieldValidation') ?? '';
  let force;
  if (params.has('force')) {
    const text = params.get('force');
    if (!/^(1|t|T|TRUE|true|True|0|f|F|FALSE|false|False)$/.test(text)) throw badRequest(`strconv.ParseBool: parsing ${q(text)}: invalid syntax`);
    force = /^(1|t|T|TRUE|true|True)$/.test(text);
  }
  if (patch && !apply && force !== undefined) errors.push(fieldError.forbidden('force', 'may not be specified for non-apply patch'));
  if (apply && !fieldManager) errors.push(fieldError.required('fieldManager', 'is required for apply patch'));
  if (Buffer.byteLength(fieldManager) > 128) errors.push(fieldError.tooLong('fieldManager', 128));
  [...fieldManager].forEach((ch, i) => {
    if (/\p{C}/u.test(ch)) {
      const code = `U+${ch.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
      errors.push(fieldError.invalid('fieldManager', fieldManager, `invalid character ${code} (at position ${i})`));
    }
  });
  if (dryRun.some((v) => v !== 'All')) errors.push(fieldError.notSupported('dryRun', `[]string{${dryRun.map(q).join(', ')}}`, ['All']));
  if (fieldValidation && !['Ignore', 'Warn', 'Strict'].includes(fieldValidation)) {
    errors.push(fieldError.notSupported('fieldValidation', q(fieldValidation), ['Ignore', 'Strict', 'Warn']));
  }
  if (errors.length) throw invalid(kind, '', errors, 'meta.k8s.io');
  return { dryRun: dryRun.length > 0, fieldManager, force: force ?? false, fieldValidation: fieldValidation || 'Warn' };
}

// ---------------------------------------------------------------------------------------
// Reading a Secret from a request body

const SECRET_FIELDS = ['apiVersion', 'kind', 'metadata', 'immutable', 'data', 'stringData', 'type'];
const META_FIELDS = [
  'name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation', 'creationTimestamp',
  'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields',
];
const STRING_MAPS = { data: ['data'], stringData: ['stringData'], labels: ['metadata', 'labels'], annotations: ['metadata', 'annotations'] };

/** Unknown fields and wrong types in a Secret (paths as ".metadata.foo"), for the decoders below. */
function shapeProblems(obj) {
  const unknown = [];
  const types = [];
  for (const key of Object.keys(obj)) if (!SECRET_FIELDS.includes(key)) unknown.push(`.${key}`);
  const meta = obj.metadata;
  if (meta !== undefined && meta !== null && !isObject(meta)) types.push(['.metadata', 'map', meta]);
  if (isObject(meta)) for (const key of Object.keys(meta)) if (!META_FIELDS.includes(key)) unknown.push(`.metadata.${key}`);
  for (const [field, path] of Object.entries(STRING_MAPS)) {
    const map = path.length === 1 ? obj[field] : isObject(meta) ? meta[field] : undefined;
    if (map === undefined || map === null) continue;
    if (!isObject(map)) types.push([`.${path.join('.')}`, 'map', map]);
    else for (const [k, v] of Object.entries(map)) if (v !== null && typeof v !== 'string') types.push([`.${path.join('.')}.${k}`, 'string', v]);
  }
  for (const [field, type] of [['type', 'string'], ['immutable', 'boolean']]) {
    if (obj[field] !== undefined && obj[field] !== null && typeof obj[field] !== type) types.push([`.${field}`, type, obj[field]]);
  }
  if (isObject(meta)) {
    for (const field of ['name', 'namespace', 'resourceVersion', 'uid', 'generateName']) {
      if (meta[field] !== undefined && meta[field] !== null && typeof meta[field] !== 'string') types.push([`.metadata.${field}`, 'string', meta[field]]);
    }
  }
  return { unknown, types };
}

/** The content and metadata of a Secret object; `data` is checked by the caller. Nulls count as absent. */
function secretParts(obj) {
  const meta = isObject(obj.metadata) ? obj.metadata : {};
  const map = (value) => (isObject(value) ? Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null)) : undefined);
  const content = {
    labels: map(meta.labels),
    annotations: map(meta.annotations),
    data: map(obj.data),
    stringData: map(obj.stringData),
    type: obj.type ?? undefined,
    immutable: obj.immutable ?? undefined,
  };
  for (const key of Object.keys(content)) if (content[key] === undefined) delete content[key];
  const str = (v) => (typeof v === 'string' ? v : '');
  return {
    content,
    meta: {
      name: str(meta.name), generateName: str(meta.generateName), namespace: str(meta.namespace),
      resourceVersion: str(meta.resourceVersion), uid: str(meta.uid), managedFields: meta.managedFields,
    },
  };
}

/** The first invalid data value's Go base64 error message, or null; canonicalizes `data` in place. */
function checkData(content) {
  for (const [k, v] of Object.entries(content.data ?? {})) {
    const at = base64Error(v);
    if (at !== null) return `illegal base64 data at input byte ${at}`;
    content.data[k] = canonicalBase64(v);
  }
  return null;
}

// ---------------------------------------------------------------------------------------
// Protobuf Secrets: kubectl 1.32 and 1.33 send `create secret` (client-go typed clients) as
// application/vnd.kubernetes.protobuf, the "k8s\0" envelope around a runtime.Unknown
// (typeMeta = 1, raw = 2) whose raw bytes are a v1.Secret (k8s.io/api/core/v1/generated.proto).

const PROTOBUF = 'application/vnd.kubernetes.protobuf';

/** The fields of one protobuf message: [{field, wire, value}], value a Buffer (length-delimited) or a number. */
function protoFields(buf) {
  const out = [];
  let pos = 0;
  const varint = () => {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (pos >= buf.length) throw new Error('truncated varint');
      const b = buf[pos++];
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 128;
    }
  };
  while (pos < buf.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    let value;
    if (wire === 0) value = varint();
    else if (wire === 1) { value = buf.subarray(pos, pos + 8); pos += 8; } else if (wire === 2) {
      const len = varint();
      if (pos + len > buf.length) throw new Error('truncated field');
      value = buf.subarray(pos, pos + len);
      pos += len;
    } else if (wire === 5) { value = buf.subarray(pos, pos + 4); pos += 4; } else throw new Error(`unsupported wire type ${wire}`);
    out.push({ field, wire, value });
  }
  return out;
}

function protoSecret(body) {
  if (body.subarray(0, 4).toString('latin1') !== 'k8s\0') throw new Error('missing the k8s protobuf envelope');
  const text = (b) => b.toString('utf8');
  const entry = (b, asBytes) => {
    const f = protoFields(b);
    const key = f.find((x) => x.field === 1)?.value;
    const value = f.find((x) => x.field === 2)?.value ?? Buffer.alloc(0);
    return [key ? text(key) : '', asBytes ? value.toString('base64') : text(value)];
  };
  const envelope = protoFields(body.subarray(4));
  const typeMeta = protoFields(envelope.find((x) => x.field === 1)?.value ?? Buffer.alloc(0));
  const obj = {};
  const apiVersion = typeMeta.find((x) => x.field === 1)?.value;
  const kind = typeMeta.find((x) => x.field === 2)?.value;
  if (apiVersion) obj.apiVersion = text(apiVersion);
  if (kind) obj.kind = text(kind);
  const meta = {};
  const add = (target, field, [k, v]) => { target[field] = { ...target[field], [k]: v }; };
  for (const { field, value } of protoFields(envelope.find((x) => x.field === 2)?.value ?? Buffer.alloc(0))) {
    if (field === 1) {
      for (const m of protoFields(value)) {
        const name = { 1: 'name', 2: 'generateName', 3: 'namespace', 5: 'uid', 6: 'resourceVersion' }[m.field];
        if (name) meta[name] = text(m.value);
        if (m.field === 11) add(meta, 'labels', entry(m.value, false));
        if (m.field === 12) add(meta, 'annotations', entry(m.value, false));
      }
    } else if (field === 2) add(obj, 'data', entry(value, true));
    else if (field === 3) obj.type = text(value);
    else if (field === 4) add(obj, 'stringData', entry(value, false));
    else if (field === 5) obj.immutable = value !== 0;
  }
  obj.metadata = meta;
  return obj;
}

/** The media type of a create or update body (none is JSON); 415 for one the server has no decoder for. */
function bodyType(contentType) {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase() || 'application/json';
  if (type !== 'application/json' && type !== 'application/yaml' && type !== PROTOBUF) {
    throw unsupportedMediaType(['application/json', 'application/yaml', PROTOBUF]);
  }
  return type;
}

/**
 * A Secret from a create or update body (JSON, or protobuf): 400 on what the decoder
 * cannot read, unknown JSON fields per fieldValidation (Strict: 400; Warn: warnings).
 */
function decodeSecret(body, contentType, fieldValidation, warnings) {
  const type = bodyType(contentType);
  const cannot = (why) => badRequest(`Secret in version "v1" cannot be handled as a Secret: ${why}`);
  let obj;
  try {
    obj = type === PROTOBUF ? protoSecret(body) : JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw badRequest(`the object provided is unrecognized (must be of type Secret): couldn't get version/kind; ${type === PROTOBUF ? 'protobuf' : 'json parse'} error: ${err.message}`);
  }
  if (!isObject(obj)) throw badRequest('the object provided is unrecognized (must be of type Secret): couldn\'t get version/kind; json parse error: not an object');
  if ((obj.apiVersion !== undefined && obj.apiVersion !== 'v1') || (obj.kind !== undefined && obj.kind !== 'Secret')) {
    throw badRequest(`the API version in the data (${obj.apiVersion ?? ''}) does not match the expected API version (v1)`);
  }
  const { unknown, types } = shapeProblems(obj);
  if (types.length) throw cannot(`json: cannot unmarshal ${typeof types[0][2]} into Go struct field of type ${types[0][1]} (${types[0][0]})`);
  const parts = secretParts(obj);
  const bad = checkData(parts.content);
  if (bad) throw cannot(bad);
  const messages = unknown.map((path) => `unknown field ${q(path.slice(1))}`);
  if (messages.length && fieldValidation === 'Strict') throw cannot(`strict decoding error: ${messages.join(', ')}`);
  if (fieldValidation === 'Warn') warnings.push(...messages);
  return parts;
}

/** Validation of a Secret as stored (ValidateSecret, ValidateSecretUpdate); 422. */
function validateSecret(name, content, meta, old) {
  const errors = [];
  if (old) {
    if (meta.uid && meta.uid !== old.uid) errors.push(fieldError.invalid('metadata.uid', meta.uid, 'field is immutable'));
    if (content.type !== old.content.type) errors.push(fieldError.invalid('type', content.type, 'field is immutable'));
    if (old.content.immutable === true) {
      if (content.immutable !== true) errors.push(fieldError.forbidden('immutable', 'field is immutable when `immutable` is set'));
      if (!sameView(viewOf({ data: content.data ?? {} }), viewOf({ data: old.content.data ?? {} }))) {
        errors.push(fieldError.forbidden('data', 'field is immutable when `immutable` is set'));
      }
    }
  } else if (!name) {
    errors.push(fieldError.required('metadata.name', 'name or generateName is required'));
  } else {
    for (const m of subdomainErrors(name)) errors.push(fieldError.invalid('metadata.name', name, m));
  }
  for (const [k, v] of Object.entries(content.labels ?? {})) {
    for (const m of qualifiedNameErrors(k)) errors.push(fieldError.invalid('metadata.labels', k, m));
    for (const m of labelValueErrors(v)) errors.push(fieldError.invalid('metadata.labels', v, m));
  }
  for (const k of Object.keys(content.annotations ?? {})) {
    for (const m of qualifiedNameErrors(k.toLowerCase())) errors.push(fieldError.invalid('metadata.annotations', k, m));
  }
  const data = content.data ?? {};
  for (const k of Object.keys(data)) for (const m of configKeyErrors(k)) errors.push(fieldError.invalid(`data[${k}]`, k, m));
  const required = (...keys) => keys.filter((k) => !(k in data)).forEach((k) => errors.push(fieldError.required(`data[${k}]`)));
  switch (content.type) {
    case 'kubernetes.io/service-account-token':
      if (!content.annotations?.['kubernetes.io/service-account.name']) {
        errors.push(fieldError.required('metadata.annotations[kubernetes.io/service-account.name]'));
      }
      break;
    case 'kubernetes.io/dockercfg': required('.dockercfg'); break;
    case 'kubernetes.io/dockerconfigjson': required('.dockerconfigjson'); break;
    case 'kubernetes.io/basic-auth': if (!('username' in data) && !('password' in data)) required('username', 'password'); break;
    case 'kubernetes.io/ssh-auth': required('ssh-privatekey'); break;
    case 'kubernetes.io/tls': required('tls.crt', 'tls.key'); break;
    default: break;
  }
  if (errors.length) throw invalid('Secret', name, errors);
}

// ---------------------------------------------------------------------------------------
// JSON merge patch (RFC 7386) and JSON patch (RFC 6902)

function mergePatch(target, patch) {
  if (!isObject(patch)) return patch;
  const out = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function jsonPatch(doc, operations) {
  const unescape = (s) => s.replace(/~1/g, '/').replace(/~0/g, '~');
  const split = (pointer) => {
    if (typeof pointer !== 'string' || (pointer !== '' && !pointer.startsWith('/'))) throw new Error(`invalid JSON pointer ${q(pointer)}`);
    return pointer === '' ? [] : pointer.slice(1).split('/').map(unescape);
  };
  const parentOf = (root, path) => {
    let node = root;
    for (const seg of path.slice(0, -1)) {
      node = Array.isArray(node) ? node[Number(seg)] : isObject(node) ? node[seg] : undefined;
      if (node === undefined) throw new Error(`missing path: ${path.join('/')}`);
    }
    return node;
  };
  const get = (root, path) => (path.length ? (() => {
    const parent = parentOf(root, path);
    const v = Array.isArray(parent) ? parent[Number(path.at(-1))] : parent?.[path.at(-1)];
    if (v === undefined) throw new Error(`missing path: /${path.join('/')}`);
    return v;
  })() : root);
  const remove = (root, path) => {
    get(root, path);
    const parent = parentOf(root, path);
    if (Array.isArray(parent)) parent.splice(Number(path.at(-1)), 1);
    else delete parent[path.at(-1)];
  };
  const add = (root, path, value) => {
    if (!path.length) return value;
    const parent = parentOf(root, path);
    const last = path.at(-1);
    if (Array.isArray(parent)) parent.splice(last === '-' ? parent.length : Number(last), 0, value);
    else if (isObject(parent)) parent[last] = value;
    else throw new Error(`missing path: /${path.join('/')}`);
    return root;
  };
  let root = structuredClone(doc);
  for (const op of operations) {
    if (!isObject(op)) throw new Error('invalid operation');
    const path = split(op.path);
    switch (op.op) {
      case 'add': root = add(root, path, structuredClone(op.value)); break;
      case 'remove': remove(root, path); break;
      case 'replace': remove(root, path); root = add(root, path, structuredClone(op.value)); break;
      case 'move': { const v = get(root, split(op.from)); remove(root, split(op.from)); root = add(root, path, v); break; }
      case 'copy': root = add(root, path, structuredClone(get(root, split(op.from)))); break;
      case 'test': if (JSON.stringify(sortedJson(get(root, path))) !== JSON.stringify(sortedJson(op.value))) throw new Error('testing value failed'); break;
      default: throw new Error(`Unexpected kind: ${op.op}`);
    }
  }
  return root;
}

// ---------------------------------------------------------------------------------------
// The cluster of one tenant

export class KubeCluster {
  /** `host`: the listener's host:port (for /api); `defaultNamespaceUid`: the uid of `default`. */
  constructor({ host, defaultNamespaceUid }) {
    this.host = host;
    this.accounts = new Map(); // token -> {username, groups, rules}
    this.revision = 1; // the last resourceVersion given out
    this.namespaces = new Map([['default', { uid: defaultNamespaceUid, resourceVersion: '1', creationTimestamp: '2025-01-01T00:00:00Z' }]]);
    this.secrets = new Map(); // "ns/name" -> {namespace, name, uid, resourceVersion, creationTimestamp, content, managers}
  }

  /** Adds an account, or replaces the one with the same token (rules included). */
  setAccount(account) {
    this.accounts.set(account.token, account);
  }

  /** The account whose static bearer token this is, else undefined. */
  account(token) {
    return this.accounts.get(token);
  }

  /** Adds a namespace (no-op when it exists). */
  addNamespace(name) {
    if (this.namespaces.has(name)) return;
    this.namespaces.set(name, { uid: crypto.randomUUID(), resourceVersion: String(++this.revision), creationTimestamp: now() });
  }

  // --- admin access, for test set-up and checks ------------------------------------------

  /**
   * Stores a Secret as an admin's `kubectl create secret` (or a replace) would: one
   * update by `manager`. Returns {status: 201|200, object}; throws KubeError.
   */
  adminPutSecret(namespace, name, manager, body) {
    const parts = decodeSecret(body, 'application/json', 'Strict', []);
    if (parts.meta.namespace && parts.meta.namespace !== namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    if (parts.meta.name && parts.meta.name !== name) {
      throw badRequest(`the name of the object (${parts.meta.name}) does not match the name on the URL (${name})`);
    }
    if (!this.namespaces.has(namespace)) throw notFound('namespaces', namespace);
    const live = this.secrets.get(`${namespace}/${name}`);
    if (live && parts.meta.resourceVersion && parts.meta.resourceVersion !== live.resourceVersion) throw conflict(name, MODIFIED);
    const content = contentOf(viewOf(parts.content));
    validateSecret(name, content, parts.meta, live);
    const result = this.#write(namespace, name, live, content, this.#updated(live, content, manager), false);
    return { status: live ? 200 : 201, object: result };
  }

  /** The stored Secret as the API serves it, or undefined. */
  adminGetSecret(namespace, name) {
    const live = this.secrets.get(`${namespace}/${name}`);
    return live && this.#secretJson(live, true);
  }

  // --- the API -----------------------------------------------------------------------------

  /** Answers one authenticated request. `user`: {username, groups, rules}. */
  async serve(req, res, { path, query, body, user }) {
    try {
      const answer = this.#route(req, path, query, body, user);
      if (!answer) return sendError(res, noSuchResource());
      if (answer.table && req.method === 'GET' && wantsTable(req.headers.accept)) {
        const { resourceName, objects } = answer.table;
        const data = Buffer.from(JSON.stringify(table(resourceName, objects, String(this.revision))));
        res.writeHead(200, { 'Content-Type': TABLE_TYPE, 'Content-Length': data.length });
        return res.end(data);
      }
      return sendJson(res, answer.status, answer.body, answer.headers);
    } catch (err) {
      if (!(err instanceof KubeError)) throw err;
      sendError(res, err);
    }
  }

  #route(req, path, query, body, user) {
    const method = req.method;
    if (method === 'GET') {
      const documents = {
        '/version': VERSION,
        '/api': { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: this.host }] },
        '/api/v1': resourceList('', 'v1'),
        '/apis': { kind: 'APIGroupList', apiVersion: 'v1', groups: GROUPS.map(apiGroup) },
      };
      if (documents[path]) return { status: 200, body: documents[path] };
      for (const group of GROUPS) {
        if (path === `/apis/${group.name}`) return { status: 200, body: { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(group) } };
        for (const version of group.versions) {
          if (path === `/apis/${group.name}/${version}`) return { status: 200, body: resourceList(group.name, version) };
        }
      }
    }

    const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?$/.exec(path);
    if (!m) return null;
    const [, coreVersion, group = '', groupVersion, rawNamespace, resourceName, rawName] = m;
    const version = coreVersion ?? groupVersion;
    const def = findResource(group, version, resourceName);
    if (!def) return null;
    const namespace = rawNamespace === undefined ? '' : decodePathSegment(rawNamespace);
    const name = rawName === undefined ? '' : decodePathSegment(rawName);
    // A namespaced resource has objects only under a namespace (a cluster-wide list aside),
    // a cluster-scoped one never does.
    if (def.namespaced ? !namespace && name : namespace) return null;

    if (def.name === 'selfsubjectreviews') {
      if (name) return null;
      if (method !== 'POST') throw methodNotAllowed();
      return { status: 201, body: this.#selfSubjectReview(version, user) };
    }
    if (def.name === 'namespaces') return this.#namespaces(method, name, query);
    if (def.name === 'secrets') return this.#secrets(req, { namespace, name, query, body, user });
    return this.#standIn(method, def, version, name, query);
  }

  #selfSubjectReview(version, user) {
    return {
      kind: 'SelfSubjectReview',
      apiVersion: `${AUTHENTICATION}/${version}`,
      metadata: { creationTimestamp: null },
      status: { userInfo: { username: user.username, groups: user.groups } },
    };
  }

  #namespaceJson(name) {
    const ns = this.namespaces.get(name);
    return {
      metadata: {
        name, uid: ns.uid, resourceVersion: ns.resourceVersion, creationTimestamp: ns.creationTimestamp,
        labels: { 'kubernetes.io/metadata.name': name },
      },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    };
  }

  #namespaces(method, name, query) {
    if (method !== 'GET') throw methodNotAllowed();
    if (!name) refuseWatch(query);
    if (name) {
      if (!this.namespaces.has(name)) throw notFound('namespaces', name);
      const object = { kind: 'Namespace', apiVersion: 'v1', ...this.#namespaceJson(name) };
      return { status: 200, body: object, table: { resourceName: 'namespaces', objects: [object] } };
    }
    const items = [...this.namespaces.keys()].sort().map((n) => this.#namespaceJson(n));
    return {
      status: 200,
      body: { kind: 'NamespaceList', apiVersion: 'v1', metadata: { resourceVersion: String(this.revision) }, items },
      table: { resourceName: 'namespaces', objects: items },
    };
  }

  /** Kinds kubectl maps but the stand-in does not store: no object exists, every list is empty. */
  #standIn(method, def, version, name, query) {
    if (method !== 'GET') throw methodNotAllowed();
    if (name) throw notFound(def.name, name, def.group);
    refuseWatch(query);
    return {
      status: 200,
      body: {
        kind: `${def.kind}List`,
        apiVersion: def.group ? `${def.group}/${version}` : version,
        metadata: { resourceVersion: String(this.revision) },
        items: [],
      },
    };
  }

  // --- Secrets -----------------------------------------------------------------------------

  #secretJson(s, withType = true) {
    const { content } = s;
    const metadata = {
      name: s.name,
      namespace: s.namespace,
      uid: s.uid,
      ...(s.resourceVersion ? { resourceVersion: s.resourceVersion } : {}),
      creationTimestamp: s.creationTimestamp,
      ...(content.labels ? { labels: sortedObject(Object.entries(content.labels)) } : {}),
      ...(content.annotations ? { annotations: sortedObject(Object.entries(content.annotations)) } : {}),
      ...(s.managers.size ? { managedFields: encodeManagedFields(s.managers) } : {}),
    };
    return {
      ...(withType ? { kind: 'Secret', apiVersion: 'v1' } : {}),
      metadata,
      ...(content.immutable !== undefined ? { immutable: content.immutable } : {}),
      ...(content.data ? { data: sortedObject(Object.entries(content.data)) } : {}),
      type: content.type,
    };
  }

  #secrets(req, { namespace, name, query, body, user }) {
    const method = req.method;
    const verb = name
      ? { GET: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' }[method]
      : { GET: 'list', POST: 'create' }[method];
    if (!verb) throw methodNotAllowed();
    if (!allows(user, verb, namespace, name)) throw forbidden(user, verb, namespace, name);
    const ctx = { req, namespace, name, query, body, user };
    switch (verb) {
      case 'get': return this.#getSecret(namespace, name);
      case 'list': refuseWatch(query); return this.#listSecrets(namespace, query);
      case 'create': return this.#createSecret(ctx);
      case 'update': return this.#replaceSecret(ctx);
      case 'delete': return this.#deleteSecret(ctx);
      default: return this.#patchSecret(ctx);
    }
  }

  #getSecret(namespace, name) {
    const live = this.secrets.get(`${namespace}/${name}`);
    if (!live) throw notFound('secrets', name);
    const object = this.#secretJson(live);
    return { status: 200, body: object, table: { resourceName: 'secrets', objects: [object] } };
  }

  #listSecrets(namespace, query) {
    const selector = new URLSearchParams(query ?? '').get('fieldSelector');
    const wanted = /^metadata\.name==?(.*)$/.exec(selector ?? '')?.[1];
    const items = [...this.secrets.values()]
      .filter((s) => (!namespace || s.namespace === namespace) && (wanted === undefined || s.name === wanted))
      .sort((a, b) => (a.namespace === b.namespace ? (a.name < b.name ? -1 : 1) : a.namespace < b.namespace ? -1 : 1))
      .map((s) => this.#secretJson(s, false));
    return {
      status: 200,
      body: { kind: 'SecretList', apiVersion: 'v1', metadata: { resourceVersion: String(this.revision) }, items },
      table: { resourceName: 'secrets', objects: items },
    };
  }

  /** The managers after an update by `manager` that turns `live` (or nothing) into `content`. */
  #updated(live, content, manager) {
    return updateFields(live ? viewOf(live.content) : new Map(), live?.managers ?? new Map(), viewOf(content), manager);
  }

  /**
   * Stores the new state of a Secret, unless it is the live one (then nothing changes,
   * the resourceVersion included). With `dryRun`, answers as if, and stores nothing.
   */
  #write(namespace, name, live, content, managers, dryRun) {
    if (live && sameView(viewOf(content), viewOf(live.content)) && sameManagers(managers, live.managers)) {
      return this.#secretJson(live); // a no-op: managed-field times are kept as they were
    }
    const next = {
      namespace,
      name,
      uid: live?.uid ?? crypto.randomUUID(),
      resourceVersion: dryRun ? live?.resourceVersion ?? '' : String(++this.revision),
      creationTimestamp: live?.creationTimestamp ?? now(),
      content,
      managers,
    };
    if (!dryRun) this.secrets.set(`${namespace}/${name}`, next);
    return this.#secretJson(next);
  }

  /** A create's or an update's body, decoded, and checked against the request's namespace. */
  #decodedWrite(req, namespace, query, optionsKind, body) {
    bodyType(req.headers['content-type']);
    const options = writeOptions(query, optionsKind);
    const warnings = [];
    const parts = decodeSecret(body, req.headers['content-type'], options.fieldValidation, warnings);
    if (parts.meta.namespace && parts.meta.namespace !== namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    return { options, warnings, parts };
  }

  /** The update of `live` to `parts` (PUT and non-apply PATCH): precondition, validation, write. */
  #updateLive(req, namespace, name, live, parts, options, warnings) {
    if (parts.meta.resourceVersion && parts.meta.resourceVersion !== live.resourceVersion) throw conflict(name, MODIFIED);
    const content = contentOf(viewOf(parts.content));
    validateSecret(name, content, parts.meta, live);
    const manager = options.fieldManager || managerFromUserAgent(req.headers['user-agent']);
    const object = this.#write(namespace, name, live, content, this.#updated(live, content, manager), options.dryRun);
    return { status: 200, body: object, headers: warningHeaders(warnings) };
  }

  #createSecret({ req, namespace, query, body }) {
    const { options, warnings, parts } = this.#decodedWrite(req, namespace, query, 'CreateOptions', body);
    if (!this.namespaces.has(namespace)) throw notFound('namespaces', namespace); // NamespaceLifecycle admission
    let name = parts.meta.name;
    if (!name && parts.meta.generateName) {
      const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
      name = parts.meta.generateName + Array.from(crypto.randomBytes(5), (b) => alphabet[b % alphabet.length]).join('');
    }
    const content = contentOf(viewOf(parts.content));
    validateSecret(name, content, parts.meta, undefined);
    if (this.secrets.has(`${namespace}/${name}`)) throw alreadyExists(name);
    const manager = options.fieldManager || managerFromUserAgent(req.headers['user-agent']);
    const object = this.#write(namespace, name, undefined, content, this.#updated(undefined, content, manager), options.dryRun);
    return { status: 201, body: object, headers: warningHeaders(warnings) };
  }

  #replaceSecret({ req, namespace, name, query, body }) {
    const { options, warnings, parts } = this.#decodedWrite(req, namespace, query, 'UpdateOptions', body);
    if (parts.meta.name !== name) throw badRequest(`the name of the object (${parts.meta.name}) does not match the name on the URL (${name})`);
    const live = this.secrets.get(`${namespace}/${name}`);
    if (!live) throw notFound('secrets', name); // Secrets are not created by an update
    if (parts.meta.uid && parts.meta.uid !== live.uid) {
      throw conflict(name, `Precondition failed: UID in precondition: ${parts.meta.uid}, UID in object meta: ${live.uid}`);
    }
    return this.#updateLive(req, namespace, name, live, parts, options, warnings);
  }

  #deleteSecret({ namespace, name, query }) {
    const params = new URLSearchParams(query ?? '');
    const dryRun = params.getAll('dryRun');
    if (dryRun.some((v) => v !== 'All')) {
      throw invalid('DeleteOptions', '', [fieldError.notSupported('dryRun', `[]string{${dryRun.map(q).join(', ')}}`, ['All'])], 'meta.k8s.io');
    }
    const live = this.secrets.get(`${namespace}/${name}`);
    if (!live) throw notFound('secrets', name);
    if (!dryRun.length) this.secrets.delete(`${namespace}/${name}`);
    return {
      status: 200,
      body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, kind: 'secrets', uid: live.uid } },
    };
  }

  #patchSecret({ req, namespace, name, query, body, user }) {
    const patchType = (req.headers['content-type'] ?? '').split(';')[0].trim();
    if (!PATCH_TYPES.includes(patchType)) throw unsupportedMediaType(PATCH_TYPES);
    const apply = patchType === 'application/apply-patch+yaml';
    const options = writeOptions(query, 'PatchOptions', { apply, patch: true });
    return apply
      ? this.#applySecret(namespace, name, body, options, user)
      : this.#updatePatchSecret(req, namespace, name, body, options, patchType);
  }

  /** PATCH with a merge, strategic merge or JSON patch: an update of the live object. */
  #updatePatchSecret(req, namespace, name, body, options, patchType) {
    const live = this.secrets.get(`${namespace}/${name}`);
    if (!live) throw notFound('secrets', name); // only apply creates
    let patch;
    try {
      patch = JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw badRequest(patchType === 'application/json-patch+json' ? err.message : 'Invalid JSON Patch');
    }
    const current = this.#secretJson(live);
    let patched;
    if (patchType === 'application/json-patch+json') {
      if (!Array.isArray(patch)) throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
      try {
        patched = jsonPatch(current, patch);
      } catch {
        throw failure(422, 'Invalid', 'the server rejected our request due to an error in our request', {});
      }
    } else {
      if (!isObject(patch)) throw badRequest('Invalid JSON Patch');
      patched = mergePatch(current, patch);
    }
    // Decoding the patched object: a failure quotes it whole (kube-apiserver does; data included).
    const rejected = (why) => invalid('', '', [fieldError.invalid('patch', JSON.stringify(sortedJson(patched)), why)]);
    if (!isObject(patched)) throw rejected('json: cannot unmarshal into Go value of type v1.Secret');
    const { unknown, types } = shapeProblems(patched);
    if (types.length) throw rejected(`json: cannot unmarshal ${typeof types[0][2]} into Go struct field of type ${types[0][1]} (${types[0][0]})`);
    const parts = secretParts(patched);
    const bad = checkData(parts.content);
    if (bad) throw rejected(bad);
    const warnings = [];
    const messages = unknown.map((path) => `unknown field ${q(path.slice(1))}`);
    if (messages.length && options.fieldValidation === 'Strict') throw rejected(`strict decoding error: ${messages.join(', ')}`);
    if (options.fieldValidation === 'Warn') warnings.push(...messages);
    if (parts.meta.namespace && parts.meta.namespace !== namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    if (parts.meta.name !== name) throw badRequest(`the name of the object (${parts.meta.name}) does not match the name on the URL (${name})`);
    // The patched object keeps the live resourceVersion unless the patch sets one (a
    // precondition) or removes it (an unconditional update, which Secrets allow).
    return this.#updateLive(req, namespace, name, live, parts, options, warnings);
  }

  /** PATCH application/apply-patch+yaml: server-side apply, which creates a missing Secret. */
  #applySecret(namespace, name, body, options, user) {
    let obj;
    try {
      obj = JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw badRequest(`error decoding YAML: error converting YAML to JSON: the test realm reads JSON apply bodies only: ${err.message}`);
    }
    if (!isObject(obj)) throw badRequest(`error decoding YAML: json: cannot unmarshal ${Array.isArray(obj) ? 'array' : typeof obj} into Go value of type map[string]interface {}`);
    const [group, version] = typeof obj.apiVersion === 'string' && obj.apiVersion.includes('/')
      ? obj.apiVersion.split('/', 2) : ['', typeof obj.apiVersion === 'string' ? obj.apiVersion : ''];
    const kind = typeof obj.kind === 'string' ? obj.kind : '';
    if (group !== '' || version !== 'v1' || kind !== 'Secret') throw badRequest(`invalid object type: ${group}/${version}, Kind=${kind}`);
    const meta = isObject(obj.metadata) ? obj.metadata : {};
    if (meta.managedFields !== undefined && meta.managedFields !== null) throw badRequest('metadata.managedFields must be nil');
    const { unknown, types } = shapeProblems(obj);
    const who = `${typeof meta.namespace === 'string' ? meta.namespace : ''}/${typeof meta.name === 'string' ? meta.name : ''}; /v1, Kind=Secret`;
    if (unknown.length || types.length) {
      const problems = [
        ...unknown.map((path) => `${path}: field not declared in schema`),
        ...types.map(([path, type, value]) => `${path}: expected ${type}, got ${JSON.stringify(value)}`),
      ];
      throw internal(`failed to create typed patch object (${who}): ${problems.join('\n')}`);
    }
    const parts = secretParts(obj);
    const key = `${namespace}/${name}`;
    const live = this.secrets.get(key);

    // structured-merge-diff: merge, prune, conflicts.
    const liveView = live ? viewOf(live.content) : new Map();
    const applied = applyFields(liveView, live?.managers ?? new Map(), viewOf(parts.content), options.fieldManager, options.force);
    const merged = contentOf(applied.view);
    const bad = checkData(merged);
    if (bad) {
      throw internal(`failed to convert new object (${who}) to proper version: unable to convert unstructured object to /v1, Kind=Secret: ${bad}`);
    }
    if (!live && parts.meta.uid) {
      throw conflict(name, `uid mismatch: the provided object specified uid ${parts.meta.uid}, and no existing object was found`);
    }
    if (parts.meta.namespace && parts.meta.namespace !== namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    if (parts.meta.name !== name) throw badRequest(`the name of the object (${parts.meta.name}) does not match the name on the URL (${name})`);

    if (!live) {
      if (!this.namespaces.has(namespace)) throw notFound('namespaces', namespace); // NamespaceLifecycle admission
      validateSecret(name, merged, parts.meta, undefined);
      // A create by patch also needs `create`. Its 403 carries the authorizer's reason
      // only, which RBAC leaves empty (handlers.withAuthorization).
      if (!allows(user, 'create', namespace, name)) throw failure(403, 'Forbidden', `secrets ${q(name)} is forbidden: `, details(name, 'secrets'));
      const object = this.#write(namespace, name, undefined, merged, applied.managers, options.dryRun);
      return { status: 201, body: object };
    }
    // A resourceVersion in the body is a precondition (it is ignored when the apply creates).
    if (parts.meta.resourceVersion && parts.meta.resourceVersion !== live.resourceVersion) throw conflict(name, MODIFIED);
    validateSecret(name, merged, parts.meta, live);
    const object = this.#write(namespace, name, live, merged, applied.managers, options.dryRun);
    return { status: 200, body: object };
  }
}

/** Watches are not served: say so, rather than answer with a list that a watcher would misread. */
function refuseWatch(query) {
  if (/^(true|1)$/.test(new URLSearchParams(query ?? '').get('watch') ?? '')) {
    throw failure(405, 'MethodNotAllowed', 'the test realm\'s Kubernetes API stand-in serves no watches', {});
  }
}

/** Warning headers for decoding warnings (unknown fields under fieldValidation=Warn). */
function warningHeaders(warnings) {
  return warnings.length ? { Warning: warnings.map((w) => `299 - ${q(w)}`).join(', ') } : {};
}
