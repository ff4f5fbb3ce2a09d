// Device certificates and CA certificates: lists, details with what is attached to them, status
// changes, CA registration as AWS's JITP walkthrough does it, and Roost's revoke-all.

import { iot, p } from '../api.js';
import { describePem } from '../x509.js';
import {
  actionButton, badge, checkbox, confirmDialog, errorBox, facts, field, fill, h, heading, jsonBlock, link, loading,
  pagedTable, route, section, status, table, when,
} from '../ui.js';

const PAGE_SIZE = 25;
const STATUSES = ['ACTIVE', 'INACTIVE', 'REVOKED', 'PENDING_ACTIVATION', 'PENDING_TRANSFER', 'REGISTER_INACTIVE'];

/** Certificates (ListCertificates pages with marker/pageSize); the status filter narrows what
 * has been loaded. */
export function list(el) {
  const statusFilter = h('select', { testid: 'filter-status' }, h('option', { value: '' }, 'any status'), STATUSES.map((s) => h('option', { value: s }, s)));
  const certs = pagedTable({
    testid: 'certificates',
    columns: [
      ['Certificate', (c) => link(route('certificates', c.certificateId), c.certificateId, { class: 'mono' })],
      ['Status', (c) => badge(c.status)],
      ['Created', (c) => when(c.creationDate)],
    ],
    load: async (marker) => {
      const answer = await iot('GET', '/certificates', { query: { pageSize: PAGE_SIZE, marker } });
      return { items: answer.certificates || [], next: answer.nextMarker };
    },
    filter: (c) => !statusFilter.value || c.status === statusFilter.value,
  });
  statusFilter.addEventListener('change', () => certs.refilter());
  fill(el, heading('Certificates'), h('div', { class: 'card' }, h('div', { class: 'row' }, field('Status', statusFilter)), certs));
}

/** Subject, issuer and serial read from the PEM, or nothing if it does not parse. */
function pemFacts(pem) {
  try {
    const cert = describePem(pem);
    return [['Subject', cert.subject], ['Issuer', cert.issuer], ['Serial', h('code', {}, cert.serial)]];
  } catch {
    return [];
  }
}

const validity = (v) => (v ? `${when(v.notBefore)} – ${when(v.notAfter)}` : undefined);

export async function detail(el, certificateId, notice) {
  const top = h('div');
  fill(el, heading('Certificate'), top);
  const rerender = (text) => detail(el, certificateId, text);
  await loading(top, () => iot('GET', p`/certificates/${certificateId}`), ({ certificateDescription: cert }) => {
    const out = status();
    const setStatus = (newStatus) => async () => {
      await iot('PUT', p`/certificates/${certificateId}`, { query: { newStatus } });
      await rerender(`Status set to ${newStatus}.`);
    };
    const revoke = async () => {
      const sure = await confirmDialog({
        title: 'Revoke this certificate?',
        message: 'A revoked certificate can never be used again; its device is disconnected.',
        confirmLabel: 'Revoke',
      });
      if (sure) await setStatus('REVOKED')();
    };
    if (notice) out.ok(notice);
    const things = h('div');
    const policies = h('div');
    loading(things, () => iot('GET', '/principals/things', { query: { maxResults: 100 }, headers: { 'x-amzn-principal': cert.certificateArn } }), (answer) =>
      table([['Thing', (name) => link(route('things', name), name)]], answer.things || [], 'certificate-things'),
    );
    loading(policies, () => iot('POST', p`/attached-policies/${cert.certificateArn}`, { query: { pageSize: 100 } }), (answer) =>
      table([['Policy', (pol) => link(route('policies', pol.policyName), pol.policyName)]], answer.policies || [], 'certificate-policies'),
    );
    return h(
      'div',
      { testid: 'certificate-detail' },
      section(
        'Certificate',
        facts([
          ['ID', h('code', { testid: 'certificate-id' }, cert.certificateId)],
          ['ARN', h('code', {}, cert.certificateArn)],
          ['Status', h('span', { testid: 'certificate-status' }, badge(cert.status))],
          ...pemFacts(cert.certificatePem),
          ['Validity', validity(cert.validity)],
          ['CA', cert.caCertificateId && link(route('cas', cert.caCertificateId), cert.caCertificateId, { testid: 'certificate-ca' })],
          ['Mode', cert.certificateMode],
          ['Created', when(cert.creationDate)],
          ['Last modified', when(cert.lastModifiedDate)],
        ]),
        h(
          'div',
          { class: 'actions' },
          cert.status !== 'ACTIVE' && cert.status !== 'REVOKED' && actionButton('Activate', setStatus('ACTIVE'), { out, testid: 'activate' }),
          cert.status === 'ACTIVE' && actionButton('Deactivate', setStatus('INACTIVE'), { out, testid: 'deactivate' }),
          cert.status !== 'REVOKED' && actionButton('Revoke…', revoke, { out, testid: 'revoke', kind: 'danger' }),
        ),
        out,
      ),
      h('div', { class: 'grid' }, section('Things', things), section('Policies', policies)),
      section('PEM', h('pre', { class: 'pem' }, cert.certificatePem)),
    );
  });
}

export function caList(el) {
  fill(
    el,
    heading('CA certificates', link(route('cas', 'register'), 'Register a CA', { class: 'button', testid: 'register-ca-link' })),
    h('div', { class: 'card' }, pagedTable({
      testid: 'cas',
      columns: [
        ['CA certificate', (c) => link(route('cas', c.certificateId), c.certificateId, { class: 'mono' })],
        ['Status', (c) => badge(c.status)],
        ['Created', (c) => when(c.creationDate)],
      ],
      load: async (marker) => {
        const answer = await iot('GET', '/cacertificates', { query: { pageSize: PAGE_SIZE, marker } });
        return { items: answer.certificates || [], next: answer.nextMarker };
      },
    })),
  );
}

export async function caDetail(el, caId, notice) {
  const top = h('div');
  fill(el, heading('CA certificate'), top);
  const rerender = (text) => caDetail(el, caId, text);
  await loading(top, () => iot('GET', p`/cacertificate/${caId}`), ({ certificateDescription: ca, registrationConfig }) => {
    const out = status();
    const update = (query) => async () => {
      await iot('PUT', p`/cacertificate/${caId}`, { query });
      await rerender();
    };
    const revokeAll = async () => {
      const sure = await confirmDialog({
        title: 'Revoke every certificate of this CA?',
        message: 'Every device certificate issued by this CA is revoked and its device disconnected. This cannot be undone.',
        confirmLabel: 'Revoke all',
        typed: caId,
      });
      if (!sure) return;
      const answer = await iot('POST', p`/roost/cacertificates/${caId}/revoke-all`);
      await rerender(`${answer.revokedCount} certificates revoked.`);
    };
    if (notice) out.ok(notice);
    const active = ca.status === 'ACTIVE';
    const autoOn = ca.autoRegistrationStatus === 'ENABLE';
    return h(
      'div',
      { testid: 'ca-detail' },
      section(
        'CA certificate',
        facts([
          ['ID', h('code', { testid: 'ca-id' }, ca.certificateId)],
          ['ARN', h('code', {}, ca.certificateArn)],
          ['Status', h('span', { testid: 'ca-status' }, badge(ca.status))],
          ['Auto-registration', h('span', { testid: 'ca-auto-registration' }, badge(ca.autoRegistrationStatus))],
          ...pemFacts(ca.certificatePem),
          ['Validity', validity(ca.validity)],
          ['Mode', ca.certificateMode],
          ['Created', when(ca.creationDate)],
        ]),
        h(
          'div',
          { class: 'actions' },
          actionButton(active ? 'Deactivate' : 'Activate', update({ newStatus: active ? 'INACTIVE' : 'ACTIVE' }), { out, testid: 'ca-toggle-status' }),
          actionButton(autoOn ? 'Disable auto-registration' : 'Enable auto-registration',
            update({ newAutoRegistrationStatus: autoOn ? 'DISABLE' : 'ENABLE' }), { out, testid: 'ca-toggle-auto' }),
          actionButton('Revoke all device certificates…', revokeAll, { out, testid: 'ca-revoke-all', kind: 'danger' }),
        ),
        out,
      ),
      registrationConfigEditor(caId, registrationConfig),
      section('Device certificates issued by this CA', pagedTable({
        testid: 'ca-certificates',
        columns: [
          ['Certificate', (c) => link(route('certificates', c.certificateId), c.certificateId, { class: 'mono' })],
          ['Status', (c) => badge(c.status)],
          ['Created', (c) => when(c.creationDate)],
        ],
        load: async (marker) => {
          const answer = await iot('GET', p`/certificates-by-ca/${caId}`, { query: { pageSize: PAGE_SIZE, marker } });
          return { items: answer.certificates || [], next: answer.nextMarker };
        },
      })),
    );
  });
}

/** The CA's registration config (JITP template body and role, or a template name), editable. */
function registrationConfigEditor(caId, config) {
  const text = h('textarea', { testid: 'ca-registration-config', rows: 8, spellcheck: 'false' });
  text.value = config && Object.keys(config).length ? JSON.stringify(config, null, 2) : '';
  const out = status();
  const save = async () => {
    const registrationConfig = parseConfig(text.value);
    await iot('PUT', p`/cacertificate/${caId}`, { body: { registrationConfig } });
    out.ok('Registration config saved.');
  };
  return section(
    'Registration config (just-in-time provisioning)',
    h('div', { class: 'form' },
      field('JSON: {"templateBody": "…", "roleArn": "…"} or {"templateName": "…"}', text),
      h('div', { class: 'actions' }, actionButton('Save registration config', save, { out, testid: 'ca-save-config' })),
      out),
  );
}

/** The registration config typed by the user, or undefined when empty. */
function parseConfig(text) {
  if (!text.trim()) return undefined;
  let config;
  try {
    config = JSON.parse(text);
  } catch (error) {
    throw Object.assign(new Error(`The registration config is not JSON: ${error.message}`), { type: 'InvalidJson' });
  }
  if (typeof config !== 'object' || Array.isArray(config) || config === null) {
    throw Object.assign(new Error('The registration config must be a JSON object.'), { type: 'InvalidJson' });
  }
  return config;
}

/** A textarea for a PEM, with a file input that loads a file into it. */
function pemInput(testid, placeholder) {
  const text = h('textarea', { testid, rows: 6, spellcheck: 'false', placeholder });
  const file = h('input', { type: 'file', accept: '.pem,.crt,.cer,.txt', testid: `${testid}-file` });
  file.addEventListener('change', async () => {
    if (file.files[0]) text.value = await file.files[0].text();
  });
  return { text, file };
}

/** CA registration with proof of possession, as in AWS's JITP walkthrough. */
export async function registerCa(el) {
  const code = h('code', { testid: 'registration-code' }, '…');
  const ca = pemInput('ca-pem', '-----BEGIN CERTIFICATE-----');
  const verification = pemInput('verification-pem', '-----BEGIN CERTIFICATE-----');
  const config = h('textarea', { testid: 'registration-config', rows: 6, spellcheck: 'false', placeholder: '{"templateBody": "…", "roleArn": "arn:aws:iam::123456789012:role/JITPRole"}' });
  const active = checkbox('Set as active', { checked: true, testid: 'set-as-active' });
  const auto = checkbox('Allow auto-registration', { checked: true, testid: 'allow-auto-registration' });
  const out = status();
  const submit = h('button', { type: 'submit', class: 'primary', testid: 'register-ca' }, 'Register CA');
  const form = h(
    'form',
    { class: 'card', testid: 'register-ca-form' },
    h('h2', {}, '1. Prove that you hold the CA key'),
    h('p', {}, 'The registration code of this account: ', code),
    h('p', { class: 'muted' }, 'Make a verification certificate whose Common Name is that code, signed by your CA:'),
    h('pre', { class: 'json', testid: 'verification-commands' }, ''),
    h('h2', {}, '2. Upload the certificates'),
    field('CA certificate (rootCA.pem)', ca.text), ca.file,
    field('Verification certificate (verificationCert.pem)', verification.text), verification.file,
    h('h2', {}, '3. Provisioning'),
    field('Registration config (provisioning-template.json), optional', config,
      'A JITP template as {"templateBody", "roleArn"}, or {"templateName"} of a JITP provisioning template.'),
    active, auto,
    submit,
    out,
  );
  const commands = form.querySelector('[data-testid="verification-commands"]');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    out.clear();
    try {
      const answer = await iot('POST', '/cacertificate', {
        query: { setAsActive: String(active.input.checked), allowAutoRegistration: String(auto.input.checked) },
        body: {
          caCertificate: ca.text.value.trim(),
          verificationCertificate: verification.text.value.trim(),
          registrationConfig: parseConfig(config.value),
        },
      });
      location.hash = route('cas', answer.certificateId);
    } catch (error) {
      out.fail(error);
      submit.disabled = false;
    }
  });
  fill(el, heading('Register a CA certificate'), form);
  try {
    const { registrationCode } = await iot('GET', '/registrationcode');
    code.textContent = registrationCode;
    commands.textContent = [
      'openssl genrsa -out verificationCert.key 2048',
      `openssl req -new -key verificationCert.key -out verificationCert.csr -subj "/CN=${registrationCode}"`,
      'openssl x509 -req -in verificationCert.csr -CA rootCA.pem -CAkey rootCA.key -CAcreateserial \\',
      '  -out verificationCert.pem -days 500 -sha256',
    ].join('\n');
  } catch (error) {
    fill(code, errorBox(error));
  }
}
