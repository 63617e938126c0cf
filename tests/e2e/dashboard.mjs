// Drives the dashboard in Debian's chromium through playwright-core, as a person would: log in,
// read the daemons' health, approve the pending approval, open the ledger and verify it, watch
// a SafeSwitch roll back, open the chat, then look at it on a phone-sized screen. Screenshots
// go to OUT. Prints one JSON line with what it saw; the Python test asserts on it and on the
// daemons. Exit 3 when chromium cannot start (the test skips with the reason).
//
// env: URL (the gateway), TOKEN, LOGIN_USER, APPROVAL_ID, SWITCH_ID, OUT, CHROMIUM (default
// /usr/bin/chromium).
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const { chromium } = createRequire(path.join(here, '..', 'node', 'package.json'))('playwright-core');

const env = process.env;
const STEP_MS = 60000;
const seen = { steps: [], daemons: {}, outside: [], console_errors: [], page_errors: [] };

let browser;
try {
  browser = await chromium.launch({
    executablePath: env.CHROMIUM || '/usr/bin/chromium', headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
} catch (e) {
  console.log(JSON.stringify({ chromium_error: String(e.message || e).split('\n')[0] }));
  process.exit(3);
}

const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
page.setDefaultTimeout(STEP_MS);
page.on('request', (r) => {
  const u = new URL(r.url());
  if (u.protocol !== 'data:' && u.hostname !== '127.0.0.1') seen.outside.push(r.url());
});
page.on('console', (m) => {
  if (m.type() === 'error') seen.console_errors.push(m.text());
});
page.on('pageerror', (e) => seen.page_errors.push(String(e)));

const shot = async (name) => page.screenshot({ path: path.join(env.OUT, name + '.png'), fullPage: true });
const step = async (name, fn) => {
  try {
    await fn();
    seen.steps.push(name);
  } catch (e) {
    seen.failed_step = name;
    seen.error = String(e.message || e).split('\n').slice(0, 6).join('\n');
    await shot('failed-' + name).catch(() => {});
    throw e;
  }
};
const textOf = (sel) => page.locator(sel).first().innerText();

// Clicks the page's Refresh until sel appears: the dashboard's own refresh is every 15 s.
async function refreshUntil(view, sel) {
  const deadline = Date.now() + STEP_MS;
  for (;;) {
    if (await page.locator(sel).count()) return;
    if (Date.now() > deadline) throw new Error('never appeared: ' + sel);
    await page.click('[data-refresh="' + view + '"]');
    await page.locator(sel).first().waitFor({ timeout: 1000 }).catch(() => {});
  }
}

try {
  await step('login', async () => {
    await page.goto(env.URL);
    await page.locator('#login').waitFor();
    seen.login_explains_token = (await textOf('#login')).includes('gateway-token');
    await shot('01-login');
    await page.fill('#login-token', 'not-the-token');
    await page.click('#login-form button[type=submit]');
    await page.locator('#login-error').waitFor();
    seen.bad_login_error = await textOf('#login-error');
    await page.fill('#login-token', env.TOKEN);
    await page.fill('#login-user', env.LOGIN_USER);
    await page.click('#login-form button[type=submit]');
    await page.locator('#app').waitFor();
    seen.who = await textOf('#who-name');
    seen.cookie_http_only = (await context.cookies()).some((c) => c.name === 'osmoda_session' && c.httpOnly);
    seen.cookie_visible_to_script = await page.evaluate(() => document.cookie.includes('osmoda_session'));
  });

  await step('health', async () => {
    await page.locator('#daemons li[data-daemon="watch"]').waitFor();
    for (const li of await page.locator('#daemons li[data-daemon]').all()) {
      const name = await li.getAttribute('data-daemon');
      seen.daemons[name] = { up: (await li.getAttribute('class')).includes(' up'), text: await li.innerText() };
    }
    seen.machine = await textOf('#machine');
    await shot('02-overview');
  });

  await step('approve', async () => {
    await page.click('a[data-view="approvals"]');
    const item = page.locator('li[data-approval="' + env.APPROVAL_ID + '"]');
    await item.waitFor();
    seen.approval_text = await item.innerText();
    await shot('03-approval-waiting');
    await item.locator('button.approve').click();
    await item.locator('.decision .badge').waitFor();
    seen.approval_decision = await item.locator('.decision').innerText();
    await shot('04-approval-decided');
  });

  await step('ledger', async () => {
    await page.click('a[data-view="ledger"]');
    await page.locator('#ledger tbody tr[data-event]').first().waitFor();
    seen.ledger_rows = await page.locator('#ledger tbody tr[data-event]').count();
    await page.fill('#ledger-filter [name=q]', 'approval.approved');
    seen.search_rows = await page.locator('#ledger tbody tr[data-event]').count();
    await page.fill('#ledger-filter [name=q]', '');
    // the oldest event: a signed checkpoint covers it
    await page.locator('#ledger tbody tr[data-event]').last().click();
    await page.locator('#proof h4, #proof .error').first().waitFor();
    seen.proof_text = await textOf('#proof');
    await page.click('#verify');
    await page.locator('#verify-result .verdict').waitFor();
    seen.verify_class = await page.locator('#verify-result').getAttribute('class');
    seen.verify_text = await textOf('#verify-result');
    await shot('05-ledger-verified');
  });

  await step('switch', async () => {
    await page.click('a[data-view="switches"]');
    await refreshUntil('switches', 'li[data-switch="' + env.SWITCH_ID + '"][data-state="rolled_back"]');
    seen.switch_text = await textOf('li[data-switch="' + env.SWITCH_ID + '"]');
    await shot('06-switch-rolled-back');
  });

  await step('services', async () => {
    await page.click('a[data-view="services"]');
    await page.locator('#services h3').first().waitFor();
    seen.services_error = await page.locator('[data-error="services"]').isVisible();
    seen.services_text = await textOf('#services');
    await shot('07-services');
  });

  await step('emergency', async () => {
    // a confirmation first; Cancel sends nothing
    const posts = [];
    const count = (r) => {
      if (r.url().includes('/api/v1/emergency/')) posts.push(r.url());
    };
    page.on('request', count);
    await page.click('[data-emergency="lockdown"]');
    await page.locator('#emergency-confirm').waitFor();
    seen.emergency_question = await textOf('#emergency-question');
    await shot('08-emergency-confirm');
    await page.click('#emergency-no');
    await page.locator('#emergency-confirm').waitFor({ state: 'hidden' });
    page.off('request', count);
    seen.emergency_posts_after_cancel = posts.length;
  });

  await step('chat', async () => {
    await page.click('a[data-view="chat"]');
    await page.locator('#chat-state.ok').waitFor();
    await page.fill('#chat-text', 'What is running on this server?');
    await page.click('#chat-send');
    await page.locator('#chat-log .msg.guidance, #chat-log .msg.agent, #chat-log .msg.error').first().waitFor();
    seen.chat_guidance = await page.locator('#chat-log .msg.guidance').count() > 0;
    seen.chat_text = await textOf('#chat-log');
    await shot('09-chat');
  });

  await step('phone', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.click('a[data-view="overview"]');
    await page.locator('#daemons li[data-daemon]').first().waitFor();
    seen.phone_overflow_px = await page.evaluate(() =>
      document.documentElement.scrollWidth - document.documentElement.clientWidth);
    await shot('10-phone-overview');
    await page.click('a[data-view="approvals"]');
    await shot('11-phone-approvals');
  });
} catch {
  // the step and its error are in seen
} finally {
  console.log(JSON.stringify(seen));
  await browser.close();
}
