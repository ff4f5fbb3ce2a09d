// Topic rules: the list, one rule's SQL and actions, and enabling or disabling it.

import { iot, p } from '../api.js';
import { actionButton, badge, facts, fill, h, heading, jsonBlock, link, loading, pagedTable, route, section, status, when } from '../ui.js';

const PAGE_SIZE = 25;

export function list(el) {
  fill(
    el,
    heading('Topic rules'),
    h('div', { class: 'card' }, pagedTable({
      testid: 'rules',
      columns: [
        ['Rule', (r) => link(route('rules', r.ruleName), r.ruleName)],
        ['Topic', (r) => h('code', {}, r.topicPattern || '')],
        ['State', (r) => badge(r.ruleDisabled ? 'DISABLED' : 'ENABLED')],
        ['Created', (r) => when(r.createdAt)],
      ],
      load: async (token) => {
        const answer = await iot('GET', '/rules', { query: { maxResults: PAGE_SIZE, nextToken: token } });
        return { items: answer.rules || [], next: answer.nextToken };
      },
    })),
  );
}

export async function detail(el, ruleName, notice) {
  const top = h('div');
  fill(el, heading(ruleName), top);
  await loading(top, () => iot('GET', p`/rules/${ruleName}`), ({ ruleArn, rule }) => {
    const out = status();
    if (notice) out.ok(notice);
    const toggle = async () => {
      await iot('POST', p`/rules/${ruleName}/${rule.ruleDisabled ? 'enable' : 'disable'}`);
      await detail(el, ruleName, rule.ruleDisabled ? 'Rule enabled.' : 'Rule disabled.');
    };
    return h(
      'div',
      { testid: 'rule-detail' },
      section('Rule', facts([
        ['Name', rule.ruleName],
        ['ARN', h('code', {}, ruleArn)],
        ['State', h('span', { testid: 'rule-state' }, badge(rule.ruleDisabled ? 'DISABLED' : 'ENABLED'))],
        ['Description', rule.description],
        ['SQL version', rule.awsIotSqlVersion],
        ['Created', when(rule.createdAt)],
      ]), h('div', { class: 'actions' }, actionButton(rule.ruleDisabled ? 'Enable' : 'Disable', toggle, { out, testid: 'rule-toggle' })), out),
      section('SQL', h('pre', { class: 'json', testid: 'rule-sql' }, rule.sql)),
      section('Actions', jsonBlock(rule.actions || [])),
      rule.errorAction && section('Error action', jsonBlock(rule.errorAction)),
    );
  });
}
