import { IntrinsicError, resolveIntrinsics, type IntrinsicReferences } from '../../local/aws/cfn-intrinsics';

const refs: IntrinsicReferences = {
  accountId: '000000000000',
  region: 'eu-west-1',
  stackName: 'Makini',
  ref: { Topic: 'arn:aws:sns:eu-west-1:000000000000:alarms', Subnets: ['subnet-1', 'subnet-2'], Stage: 'prod' },
  getAtt: { 'Queue.Arn': 'arn:aws:sqs:eu-west-1:000000000000:q', 'Db.Endpoint.Address': 'db.local' },
  mappings: { Regions: { 'eu-west-1': { Ami: 'ami-1' } } },
};

describe('resolveIntrinsics', () => {
  it('resolves Ref to logical ids and pseudo parameters', () => {
    expect(resolveIntrinsics({ Ref: 'Topic' }, refs)).toBe('arn:aws:sns:eu-west-1:000000000000:alarms');
    expect(resolveIntrinsics(['AWS::AccountId', 'AWS::Region', 'AWS::Partition', 'AWS::URLSuffix', 'AWS::StackName'].map((Ref) => ({ Ref })), refs)).toEqual([
      '000000000000',
      'eu-west-1',
      'aws',
      'amazonaws.com',
      'Makini',
    ]);
    expect(resolveIntrinsics({ Ref: 'AWS::URLSuffix' }, { ...refs, partition: 'aws-cn' })).toBe('amazonaws.com.cn');
    expect(resolveIntrinsics({ Ref: 'AWS::NotificationARNs' }, refs)).toEqual([]);
  });

  it('accepts functions that compute references', () => {
    const computed: IntrinsicReferences = { ...refs, ref: (id) => `ref-of-${id}`, getAtt: (id, attribute) => `${attribute}-of-${id}` };
    expect(resolveIntrinsics([{ Ref: 'A' }, { 'Fn::GetAtt': ['B', 'Arn'] }, { 'Fn::Sub': '${C}/${D.Name}' }], computed)).toEqual(['ref-of-A', 'Arn-of-B', 'ref-of-C/Name-of-D']);
  });

  it('resolves Fn::GetAtt in its list and dotted forms, an attribute name keeping its dots', () => {
    expect(resolveIntrinsics({ 'Fn::GetAtt': ['Queue', 'Arn'] }, refs)).toBe('arn:aws:sqs:eu-west-1:000000000000:q');
    expect(resolveIntrinsics({ 'Fn::GetAtt': 'Db.Endpoint.Address' }, refs)).toBe('db.local');
  });

  it('resolves Fn::Join over nested intrinsics (the way CDK writes ARNs)', () => {
    const arn = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':cloudwatch:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':alarm:*']] };
    expect(resolveIntrinsics(arn, refs)).toBe('arn:aws:cloudwatch:eu-west-1:000000000000:alarm:*');
  });

  it('resolves Fn::Sub with pseudo parameters, references, attributes, its own variables and ${!Literal}', () => {
    expect(resolveIntrinsics({ 'Fn::Sub': 'cdk-assets-${AWS::AccountId}-${AWS::Region}' }, refs)).toBe('cdk-assets-000000000000-eu-west-1');
    expect(resolveIntrinsics({ 'Fn::Sub': ['${Queue.Arn}|${Name}|${Stage}|${!Literal}', { Name: { Ref: 'Stage' } }] }, refs)).toBe('arn:aws:sqs:eu-west-1:000000000000:q|prod|prod|${Literal}');
  });

  it('resolves Fn::Select, Fn::Split, Fn::Base64 and Fn::FindInMap', () => {
    expect(resolveIntrinsics({ 'Fn::Select': [1, { Ref: 'Subnets' }] }, refs)).toBe('subnet-2');
    expect(resolveIntrinsics({ 'Fn::Select': ['5', { 'Fn::Split': [':', { 'Fn::GetAtt': ['Queue', 'Arn'] }] }] }, refs)).toBe('q');
    expect(resolveIntrinsics({ 'Fn::Base64': 'hi' }, refs)).toBe('aGk=');
    expect(resolveIntrinsics({ 'Fn::FindInMap': ['Regions', { Ref: 'AWS::Region' }, 'Ami'] }, refs)).toBe('ami-1');
  });

  it('removes properties and list elements that are Ref AWS::NoValue, and leaves other values alone', () => {
    const input = { Keep: 1, Drop: { Ref: 'AWS::NoValue' }, List: ['a', { Ref: 'AWS::NoValue' }, true, null], Nested: { Fn: 'not an intrinsic', Ref: 'neither: two keys' } };
    expect(resolveIntrinsics(input, refs)).toEqual({ Keep: 1, List: ['a', true, null], Nested: { Fn: 'not an intrinsic', Ref: 'neither: two keys' } });
    expect(input.Drop).toEqual({ Ref: 'AWS::NoValue' }); // the input is not modified
  });

  it.each<[string, unknown, RegExp]>([
    ['an unknown logical id', { A: [{ Ref: 'Nope' }] }, /^\$\.A\[0\]\.Ref: nothing resolves Ref Nope$/],
    ['an unknown attribute', { 'Fn::GetAtt': ['Queue', 'Url'] }, /nothing resolves Fn::GetAtt Queue\.Url/],
    ['an unsupported function', { 'Fn::If': ['C', 'a', 'b'] }, /Fn::If is not supported/],
    ['a stack name nobody gave', { 'Fn::Sub': '${AWS::StackId}' }, /nothing resolves Ref AWS::StackId/],
    ['an index out of range', { 'Fn::Select': [2, ['a']] }, /index 2 is outside a list of 1/],
    ['a join of a non-list', { 'Fn::Join': ['', 'abc'] }, /takes \[delimiter, \[values\]\]/],
    ['a Sub of a list value', { 'Fn::Sub': '${Subnets}' }, /\$\{Subnets\} is not a string/],
    ['a missing mapping', { 'Fn::FindInMap': ['Regions', 'us-east-1', 'Ami'] }, /no mapping Regions\.us-east-1\.Ami/],
  ])('throws an IntrinsicError naming where for %s', (_, input, message) => {
    expect(() => resolveIntrinsics(input, refs)).toThrow(IntrinsicError);
    expect(() => resolveIntrinsics(input, refs)).toThrow(message);
  });
});
