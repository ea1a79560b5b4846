// Helpers for the browser test: Debian's Chromium through playwright-core,
// REST calls with fetch, and waits that always have a timeout.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const BASE = process.env.CHAT_URL;
if (!BASE) throw new Error('set CHAT_URL to the server under test, e.g. http://127.0.0.1:3000');

export const TIMEOUT = 10_000;
export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '../..');
export const FIXTURES = path.join(HERE, 'fixtures');
export const SHOTS = process.env.SCREENSHOT_DIR ?? path.join(ROOT, 'target/e2e-screenshots');

export const LAPTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

function chromiumPath() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('chromium is not on PATH (apt-get install -y chromium), or set CHROMIUM');
  }
}

export async function launch() {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    timeout: 30_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

// A browser context (its own localStorage and cookies: one person) with one
// page; uncaught page errors are collected in page.errors. `options` go to
// browser.newContext (e.g. another baseURL, or a userAgent: another device).
export async function person(browser, viewport = LAPTOP, options = {}) {
  const context = await browser.newContext({ viewport, baseURL: BASE, ...options });
  const page = await tab(context);
  return { context, page };
}

// Another page (a tab) of a context, set up as person()'s.
export async function tab(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.setDefaultNavigationTimeout(TIMEOUT);
  page.errors = [];
  page.on('pageerror', (err) => page.errors.push(err.message));
  page.on('console', (msg) => {
    // Failed requests (a 4xx answer, going offline) are logged by the
    // browser itself; anything else logged as an error is the page's.
    const text = msg.text();
    if (msg.type() === 'error' && !/Failed to load resource|net::ERR_|WebSocket connection/.test(text)) {
      page.errors.push(`console: ${text}`);
    }
  });
  return page;
}

export const tid = (id) => `[data-testid="${id}"]`;

export async function screenshot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, timeout: TIMEOUT });
  return file;
}

// Waits until the page's text for a locator matches, with a readable failure.
export async function waitForText(locator, expected, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last = '';
  while (Date.now() < deadline) {
    last = (await locator.textContent({ timeout }).catch(() => '')) ?? '';
    if (expected instanceof RegExp ? expected.test(last) : last.includes(expected)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${expected} in ${locator}; last text: ${JSON.stringify(last)}`);
}

export async function api(method, urlPath, token, body) {
  return apiAt(BASE, method, urlPath, token, body);
}

// api() against another server (base URL).
export async function apiAt(base, method, urlPath, token, body) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + urlPath, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(TIMEOUT),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}
