// oidcsession.js: the browser half of oidcsession's try-refresh contract.
//
// A route behind Require(TryRefresh()) answers 401 {"error":"try_refresh"}
// once the access token has expired. This module turns that into one shared
// POST to the refresh endpoint and one retry of the original request, so
// application code can call sessionFetch exactly like fetch.
//
// No secrets are read here: the session lives in HttpOnly cookies that
// JavaScript cannot see, and the server never puts a token in a body. The
// helper only looks at status codes and the JSON "error" field.

/** Header the refresh endpoint requires (with CrossOriginProtection) as its CSRF defence. */
const REFRESH_HEADER = "X-Session-Refresh";

/** Name of the Web Lock that keeps two tabs of one origin from refreshing at the same time. */
const LOCK_NAME = "oidcsession-refresh";

/**
 * Refresh state shared by every sessionFetch built on the same fetch
 * implementation, keyed by refresh URL: the in-flight POST (so concurrent
 * try_refresh answers cost one POST) and a count of successful refreshes
 * (so a request that was sent before a refresh finished is retried without
 * refreshing again). Keyed by the fetch function too, so instances that talk
 * to different servers (tests, workers with a custom fetch) never share.
 * @type {WeakMap<Function, Map<string, {inflight: Promise<RefreshResult>|null, generation: number}>>}
 */
const shared = new WeakMap();

function stateFor(fetchImpl, refreshURL) {
  let byURL = shared.get(fetchImpl);
  if (!byURL) shared.set(fetchImpl, (byURL = new Map()));
  let st = byURL.get(refreshURL);
  if (!st) byURL.set(refreshURL, (st = { inflight: null, generation: 0 }));
  return st;
}

/**
 * @typedef {object} RefreshResult
 * @property {number} status      status of the refresh POST
 * @property {string} statusText
 * @property {Headers} headers
 * @property {string} text        body, read once so every waiter can get its own Response
 * @property {string|undefined} error      the JSON "error" field, if any
 * @property {string|undefined} expiresAt  the JSON "expires_at" field on 200
 */

/** A fresh Response per waiter: a body can be read only once, and waiters share one POST. */
function toResponse(r) {
  return new Response(r.text, { status: r.status, statusText: r.statusText, headers: r.headers });
}

function defaultOnSessionExpired(loginURL) {
  // Navigating is the only way to start a sign-in (it goes through the
  // provider's pages). Outside a browser (Node, workers) there is nowhere to go.
  const loc = globalThis.location;
  if (!loc || typeof loc.assign !== "function") return;
  loc.assign(loginURL + "?return_to=" + encodeURIComponent(loc.pathname + loc.search));
}

/**
 * Runs one refresh POST for (fetchImpl, refreshURL), or joins the one in
 * flight. onSessionExpired runs once per POST that answered 401, not once per
 * waiting request, so twenty concurrent calls navigate once.
 * @returns {Promise<RefreshResult>}
 */
function sharedRefresh(cfg) {
  const st = stateFor(cfg.fetch, cfg.refreshURL);
  if (st.inflight) return st.inflight;
  const post = async () => {
    const res = await cfg.fetch(cfg.refreshURL, {
      method: "POST",
      headers: { [REFRESH_HEADER]: "1", Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
    });
    const text = await res.text();
    let body = {};
    try { body = JSON.parse(text) || {}; } catch { /* not JSON: only the status matters */ }
    return { status: res.status, statusText: res.statusText, headers: res.headers, text,
             error: body.error, expiresAt: body.expires_at };
  };
  // Web Locks serialise tabs: the second tab's POST starts after the first
  // tab's cookies are set, and the server answers it 200 without a grant.
  // The server collapses concurrent refreshes anyway, so this only saves work.
  const locks = globalThis.navigator && globalThis.navigator.locks;
  const run = locks && typeof locks.request === "function" ? locks.request(LOCK_NAME, post) : post();
  st.inflight = run.then(
    (r) => {
      st.inflight = null;
      if (r.status === 200) st.generation++;
      else if (r.status === 401) cfg.onSessionExpired(r);
      return r;
    },
    (err) => { st.inflight = null; throw err; },
  );
  return st.inflight;
}

/** Whether a 401 is the server's try_refresh answer (and not unauthenticated/session_expired). */
async function isTryRefresh(res) {
  if (res.status !== 401) return false;
  const ct = res.headers.get("content-type") || "";
  if (!ct.includes("json")) return false;
  try {
    const body = await res.clone().json();
    return !!body && body.error === "try_refresh";
  } catch {
    return false;
  }
}

/** A ReadableStream body is consumed by the first attempt and cannot be sent again. */
function replayable(init) {
  const body = init && init.body;
  return !(typeof ReadableStream !== "undefined" && body instanceof ReadableStream);
}

function normalise(opts = {}) {
  const fetchImpl = opts.fetch || globalThis.fetch;
  if (typeof fetchImpl !== "function") throw new TypeError("oidcsession: no fetch implementation");
  const loginURL = opts.loginURL || "/auth/login";
  return {
    refreshURL: opts.refreshURL || "/auth/refresh",
    fetch: fetchImpl,
    loginURL,
    onSessionExpired: opts.onSessionExpired || (() => defaultOnSessionExpired(loginURL)),
  };
}

/**
 * Builds a fetch wrapper that follows the try-refresh contract.
 *
 * - 401 try_refresh: POST refreshURL (shared with every concurrent call),
 *   then on 200 retry the original request once.
 * - refresh 401 (session_expired/unauthenticated): call onSessionExpired once
 *   and resolve with the original 401.
 * - refresh 503 (provider down, Retry-After set), 403 csrf (misconfiguration)
 *   or any other failure: resolve with the refresh endpoint's answer, no loop.
 * - A request with a ReadableStream body is not retried (its body is gone):
 *   the refresh still runs, so the caller can simply send it again, and the
 *   original 401 is returned.
 *
 * @param {object} [options]
 * @param {string} [options.refreshURL="/auth/refresh"] where RefreshHandler is mounted
 * @param {typeof fetch} [options.fetch=globalThis.fetch] fetch implementation (tests, absolute base URLs)
 * @param {(refresh: RefreshResult) => void} [options.onSessionExpired] called when the session is over;
 *   default navigates to `${loginURL}?return_to=<current path+search>` (no-op outside a browser)
 * @param {string} [options.loginURL="/auth/login"] used by the default onSessionExpired
 * @returns {(input: RequestInfo|URL, init?: RequestInit) => Promise<Response>}
 */
export function createSessionFetch(options = {}) {
  const cfg = normalise(options);
  const st = stateFor(cfg.fetch, cfg.refreshURL);

  return async function sessionFetch(input, init) {
    // A request sent now would only earn a try_refresh: wait for the refresh
    // in flight. Its outcome does not matter here; the request will tell.
    if (st.inflight) await st.inflight.catch(() => {});

    // A Request's body can be read once: keep a copy for the retry.
    const spare = input instanceof Request ? input.clone() : null;
    const generation = st.generation;
    const res = await cfg.fetch(input, init);
    if (!(await isTryRefresh(res))) return res;

    const retry = () => cfg.fetch(spare || input, init);
    const canRetry = replayable(init);

    // Refreshed by someone else after this request left: the cookies are new
    // already, only the retry is needed.
    if (st.generation !== generation && canRetry) return retry();

    const r = await sharedRefresh(cfg);
    if (r.status === 200) return canRetry ? retry() : res;
    if (r.status === 401) return res;
    return toResponse(r);
  };
}

/**
 * Renews the session shortly before the access token expires, so an active
 * page never sees try_refresh (Auth0-style). After each successful refresh it
 * re-schedules from the new expires_at. A 503 is retried after Retry-After;
 * a 401 ends it (onSessionExpired runs); anything else ends it quietly.
 * The POST is shared with sessionFetch's, so the two never double up.
 *
 * @param {Date|string|number} expiresAt expiry of the access token (Date, RFC 3339 string, or epoch ms),
 *   e.g. the expires_at of the last refresh answer
 * @param {object} [options] createSessionFetch's options, plus:
 * @param {number} [options.skewSeconds=30] how long before expiry to refresh
 * @param {(expiresAt: Date) => void} [options.onRefreshed] called with each new expiry
 * @returns {() => void} cancel: stops the timer and any later re-scheduling
 */
export function scheduleRefresh(expiresAt, options = {}) {
  const cfg = normalise(options);
  const skewMs = (options.skewSeconds ?? 30) * 1000;
  const MAX_DELAY = 2 ** 31 - 1; // setTimeout's limit
  let timer = null;
  let cancelled = false;

  const arm = (delay) => {
    if (cancelled) return;
    timer = setTimeout(fire, Math.min(Math.max(0, delay), MAX_DELAY));
  };
  const armFor = (exp, floorMs = 0) => {
    const t = new Date(exp).getTime();
    if (Number.isNaN(t)) return;
    const delay = t - skewMs - Date.now();
    // A new expiry that is already inside the skew must not turn into a busy loop.
    arm(delay > 0 ? delay : floorMs);
  };
  async function fire() {
    timer = null;
    if (cancelled) return;
    // Still far off (a long timer was capped at MAX_DELAY): wait more.
    if (new Date(expiresAt).getTime() - skewMs - Date.now() > 0) return armFor(expiresAt);
    let r;
    try {
      r = await sharedRefresh(cfg);
    } catch {
      return arm(5000); // network error: try again shortly
    }
    if (cancelled) return;
    if (r.status === 200 && r.expiresAt) {
      expiresAt = r.expiresAt;
      if (options.onRefreshed) options.onRefreshed(new Date(expiresAt));
      armFor(expiresAt, 5000);
    } else if (r.status === 503) {
      const after = Number(r.headers.get("retry-after"));
      arm((Number.isFinite(after) && after > 0 ? after : 5) * 1000);
    }
  }

  armFor(expiresAt);
  return function cancel() {
    cancelled = true;
    if (timer !== null) clearTimeout(timer);
    timer = null;
  };
}

let defaultInstance = null;

/**
 * sessionFetch with the defaults: refresh at /auth/refresh, sign in at
 * /auth/login, globalThis.fetch. Built on first use, so a fetch polyfill
 * installed after this module loads is still picked up.
 */
const sessionFetch = (input, init) => {
  defaultInstance ||= createSessionFetch();
  return defaultInstance(input, init);
};

export default sessionFetch;
