/**
 * Review (issue 15): the IAM actions the local endpoints check per call. A call that maps to no
 * check is allowed for any role (fail open). DynamoDB authorizes TransactWriteItems with the item
 * actions of each table it touches ("Using IAM policies with DynamoDB transactions": "you need
 * permissions for dynamodb:PutItem / UpdateItem / DeleteItem / ConditionCheckItem"), and
 * TransactGetItems with dynamodb:GetItem; a role without them is denied.
 */
import { CALL_CHECKS } from '../../local/aws/authorization';

const tableArn = (t: string) => `arn:aws:dynamodb:us-east-1:000000000000:table/${t}`;

describe('review: DynamoDB transactions are authorized', () => {
  it('TransactWriteItems yields a check per item, on its table', () => {
    const checks = CALL_CHECKS.dynamodb(
      'TransactWriteItems',
      { TransactItems: [{ Put: { TableName: 'T', Item: {} } }, { Update: { TableName: 'U', Key: {}, UpdateExpression: 'SET a = :a' } }] },
      tableArn,
    );
    expect(checks).toEqual(
      expect.arrayContaining([
        { action: 'dynamodb:PutItem', resource: tableArn('T') },
        { action: 'dynamodb:UpdateItem', resource: tableArn('U') },
      ]),
    );
  });

  it('TransactGetItems is not a call without checks', () => {
    expect(CALL_CHECKS.dynamodb('TransactGetItems', { TransactItems: [{ Get: { TableName: 'T', Key: {} } }] }, tableArn)).not.toEqual([]);
  });
});
