// The page's one way to the HTTP API: JSON in and out, every failure an ApiError with a
// readable message (and the API's 422 details, which errors.js puts in plain words).

export class ApiError extends Error {
  constructor(status, message, details = []) { super(message); this.status = status; this.details = details; }
}

/** fetch() wrapper: JSON in and out; every failure becomes an ApiError with a readable text. */
export async function api(path, body, signal) {
  let r;
  try {
    r = await fetch(path, body === undefined ? { signal } : {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, `Cannot reach the imaging-hub server at ${location.origin} (${e.message}). `
      + "Check that `ihub serve` is running, then retry.");
  }
  let data = null;
  try { data = await r.json(); } catch { /* not JSON: reported below */ }
  if (!r.ok) {
    throw new ApiError(r.status, data?.message || `the server answered HTTP ${r.status} ${r.statusText}`.trim(),
      data?.details || []);
  }
  if (data === null) throw new ApiError(r.status, "The server's answer was not JSON.");
  return data;
}
