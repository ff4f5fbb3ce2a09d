// Things, thing types and thing groups: the registry as ListThings, DescribeThing and friends
// return it, plus each thing's shadows from iot-data.

import { ApiError, data, iot, p } from '../api.js';
import { errorBox, facts, field, fill, h, heading, jsonBlock, link, loading, pagedTable, route, section, table, when } from '../ui.js';

const PAGE_SIZE = 25;

/** Things, 25 a page. The type and attribute filters are the API's (ListThings parameters);
 * the name filter narrows what has been loaded, as ListThings has no name search. */
export function list(el) {
  const name = h('input', { type: 'search', testid: 'filter-name', placeholder: 'part of a name' });
  const type = h('input', { testid: 'filter-type', placeholder: 'thing type' });
  const attrName = h('input', { testid: 'filter-attribute-name', placeholder: 'attribute name' });
  const attrValue = h('input', { testid: 'filter-attribute-value', placeholder: 'value (prefix)' });
  const things = pagedTable({
    testid: 'things',
    columns: [
      ['Name', (t) => link(route('things', t.thingName), t.thingName, { class: 'thing-link' })],
      ['Type', (t) => t.thingTypeName || ''],
      ['Attributes', (t) => Object.entries(t.attributes || {}).map(([k, v]) => `${k}=${v}`).join(', ')],
    ],
    load: async (token) => {
      const answer = await iot('GET', '/things', {
        query: {
          maxResults: PAGE_SIZE,
          nextToken: token,
          thingTypeName: type.value.trim(),
          attributeName: attrName.value.trim(),
          attributeValue: attrName.value.trim() ? attrValue.value.trim() : '',
          usePrefixAttributeValue: attrName.value.trim() && attrValue.value.trim() ? 'true' : '',
        },
      });
      return { items: answer.things || [], next: answer.nextToken };
    },
    filter: (t) => t.thingName.toLowerCase().includes(name.value.trim().toLowerCase()),
  });
  name.addEventListener('input', () => things.refilter());
  const search = h(
    'form',
    { class: 'card', testid: 'things-search' },
    h('div', { class: 'row' }, field('Name contains', name), field('Thing type', type), field('Attribute', attrName), field('Attribute value', attrValue),
      h('button', { type: 'submit', class: 'primary', testid: 'things-search-submit' }, 'Search')),
  );
  search.addEventListener('submit', (event) => {
    event.preventDefault();
    things.reload();
  });
  fill(el, heading('Things'), search, h('div', { class: 'card' }, things));
}

export async function detail(el, thingName) {
  const top = h('div');
  fill(el, heading(thingName), top);
  await loading(top, () => iot('GET', p`/things/${thingName}`), (thing) => {
    const principals = h('div');
    const groups = h('div');
    const shadows = h('div', { testid: 'shadows' });
    loading(principals, () => iot('GET', p`/things/${thingName}/principals`, { query: { maxResults: 100 } }), (answer) =>
      table([['Principal', (arn) => principalLink(arn)]], answer.principals || [], 'thing-principals'),
    );
    loading(groups, () => iot('GET', p`/things/${thingName}/thing-groups`, { query: { maxResults: 100 } }), (answer) =>
      table([['Thing group', (g) => link(route('thing-groups', g.groupName), g.groupName)]], answer.thingGroups || [], 'thing-groups'),
    );
    showShadows(shadows, thingName);
    return h(
      'div',
      { testid: 'thing-detail' },
      section(
        'Thing',
        facts([
          ['Name', thing.thingName],
          ['ARN', h('code', {}, thing.thingArn)],
          ['ID', thing.thingId],
          ['Type', thing.thingTypeName ? link(route('thing-types', thing.thingTypeName), thing.thingTypeName) : 'none'],
          ['Billing group', thing.billingGroupName || 'none'],
          ['Version', thing.version],
          ['Default client ID', thing.defaultClientId],
        ], 'thing-facts'),
      ),
      section('Attributes', table([['Name', ([k]) => k], ['Value', ([, v]) => v]], Object.entries(thing.attributes || {}), 'thing-attributes')),
      h('div', { class: 'grid' }, section('Principals', principals), section('Groups', groups)),
      section('Shadows', shadows),
    );
  });
}

/** A certificate ARN links to its page; other principals are shown as they are. */
function principalLink(arn) {
  const cert = /:cert\/([0-9a-f]+)$/.exec(arn);
  return cert ? link(route('certificates', cert[1]), arn, { class: 'principal-link' }) : h('code', {}, arn);
}

/** The classic shadow and every named shadow, each as its JSON document. */
async function showShadows(el, thingName) {
  fill(el, h('p', { class: 'muted' }, 'Loading…'));
  const shown = [];
  const shadow = async (label, name) => {
    try {
      const doc = await data('GET', p`/things/${thingName}/shadow`, { query: { name } });
      shown.push(h('div', { class: 'shadow' }, h('h3', {}, label), jsonBlock(doc, 'shadow-document')));
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) shown.push(h('h3', {}, label), errorBox(error));
    }
  };
  try {
    await shadow('Classic shadow');
    let token;
    do {
      const page = await data('GET', p`/api/things/shadow/ListNamedShadowsForThing/${thingName}`, { query: { nextToken: token, pageSize: 100 } });
      for (const name of page.results || []) await shadow(`Named shadow "${name}"`, name);
      token = page.nextToken;
    } while (token);
    fill(el, shown.length ? shown : h('p', { class: 'muted' }, 'This thing has no shadow.'));
  } catch (error) {
    fill(el, shown, errorBox(error));
  }
}

export function typeList(el) {
  fill(
    el,
    heading('Thing types'),
    h('div', { class: 'card' }, pagedTable({
      testid: 'thing-types',
      columns: [
        ['Name', (t) => link(route('thing-types', t.thingTypeName), t.thingTypeName)],
        ['Description', (t) => t.thingTypeProperties?.thingTypeDescription || ''],
        ['Deprecated', (t) => (t.thingTypeMetadata?.deprecated ? 'yes' : 'no')],
        ['Created', (t) => when(t.thingTypeMetadata?.creationDate)],
      ],
      load: async (token) => {
        const answer = await iot('GET', '/thing-types', { query: { maxResults: PAGE_SIZE, nextToken: token } });
        return { items: answer.thingTypes || [], next: answer.nextToken };
      },
    })),
  );
}

export async function typeDetail(el, typeName) {
  const top = h('div');
  fill(el, heading(typeName), top);
  await loading(top, () => iot('GET', p`/thing-types/${typeName}`), (type) =>
    h(
      'div',
      {},
      section('Thing type', facts([
        ['Name', type.thingTypeName],
        ['ARN', h('code', {}, type.thingTypeArn)],
        ['Description', type.thingTypeProperties?.thingTypeDescription],
        ['Searchable attributes', (type.thingTypeProperties?.searchableAttributes || []).join(', ')],
        ['Deprecated', type.thingTypeMetadata?.deprecated ? `since ${when(type.thingTypeMetadata.deprecationDate)}` : 'no'],
        ['Created', when(type.thingTypeMetadata?.creationDate)],
      ])),
      section('Things of this type', thingsOf((token) => iot('GET', '/things', { query: { thingTypeName: typeName, maxResults: PAGE_SIZE, nextToken: token } }), (t) => t.thingName)),
    ),
  );
}

export function groupList(el) {
  fill(
    el,
    heading('Thing groups'),
    h('div', { class: 'card' }, pagedTable({
      testid: 'thing-groups',
      columns: [['Name', (g) => link(route('thing-groups', g.groupName), g.groupName)], ['ARN', (g) => h('code', {}, g.groupArn)]],
      load: async (token) => {
        const answer = await iot('GET', '/thing-groups', { query: { maxResults: PAGE_SIZE, nextToken: token } });
        return { items: answer.thingGroups || [], next: answer.nextToken };
      },
    })),
  );
}

export async function groupDetail(el, groupName) {
  const top = h('div');
  fill(el, heading(groupName), top);
  await loading(top, () => iot('GET', p`/thing-groups/${groupName}`), (group) => {
    const meta = group.thingGroupMetadata || {};
    const props = group.thingGroupProperties || {};
    return h(
      'div',
      {},
      section('Thing group', facts([
        ['Name', group.thingGroupName],
        ['ARN', h('code', {}, group.thingGroupArn)],
        ['Description', props.thingGroupDescription],
        ['Parent', meta.parentGroupName && link(route('thing-groups', meta.parentGroupName), meta.parentGroupName)],
        ['Created', when(meta.creationDate)],
        ['Version', group.version],
      ])),
      props.attributePayload?.attributes && section('Attributes', jsonBlock(props.attributePayload.attributes)),
      section('Things in this group', thingsOf((token) => iot('GET', p`/thing-groups/${groupName}/things`, { query: { maxResults: PAGE_SIZE, nextToken: token } }), (name) => name)),
    );
  });
}

/** A paged list of thing names from `call(token)` (an answer with `things`). */
function thingsOf(call, nameOf) {
  return pagedTable({
    testid: 'member-things',
    columns: [['Thing', (t) => link(route('things', nameOf(t)), nameOf(t))]],
    load: async (token) => {
      const answer = await call(token);
      return { items: answer.things || [], next: answer.nextToken };
    },
  });
}

