import { HttpErrorResponse } from '@angular/common/http';
import { ApiError } from './api.types';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * Turns anything thrown by HttpClient into an ApiError.
 * 418 responses carry {errorCode, errorMessage}; anything else (network error,
 * proxy 502, HTML error page...) becomes a generic code with a readable message.
 */
export function toApiError(err: unknown): ApiError {
  if (err instanceof HttpErrorResponse) {
    let body: unknown = err.error;
    if (typeof body === 'string') {
      try {
        body = JSON.parse(body);
      } catch {
        /* not JSON */
      }
    }
    if (isRecord(body) && typeof body['errorCode'] === 'string') {
      const message = body['errorMessage'];
      return {
        errorCode: body['errorCode'],
        errorMessage: typeof message === 'string' && message ? message : body['errorCode'],
        httpStatus: err.status,
      };
    }
    if (err.status === 0) {
      return {
        errorCode: 'networkError',
        errorMessage: 'Cannot reach the server. Check your connection and try again.',
        httpStatus: 0,
      };
    }
    return {
      errorCode: 'httpError',
      errorMessage: `The server answered with HTTP ${err.status}${err.statusText ? ' ' + err.statusText : ''}.`,
      httpStatus: err.status,
    };
  }
  return {
    errorCode: 'unexpectedError',
    errorMessage: err instanceof Error ? err.message : 'Unexpected error.',
    httpStatus: 0,
  };
}
