// The server's patient API. A network failure returns status 0 instead of throwing.
export async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, {
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      ...options,
    });
  } catch {
    return { status: 0, body: null };
  }
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  return { status: response.status, body };
}

export const getJson = (path) => api(path);
export const sendJson = (path, method, body) => api(path, { method, body: JSON.stringify(body) });
