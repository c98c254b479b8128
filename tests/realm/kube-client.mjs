// A second real exec-credential client for the Rust tests: @kubernetes/client-node (1.x),
// which runs the exec plugin of the current context's user in its own way (no
// KUBERNETES_EXEC_INFO, an in-memory cache keyed by user name, expirationTimestamp as the
// cache lifetime). See README.md, "kube-client.mjs".
//
//   node kube-client.mjs whoami [--calls N] [--until-renewed [--deadline-ms MS] [--interval-ms MS]]
//
// Loads kubeconfig the standard way (KubeConfig.loadFromDefault(): $KUBECONFIG, else
// ~/.kube/config) and sends SelfSubjectReviews (authentication.k8s.io/v1) to the current
// context's cluster, one KubeConfig and one API client for the whole run, so client-node's
// credential cache spans the calls. Every call prints one JSON line on stdout:
//
//   {"call":1,"at":1767225600123,"username":"service-account-ci-bot","groups":[...],"jti":"...","exp":1767225662}
//
// `at` is Date.now() just before the call; `jti` and `exp` are claims of the bearer token
// client-node sent (decoded, not verified; the token itself is never printed).
//
// --calls N        make N calls back to back (default 1).
// --until-renewed  call every --interval-ms (default 100) until a call goes out with a token
//                  other than the first call's, that is until client-node has run the plugin
//                  again; fail if that has not happened within --deadline-ms (default 10000).
//
// On an error: the error's message (for an exec failure, client-node's message is the
// plugin's stderr; for an HTTP error, the status, body and headers) goes to stderr, after a
// `kube-client:` line naming the call, and the exit status is 1. Usage errors exit 2.

import { AuthenticationV1Api, KubeConfig } from '@kubernetes/client-node';

function usage(message) {
  process.stderr.write(`kube-client: ${message}\nusage: node kube-client.mjs whoami [--calls N] [--until-renewed [--deadline-ms MS] [--interval-ms MS]]\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const [command, ...rest] = argv;
  if (command !== 'whoami') usage(command ? `unknown command "${command}"` : 'no command');
  const options = { calls: 1, untilRenewed: false, deadlineMs: 10000, intervalMs: 100 };
  const number = (flag, value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) usage(`${flag} needs a positive integer, not ${JSON.stringify(value)}`);
    return n;
  };
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    if (flag === '--until-renewed') options.untilRenewed = true;
    else if (flag === '--calls') options.calls = number(flag, rest[++i]);
    else if (flag === '--deadline-ms') options.deadlineMs = number(flag, rest[++i]);
    else if (flag === '--interval-ms') options.intervalMs = number(flag, rest[++i]);
    else usage(`unknown flag "${flag}"`);
  }
  return options;
}

/** The claims of a bearer JWT, without verification; {} for anything else. */
function claimsOf(authorization) {
  const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
  try {
    return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
  } catch {
    return {};
  }
}

const options = parseArgs(process.argv.slice(2));
const kc = new KubeConfig();
kc.loadFromDefault();

// client-node applies credentials through the KubeConfig (the API client's default auth
// method). Wrap that step to see which bearer token each call carries.
let authorization = null;
const apply = kc.applySecurityAuthentication.bind(kc);
kc.applySecurityAuthentication = async (context) => {
  authorization = null;
  await apply(context);
  authorization = context.getHeaders().Authorization ?? null;
};
const api = kc.makeApiClient(AuthenticationV1Api);

let calls = 0;
async function whoami() {
  calls += 1;
  const at = Date.now();
  let review;
  try {
    review = await api.createSelfSubjectReview({
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
  } catch (err) {
    process.stderr.write(`kube-client: call ${calls} failed (${err?.name ?? typeof err}):\n${err?.message ?? String(err)}\n`);
    process.exit(1);
  }
  const { jti = null, exp = null } = claimsOf(authorization);
  const user = review.status?.userInfo ?? {};
  const line = { call: calls, at, username: user.username ?? null, groups: user.groups ?? [], jti, exp };
  process.stdout.write(`${JSON.stringify(line)}\n`);
  return line;
}

const first = await whoami();
for (let i = 1; i < options.calls; i++) await whoami();
if (options.untilRenewed) {
  const deadline = first.at + options.deadlineMs;
  for (;;) {
    if (Date.now() >= deadline) {
      process.stderr.write(`kube-client: the token of call 1 (jti ${first.jti}) was still in use after ${options.deadlineMs} ms and ${calls} calls\n`);
      process.exit(1);
    }
    await new Promise((resolve) => { setTimeout(resolve, options.intervalMs); });
    const line = await whoami();
    if (line.jti !== first.jti) break;
  }
}
