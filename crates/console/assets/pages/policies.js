// IoT policies (documents and versions) and provisioning templates. A document is checked by
// the API when saved: its MalformedPolicyException and message are shown as they come.

import { iot, p } from '../api.js';
import {
  actionButton, badge, checkbox, facts, field, fill, h, heading, jsonBlock, link, loading, pagedTable, route, section,
  status, table, when,
} from '../ui.js';

const PAGE_SIZE = 25;

const EXAMPLE_DOCUMENT = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: ['iot:Connect'], Resource: ['arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}'] }],
}, null, 2);

export function list(el) {
  fill(
    el,
    heading('Policies', link(route('policies', 'new'), 'New policy', { class: 'button', testid: 'new-policy' })),
    h('div', { class: 'card' }, pagedTable({
      testid: 'policies',
      columns: [
        ['Policy', (pol) => link(route('policies', pol.policyName), pol.policyName)],
        ['ARN', (pol) => h('code', {}, pol.policyArn)],
      ],
      load: async (marker) => {
        const answer = await iot('GET', '/policies', { query: { pageSize: PAGE_SIZE, marker } });
        return { items: answer.policies || [], next: answer.nextMarker };
      },
    })),
  );
}

/** A document editor: a textarea with a note while its text is not JSON. The note is only a
 * hint; the document is sent as typed and the API's verdict is the one shown. */
function documentEditor(value, testid) {
  const text = h('textarea', { testid, rows: 14, spellcheck: 'false' });
  text.value = value;
  const note = h('small', { class: 'warning', testid: `${testid}-note` });
  const check = () => {
    try {
      JSON.parse(text.value);
      note.textContent = '';
    } catch (error) {
      note.textContent = `Not JSON yet: ${error.message}`;
    }
  };
  text.addEventListener('input', check);
  check();
  return { text, el: h('div', { class: 'field' }, text, note) };
}

/** A JSON document re-indented, or as it is if it does not parse. */
function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

export function create(el) {
  const name = h('input', { testid: 'policy-name', required: true, spellcheck: 'false' });
  const doc = documentEditor(EXAMPLE_DOCUMENT, 'policy-document');
  const out = status();
  const submit = h('button', { type: 'submit', class: 'primary', testid: 'save-policy' }, 'Create policy');
  const form = h('form', { class: 'card', testid: 'policy-form' }, field('Name', name), h('span', { class: 'label' }, 'Document'), doc.el, submit, out);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    out.clear();
    try {
      await iot('POST', p`/policies/${name.value.trim()}`, { body: { policyDocument: doc.text.value } });
      location.hash = route('policies', name.value.trim());
    } catch (error) {
      out.fail(error);
    }
    submit.disabled = false;
  });
  fill(el, heading('New policy'), form);
}

export async function detail(el, policyName, notice) {
  const top = h('div');
  fill(el, heading(policyName), top);
  const rerender = (text) => detail(el, policyName, text);
  await loading(top, () => Promise.all([
    iot('GET', p`/policies/${policyName}`),
    iot('GET', p`/policies/${policyName}/version`),
  ]), ([policy, { policyVersions = [] }]) => {
    const shown = h('div', { testid: 'policy-version-document' }, jsonBlock(policy.policyDocument, 'policy-document-view'));
    const out = status();
    if (notice) out.ok(notice);
    const view = async (version) => {
      const answer = await iot('GET', p`/policies/${policyName}/version/${version.versionId}`);
      fill(shown, h('p', { class: 'muted' }, `Version ${version.versionId}`), jsonBlock(answer.policyDocument, 'policy-document-view'));
    };
    const makeDefault = (version) => async () => {
      await iot('PATCH', p`/policies/${policyName}/version/${version.versionId}`);
      await rerender(`Version ${version.versionId} is now the default.`);
    };
    const editor = documentEditor(pretty(policy.policyDocument), 'policy-new-version');
    const asDefault = checkbox('Set as the default version', { checked: true, testid: 'set-as-default' });
    const saveVersion = async () => {
      await iot('POST', p`/policies/${policyName}/version`, {
        query: { setAsDefault: String(asDefault.input.checked) },
        body: { policyDocument: editor.text.value },
      });
      await rerender('New version saved.');
    };
    const targets = h('div');
    loading(targets, () => iot('POST', p`/policy-targets/${policyName}`, { query: { pageSize: 100 } }), (answer) =>
      table([['Target', (arn) => {
        const cert = /:cert\/([0-9a-f]+)$/.exec(arn);
        return cert ? link(route('certificates', cert[1]), arn) : h('code', {}, arn);
      }]], answer.targets || [], 'policy-targets'),
    );
    return h(
      'div',
      { testid: 'policy-detail' },
      section('Policy', facts([
        ['Name', policy.policyName],
        ['ARN', h('code', {}, policy.policyArn)],
        ['Default version', policy.defaultVersionId],
        ['Created', when(policy.creationDate)],
        ['Last modified', when(policy.lastModifiedDate)],
      ]), out),
      section('Versions', table([
        ['Version', (v) => v.versionId],
        ['Default', (v) => (v.isDefaultVersion ? badge('default') : '')],
        ['Created', (v) => when(v.createDate)],
        ['', (v) => h('div', { class: 'actions' },
          actionButton('View', () => view(v), { out }),
          !v.isDefaultVersion && actionButton('Make default', makeDefault(v), { out }))],
      ], policyVersions, 'policy-versions'), shown),
      section('New version', h('div', { class: 'form' }, editor.el, asDefault,
        h('div', { class: 'actions' }, actionButton('Save version', saveVersion, { out, testid: 'save-version', kind: 'primary' })))),
      section('Attached to', targets),
    );
  });
}

export function templateList(el) {
  fill(
    el,
    heading('Provisioning templates'),
    h('div', { class: 'card' }, pagedTable({
      testid: 'templates',
      columns: [
        ['Template', (t) => link(route('templates', t.templateName), t.templateName)],
        ['Type', (t) => t.type || 'FLEET_PROVISIONING'],
        ['Enabled', (t) => badge(t.enabled ? 'ENABLED' : 'DISABLED')],
        ['Description', (t) => t.description || ''],
      ],
      load: async (token) => {
        const answer = await iot('GET', '/provisioning-templates', { query: { maxResults: PAGE_SIZE, nextToken: token } });
        return { items: answer.templates || [], next: answer.nextToken };
      },
    })),
  );
}

export async function templateDetail(el, templateName) {
  const top = h('div');
  fill(el, heading(templateName), top);
  await loading(top, () => Promise.all([
    iot('GET', p`/provisioning-templates/${templateName}`),
    iot('GET', p`/provisioning-templates/${templateName}/versions`, { query: { maxResults: 100 } }),
  ]), ([template, { versions = [] }]) =>
    h(
      'div',
      { testid: 'template-detail' },
      section('Provisioning template', facts([
        ['Name', template.templateName],
        ['ARN', h('code', {}, template.templateArn)],
        ['Type', template.type],
        ['Enabled', badge(template.enabled ? 'ENABLED' : 'DISABLED')],
        ['Description', template.description],
        ['Provisioning role', template.provisioningRoleArn && h('code', {}, template.provisioningRoleArn)],
        ['Pre-provisioning hook', template.preProvisioningHook && h('code', {}, template.preProvisioningHook.targetArn)],
        ['Default version', template.defaultVersionId],
        ['Created', when(template.creationDate)],
        ['Last modified', when(template.lastModifiedDate)],
      ])),
      section('Body', jsonBlock(template.templateBody, 'template-body')),
      section('Versions', table([
        ['Version', (v) => v.versionId],
        ['Default', (v) => (v.isDefaultVersion ? badge('default') : '')],
        ['Created', (v) => when(v.creationDate)],
      ], versions, 'template-versions')),
    ),
  );
}
