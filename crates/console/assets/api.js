// The API client: every call is signed with the keys typed at sign-in and sent to the page's own
// origin, where Roost serves the AWS IoT API. Keys live in this tab's sessionStorage only.

import { canonicalQuery, signHeaders, uriEncode } from './sigv4.js';

const STORAGE_KEY = 'roost.console.credentials';

/** `{accessKeyId, secretAccessKey, region}` of this tab, or null when signed out. */
export function credentials() {
  try {
    return JSON.parse(sessionStorage.getItem(STORAGE_KEY));
  } catch {
    return null;
  }
}

export function saveCredentials(value) {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(value));
}

export function clearCredentials() {
  sessionStorage.removeItem(STORAGE_KEY);
}

/** A failed call, as AWS reports it: the error type (x-amzn-ErrorType) and message. */
export class ApiError extends Error {
  constructor(type, message, status) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

/** A path from a template whose interpolations are path segments, each encoded once:
 * p`/things/${name}/principals`. */
export function p(strings, ...segments) {
  return strings.reduce((out, s, i) => out + s + (i < segments.length ? uriEncode(String(segments[i])) : ''), '');
}

/**
 * Calls the API: `service` is the signing name (`iot` for the control plane, `iotdata` for
 * iot-data), `query` an object whose undefined/empty values are left out, `body` an object sent
 * as JSON. Resolves to the parsed JSON answer ({} when empty); rejects with an ApiError.
 */
export async function call(service, method, path, { query = {}, body, headers = {} } = {}) {
  const creds = credentials();
  if (!creds) throw new ApiError('NotSignedIn', 'Sign in first.', 0);
  const params = Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== '');
  const queryString = canonicalQuery(params);
  const text = body === undefined ? '' : JSON.stringify(body);
  const sendHeaders = { ...headers };
  if (body !== undefined) sendHeaders['content-type'] = 'application/json';
  const signed = signHeaders({
    method,
    host: location.host,
    path,
    query: queryString,
    headers: headers,
    body: text,
    service,
    region: creds.region,
    credentials: creds,
  });
  let response;
  try {
    response = await fetch(path + (queryString ? `?${queryString}` : ''), {
      method,
      headers: { ...sendHeaders, ...signed },
      body: body === undefined ? undefined : text,
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (error) {
    throw new ApiError('NetworkError', `The server did not answer: ${error.message}`, 0);
  }
  const answer = await response.text();
  let json = {};
  if (answer) {
    try {
      json = JSON.parse(answer);
    } catch {
      json = { message: answer };
    }
  }
  if (!response.ok) {
    // botocore reads the type from the header, up to a colon, and the message from the body.
    const header = response.headers.get('x-amzn-ErrorType');
    const type = (header || json.__type || json.code || `HTTP ${response.status}`).split(':')[0];
    throw new ApiError(type, json.message || json.Message || response.statusText, response.status);
  }
  return json;
}

/** A control-plane call (signed for `iot`). */
export const iot = (method, path, options) => call('iot', method, path, options);
/** An iot-data call (signed for `iotdata`). */
export const data = (method, path, options) => call('iotdata', method, path, options);
