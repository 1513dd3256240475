// The REST API, with the session cookie and Django's CSRF token.

const CSRF_META = document.querySelector('meta[name="csrf-token"]');

export function csrfToken() {
  const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  return cookie ? decodeURIComponent(cookie.slice("csrftoken=".length)) : CSRF_META ? CSRF_META.content : "";
}

export class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || (status === 0 ? "network" : "unknown");
    this.fields = err.fields || null;
    this.retryAfter = err.retry_after;
  }
}

// `keepalive`: the request outlives the page (a draft saved as it closes).
export async function api(method, path, body, { keepalive = false } = {}) {
  const init = {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json" },
    keepalive,
  };
  if (method !== "GET" && method !== "HEAD") init.headers["X-CSRFToken"] = csrfToken();
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/api/v1/${path}`, init);
  } catch (err) {
    throw new ApiError(0, { error: { code: "network", message: String(err) } });
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch (err) {
    data = null;
  }
  if (!response.ok) {
    // The session ended (signed out elsewhere) or the account was disabled:
    // the app goes to the sign-in page and says which.
    const code = data && data.error && data.error.code;
    if ((response.status === 401 && code === "not_authenticated") || (response.status === 403 && code === "account_disabled")) {
      window.dispatchEvent(new CustomEvent("wsc:signedout", { detail: { code } }));
    }
    throw new ApiError(response.status, data);
  }
  return data;
}

// Every page of a cursor-paged list.
export async function apiAll(path, { max = 1000 } = {}) {
  const results = [];
  let cursor = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api("GET", cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path);
    results.push(...page.results);
    cursor = page.next;
  } while (cursor && results.length < max);
  return results;
}

// Upload one file (multipart field `file`) with progress: {promise, abort}.
export function upload(file, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open("POST", "/api/v1/files");
    xhr.withCredentials = true;
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.responseType = "json";
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
    };
    xhr.onload = () => {
      if (xhr.status === 201) resolve(xhr.response);
      else reject(new ApiError(xhr.status, xhr.response));
    };
    xhr.onerror = () => reject(new ApiError(0, { error: { code: "network", message: "network error" } }));
    xhr.onabort = () => reject(new ApiError(0, { error: { code: "aborted", message: "aborted" } }));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}
