import { EnqueueFailedError, MakiniApiError, MakiniAuthError, SigningSecretUnavailableError } from '../../lambdas/core/errors';
import { isKnownEventType } from '../../lambdas/core/event-types';

describe('error classes', () => {
  it('name the retryable failures and keep their cause', () => {
    const cause = new Error('timeout');
    for (const [error, name] of [
      [new SigningSecretUnavailableError({ cause }), 'SigningSecretUnavailableError'],
      [new EnqueueFailedError({ cause }), 'EnqueueFailedError'],
    ] as const) {
      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe(name);
      expect(error.cause).toBe(cause);
    }
    expect(new SigningSecretUnavailableError().message).toBe('The signing secret is unavailable.');
    expect(new EnqueueFailedError().message).toBe('The queue did not accept the webhook.');
  });

  it('make an authorization failure a Makini API error carrying its fields', () => {
    const error = new MakiniAuthError(401, 'AUTHENTICATION_FAILED', 'authentication_error', 'Invalid token', 'req_1');
    expect(error).toBeInstanceOf(MakiniApiError);
    expect(error).toMatchObject({ name: 'MakiniAuthError', status: 401, code: 'AUTHENTICATION_FAILED', type: 'authentication_error', message: 'Invalid token', requestId: 'req_1' });
  });
});

describe('isKnownEventType', () => {
  it('knows the documented types only', () => {
    expect(isKnownEventType('sync.completed')).toBe(true);
    expect(isKnownEventType('system.error')).toBe(true);
    expect(isKnownEventType('assets.updated')).toBe(false);
  });
});
