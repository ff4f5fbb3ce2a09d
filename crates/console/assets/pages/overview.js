// Overview: what the broker is doing now (from the Prometheus metrics), the endpoints, and the
// CA certificates whose devices Roost admits.

import { iot } from '../api.js';
import { badge, errorBox, facts, fill, h, link, loading, route, section, table } from '../ui.js';

const POLL_MS = 5000;

/** Prometheus text → [{name, labels, value}] (comments and blank lines skipped). */
export function parseMetrics(text) {
  const series = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line.trim());
    if (match) series.push({ name: match[1], labels: match[2] || '', value: Number(match[3]) });
  }
  return series;
}

const total = (series, name) =>
  series.filter((s) => s.name === name).reduce((sum, s) => sum + s.value, 0);

// Counters of refused connections and failed provisioning. The broker registers a labelled
// series on its first increment, so the known ones are shown at 0 until then, and any other
// series whose name says it counts such failures is shown too.
const KNOWN_FAILURES = [
  'roost_mqtt_connects_refused_total',
  'roost_provisioning_failures_total',
  'roost_mqtt_tls_handshake_failures_total',
  'roost_mqtt_connections_refused_total',
];
const isFailure = (name) =>
  KNOWN_FAILURES.includes(name) ||
  (/(connect|handshake|provision|jitp|jitr|fleet|auth)/.test(name) && /(fail|refus|reject|denied|throttl)/.test(name));

const FAILURE_LABELS = {
  roost_mqtt_connects_refused_total: 'CONNECTs refused',
  roost_provisioning_failures_total: 'Provisioning failures',
  roost_mqtt_tls_handshake_failures_total: 'TLS handshakes failed',
  roost_mqtt_connections_refused_total: 'Connections over the limit',
};

/** A failure series as a reader names it: `CONNECTs refused (AUTHORIZATION_FAILED)`. */
function failureLabel(s) {
  const name = FAILURE_LABELS[s.name] || s.name.replace(/^roost_/, '');
  const values = [...s.labels.matchAll(/="([^"]*)"/g)].map((m) => m[1]);
  return values.length ? `${name} (${values.join(', ')})` : name;
}

function failures(series) {
  const found = series.filter((s) => isFailure(s.name));
  const missing = KNOWN_FAILURES.filter((name) => !found.some((s) => s.name === name));
  return found.concat(missing.map((name) => ({ name, labels: '', value: 0 })));
}

async function metrics() {
  const response = await fetch('/metrics', { cache: 'no-store', credentials: 'omit' });
  if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
  return parseMetrics(await response.text());
}

export async function page(el) {
  const stats = h('div', { class: 'grid', testid: 'overview-stats' });
  const endpoints = h('div');
  const cas = h('div');
  fill(
    el,
    h('h1', {}, 'Overview'),
    stats,
    h('div', { class: 'grid' }, section('Endpoints', endpoints), section('CA certificates devices are trusted by', cas)),
  );

  let previous;
  const sample = async () => {
    try {
      const now = { at: performance.now(), series: await metrics() };
      renderStats(stats, now, previous);
      previous = now;
    } catch (error) {
      fill(stats, errorBox(error));
    }
  };
  await sample();
  const timer = setInterval(() => (el.isConnected ? sample() : clearInterval(timer)), POLL_MS);

  const origin = location.origin;
  loading(endpoints, () => iot('GET', '/endpoint', { query: { endpointType: 'iot:Data-ATS' } }), (answer) =>
    facts([
      ['Data (iot:Data-ATS)', h('code', { testid: 'endpoint-address' }, answer.endpointAddress)],
      ['Control plane', h('code', {}, origin)],
      ['MQTT over WebSocket', h('code', {}, `${origin.replace(/^http/, 'ws')}/mqtt`)],
    ]),
  );
  loading(cas, () => iot('GET', '/cacertificates', { query: { pageSize: 50 } }), (answer) =>
    table(
      [
        ['CA certificate', (ca) => link(route('cas', ca.certificateId), ca.certificateId.slice(0, 16) + '…')],
        ['Status', (ca) => badge(ca.status)],
      ],
      answer.certificates || [],
      'overview-cas',
    ),
  );
}

function renderStats(el, now, previous) {
  const rate = (name) => {
    if (!previous) return '…';
    const seconds = (now.at - previous.at) / 1000;
    return (Math.max(0, total(now.series, name) - total(previous.series, name)) / seconds).toFixed(1);
  };
  const stat = (label, value, testid) =>
    h('div', { class: 'card' }, h('div', { class: 'stat', testid }, value), h('div', { class: 'stat-label' }, label));
  const failed = failures(now.series);
  fill(
    el,
    stat('devices connected', total(now.series, 'roost_mqtt_connections'), 'stat-connected'),
    stat('messages in per second', rate('roost_mqtt_messages_received_total'), 'stat-in'),
    stat('messages out per second', rate('roost_mqtt_messages_sent_total'), 'stat-out'),
    h(
      'div',
      { class: 'card', testid: 'stat-provisioning' },
      h('h2', {}, 'Provisioning'),
      facts([
        ['Just-in-time (JITP)', total(now.series, 'roost_jitp_provisioned_total')],
        ['Registered (JITR)', total(now.series, 'roost_jitr_registered_total')],
        ['Fleet provisioning', total(now.series, 'roost_fleet_provisioned_total')],
      ]),
    ),
    h(
      'div',
      { class: 'card', testid: 'stat-failures' },
      h('h2', {}, 'Connect and provisioning failures'),
      facts(failed.map((s) => [failureLabel(s), s.value])),
    ),
  );
}
