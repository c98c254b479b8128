// A browser for the plugin's login tests, used as its --browser-command: signs a test user
// in on the realm's pages in a real Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core). See README.md, "browser.mjs".
//
//   node browser.mjs URL
//
// URL is an authorization URL (authorization code flow) or a device flow's
// verification_uri_complete. The user is REALM_BROWSER_USER, with REALM_BROWSER_PASSWORD.
// If REALM_BROWSER_LOG is set, one line is appended to that file first thing, before
// anything is launched, so that a test can count how often the plugin opened a browser.
//
// It fills the realm's login form, confirms the device code when asked, and succeeds
// (exit 0) once the browser reaches a loopback page that is not the realm's (the plugin's
// own redirect listener got its answer) or the realm's device-flow success page. On any
// failure (refused password, an error page, a page that cannot load, no result within
// 60 s) it prints one line on stderr and exits 1. Usage errors exit 2. Nothing goes to
// stdout. Every run uses a fresh Chromium profile in a temp dir, removed at the end.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const DEADLINE_MS = 60_000;
const CHROMIUM = '/usr/bin/chromium';
// Everything here is loopback: nothing may make Chromium wait on an outside host.
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

class Failure extends Error {}

// The page the browser is on, for the message when time runs out.
let lastPage = '';

const isLoopback = (host) => host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
// A URL for messages: never its query (it holds codes and state) or fragment.
const shown = (url) => {
  try {
    const u = new URL(url);
    return u.protocol.startsWith('http') ? `${u.origin}${u.pathname}` : u.protocol;
  } catch {
    return String(url);
  }
};

// Any URL inside a message loses its query and fragment too (Playwright's errors quote URLs).
const withoutQueries = (text) => text.replace(/(https?:\/\/[^\s?#"']*)[?#][^\s"']*/g, '$1');

function finish(code, message) {
  if (message) fs.writeSync(2, `browser.mjs: ${withoutQueries(message)}\n`);
  process.exit(code);
}

/**
 * Drives one page from `start` to a result: 'loopback' (the plugin's redirect listener
 * answered) or 'device' (the realm's device-flow success page). Throws a Failure.
 */
async function drive(page, start, user, password) {
  const realm = new URL(start).origin;
  lastPage = start;
  // Main-frame navigations are counted as they commit, so none is missed between one
  // look at the page and the next wait.
  let navigations = 0;
  let wake = () => {};
  const failed = new Map(); // document URL -> Chromium's error text
  const status = new Map(); // document URL -> HTTP status
  const mainDocument = (request) => request.isNavigationRequest() && request.frame() === page.mainFrame();
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) {
      navigations += 1;
      lastPage = frame.url();
      wake();
    }
  });
  page.on('request', (request) => {
    if (mainDocument(request)) lastPage = request.url(); // a page that never answers is named
  });
  page.on('requestfailed', (request) => {
    // ERR_ABORTED: a document replaced by the next navigation before it loaded.
    if (mainDocument(request) && request.failure()?.errorText !== 'net::ERR_ABORTED') {
      failed.set(request.url(), request.failure()?.errorText ?? 'failed');
      wake();
    }
  });
  page.on('response', (response) => {
    if (mainDocument(response.request())) status.set(response.url(), response.status());
  });
  const nextNavigation = (since) => new Promise((resolve) => {
    wake = () => { if (navigations > since || failed.size) resolve(); };
    wake();
  });
  const pageText = (selector) => page.locator(selector).first().innerText().catch(() => '');

  try {
    await page.goto(start, { waitUntil: 'commit' });
  } catch (err) {
    const reason = /net::[A-Z_]+/.exec(err.message)?.[0] ?? err.message.split('\n')[0];
    throw new Failure(`could not open ${shown(start)}: ${reason}`);
  }
  let seen = 0;
  let signedIn = false;
  let confirmed = false;
  for (;;) {
    await nextNavigation(seen);
    for (const [url, error] of failed) throw new Failure(`could not load ${shown(url)}: ${error}`);
    seen = navigations;
    const url = new URL(page.url());
    // Committed: the plugin's listener has the redirect (code and state) and answered.
    if (isLoopback(url.hostname) && url.origin !== realm && url.protocol.startsWith('http')) return 'loopback';
    await page.waitForLoadState('domcontentloaded').catch(() => {});
    if (navigations !== seen) continue; // gone on already (a self-submitting form)
    let kind;
    try {
      kind = await page.evaluate(() => document.body?.dataset.realmPage ?? null);
    } catch {
      continue; // the document went away while we looked
    }
    switch (kind) {
      case 'login': {
        if (signedIn) {
          const error = await pageText('.error');
          throw new Failure(`the realm refused the sign-in of "${user}": ${error || 'the login form came back'}`);
        }
        signedIn = true;
        await page.fill('input[name="login"]', user);
        await page.fill('input[name="password"]', password);
        await page.click('button[type="submit"]');
        break;
      }
      case 'device-confirm':
        if (confirmed) throw new Failure('the device confirmation page came back');
        confirmed = true;
        await page.click('#confirm');
        break;
      case 'device-success':
        return 'device';
      case 'device-code':
        throw new Failure(`${shown(url.href)} asks for a user code: pass verification_uri_complete, not verification_uri`);
      case 'device-code-error':
      case 'error':
        throw new Failure(`the realm showed an error at ${shown(url.href)}: ${await pageText('.error') || kind}`);
      default: {
        const code = status.get(url.href);
        if (code >= 400) throw new Failure(`${shown(url.href)} answered HTTP ${code}`);
        // Otherwise a page that moves on by itself (oidc-provider's self-submitting form).
      }
    }
  }
}

async function main() {
  const log = process.env.REALM_BROWSER_LOG;
  if (log) fs.appendFileSync(log, `${JSON.stringify({ pid: process.pid, at: Date.now(), url: shown(process.argv[2] ?? '') })}\n`);

  const args = process.argv.slice(2);
  if (args.length !== 1) {
    fs.writeSync(2, 'browser.mjs: usage: node browser.mjs URL\n');
    process.exit(2);
  }
  const [start] = args;
  const user = process.env.REALM_BROWSER_USER;
  const password = process.env.REALM_BROWSER_PASSWORD;
  if (!user || password === undefined) finish(1, 'REALM_BROWSER_USER and REALM_BROWSER_PASSWORD must be set');
  try {
    if (!['http:', 'https:'].includes(new URL(start).protocol)) throw new Error();
  } catch {
    finish(1, `not an http(s) URL: ${shown(start)}`);
  }

  const { chromium } = await import('playwright-core');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'realm-browser-'));
  let context;
  let deadline;
  const cleanUp = async () => {
    clearTimeout(deadline);
    await context?.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  };
  // The plugin may give up on us: leave no browser and no profile behind.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
    process.on(signal, () => cleanUp().finally(() => finish(1, `stopped by ${signal}`)));
  }

  let message;
  try {
    const timedOut = new Promise((_, reject) => {
      deadline = setTimeout(() => reject(new Failure(`no result within ${DEADLINE_MS / 1000} s (last page: ${shown(lastPage)})`)), DEADLINE_MS);
    });
    const run = (async () => {
      // playwright-core refuses --user-data-dir in args: a persistent context is that flag.
      try {
        context = await chromium.launchPersistentContext(profile, {
          executablePath: CHROMIUM,
          headless: true,
          args: CHROMIUM_ARGS,
          ignoreHTTPSErrors: true, // TLS tenants use the realm's own test CA
          handleSIGINT: false,
          handleSIGTERM: false,
          handleSIGHUP: false,
          timeout: DEADLINE_MS,
        });
      } catch (err) {
        throw new Failure(`could not start ${CHROMIUM}: ${err.message.split('\n')[0].replace(/^browserType\.launchPersistentContext: /, '')}`);
      }
      // Chromium asks every site for /favicon.ico, at a moment of its choosing: refused
      // here, so that the realm's log and the plugin's listener see only the flow itself.
      await context.route((url) => url.pathname === '/favicon.ico', (route) => route.abort());
      const page = context.pages()[0] ?? await context.newPage();
      page.setDefaultTimeout(DEADLINE_MS);
      try {
        return await drive(page, start, user, password);
      } catch (err) {
        if (err instanceof Failure) throw err;
        throw new Failure(`${err.message.split('\n')[0]}${lastPage ? ` (at ${shown(lastPage)})` : ''}`);
      }
    })();
    run.catch(() => {}); // its failure is reported through the race below
    await Promise.race([run, timedOut]);
  } catch (err) {
    message = err instanceof Failure ? err.message : `unexpected error: ${String(err?.message ?? err).split('\n')[0]}`;
  }
  await cleanUp();
  finish(message ? 1 : 0, message);
}

await main();
