// Test doubles for oidcsession.test.js: what Node lacks (Web Locks) and
// what the tests must not download (axios). Not part of the package.

/**
 * An in-process stand-in for navigator.locks (Web Locks API): exclusive and
 * shared modes, requests granted in order per name, a lock released when
 * its callback's promise settles, and query().
 */
export class FakeLockManager {
  #held = [];
  #queue = [];

  request(name, optionsOrCallback, maybeCallback) {
    const [options, callback] = typeof optionsOrCallback === "function"
      ? [{}, optionsOrCallback] : [optionsOrCallback || {}, maybeCallback];
    const mode = options.mode || "exclusive";
    return new Promise((resolve, reject) => {
      this.#queue.push({
        name, mode,
        start: (lock) => {
          const release = () => {
            this.#held.splice(this.#held.indexOf(lock), 1);
            this.#pump();
          };
          Promise.resolve().then(() => callback(lock)).then(
            (v) => { release(); resolve(v); },
            (e) => { release(); reject(e); },
          );
        },
      });
      this.#pump();
    });
  }

  query() {
    return Promise.resolve({
      held: this.#held.map((l) => ({ ...l })),
      pending: this.#queue.map((q) => ({ name: q.name, mode: q.mode })),
    });
  }

  #pump() {
    for (let i = 0; i < this.#queue.length;) {
      const req = this.#queue[i];
      const queuedBefore = this.#queue.slice(0, i).some((q) => q.name === req.name);
      const conflict = this.#held.some((h) => h.name === req.name && (h.mode === "exclusive" || req.mode === "exclusive"));
      if (queuedBefore || conflict) {
        i++;
        continue;
      }
      this.#queue.splice(i, 1);
      const lock = { name: req.name, mode: req.mode };
      this.#held.push(lock);
      req.start(lock);
    }
  }
}

/**
 * The part of an axios instance the interceptor uses, with axios's
 * semantics: request interceptors run last-added first, response
 * interceptors in order, a non-2xx status rejects with error.response and
 * error.config, JSON bodies are parsed, header names are lower case.
 */
export function miniAxios(fetchImpl) {
  const manager = () => {
    const list = [];
    return { list, use(ok, err) { list.push({ ok, err }); return list.length - 1; }, eject(id) { list[id] = null; } };
  };
  const interceptors = { request: manager(), response: manager() };
  async function dispatch(config) {
    const res = await fetchImpl(config.url, { method: (config.method || "get").toUpperCase(), headers: config.headers, body: config.data });
    const text = await res.text();
    let data = text;
    try { data = JSON.parse(text); } catch { /* keep the text */ }
    const headers = {};
    res.headers.forEach((v, k) => { headers[k] = v; });
    const response = { status: res.status, statusText: res.statusText, data, headers, config };
    if (res.status >= 200 && res.status < 300) return response;
    const error = new Error("Request failed with status code " + res.status);
    error.response = response;
    error.config = config;
    throw error;
  }
  const ax = {
    interceptors,
    request(config) {
      let p = Promise.resolve(config);
      for (const h of [...interceptors.request.list].reverse()) if (h) p = p.then(h.ok, h.err);
      p = p.then(dispatch);
      for (const h of interceptors.response.list) if (h) p = p.then(h.ok, h.err);
      return p;
    },
    get(url, config = {}) { return ax.request({ ...config, url, method: "get" }); },
  };
  return ax;
}
