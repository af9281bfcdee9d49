/**
 * Every error the receiver answers with, and the error classes of the domain.
 *
 * Clients get `{"error": {"code", "type", "message", "requestId"}}`; the code says what to do.
 */

export const ERROR_CODES = {
  MISSING_SIGNATURE: { status: 401, type: 'authentication_error', message: 'The request carries no signature.' },
  INVALID_SIGNATURE: { status: 401, type: 'authentication_error', message: 'The signature does not match the payload.' },
  TIMESTAMP_OUT_OF_TOLERANCE: { status: 401, type: 'authentication_error', message: 'The signed timestamp is too old or too far in the future.' },
  FORBIDDEN_SOURCE: { status: 403, type: 'permission_error', message: 'Webhooks are not accepted from this source address.' },
  INVALID_CONNECTION_ID: { status: 400, type: 'invalid_request_error', message: 'The connection in the URL path is not a valid connection id.' },
  EMPTY_BODY: { status: 400, type: 'invalid_request_error', message: 'The request body is empty.' },
  PAYLOAD_TOO_LARGE: { status: 413, type: 'invalid_request_error', message: 'The request body exceeds the size limit.' },
  METHOD_NOT_ALLOWED: { status: 405, type: 'invalid_request_error', message: 'Only POST is accepted.' },
  SERVICE_UNAVAILABLE: { status: 503, type: 'api_error', message: 'The webhook could not be stored; retry later.' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** A request the receiver refuses. `message` is safe to return to the sender and to log. */
export class WebhookRejectedError extends Error {
  public readonly code: ErrorCode;
  public readonly status: number;
  public readonly type: string;
  constructor(code: ErrorCode, message: string = ERROR_CODES[code].message) {
    super(message);
    this.name = 'WebhookRejectedError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.type = ERROR_CODES[code].type;
  }
}

/** The signing secret could not be fetched. Retryable: the sender should try again later. */
export class SigningSecretUnavailableError extends Error {
  constructor(options?: { cause?: unknown }) {
    super('The signing secret is unavailable.', options);
    this.name = 'SigningSecretUnavailableError';
  }
}

/** The stored signing secret value is unusable (empty, or a JSON shape we do not know). */
export class InvalidSigningSecretError extends Error {
  constructor(reason: string) {
    super(`The signing secret value is invalid: ${reason}`);
    this.name = 'InvalidSigningSecretError';
  }
}

/** The queue did not accept a message. Retryable. */
export class EnqueueFailedError extends Error {
  constructor(options?: { cause?: unknown }) {
    super('The queue did not accept the webhook.', options);
    this.name = 'EnqueueFailedError';
  }
}

/** A structured Makini API error: `{"error": {"code", "type", "message", "request_id"}}`. Never carries the token. */
export class MakiniApiError extends Error {
  constructor(
    public readonly status: number,
    public readonly code: string,
    public readonly type: string,
    message: string,
    public readonly requestId?: string,
  ) {
    super(message);
    this.name = 'MakiniApiError';
  }
}

/** 401/403: the token is invalid or the connection needs reauthorization. A finding, not a fault. */
export class MakiniAuthError extends MakiniApiError {
  constructor(status: number, code: string, type: string, message: string, requestId?: string) {
    super(status, code, type, message, requestId);
    this.name = 'MakiniAuthError';
  }
}

/** Makini stayed unavailable (5xx, 429 or timeouts) through every attempt. */
export class MakiniUnavailableError extends Error {
  constructor(
    message: string,
    public readonly requestId?: string,
  ) {
    super(message);
    this.name = 'MakiniUnavailableError';
  }
}

/** A poll shard message that is not what the poller's coordinator sends. Not retryable. */
export class InvalidPollShardError extends Error {
  constructor(message: string) {
    super(`Invalid poll shard: ${message}`);
    this.name = 'InvalidPollShardError';
  }
}
