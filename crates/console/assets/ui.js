// DOM helpers. Everything the API returns is put in the page as text (textContent), never as
// HTML, so a thing named `<img onerror=…>` is just a name.

/**
 * An element: h('button', {class: 'primary', testid: 'save', onclick: fn}, 'Save').
 * Props: `class`, `testid` (data-testid), `on*` listeners, `value`/`checked`/`disabled`/
 * `selected` as properties, anything else as an attribute. Children: nodes, strings, numbers,
 * arrays; null, undefined and false are skipped.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') el.className = value;
    else if (name === 'testid') el.dataset.testid = value;
    else if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else if (['value', 'checked', 'disabled', 'selected'].includes(name)) el[name] = value;
    else el.setAttribute(name, value === true ? '' : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A link to a console route: link('#/things/x', 'x'). */
export const link = (href, text, props = {}) => h('a', { href, ...props }, text);

/** The hash route of a page with encoded parameters: route('things', name). */
export const route = (...parts) => '#/' + parts.map(encodeURIComponent).join('/');

/** A page heading with optional actions on the right. */
export function heading(title, ...actions) {
  return h('div', { class: 'page-head' }, h('h1', {}, title), h('div', { class: 'actions' }, actions));
}

export function section(title, ...content) {
  return h('section', { class: 'card' }, h('h2', {}, title), content);
}

/** The error box: AWS's error type and message as the API sent them. */
export function errorBox(error) {
  return h(
    'div',
    { class: 'error', role: 'alert', testid: 'error' },
    h('strong', { class: 'error-type', testid: 'error-type' }, error.type || error.name || 'Error'),
    ': ',
    h('span', { class: 'error-message', testid: 'error-message' }, error.message),
  );
}

/** A place for the outcome of an action: ok(text) or fail(error). */
export function status(testid = 'status') {
  const el = h('div', { class: 'status', testid, 'aria-live': 'polite' });
  el.ok = (text) => fill(el, h('div', { class: 'ok', testid: 'ok' }, text));
  el.fail = (error) => fill(el, errorBox(error));
  el.clear = () => fill(el);
  return el;
}

/** A definition list of [label, value] rows; rows whose value is undefined are skipped. */
export function facts(rows, testid) {
  return h(
    'dl',
    { class: 'facts', testid },
    rows
      .filter(([, value]) => value !== undefined && value !== null && value !== '')
      .map(([label, value]) => [h('dt', {}, label), h('dd', { testid: slug(label) }, value)]),
  );
}

const slug = (text) => 'fact-' + text.toLowerCase().replace(/[^a-z0-9]+/g, '-');

/**
 * A table: columns are [title, (row) => content]. Wrapped so that it scrolls sideways on a
 * narrow screen instead of widening the page.
 */
export function table(columns, rows, testid) {
  const body = h('tbody');
  const el = h(
    'div',
    { class: 'table-wrap' },
    h('table', { testid }, h('thead', {}, h('tr', {}, columns.map(([title]) => h('th', {}, title)))), body),
  );
  el.add = (more) => {
    for (const row of more) body.append(h('tr', {}, columns.map(([, cell]) => h('td', {}, cell(row)))));
    if (!body.children.length) {
      body.append(h('tr', { class: 'empty' }, h('td', { colspan: columns.length }, 'None.')));
    } else {
      body.querySelectorAll('tr.empty').forEach((tr) => tr.remove());
    }
  };
  el.clear = () => body.replaceChildren();
  el.add(rows);
  return el;
}

/**
 * A list that pages with the API's tokens: `load(token)` resolves to {items, next}; each page
 * is added under the previous ones, with a "Load more" button while there is a next token.
 * `filter(item)` hides loaded items (a client-side search) without reloading.
 */
export function pagedTable({ columns, load, testid, filter = () => true }) {
  const view = table(columns, [], testid);
  const outcome = status();
  const count = h('span', { class: 'muted', testid: `${testid}-count` });
  const more = h('button', { type: 'button', testid: `${testid}-more`, onclick: () => next() }, 'Load more');
  let token;
  let loaded = [];
  let shown = 0;

  const render = () => {
    view.clear();
    const visible = loaded.filter(filter);
    view.add(visible);
    shown = visible.length;
    count.textContent = `${shown} shown of ${loaded.length} loaded${token ? ', more on the server' : ''}`;
  };
  async function next() {
    more.disabled = true;
    outcome.clear();
    try {
      const page = await load(token);
      loaded = loaded.concat(page.items);
      token = page.next;
      render();
    } catch (error) {
      outcome.fail(error);
    }
    more.disabled = false;
    more.hidden = !token;
  }
  const el = h('div', { class: 'paged' }, view, h('div', { class: 'pager' }, more, count), outcome);
  el.refilter = render;
  el.reload = () => {
    token = undefined;
    loaded = [];
    return next();
  };
  el.reload();
  return el;
}

/** A labelled form field around `input`. */
export function field(label, input, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'label' }, label), input, hint && h('small', { class: 'hint' }, hint));
}

/** A checkbox with its label on the right. */
export function checkbox(label, props = {}) {
  const input = h('input', { type: 'checkbox', ...props });
  const el = h('label', { class: 'check' }, input, ' ', label);
  el.input = input;
  return el;
}

/**
 * Asks before a destructive action; resolves to true if confirmed. With `typed`, the user must
 * type that text (e.g. a CA id) before the confirm button is enabled.
 */
export function confirmDialog({ title, message, confirmLabel = 'Confirm', typed }) {
  return new Promise((resolve) => {
    const input = typed ? h('input', { type: 'text', testid: 'confirm-input', autocomplete: 'off' }) : null;
    const ok = h('button', { type: 'button', class: 'danger', testid: 'confirm-ok', disabled: !!typed }, confirmLabel);
    const cancel = h('button', { type: 'button', testid: 'confirm-cancel' }, 'Cancel');
    const dialog = h(
      'dialog',
      { class: 'confirm', testid: 'confirm' },
      h('h2', {}, title),
      h('p', {}, message),
      typed && field(`Type ${typed} to confirm`, input),
      h('div', { class: 'actions' }, cancel, ok),
    );
    const close = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    if (input) input.addEventListener('input', () => { ok.disabled = input.value.trim() !== typed; });
    ok.addEventListener('click', () => close(true));
    cancel.addEventListener('click', () => close(false));
    dialog.addEventListener('cancel', (event) => { event.preventDefault(); close(false); });
    document.body.append(dialog);
    dialog.showModal();
    (input || cancel).focus();
  });
}

/** A button that runs `action` (async), disabled meanwhile, reporting failures to `out`. */
export function actionButton(label, action, { out, testid, kind } = {}) {
  const button = h('button', { type: 'button', class: kind, testid }, label);
  button.addEventListener('click', async () => {
    button.disabled = true;
    out?.clear();
    try {
      await action();
    } catch (error) {
      if (out) out.fail(error);
      else throw error;
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

/** Seconds (or milliseconds, if `ms`) since the epoch as a local date and time. */
export function when(value, ms = false) {
  if (value === undefined || value === null || value === '') return '';
  const date = new Date(ms ? value : value * 1000);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

/** A JSON value shown pretty-printed. */
export function jsonBlock(value, testid) {
  let text = value;
  if (typeof value === 'string') {
    try {
      text = JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      text = value;
    }
  } else {
    text = JSON.stringify(value, null, 2);
  }
  return h('pre', { class: 'json', testid }, text);
}

/** A status word as a coloured badge (ACTIVE, INACTIVE, REVOKED…). */
export function badge(text) {
  return h('span', { class: `badge badge-${String(text).toLowerCase()}`, testid: 'badge' }, text);
}

/** Loads, then renders into `el`; a failure shows the API's error in its place. */
export async function loading(el, load, render) {
  fill(el, h('p', { class: 'muted' }, 'Loading…'));
  try {
    const value = await load();
    fill(el, render(value));
  } catch (error) {
    fill(el, errorBox(error));
  }
}
