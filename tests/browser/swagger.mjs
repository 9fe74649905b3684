// Drives the quickstart's Swagger UI in Debian's headless Chromium, as a person would:
// execute GET /me without authorizing (401); authorize TokenAuth with a wrong key alone (401
// `Invalid token.`: the page added `Token`, else it would be "not provided"), with the key
// alone (200) and with `Token <key>` (200); and the Bearer scheme with the key alone (200).
// Usage: node swagger.mjs BASE_URL KEY SCREENSHOT_DIR
import { chromium } from 'playwright-core';

const [base, key, shots] = process.argv.slice(2);
if (!base || !key || !shots) {
  console.error('usage: node swagger.mjs BASE_URL KEY SCREENSHOT_DIR');
  process.exit(2);
}

let passed = 0;
let failed = 0;
function check(name, ok, detail = '') {
  if (ok) {
    passed += 1;
    console.log(`browser: ${name} ... ok`);
  } else {
    failed += 1;
    console.log(`browser: ${name} ... FAILED ${detail}`);
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
page.setDefaultTimeout(15000);

function operation(path) {
  return page.locator('.opblock', {
    has: page.locator(`.opblock-summary-path[data-path="${path}"]`),
  });
}

// Expands an operation, presses "Try it out" once, and returns a function that executes it
// and reads the live response's status and body.
async function open(path) {
  const op = operation(path);
  await op.locator('.opblock-summary').first().click();
  await op.locator('button.try-out__btn').click();
  return async (screenshot) => {
    await op.locator('button.execute').click();
    const status = op.locator('.live-responses-table .response .response-col_status').first();
    await status.waitFor();
    const body = await op.locator('.live-responses-table .response-col_description pre').first().innerText();
    const text = (await status.innerText()).trim();
    // The request as Swagger UI sent it, shown as a curl command.
    const curl = await op.locator('.curl-command').first().innerText();
    if (screenshot) {
      await op.locator('.live-responses-table').scrollIntoViewIfNeeded();
      await page.screenshot({ path: `${shots}/${screenshot}` });
    }
    const clear = op.locator('button.btn-clear');
    if (await clear.count()) await clear.click();
    return { status: text, body, curl };
  };
}

async function authorize(scheme, value) {
  await page.locator('.auth-wrapper button.authorize').click();
  const modal = page.locator('.modal-ux');
  const section = modal.locator('.auth-container', { hasText: scheme });
  await section.locator('input').first().fill(value);
  await section.locator('button.authorize').click();
  await modal.locator('button.close-modal').click();
}

async function logout(scheme) {
  await page.locator('.auth-wrapper button.authorize').click();
  const modal = page.locator('.modal-ux');
  const section = modal.locator('.auth-container', { hasText: scheme });
  await section.getByRole('button', { name: 'Remove authorization' }).click();
  await modal.locator('button.close-modal').click();
}

try {
  await page.goto(`${base}/docs`);
  await page.locator('.opblock').first().waitFor();
  const paths = await page.locator('.opblock-summary-path').evaluateAll(
    (nodes) => nodes.map((node) => node.getAttribute('data-path')).sort(),
  );
  const expected = [
    '/auth/introspect', '/auth/logout', '/auth/logout-all', '/auth/revoke', '/auth/token',
    '/auth/token/roll', '/auth/tokens',
    '/auth/tokens/{id}', '/bearer/me', '/me', '/oauth/me', '/oauth/orders', '/orders', '/orders',
    '/ping',
  ];
  check('Swagger UI lists the operations', JSON.stringify(paths) === JSON.stringify(expected), JSON.stringify(paths));
  // The document Swagger UI was given (poem-openapi's page passes its global `spec`): the
  // scoped operation carries its scopes as data, as the served /openapi.json does.
  const scopes = await page.evaluate(() => spec.paths['/orders'].get['x-required-scopes']);
  check('Swagger UI\'s document has x-required-scopes on GET /orders',
    JSON.stringify(scopes) === JSON.stringify(['orders:read']), JSON.stringify(scopes));

  const me = await open('/me');
  let result = await me();
  check('GET /me without authorizing is 401', result.status === '401', JSON.stringify(result));
  check('the 401 body is DRF\'s', result.body.includes('Authentication credentials were not provided.'), result.body);

  // A bare key goes out as `Token <key>`: a wrong one is an invalid token, not a missing one.
  const wrong = key.slice(0, -1) + (key.endsWith('0') ? '1' : '0');
  await authorize('TokenAuth', wrong);
  result = await me();
  check('GET /me after Authorize with a wrong key alone is 401', result.status === '401', JSON.stringify(result));
  check('the 401 body is `Invalid token.` (the page added the keyword)', result.body.includes('"detail": "Invalid token."'), result.body);
  await logout('TokenAuth');

  await authorize('TokenAuth', key);
  result = await me('swagger-token-bare.png');
  check('GET /me after Authorize with the key alone is 200', result.status === '200', JSON.stringify(result));
  check('the 200 body names the user', result.body.includes('"username": "demo"'), result.body);
  check('the request sent `Authorization: Token <key>`', result.curl.includes(`Authorization: Token ${key}`), result.curl);
  await logout('TokenAuth');

  await authorize('TokenAuth', `Token ${key}`);
  result = await me('swagger-token.png');
  check('GET /me after Authorize with `Token <key>` is 200', result.status === '200', JSON.stringify(result));
  check('the 200 body names the user', result.body.includes('"username": "demo"'), result.body);
  check('the request sent `Authorization: Token <key>` once', result.curl.includes(`Authorization: Token ${key}`) && !result.curl.includes('Token Token'), result.curl);

  const bearer = await open('/bearer/me');
  result = await bearer();
  check('GET /bearer/me with only TokenAuth authorized is 401', result.status === '401', JSON.stringify(result));
  await authorize('BearerAuth', key);
  result = await bearer('swagger-bearer.png');
  check('GET /bearer/me after Authorize with the key is 200', result.status === '200', JSON.stringify(result));
} catch (err) {
  check('browser session', false, String(err));
  await page.screenshot({ path: `${shots}/swagger-failure.png`, fullPage: true }).catch(() => {});
} finally {
  await browser.close();
}

console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
