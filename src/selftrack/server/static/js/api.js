// The REST API, as the pages use it (and nothing else): JSON calls, streamed uploads, server-sent events.

export class ApiError extends Error {
  constructor(status, detail) {
    const message = typeof detail === "string" ? detail : detail?.message || JSON.stringify(detail);
    super(message);
    this.status = status;
    this.errors = (detail && detail.errors) || [];
  }
}

export async function api(path, { method = "GET", body, signal } = {}) {
  const opts = { method, headers: {}, signal, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(`/api${path}`, opts);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "the server cannot be reached; is `selftrack serve` still running?");
  }
  if (r.status === 401) {
    window.location.reload(); // the sign-in page
    throw new ApiError(401, "signed out");
  }
  const type = r.headers.get("content-type") || "";
  const data = type.includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new ApiError(r.status, data && data.detail !== undefined ? data.detail : data);
  return data;
}

export const get = (path, opts) => api(path, opts);
export const post = (path, body) => api(path, { method: "POST", body: body ?? {} });
export const patch = (path, body) => api(path, { method: "PATCH", body });
export const del = (path) => api(path, { method: "DELETE" });

export const enc = encodeURIComponent;
export const dsPath = (name) => `/datasets/${enc(name)}`;
export const itemPath = (name, key) => `/datasets/${enc(name)}/items/${enc(key)}`;

// Upload one file as the raw request body (streamed to disk by the server); XHR for the upload progress.
export function upload(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", `/api/uploads?filename=${enc(file.name)}`);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress && onProgress(e.loaded, e.total);
    xhr.onload = () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { data = { detail: xhr.responseText }; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(new ApiError(xhr.status, data.detail ?? `upload failed (${xhr.status})`));
    };
    xhr.onerror = () => reject(new ApiError(0, `the upload of ${file.name} was interrupted`));
    xhr.send(file);
  });
}

// Server-sent events: `handlers` maps event names to callbacks; returns a function that closes the stream.
export function stream(path, handlers) {
  const es = new EventSource(`/api${path}`);
  for (const [name, fn] of Object.entries(handlers)) {
    es.addEventListener(name, (e) => fn(JSON.parse(e.data)));
  }
  return () => es.close();
}

// Follow a job until it finishes; resolves with the final job row.
export function followJob(jobId, onUpdate) {
  return new Promise((resolve) => {
    let close = null;
    const done = (job) => {
      onUpdate && onUpdate(job);
      if (job && !["queued", "running"].includes(job.state)) { close && close(); resolve(job); }
    };
    close = stream(`/jobs/${jobId}/stream`, {
      snapshot: (d) => done(d.job),
      job: (d) => done(d.job),
    });
  });
}
