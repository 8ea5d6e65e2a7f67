// The JSON API. A 401 anywhere means the session is gone: back to the login page.

/** An API error with the server's stable code. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** Leaves for the login page (replacing this page in history, so Back does not return to a dead page). */
export function goToLogin() {
  if (!location.pathname.endsWith('/login.html')) location.replace('/login.html');
}

/** Calls the API; resolves with the JSON body (null for 204), rejects with an {@link ApiError}. */
export async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
  });
  if (response.status === 401) {
    goToLogin();
    throw new ApiError(401, 'AUTH_REQUIRED', 'not logged in');
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, data.code || 'HTTP_ERROR', data.message || `${response.status} ${response.statusText}`);
  return data;
}

/** The API path of one camera's controls; the plain paths act on the first camera. */
export function cameraApi(camera) {
  return camera ? `/api/cameras/${encodeURIComponent(camera)}` : '/api';
}

/** The live H.264 stream of a camera. */
export function streamMp4(camera) {
  return camera ? `/cameras/${encodeURIComponent(camera)}/stream.mp4` : '/stream.mp4';
}
