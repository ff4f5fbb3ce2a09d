// Live MQTT connections: Roost's list of who is connected (GET /roost/connections), and per
// client iot-data's GetConnection, ListSubscriptions and DeleteConnection.

import { ApiError, data, iot, p } from '../api.js';
import {
  actionButton, badge, confirmDialog, facts, field, fill, h, heading, link, loading, pagedTable, route, section, status,
  table, when,
} from '../ui.js';

const PAGE_SIZE = 25;

/** A principal as a link when it is a certificate (an id or a cert ARN). */
function principal(value) {
  if (!value) return '';
  const cert = /^(?:arn:.*:cert\/)?([0-9a-f]{64})$/.exec(value);
  return cert ? link(route('certificates', cert[1]), value, { class: 'mono' }) : h('code', {}, value);
}

const subscriptions = (list) => (list || []).map((s) => `${s.topicFilter} (QoS ${s.qos})`).join(', ');

export function list(el) {
  const clientFilter = h('input', { type: 'search', testid: 'filter-client', placeholder: 'part of a client id' });
  const connections = pagedTable({
    testid: 'connections',
    columns: [
      ['Client ID', (c) => link(route('connections', c.clientId), c.clientId, { class: 'connection-link' })],
      ['Principal', (c) => principal(c.principal)],
      ['Thing', (c) => (c.thingName ? link(route('things', c.thingName), c.thingName) : '')],
      ['Since', (c) => when(c.connectedSince, true)],
      ['Protocol', (c) => [c.protocol, c.transport].filter(Boolean).join(' over ')],
      ['Source', (c) => (c.sourceIp ? `${c.sourceIp}:${c.sourcePort ?? ''}` : '')],
      ['Subscriptions', (c) => subscriptions(c.subscriptions)],
    ],
    load: async (token) => {
      const answer = await iot('GET', '/roost/connections', { query: { maxResults: PAGE_SIZE, nextToken: token } });
      return { items: answer.connections || [], next: answer.nextToken };
    },
    filter: (c) => c.clientId.toLowerCase().includes(clientFilter.value.trim().toLowerCase()),
  });
  clientFilter.addEventListener('input', () => connections.refilter());
  fill(
    el,
    heading('Live connections', h('button', { type: 'button', testid: 'refresh', onclick: () => connections.reload() }, 'Refresh')),
    h('div', { class: 'card' }, h('div', { class: 'row' }, field('Client ID contains', clientFilter)), connections),
  );
}

export async function detail(el, clientId, notice) {
  const top = h('div');
  fill(el, heading(clientId), top);
  await loading(top, () => Promise.all([
    // A client that never connected, or whose session is gone, is a 404: shown as disconnected.
    data('GET', p`/connections/${clientId}`, { query: { includeSocketInformation: 'true' } })
      .catch((error) => (error instanceof ApiError && error.status === 404 ? { clientId, connected: false } : Promise.reject(error))),
    data('GET', p`/connections/${clientId}/subscriptions`, { query: { maxResults: 100 } }).catch(() => ({ subscriptions: [] })),
  ]), ([connection, subs]) => {
    const out = status();
    if (notice) out.ok(notice);
    const disconnect = async () => {
      const sure = await confirmDialog({ title: `Disconnect ${clientId}?`, message: 'The client is disconnected now; it may connect again.', confirmLabel: 'Disconnect' });
      if (!sure) return;
      await data('DELETE', p`/connections/${clientId}`);
      await detail(el, clientId, 'Disconnected.');
    };
    return h(
      'div',
      { testid: 'connection-detail' },
      section('Connection', facts([
        ['Client ID', connection.clientId || clientId],
        ['Connected', badge(connection.connected ? 'CONNECTED' : 'DISCONNECTED')],
        ['Thing', connection.thingName && link(route('things', connection.thingName), connection.thingName)],
        ['Since', when(connection.connectedSince, true)],
        ['Disconnected since', when(connection.disconnectedSince, true)],
        ['Disconnect reason', connection.disconnectReason],
        ['Clean session', connection.cleanSession === undefined ? undefined : String(connection.cleanSession)],
        ['Keep-alive', connection.keepAliveDuration === undefined ? undefined : `${connection.keepAliveDuration} s`],
        ['Session expiry', connection.sessionExpiry === undefined ? undefined : `${connection.sessionExpiry} s`],
        ['Source', connection.sourceIp && `${connection.sourceIp}:${connection.sourcePort}`],
        ['Target', connection.targetIp && `${connection.targetIp}:${connection.targetPort}`],
      ]), h('div', { class: 'actions' }, connection.connected && actionButton('Disconnect…', disconnect, { out, testid: 'disconnect', kind: 'danger' })), out),
      section('Subscriptions', table([['Topic filter', (s) => s.topicFilter], ['QoS', (s) => s.qos]], subs.subscriptions || [], 'connection-subscriptions')),
    );
  });
}
