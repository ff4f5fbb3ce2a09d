// The console's shell: sign-in, navigation and a hash router (#/things/NAME) that hands each
// page a fresh container. Pages live in pages/*.js, one module per area of the API.

import { ApiError, clearCredentials, credentials, iot, saveCredentials } from './api.js';
import { errorBox, field, fill, h } from './ui.js';
import * as overview from './pages/overview.js';
import * as things from './pages/things.js';
import * as certificates from './pages/certificates.js';
import * as policies from './pages/policies.js';
import * as connections from './pages/connections.js';
import * as mqttClient from './pages/mqtt.js';
import * as rules from './pages/rules.js';

// [pattern over the hash without "#/", page(container, ...decoded captures)]
const ROUTES = [
  [/^$/, overview.page],
  [/^things$/, things.list],
  [/^things\/([^/]+)$/, things.detail],
  [/^thing-types$/, things.typeList],
  [/^thing-types\/([^/]+)$/, things.typeDetail],
  [/^thing-groups$/, things.groupList],
  [/^thing-groups\/([^/]+)$/, things.groupDetail],
  [/^certificates$/, certificates.list],
  [/^certificates\/([^/]+)$/, certificates.detail],
  [/^cas$/, certificates.caList],
  [/^cas\/register$/, certificates.registerCa],
  [/^cas\/([^/]+)$/, certificates.caDetail],
  [/^policies$/, policies.list],
  [/^policies\/new$/, policies.create],
  [/^policies\/([^/]+)$/, policies.detail],
  [/^templates$/, policies.templateList],
  [/^templates\/([^/]+)$/, policies.templateDetail],
  [/^connections$/, connections.list],
  [/^connections\/([^/]+)$/, connections.detail],
  [/^mqtt$/, mqttClient.page],
  [/^rules$/, rules.list],
  [/^rules\/([^/]+)$/, rules.detail],
];

const view = document.getElementById('view');
const nav = document.getElementById('nav');
const toggle = document.querySelector('.menu-toggle');

function currentPath() {
  return location.hash.replace(/^#\/?/, '');
}

async function render() {
  const signedIn = !!credentials();
  document.body.classList.toggle('signed-in', signedIn);
  setMenu(false);
  const page = h('div', { class: 'page' });
  view.replaceChildren(page);
  if (!signedIn) {
    signIn(page);
    return;
  }
  const path = currentPath();
  for (const link of nav.querySelectorAll('a')) {
    const target = link.getAttribute('href').slice(2);
    link.classList.toggle('current', target === path.split('/')[0]);
  }
  for (const [pattern, show] of ROUTES) {
    const match = pattern.exec(path);
    if (match) {
      try {
        await show(page, ...match.slice(1).map(decodeURIComponent));
      } catch (error) {
        page.append(errorBox(error));
      }
      return;
    }
  }
  fill(page, h('h1', {}, 'Not found'), h('p', {}, `No page at #/${path}.`));
}

/** The sign-in form: the keys are checked with a signed ListCACertificates before use. */
function signIn(page) {
  const keyId = h('input', { name: 'accessKeyId', testid: 'access-key-id', autocomplete: 'username', required: true, spellcheck: 'false' });
  const secret = h('input', { name: 'secretAccessKey', type: 'password', testid: 'secret-access-key', autocomplete: 'current-password', required: true });
  const region = h('input', { name: 'region', testid: 'region', value: 'us-east-1', required: true, spellcheck: 'false' });
  const outcome = h('div', { testid: 'sign-in-status' });
  const submit = h('button', { type: 'submit', class: 'primary', testid: 'sign-in' }, 'Sign in');
  const form = h(
    'form',
    { class: 'card sign-in', testid: 'sign-in-form' },
    h('h1', {}, 'Sign in to Roost'),
    h('p', { class: 'muted' }, 'Use the access keys that `roost env` prints. They stay in this browser tab (sessionStorage) and sign each request; they are never sent to the server.'),
    field('Access key ID', keyId),
    field('Secret access key', secret),
    field('Region', region),
    submit,
    outcome,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    fill(outcome);
    saveCredentials({ accessKeyId: keyId.value.trim(), secretAccessKey: secret.value.trim(), region: region.value.trim() });
    try {
      await iot('GET', '/cacertificates', { query: { pageSize: 1 } });
      render();
    } catch (error) {
      clearCredentials();
      fill(outcome, errorBox(error instanceof ApiError ? error : new ApiError('Error', error.message, 0)));
      submit.disabled = false;
    }
  });
  page.append(form);
  keyId.focus();
}

function setMenu(open) {
  nav.classList.toggle('open', open);
  toggle.setAttribute('aria-expanded', String(open));
}

toggle.addEventListener('click', () => setMenu(!nav.classList.contains('open')));
document.querySelector('[data-testid="sign-out"]').addEventListener('click', () => {
  clearCredentials();
  mqttClient.disconnect();
  location.hash = '#/';
  render();
});
window.addEventListener('hashchange', render);
render();
