// The dashboard end to end in Debian's headless chromium (driven by playwright-core from
// web/node_modules), against a running simmimd that has the small dataset "fm-small":
// an invalid value's error beside its field; a job submitted through the form, its row and
// live progress bar; its page with curves, preview (and the slider back through earlier ones),
// checkpoints whose download matches the listed sha256, and the log; a clone of it, longer,
// cancelled from its page; the datasets page; progress going back when a run resumes behind
// what it reported; a narrow screen; and, against a second daemon with a token, the token
// prompt. Prints "ok - ..." / "not ok - ..." lines; saves a screenshot of each page to SHOT_DIR.
//
// Environment: BASE_URL (required), SHOT_DIR (required), TOKEN_BASE_URL and TOKEN (optional:
// the token scenario), CHROMIUM (default /usr/bin/chromium).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(new URL('../../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const BASE = process.env.BASE_URL;
const SHOTS = process.env.SHOT_DIR;
const TOKEN_BASE = process.env.TOKEN_BASE_URL;
const TOKEN = process.env.TOKEN;
const DATASET = 'fm-small';
const JOB_NAME = 'browser-tiny';
// A job that finishes in seconds: a 2-block model, 2 epochs of 40 steps, a preview every 10.
const TINY = {
  'model.embed_dim': '64', 'model.depth': '2', 'model.num_heads': '2',
  'train.epochs': '2', 'train.batch_size': '50', 'train.warmup_epochs': '0',
  'schedule.progress_every_steps': '5', 'schedule.checkpoint_every_steps': '20',
  'schedule.preview_every_steps': '10', 'train.threads': '2',
};

let failed = 0;
let skipping = false;

// Runs one check; after a failure the rest of its scenario is reported as skipped.
async function check(name, fn) {
  if (skipping) {
    console.log(`not ok - ${name}: skipped after an earlier failure`);
    failed++;
    return;
  }
  try {
    const detail = await fn();
    console.log(`ok - ${name}${detail ? `: ${detail}` : ''}`);
  } catch (e) {
    console.log(`not ok - ${name}: ${String(e.message).split('\n')[0]}`);
    failed++;
    skipping = true;
  }
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

// Console errors and uncaught exceptions of the page. The browser's own "Failed to load
// resource" lines are the API's expected 4xx answers (validation, the token prompt).
function watchErrors(page, errors) {
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
}

async function fillForm(page, values) {
  await page.locator('#more > summary').click();
  for (const [name, value] of Object.entries(values)) await page.locator(`[name="${name}"]`).fill(value);
}

async function submitTiny(page) {
  await page.goto(`${BASE}/#/new`);
  await page.locator(`select[name="dataset"] option[value="${DATASET}"]`).waitFor({ state: 'attached' });
  await page.selectOption('select[name="dataset"]', DATASET);
  await page.selectOption('select[name="model.preset"]', 'fmnist-q');
  await page.fill('input[name="name"]', JOB_NAME);
  await fillForm(page, TINY);
}

async function scenarioFormAndJob(page) {
  let jobId = null;

  await check('an invalid value shows the API error beside its field', async () => {
    await submitTiny(page);
    await page.fill('input[name="train.epochs"]', '0');
    await page.click('button[type=submit]');
    const error = page.locator('.field:has(input[name="train.epochs"]) .field-error');
    await error.waitFor({ state: 'visible', timeout: 10000 });
    const text = await error.textContent();
    assert(/epochs/.test(text), `message "${text}"`);
    assert(await page.getAttribute('input[name="train.epochs"]', 'aria-invalid') === 'true', 'input not marked invalid');
    assert(page.url().endsWith('#/new'), 'left the form');
    await shot(page, 'new-job-invalid');
    return text;
  });

  await check('a job submitted through the form appears in the jobs list', async () => {
    await page.fill('input[name="train.epochs"]', TINY['train.epochs']);
    await page.click('button[type=submit]');
    await page.waitForURL(/#\/jobs$/, { timeout: 10000 });
    const row = page.locator('tr[data-job-id]', { hasText: JOB_NAME }).first();
    await row.waitFor({ timeout: 10000 });
    jobId = Number(await row.getAttribute('data-job-id'));
    return `job #${jobId}`;
  });

  await check('its progress bar advances live, without a reload, its link staying put', async () => {
    // Rows are redrawn on each event; record every value the bar takes.
    await page.evaluate((id) => {
      window.notReloaded = true;
      window.progressSeen = [];
      // Redraws swap only the cells that changed: a link replaced mid-click loses the click.
      window.jobLink = document.querySelector(`tr[data-job-id="${id}"] a[href="#/jobs/${id}"]`);
      const record = () => {
        const bar = document.querySelector(`tr[data-job-id="${id}"] progress`);
        if (bar) window.progressSeen.push([bar.value, bar.max]);
      };
      record();
      new MutationObserver(record).observe(document.querySelector('table.jobs tbody'), { childList: true, subtree: true });
    }, jobId);
    const row = page.locator(`tr[data-job-id="${jobId}"]`);
    await row.locator('[data-state="succeeded"]').waitFor({ timeout: 120000 });
    const seen = await page.evaluate(() => ({ values: window.progressSeen.map(([v]) => v), max: window.progressSeen.at(-1)[1], same: window.notReloaded, linkKept: window.jobLink?.isConnected }));
    const distinct = [...new Set(seen.values)];
    assert(seen.same, 'the page reloaded');
    assert(seen.linkKept, "the job's link was replaced by a redraw");
    assert(distinct.some((v) => v > 0 && v < seen.max), `no value between 0 and ${seen.max}: ${distinct}`);
    assert(distinct.at(-1) === seen.max, `ended at ${distinct.at(-1)} of ${seen.max}`);
    assert(distinct.every((v, i) => i === 0 || v > distinct[i - 1]), `not increasing: ${distinct}`);
    await shot(page, 'jobs');
    return `bar took ${distinct.join(', ')} of ${seen.max}`;
  });

  await check('the job page draws the loss and learning-rate curves', async () => {
    await page.click(`tr[data-job-id="${jobId}"] a[href="#/jobs/${jobId}"]`);
    await page.waitForURL(new RegExp(`#/jobs/${jobId}$`));
    const counts = {};
    for (const chart of ['loss', 'lr', 'val', 'speed']) {
      await page.waitForFunction((c) => Number(document.querySelector(`#chart-${c}`)?.dataset.points) > 0, chart, { timeout: 10000 });
      counts[chart] = await page.evaluate((c) => {
        // Pixels the plot drew on its canvas (the canvas is blank before data arrives).
        const canvas = document.querySelector(`#chart-${c} canvas`);
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < data.length; i += 4) painted += data[i] > 0;
        return { points: Number(document.querySelector(`#chart-${c}`).dataset.points), painted };
      }, chart);
      assert(counts[chart].painted > 500, `${chart} canvas nearly empty (${counts[chart].painted} pixels)`);
    }
    return Object.entries(counts).map(([c, v]) => `${c} ${v.points} points`).join(', ');
  });

  let firstSrc = null;
  await check('the newest reconstruction preview loads', async () => {
    await page.waitForFunction(() => {
      const img = document.querySelector('#preview-img');
      return img && img.complete && img.naturalWidth > 0;
    }, null, { timeout: 10000 });
    firstSrc = await page.getAttribute('#preview-img', 'src');
    const size = await page.evaluate(() => [document.querySelector('#preview-img').naturalWidth, document.querySelector('#preview-img').naturalHeight]);
    return `${firstSrc} ${size.join('×')}`;
  });

  await check('the slider steps back to earlier previews', async () => {
    const max = Number(await page.getAttribute('#preview-slider', 'max'));
    assert(max >= 1, `only ${max + 1} preview(s)`);
    const slider = page.locator('#preview-slider');
    await slider.focus();
    await page.keyboard.press('Home');
    const src = await page.getAttribute('#preview-img', 'src');
    assert(src !== firstSrc, 'the image did not change');
    await page.waitForFunction(() => {
      const img = document.querySelector('#preview-img');
      return img.complete && img.naturalWidth > 0;
    }, null, { timeout: 10000 });
    await page.keyboard.press('ArrowRight');
    const next = await page.getAttribute('#preview-img', 'src');
    assert(next !== src, 'ArrowRight did not move');
    await page.waitForFunction(() => document.querySelector('#preview-img').naturalWidth > 0);
    return `${max + 1} previews; ${await page.textContent('#preview-step')}`;
  });

  await check('checkpoints are listed and the download matches the shown sha256', async () => {
    const row = page.locator('#checkpoints tbody tr').first();
    await row.locator('a').waitFor({ timeout: 10000 });
    const sha = (await row.locator('code.sha').textContent()).trim();
    const href = await row.locator('a').getAttribute('href');
    const res = await page.request.get(new URL(href, BASE).toString());
    assert(res.ok(), `download answered ${res.status()}`);
    const got = createHash('sha256').update(await res.body()).digest('hex');
    assert(got === sha, `sha256 ${got} != ${sha}`);
    const rows = await page.locator('#checkpoints tbody tr').count();
    return `${rows} checkpoint(s); ${href}`;
  });

  await check('the log tail is shown', async () => {
    await page.waitForFunction(() => document.querySelector('#log').textContent.trim().length > 0, null, { timeout: 10000 });
    await shot(page, 'job');
    return `${(await page.textContent('#log')).split('\n').length} lines`;
  });

  let cloneId = null;
  await check('cloning fills the form from the job and submits a changed copy', async () => {
    await page.click('a:has-text("Clone")');
    await page.waitForURL(/#\/new\?from=/);
    await page.waitForFunction(() => document.querySelector('input[name="model.embed_dim"]').value === '64', null, { timeout: 10000 });
    const form = await page.evaluate(() => Object.fromEntries(['name', 'dataset', 'train.epochs', 'model.depth', 'schedule.preview_every_steps', 'train.precision']
      .map((n) => [n, document.querySelector(`[name="${n}"]`).value])));
    assert(form.name === JOB_NAME && form.dataset === DATASET && form['train.epochs'] === '2' && form['model.depth'] === '2'
      && form['train.precision'] === 'fp32', JSON.stringify(form));
    const precisions = await page.$$eval('select[name="train.precision"] option', (options) => options.map((o) => o.value));
    assert(precisions.join(' ') === 'fp32 bf16', `precision offers ${precisions}`);
    await shot(page, 'new-job-clone');
    await page.fill('input[name="name"]', `${JOB_NAME}-long`);
    await page.fill('input[name="train.epochs"]', '100');
    await page.click('button[type=submit]');
    await page.waitForURL(/#\/jobs$/, { timeout: 10000 });
    const row = page.locator('tr[data-job-id]', { hasText: `${JOB_NAME}-long` }).first();
    await row.waitFor({ timeout: 10000 });
    cloneId = Number(await row.getAttribute('data-job-id'));
    return `job #${cloneId} from ${JSON.stringify(form)}`;
  });

  // Clicks a job action and confirms it in the dialog.
  const confirmed = async (action, shotName) => {
    await page.click(`button[data-action="${action}"]`);
    await page.locator('#confirm-dialog[open]').waitFor();
    if (shotName) await shot(page, shotName);
    await page.click('#confirm-yes');
  };
  // Training for real: a progress event beyond `step` has reached the page.
  const progressPast = (step) => page.waitForFunction((s) => document.querySelector('.progress progress')?.value > s, step, { timeout: 60000 });

  await check('pausing and resuming the clone from its page, after confirming', async () => {
    await page.click(`a[href="#/jobs/${cloneId}"]`);
    await page.locator('#job-state [data-state="running"]').waitFor({ timeout: 60000 });
    await progressPast(0);
    await confirmed('pause');
    await page.locator('#job-state [data-state="paused"]').waitFor({ timeout: 30000 });
    const pausedAt = Number(await page.getAttribute('.progress progress', 'value'));
    const points = () => page.getAttribute('#chart-loss', 'data-points').then(Number);
    const before = await points();
    await confirmed('resume');
    await page.locator('#job-state [data-state="running"]').waitFor({ timeout: 30000 });
    await progressPast(pausedAt);
    // The loss curve grows from the event stream too.
    await page.waitForFunction((n) => Number(document.querySelector('#chart-loss').dataset.points) > n, before, { timeout: 10000 });
    return `paused at step ${pausedAt}, running again; loss curve ${before} → ${await points()} points`;
  });

  await check('cancelling the running clone from its page, after confirming', async () => {
    await confirmed('cancel', 'job-cancel-confirm');
    await page.locator('#job-state [data-state="cancelled"]').waitFor({ timeout: 30000 });
    await shot(page, 'job-cancelled');
    const state = await (await page.request.get(`${BASE}/api/v1/jobs/${cloneId}`)).json();
    assert(state.state === 'cancelled', `the API says ${state.state}`);
    return `job #${cloneId} cancelled`;
  });

  await check('the jobs list filters by state and kind', async () => {
    await page.goto(`${BASE}/#/jobs`);
    await page.locator(`tr[data-job-id="${cloneId}"]`).waitFor({ timeout: 10000 });
    await page.selectOption('#filter-state', 'cancelled');
    await page.waitForFunction((id) => {
      const rows = [...document.querySelectorAll('tr[data-job-id]')];
      return rows.length === 1 && rows[0].dataset.jobId === String(id);
    }, cloneId, { timeout: 10000 });
    assert(page.url().endsWith('#/jobs?state=cancelled'), `URL ${page.url()}`);
    await page.selectOption('#filter-kind', 'finetune');
    await page.waitForFunction(() => document.querySelectorAll('tr[data-job-id]').length === 0, null, { timeout: 10000 });
    await page.selectOption('#filter-state', '');
    await page.selectOption('#filter-kind', 'pretrain');
    await page.waitForFunction(() => document.querySelectorAll('tr[data-job-id]').length === 2, null, { timeout: 10000 });
    return 'state=cancelled: 1 row; + kind=finetune: none; kind=pretrain: 2';
  });
}

async function scenarioDatasets(page) {
  await check('the datasets page shows counts and the sample grid', async () => {
    await page.goto(`${BASE}/#/datasets`);
    const card = page.locator(`[data-dataset="${DATASET}"]`);
    await card.waitFor({ timeout: 10000 });
    const text = await card.textContent();
    assert(text.includes('2000') && text.includes('500') && text.includes('28×28'), text);
    await page.waitForFunction((name) => {
      const img = document.querySelector(`[data-dataset="${name}"] img.sample`);
      return img && img.complete && img.naturalWidth > 0;
    }, DATASET, { timeout: 10000 });
    return 'fm-small: 2000 train, 500 test, 28×28';
  });

  await check('registering a dataset: an error beside the path, then a new card', async () => {
    await page.fill('input[name="name"]', 'fm-copy');
    await page.fill('input[name="path"]', '/etc');
    await page.click('button:has-text("Register")');
    const error = page.locator('.field:has(input[name="path"]) .field-error');
    await error.waitFor({ state: 'visible', timeout: 10000 });
    const message = await error.textContent();
    await shot(page, 'datasets-invalid');
    // The same files under another name: fm-small's path, as its card shows it.
    await page.fill('input[name="path"]', await page.textContent(`[data-dataset="${DATASET}"] dd code`));
    await page.click('button:has-text("Register")');
    await page.locator('[data-dataset="fm-copy"] img.sample').waitFor({ timeout: 20000 });
    await shot(page, 'datasets');
    return `"${message}"; fm-copy registered`;
  });
}

// A run killed after reporting steps it had not checkpointed resumes behind them: its start
// event moves the page's progress back to the checkpoint, as the daemon moves the job's row.
async function scenarioResumedStart(page) {
  await check('a resumed run\'s start event moves progress back to its checkpoint', async () => {
    const progress = await page.evaluate(async () => {
      const { applyEvent } = await import(`${location.origin}/jobs.js`);
      const job = { progress: { step: 460, total: 2340, epoch: 1.97, eta_s: 1634 }, metrics: {} };
      applyEvent(job, 'start', { total_steps: 2340, steps_per_epoch: 234, resumed_from_step: 234 });
      return job.progress;
    });
    assert(progress.step === 234 && progress.epoch === 1 && progress.eta_s === null, JSON.stringify(progress));
    return JSON.stringify(progress);
  });
}

async function scenarioNarrow(context) {
  await check('a narrow screen shows the jobs as cards without sideways scrolling', async () => {
    const page = await context.newPage();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${BASE}/#/jobs`);
    await page.locator('tr[data-job-id]').first().waitFor({ timeout: 10000 });
    const { scroll, width, head } = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth, width: window.innerWidth,
      head: getComputedStyle(document.querySelector('table.jobs thead')).display,
    }));
    assert(scroll <= width && head === 'none', `scrollWidth ${scroll} > ${width} or header ${head}`);
    await shot(page, 'jobs-narrow');
    await page.goto(`${BASE}/#/new`);
    await page.locator('select[name="dataset"] option').first().waitFor({ state: 'attached' });
    const newScroll = await page.evaluate(() => document.documentElement.scrollWidth);
    assert(newScroll <= width, `form scrollWidth ${newScroll}`);
    await shot(page, 'new-job-narrow');
    await page.close();
    return `${width}px wide`;
  });
}

async function scenarioToken(context) {
  await check('with a token, the page asks for it once and uses it everywhere', async () => {
    const page = await context.newPage();
    await page.goto(`${TOKEN_BASE}/#/datasets`);
    await page.locator('#token-dialog[open]').waitFor({ timeout: 10000 });
    await shot(page, 'token-prompt');
    await page.fill('#token-input', TOKEN);
    await page.click('#token-dialog button[type=submit]');
    await page.locator('[data-dataset]').first().waitFor({ timeout: 10000 });
    // The sample grid is an <img>: it can only load with ?access_token=.
    await page.waitForFunction(() => {
      const img = document.querySelector('img.sample');
      return img && img.complete && img.naturalWidth > 0;
    }, null, { timeout: 10000 });
    await page.goto(`${TOKEN_BASE}/#/jobs`);
    await page.locator('#live[data-live="live"]').waitFor({ timeout: 10000 });
    const asked = await page.locator('#token-dialog[open]').count();
    assert(asked === 0, 'asked again');
    await page.close();
    return 'datasets, sample image and event stream authorized';
  });
}

async function main() {
  assert(BASE && SHOTS, 'BASE_URL and SHOT_DIR are required');
  fs.mkdirSync(SHOTS, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'simmimd-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run'],
  });
  try {
    const errors = [];
    const page = context.pages()[0] || await context.newPage();
    watchErrors(page, errors);
    context.on('page', (p) => watchErrors(p, errors));
    await scenarioFormAndJob(page);
    skipping = false;
    await scenarioDatasets(page);
    skipping = false;
    await scenarioResumedStart(page);
    skipping = false;
    await scenarioNarrow(context);
    skipping = false;
    if (TOKEN_BASE) await scenarioToken(context);
    skipping = false;
    await check('no JavaScript error on the pages', async () => {
      assert(errors.length === 0, errors.join(' | '));
    });
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  console.log(`not ok - browser test: ${e.message}`);
  process.exitCode = 1;
});
