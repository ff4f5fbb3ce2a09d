// The MQTT test client: MQTT.js over Roost's signed WebSocket (`/mqtt`, presigned with SigV4
// for `iotdevicegateway`). The connection outlives the page: leaving and coming back shows the
// same session, and signing out ends it.

import { credentials } from '../api.js';
import { presignPath } from '../sigv4.js';
import { actionButton, checkbox, field, fill, h, heading, section, status } from '../ui.js';

const MAX_MESSAGES = 200;

// The one session of this tab, and the page that shows it (if open).
const session = {
  client: null,
  state: 'disconnected',
  detail: '',
  subscriptions: [],
  messages: [],
  render: null,
};

const notify = () => session.render?.();

/** Loads the vendored MQTT.js once (a classic script defining the global `mqtt`). */
let loadingMqtt;
function loadMqtt() {
  loadingMqtt ||= new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = 'vendor/mqtt.min.js';
    script.onload = () => resolve(window.mqtt);
    script.onerror = () => reject(new Error('could not load vendor/mqtt.min.js'));
    document.head.append(script);
  });
  return loadingMqtt;
}

/** `ws(s)://host/mqtt?X-Amz-…`, signed now: a presigned URL expires, so each connect signs anew. */
function presignedUrl() {
  const creds = credentials();
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const path = presignPath({ host: location.host, path: '/mqtt', service: 'iotdevicegateway', region: creds.region, credentials: creds });
  return `${scheme}://${location.host}${path}`;
}

async function connect(clientId, protocolVersion) {
  disconnect();
  const mqtt = await loadMqtt();
  session.state = 'connecting';
  session.detail = '';
  session.subscriptions = [];
  notify();
  const client = mqtt.connect(presignedUrl(), {
    protocolVersion,
    clientId,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 30000,
    // MQTT.js's default timers run in a Worker made from a blob: URL, which the console's
    // Content-Security-Policy (script-src 'self') forbids; the page's own timers do.
    timerVariant: 'native',
    transformWsUrl: () => presignedUrl(),
  });
  session.client = client;
  const mine = (handler) => (...args) => session.client === client && handler(...args);
  client.on('connect', mine(() => {
    session.state = 'connected';
    session.detail = `as ${clientId}, MQTT ${protocolVersion === 5 ? '5.0' : '3.1.1'}`;
    notify();
  }));
  client.on('message', mine((topic, payload, packet) => {
    session.messages.unshift({ topic, payload: new TextDecoder().decode(payload), qos: packet.qos, retain: packet.retain, properties: packet.properties, at: new Date() });
    session.messages.length = Math.min(session.messages.length, MAX_MESSAGES);
    notify();
  }));
  client.on('error', mine((error) => {
    session.detail = error.message;
    notify();
  }));
  client.on('close', mine(() => {
    if (session.state === 'connecting') {
      session.detail ||= 'the WebSocket closed before MQTT connected (a refused signature is answered 403)';
    }
    session.state = 'disconnected';
    notify();
  }));
}

/** Ends the session's connection, if any (also called on sign-out). */
export function disconnect() {
  if (session.client) {
    session.client.end(true);
    session.client = null;
  }
  session.state = 'disconnected';
  session.subscriptions = [];
  notify();
}

function subscribe(filter, qos) {
  return new Promise((resolve, reject) => {
    if (session.state !== 'connected') return reject(new Error('Connect first.'));
    session.client.subscribe(filter, { qos }, (error, granted) => {
      if (error) return reject(error);
      const refused = granted.find((g) => g.qos >= 0x80);
      if (refused) return reject(Object.assign(new Error(`The broker refused ${filter} (reason code 0x${refused.qos.toString(16)}).`), { type: 'SubscribeRefused' }));
      session.subscriptions = session.subscriptions.filter((s) => s.filter !== filter).concat({ filter, qos: granted[0].qos });
      notify();
      resolve();
    });
  });
}

function unsubscribe(filter) {
  session.client?.unsubscribe(filter);
  session.subscriptions = session.subscriptions.filter((s) => s.filter !== filter);
  notify();
}

function publish(topic, payload, options) {
  return new Promise((resolve, reject) => {
    if (session.state !== 'connected') return reject(new Error('Connect first.'));
    session.client.publish(topic, payload, options, (error) => (error ? reject(error) : resolve()));
  });
}

/** `key=value` lines → MQTT 5 user properties ({key: value} or {key: [v1, v2]}). */
function userProperties(text) {
  const props = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const at = line.indexOf('=');
    if (at < 1) throw Object.assign(new Error(`A user property is key=value: "${line}"`), { type: 'InvalidInput' });
    const [key, value] = [line.slice(0, at).trim(), line.slice(at + 1).trim()];
    props[key] = key in props ? [].concat(props[key], value) : value;
  }
  return props;
}

const qosSelect = (testid) => h('select', { testid }, [0, 1].map((q) => h('option', { value: q }, `QoS ${q}`)));

export function page(el) {
  // Connection
  const clientId = h('input', { testid: 'mqtt-client-id', value: `roost-console-${Math.random().toString(36).slice(2, 8)}`, spellcheck: 'false' });
  const version = h('select', { testid: 'mqtt-protocol' }, h('option', { value: '5' }, 'MQTT 5.0'), h('option', { value: '4' }, 'MQTT 3.1.1'));
  const state = h('div', { testid: 'mqtt-state' });
  const connectButton = h('button', { type: 'button', class: 'primary', testid: 'mqtt-connect', onclick: () => connect(clientId.value.trim(), Number(version.value)) }, 'Connect');
  const disconnectButton = h('button', { type: 'button', testid: 'mqtt-disconnect', onclick: disconnect }, 'Disconnect');

  // Subscriptions
  const filter = h('input', { testid: 'mqtt-filter', placeholder: 'sensors/+/temperature', spellcheck: 'false' });
  const subQos = qosSelect('mqtt-subscribe-qos');
  const subOut = status('mqtt-subscribe-status');
  const chips = h('div', { class: 'chips', testid: 'mqtt-subscriptions' });

  // Publish
  const topic = h('input', { testid: 'mqtt-topic', spellcheck: 'false' });
  const payload = h('textarea', { testid: 'mqtt-payload', rows: 4, spellcheck: 'false' });
  const pubQos = qosSelect('mqtt-publish-qos');
  const retain = checkbox('Retain', { testid: 'mqtt-retain' });
  const contentType = h('input', { testid: 'mqtt-content-type', placeholder: 'application/json' });
  const responseTopic = h('input', { testid: 'mqtt-response-topic', spellcheck: 'false' });
  const correlation = h('input', { testid: 'mqtt-correlation-data', spellcheck: 'false' });
  const expiry = h('input', { testid: 'mqtt-message-expiry', type: 'number', min: 0 });
  const userProps = h('textarea', { testid: 'mqtt-user-properties', rows: 2, spellcheck: 'false', placeholder: 'key=value, one a line' });
  const v5Only = h('fieldset', { class: 'form' }, h('legend', {}, 'MQTT 5 properties'),
    h('div', { class: 'row' }, field('Content type', contentType), field('Response topic', responseTopic)),
    h('div', { class: 'row' }, field('Correlation data', correlation), field('Message expiry (s)', expiry)),
    field('User properties', userProps));
  const pubOut = status('mqtt-publish-status');

  const messages = h('div', { class: 'messages', testid: 'mqtt-messages' });

  const doPublish = async () => {
    const options = { qos: Number(pubQos.value), retain: retain.input.checked };
    if (session.client?.options.protocolVersion === 5) {
      const properties = {};
      if (contentType.value.trim()) properties.contentType = contentType.value.trim();
      if (responseTopic.value.trim()) properties.responseTopic = responseTopic.value.trim();
      if (correlation.value) properties.correlationData = new TextEncoder().encode(correlation.value);
      if (expiry.value) properties.messageExpiryInterval = Number(expiry.value);
      const user = userProperties(userProps.value);
      if (Object.keys(user).length) properties.userProperties = user;
      options.properties = properties;
    }
    await publish(topic.value.trim(), payload.value, options);
    pubOut.ok(`Published to ${topic.value.trim()}.`);
  };

  session.render = () => {
    if (!el.isConnected) {
      session.render = null;
      return;
    }
    fill(state, h('span', { class: `state-${session.state}`, testid: 'mqtt-state-word' }, session.state), session.detail && ` — ${session.detail}`);
    connectButton.disabled = session.state !== 'disconnected';
    disconnectButton.disabled = session.state === 'disconnected';
    v5Only.hidden = session.client ? session.client.options.protocolVersion !== 5 : version.value !== '5';
    fill(chips, session.subscriptions.map((s) =>
      h('span', { class: 'chip', testid: 'mqtt-subscription' }, `${s.filter} (QoS ${s.qos})`,
        h('button', { type: 'button', title: 'Unsubscribe', onclick: () => unsubscribe(s.filter) }, '×'))));
    fill(messages, session.messages.length ? session.messages.map(renderMessage) : h('p', { class: 'muted' }, 'No message yet.'));
  };
  version.addEventListener('change', notify);

  fill(
    el,
    heading('MQTT test client'),
    section('Connection', h('div', { class: 'form' },
      h('div', { class: 'row' }, field('Client ID', clientId), field('Protocol', version)),
      h('div', { class: 'actions' }, connectButton, disconnectButton), state,
      h('p', { class: 'muted' }, `Over ${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/mqtt, signed with your keys (SigV4, service iotdevicegateway).`))),
    h('div', { class: 'grid' },
      section('Subscribe', h('div', { class: 'form' },
        h('div', { class: 'row' }, field('Topic filter', filter), field('QoS', subQos)),
        h('div', { class: 'actions' }, actionButton('Subscribe', () => subscribe(filter.value.trim(), Number(subQos.value)), { out: subOut, testid: 'mqtt-subscribe', kind: 'primary' })),
        subOut, chips)),
      section('Publish', h('div', { class: 'form' },
        field('Topic', topic), field('Payload', payload),
        h('div', { class: 'row' }, field('QoS', pubQos), retain),
        v5Only,
        h('div', { class: 'actions' }, actionButton('Publish', doPublish, { out: pubOut, testid: 'mqtt-publish', kind: 'primary' })),
        pubOut))),
    section('Messages', h('div', { class: 'actions' }, h('button', { type: 'button', testid: 'mqtt-clear', onclick: () => { session.messages = []; notify(); } }, 'Clear')), messages),
  );
  notify();
}

function renderMessage(m) {
  const props = Object.entries(m.properties || {}).map(([name, value]) => {
    const shown = value instanceof Uint8Array ? new TextDecoder().decode(value) : typeof value === 'object' ? JSON.stringify(value) : value;
    return `${name}: ${shown}`;
  });
  return h(
    'div',
    { class: 'message', testid: 'mqtt-message' },
    h('div', { class: 'topic', testid: 'mqtt-message-topic' }, m.topic),
    h('div', { class: 'meta' }, [`QoS ${m.qos}`, m.retain && 'retained', m.at.toLocaleTimeString(), ...props].filter(Boolean).join(' · ')),
    h('pre', { testid: 'mqtt-message-payload' }, m.payload),
  );
}
