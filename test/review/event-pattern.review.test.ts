/**
 * Review (issue 15): EventBridge content filtering and input transformers the local bus gets wrong.
 * Each expectation is AWS's documented behaviour (EventBridge User Guide, "Content filtering in
 * Amazon EventBridge event patterns" and "Amazon EventBridge input transformation").
 */
import { matchesEventPattern, transformInput } from '../../local/aws/event-pattern';

const event = {
  version: '0',
  id: 'e-1',
  'detail-type': 'connection.changed',
  source: 'makini.webhooks',
  account: '000000000000',
  time: '2026-12-02T00:00:00Z',
  region: 'us-east-1',
  resources: ['arn:aws:events:us-east-1:000000000000:rule/r'],
  detail: { file: 'REPORT.PNG', status: 'active', ids: ['a1', 'b2'] },
};

describe('review: event patterns', () => {
  // "Suffix matching while ignoring case": {"suffix": {"equals-ignore-case": ".png"}}
  it('suffix with equals-ignore-case matches case-insensitively', () => {
    expect(matchesEventPattern({ detail: { file: [{ suffix: { 'equals-ignore-case': '.png' } }] } }, event)).toBe(true);
  });

  // "Or matching": {"$or": [ {...}, {...} ]} matches when any sub-pattern matches.
  it('$or matches when one of its sub-patterns matches (or is refused, never silently false)', () => {
    const pattern = { source: ['makini.webhooks'], $or: [{ detail: { status: ['suspended'] } }, { detail: { status: ['active'] } }] };
    let matched: boolean | 'refused';
    try {
      matched = matchesEventPattern(pattern, event);
    } catch {
      matched = 'refused';
    }
    expect(matched).toBe(true);
  });

  // "Anything-but matching ... ignoring case": {"anything-but": {"equals-ignore-case": ["ACTIVE", "x"]}}
  it('anything-but with an equals-ignore-case list excludes any listed value', () => {
    expect(matchesEventPattern({ detail: { status: [{ 'anything-but': { 'equals-ignore-case': ['ACTIVE', 'Suspended'] } }] } }, event)).toBe(false);
  });
});

describe('review: input transformers', () => {
  // Reserved variables: <aws.events.rule-arn>, <aws.events.rule-name>, <aws.events.event>,
  // <aws.events.event.json>, <aws.events.event.ingestion-time>. The local transformer has no rule
  // to take them from and leaves the placeholder in the output verbatim.
  it('<aws.events.event.json> is replaced by the event (never left in the output as text)', () => {
    const out = transformInput(event, { InputTemplate: '{"original": <aws.events.event.json>}' });
    expect(out).not.toContain('<aws.events.event.json>');
    expect(JSON.parse(out)).toEqual({ original: event });
  });

  // InputPathsMap values are JSON paths; an array index ($.detail.ids[0]) is a JSON path EventBridge accepts.
  it('an InputPathsMap path with an array index selects the element', () => {
    const out = transformInput(event, { InputPathsMap: { first: '$.detail.ids[0]' }, InputTemplate: '{"first": <first>}' });
    expect(JSON.parse(out)).toEqual({ first: 'a1' });
  });
});
