// oidcsession.js: the browser half of oidcsession's try-refresh contract.
//
// A route behind Require(TryRefresh()) answers 401 {"error":"try_refresh"}
// once the access token has expired. This module turns that into one
// refresh POST per expiry, shared by every call and every tab of the
// browser, and one retry of the original request, so application code can
// call sessionFetch exactly like fetch. scheduleRefresh renews before
// expiry instead, at the time the server says it will refresh.
//
// No secrets are read here: the session lives in HttpOnly cookies that
// JavaScript cannot see, and the server never puts a token in a body. The
// helper only looks at status codes, the JSON "error" field and the
// expires_at/refresh_at times of the refresh endpoint.
//
// One source, two builds: this file is the ES module; the Go package's
// ScriptHandler also serves it as a classic script that defines the global
// `oidcsession`, made by replacing the export statement at the end. Keep
// everything above that statement plain script code (no other import or
// export, no module metadata) and end the file with that one statement.

/** Header the refresh and logout endpoints require as their CSRF defence. */
const REFRESH_HEADER = "X-Session-Refresh";

/** Web Lock that keeps two tabs of one origin from refreshing at the same time. */
const LOCK_NAME = "oidcsession-refresh";

/**
 * Prefix of the shared Web Lock a tab holds, just after its refresh, whose
 * name carries the new expiry: a tab that gets the refresh lock next reads
 * it with navigator.locks.query() and skips its own POST. Lock names live
 * in the browser's lock manager, so, unlike a message, the name is there
 * for certain by the time the next tab holds the refresh lock.
 */
const PUBLISHED_PREFIX = "oidcsession-refreshed ";

/** BroadcastChannel (name + refresh URL) that tells other tabs about refreshes and sign-outs. */
const CHANNEL_PREFIX = "oidcsession ";

/** Without the server's refresh_at, scheduleRefresh aims this long before expiry. */
const FALLBACK_LEAD_MS = 1000;

/** The longest Retry-After honoured: a CDN's or a maintenance page's hour must not silence refreshes. */
const MAX_RETRY_AFTER_MS = 60000;

/** After a POST that did not renew (early by the server's clock), wait at least this long. */
const MIN_RETRY_MS = 1000;

/** setTimeout's limit; longer delays are re-armed when they fire. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** Key marking an axios request config as already retried after try_refresh. */
const AXIOS_RETRY_KEY = "_oidcsessionRetry";

/** Key recording, on an axios request config, how many times the session had ended when it was sent. */
const AXIOS_ENDINGS_KEY = "_oidcsessionEndings";

/**
 * The browser's fetch, called as a plain function each time: calling it as
 * a method of another object throws "Illegal invocation" in Chromium, and
 * looking it up late picks up a polyfill installed after this module loads.
 */
const defaultFetch = (input, init) => globalThis.fetch(input, init);

/**
 * Refresh state shared by every helper built on the same fetch
 * implementation, keyed by refresh URL: the refresh in flight (so
 * concurrent try_refresh answers cost one POST), the newest expiry the
 * server reported, whether the session is known to be over (and how many
 * times it ended, so a call can tell that it ended while the call was on
 * its way), the 503 whose Retry-After is still running, listeners, and the
 * channel to other tabs. Keyed by the fetch function too, so instances
 * that talk to different servers (tests, custom fetch) never share.
 * @type {WeakMap<Function, Map<string, object>>}
 */
const shared = new WeakMap();

function stateFor(cfg) {
  let byURL = shared.get(cfg.fetch);
  if (!byURL) shared.set(cfg.fetch, (byURL = new Map()));
  let st = byURL.get(cfg.refreshURL);
  if (!st) {
    st = { inflight: null, latest: null, ended: false, endings: 0, endedWith: null, unavailable: null, listeners: new Set(), channel: null };
    st.channel = openChannel(st, cfg.refreshURL);
    byURL.set(cfg.refreshURL, st);
  }
  return st;
}

// --- times -------------------------------------------------------------------

/** Epoch milliseconds of a Date, RFC 3339 string or number; null when absent or invalid. */
function toMs(v) {
  if (v === undefined || v === null || v === "") return null;
  const t = v instanceof Date ? v.getTime() : typeof v === "number" ? v : Date.parse(String(v));
  return Number.isFinite(t) ? t : null;
}

/** {expiresAt, refreshAt} in ms from the server's strings, or null without a valid expiry. */
function timesOf(expiresAt, refreshAt) {
  const e = toMs(expiresAt);
  return e === null ? null : { expiresAt: e, refreshAt: toMs(refreshAt) };
}

function header(headers, name) {
  if (!headers) return null;
  if (typeof headers.get === "function") return headers.get(name);
  return headers[name] ?? null; // axios in Node: a plain object with lower-case names
}

/**
 * The server's clock at the time it answered (the Date header, whole
 * seconds), so comparisons with server-reported expiries do not depend on
 * the browser's clock; the browser's clock when there is no Date header.
 */
function serverTime(headers) {
  const t = Date.parse(header(headers, "date") || "");
  return Number.isFinite(t) ? t : Date.now();
}

// --- events within the tab and across tabs --------------------------------

function openChannel(st, refreshURL) {
  if (typeof BroadcastChannel !== "function") return null;
  const ch = new BroadcastChannel(CHANNEL_PREFIX + refreshURL);
  ch.onmessage = (e) => receive(st, e.data);
  if (typeof ch.unref === "function") ch.unref(); // Node: do not keep the process alive
  return ch;
}

function post(st, msg) {
  if (!st.channel) return;
  try { st.channel.postMessage(msg); } catch { /* closed: nobody to tell */ }
}

/** A message from another tab. */
function receive(st, msg) {
  if (!msg || typeof msg !== "object") return;
  if (msg.type === "refreshed") {
    const t = timesOf(msg.expiresAt, msg.refreshAt);
    if (t && learn(st, t)) emit(st, refreshedEvent(t, "other-tab"));
  } else if (msg.type === "ended") {
    const reason = msg.reason === "signed_out" ? "signed_out" : "session_expired";
    end(st, endedResult(reason === "signed_out" ? "unauthenticated" : "session_expired"));
    emit(st, { type: "ended", reason, source: "other-tab" });
  }
}

/**
 * Marks the session over. answer is what a call gets when its own
 * try_refresh arrives after the end (see createSessionFetch).
 */
function end(st, answer) {
  st.ended = true;
  st.latest = null;
  st.unavailable = null;
  st.endings++;
  st.endedWith = answer;
}

/** A RefreshResult that stands for an ended session when no refused refresh answer is at hand. */
function endedResult(error) {
  return { status: 401, statusText: "Unauthorized", headers: { "content-type": "application/json" },
           text: JSON.stringify({ error, error_description: "the session ended while this request was on its way" }),
           error, times: null, serverNow: Date.now(), skipped: false, retryAt: null };
}

/** Records a server-reported expiry; reports whether it is newer than what the tab knew. */
function learn(st, t) {
  if (st.latest && t.expiresAt <= st.latest.expiresAt) return false;
  st.latest = t;
  st.ended = false;
  st.unavailable = null;
  return true;
}

function refreshedEvent(t, source) {
  return { type: "refreshed", expiresAt: new Date(t.expiresAt),
           refreshAt: t.refreshAt === null ? null : new Date(t.refreshAt), source };
}

function emit(st, event) {
  for (const listener of [...st.listeners]) {
    try {
      listener(event);
    } catch (err) {
      // One broken listener must not starve the others; the error still surfaces.
      if (typeof globalThis.reportError === "function") globalThis.reportError(err);
      else setTimeout(() => { throw err; });
    }
  }
}

/**
 * The session is over (refresh refused, or an API answered 401
 * unauthenticated/session_expired): tell this tab once, and the other tabs.
 */
function sessionOver(cfg, st, info, refused) {
  if (st.ended) return;
  end(st, refused || endedResult(info.error === "unauthenticated" ? "unauthenticated" : "session_expired"));
  post(st, { type: "ended", reason: "session_expired" });
  emit(st, { type: "ended", reason: "session_expired", source: "this-tab" });
  cfg.onSessionExpired(info);
}

// --- the refresh -------------------------------------------------------------

function locksAPI() {
  const locks = globalThis.navigator && globalThis.navigator.locks;
  return locks && typeof locks.request === "function" ? locks : null;
}

/** The newest expiry known here or published by another tab's refresh. */
async function newestKnown(st, locks) {
  let best = st.latest;
  if (locks && typeof locks.query === "function") {
    try {
      const snapshot = await locks.query();
      for (const held of snapshot.held || []) {
        if (typeof held.name !== "string" || !held.name.startsWith(PUBLISHED_PREFIX)) continue;
        const [e, r] = held.name.slice(PUBLISHED_PREFIX.length).split(" ");
        const t = timesOf(e, r === "-" ? null : r);
        if (t && (!best || t.expiresAt > best.expiresAt)) best = t;
      }
    } catch { /* no snapshot: what this tab knows is enough */ }
  }
  return best;
}

/**
 * Holds a shared lock named after the new expiry until every tab that was
 * already waiting for the refresh lock has had its turn. Called while this
 * tab holds the refresh lock.
 */
async function publish(locks, t) {
  if (!locks) return;
  const name = PUBLISHED_PREFIX + new Date(t.expiresAt).toISOString() + " " +
    (t.refreshAt === null ? "-" : new Date(t.refreshAt).toISOString());
  let release = () => {};
  try {
    await new Promise((granted, failed) => {
      locks.request(name, { mode: "shared" }, () => {
        granted();
        return new Promise((done) => { release = done; });
      }).catch(failed);
    });
  } catch {
    return;
  }
  // Queued behind the tabs waiting now: granted once they have all looked.
  locks.request(LOCK_NAME, () => {}).then(() => release(), () => release());
}

/**
 * @typedef {object} RefreshResult
 * @property {number} status      status of the refresh POST (200 for a skipped one)
 * @property {string} statusText
 * @property {Headers|null} headers
 * @property {string} text        body, read once so every waiter can get its own Response
 * @property {string|undefined} error  the JSON "error" field, if any
 * @property {{expiresAt: number, refreshAt: number|null}|null} times  from a 200
 * @property {number} serverNow   the server's clock when it answered
 * @property {boolean} skipped    another tab had already refreshed: no POST was sent
 * @property {number|null} retryAt for a 503, when its Retry-After ends (this browser's clock, ms)
 */

/** When a 503's Retry-After (seconds or an HTTP date, at most a minute) ends, in this browser's clock; null without one. */
function retryAtOf(status, headers) {
  if (status !== 503) return null;
  const v = header(headers, "retry-after");
  if (v === null || v === undefined || v === "") return null;
  const secs = Number(v);
  const wait = Number.isFinite(secs) ? secs * 1000 : Date.parse(v) - serverTime(headers);
  return Number.isFinite(wait) && wait > 0 ? Date.now() + Math.min(wait, MAX_RETRY_AFTER_MS) : null;
}

async function readRefresh(res) {
  const text = await res.text();
  let body = {};
  try { body = JSON.parse(text) || {}; } catch { /* not JSON: only the status matters */ }
  return {
    status: res.status, statusText: res.statusText, headers: res.headers, text,
    error: typeof body.error === "string" ? body.error : undefined,
    times: res.status === 200 ? timesOf(body.expires_at, body.refresh_at) : null,
    serverNow: serverTime(res.headers), skipped: false,
    retryAt: retryAtOf(res.status, res.headers),
  };
}

/**
 * Runs one refresh for the tab, or joins the one in flight. Inside the
 * refresh lock it first checks whether a refresh newer than staleBefore
 * (server time: the caller's token expired at or before it) is already
 * known here or published by another tab; then it skips the POST, since the
 * cookies already hold a newer token. staleBefore undefined always POSTs.
 * While the Retry-After of the last 503 runs, that 503 is the answer and
 * no POST is sent: the server asked this browser to wait, not each call.
 * onSessionExpired runs once per refused POST, not once per waiting call.
 * @returns {Promise<RefreshResult>}
 */
function sharedRefresh(cfg, st, staleBefore) {
  if (st.inflight) return st.inflight;
  if (st.unavailable && Date.now() < st.unavailable.retryAt) return Promise.resolve(st.unavailable);
  const locks = locksAPI();
  const attempt = async () => {
    if (staleBefore !== undefined) {
      const newest = await newestKnown(st, locks);
      if (newest && newest.expiresAt > staleBefore) {
        return { status: 200, statusText: "OK", headers: null, text: "", error: undefined,
                 times: newest, serverNow: Date.now(), skipped: true, retryAt: null };
      }
    }
    const r = await readRefresh(await cfg.request(cfg.refreshURL, {
      method: "POST",
      headers: { [REFRESH_HEADER]: "1", Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
    }));
    if (r.status === 200 && r.times && (!st.latest || r.times.expiresAt > st.latest.expiresAt)) {
      post(st, { type: "refreshed", expiresAt: new Date(r.times.expiresAt).toISOString(),
                 refreshAt: r.times.refreshAt === null ? null : new Date(r.times.refreshAt).toISOString() });
      await publish(locks, r.times);
    }
    return r;
  };
  const run = locks ? locks.request(LOCK_NAME, attempt) : attempt();
  st.inflight = run.then(
    (r) => {
      st.inflight = null;
      if (r.status === 200 && r.times && learn(st, r.times)) {
        emit(st, refreshedEvent(r.times, r.skipped ? "other-tab" : "this-tab"));
      } else if (r.status === 401) {
        sessionOver(cfg, st, { status: 401, error: r.error, source: "refresh" }, r);
      } else if (r.retryAt !== null) {
        st.unavailable = r;
      }
      return r;
    },
    (err) => { st.inflight = null; throw err; },
  );
  return st.inflight;
}

// --- fetch -------------------------------------------------------------------

/** A fresh Response per waiter: a body can be read only once, and waiters share one POST. */
function toResponse(r) {
  return new Response(r.text, { status: r.status, statusText: r.statusText, headers: r.headers || undefined });
}

/** The JSON "error" of a 401 answer (try_refresh, session_expired, unauthenticated), else undefined. */
async function errorOf401(res) {
  if (res.status !== 401) return undefined;
  const ct = res.headers.get("content-type") || "";
  if (!ct.includes("json")) return undefined;
  try {
    const body = await res.clone().json();
    return body && typeof body.error === "string" ? body.error : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a 401 "error" means the session is over rather than just its access token. */
function meansSessionOver(code) {
  return code === "session_expired" || code === "unauthenticated";
}

/** A ReadableStream body is consumed by the first attempt and cannot be sent again. */
function replayable(init) {
  const body = init && init.body;
  return !(typeof ReadableStream !== "undefined" && body instanceof ReadableStream);
}

function defaultOnSessionExpired(loginURL) {
  // Navigating is the only way to start a sign-in (it goes through the
  // provider's pages). Outside a browser (Node, workers) there is nowhere to go.
  const loc = globalThis.location;
  if (!loc || typeof loc.assign !== "function") return;
  loc.assign(loginURL + "?return_to=" + encodeURIComponent(loc.pathname + loc.search));
}

function normalise(opts = {}) {
  const fetchImpl = opts.fetch || defaultFetch;
  if (typeof fetchImpl !== "function") throw new TypeError("oidcsession: fetch is not a function");
  const loginURL = opts.loginURL || "/auth/login";
  return {
    refreshURL: opts.refreshURL || "/auth/refresh",
    logoutURL: opts.logoutURL || "/auth/logout",
    fetch: fetchImpl,
    // Called as a plain function: a method call would bind `this` to this object.
    request: (input, init) => fetchImpl(input, init),
    onSessionExpired: opts.onSessionExpired || (() => defaultOnSessionExpired(loginURL)),
  };
}

/**
 * Builds a fetch wrapper that follows the try-refresh contract.
 *
 * - 401 try_refresh: one refresh for every concurrent call and every tab
 *   (a tab that finds another tab already refreshed sends no POST), then
 *   the original request is retried once.
 * - 401 session_expired or unauthenticated, from the refresh or from the
 *   call itself: onSessionExpired once, other tabs are told, and the caller
 *   gets that 401.
 * - 401 try_refresh for a call that was on its way when the session ended
 *   (a refused refresh, a sign-out here or in another tab): no POST; the
 *   caller gets the refused refresh's 401 (or a 401 session_expired or
 *   unauthenticated standing for it).
 * - refresh 503 (provider down, Retry-After set), 403 csrf (misconfiguration)
 *   or any other failure: resolves with the refresh endpoint's answer, no loop.
 *   Until the 503's Retry-After ends, every try_refresh gets that 503
 *   without a POST.
 * - A request with a ReadableStream body is not retried (its body is gone):
 *   the refresh still runs, so the caller can simply send it again, and the
 *   original 401 is returned.
 *
 * @param {object} [options]
 * @param {string} [options.refreshURL="/auth/refresh"] where RefreshHandler is mounted
 * @param {string} [options.loginURL="/auth/login"] used by the default onSessionExpired
 * @param {typeof fetch} [options.fetch] fetch implementation (tests, absolute base URLs); default the browser's
 * @param {(info: {status: number, error?: string, source: "refresh"|"response"}) => void} [options.onSessionExpired]
 *   the session is over; default: go to `${loginURL}?return_to=<current path+search>` (no-op outside a browser)
 * @returns {(input: RequestInfo|URL, init?: RequestInit) => Promise<Response>}
 */
function createSessionFetch(options = {}) {
  const cfg = normalise(options);
  const st = stateFor(cfg);

  return async function sessionFetch(input, init) {
    // A request sent now would only earn a try_refresh: wait for the refresh
    // in flight. Its outcome does not matter here; the request will tell.
    if (st.inflight) await st.inflight.catch(() => {});

    // A Request's body can be read once: keep a copy for the retries.
    const spare = typeof Request !== "undefined" && input instanceof Request ? input.clone() : null;
    const send = () => cfg.request(spare ? spare.clone() : input, init);
    const endings = st.endings;
    const res = await cfg.request(input, init);
    const code = await errorOf401(res);
    if (meansSessionOver(code)) {
      sessionOver(cfg, st, { status: 401, error: code, source: "response" });
      return res;
    }
    if (code !== "try_refresh") return res;
    // The session ended (a refused refresh, a sign-out) while this request
    // was on its way: its try_refresh speaks of a session that is gone, and
    // a POST now would only be refused again.
    if (st.endings !== endings) return toResponse(st.endedWith);

    let r = await sharedRefresh(cfg, st, serverTime(res.headers));
    if (r.status !== 200) return toResponse(r);
    if (!replayable(init)) return res;
    const again = await send();
    if (!r.skipped || (await errorOf401(again)) !== "try_refresh") return again;
    // The refresh another tab made did not cover this request after all
    // (a lifetime that shrank, say): refresh for real, once.
    r = await sharedRefresh(cfg, st, undefined);
    return r.status === 200 ? send() : toResponse(r);
  };
}

// --- scheduled renewal -----------------------------------------------------

/**
 * Renews the session before the access token expires, so an active page
 * never sees try_refresh (Auth0-style), at the time the server says it will
 * refresh: refreshAt, the refresh_at of the refresh endpoint's answer (or
 * rendered into the page). After each renewal it re-arms from the new
 * refresh_at; when another tab renewed first, it adopts that expiry
 * without a POST. A 503 is retried after Retry-After; a network error after
 * 5 s, doubling up to a minute; a 401 ends it (onSessionExpired runs); a
 * 403 or anything else ends it quietly. It stops when any tab signs out,
 * and does not start once the tab knows the session is over.
 *
 * @param {Date|string|number} expiresAt expiry of the access token (Date, RFC 3339 string, or epoch ms)
 * @param {object} [options] createSessionFetch's options, plus:
 * @param {Date|string|number} [options.refreshAt] when the server starts refreshing (its refresh_at);
 *   without it the first POST is aimed one second before expiry
 * @param {(expiresAt: Date, refreshAt: Date|null) => void} [options.onRefreshed] called with each new expiry
 * @param {(error: unknown) => void} [options.onError] called when the POST could not be sent
 * @returns {() => void} cancel: stops the timer and any later re-scheduling
 */
function scheduleRefresh(expiresAt, options = {}) {
  const cfg = normalise(options);
  const st = stateFor(cfg);
  let exp = toMs(expiresAt);
  if (exp === null) throw new TypeError("oidcsession: scheduleRefresh needs the access token's expiry");
  let at = toMs(options.refreshAt);
  let timer = null;
  let stopped = false;
  let failures = 0;
  // The page's expiry is what the server said when it rendered; it does not
  // revive a session this tab already knows is over.
  if (!st.latest || exp > st.latest.expiresAt) st.latest = { expiresAt: exp, refreshAt: at };

  const target = () => (at !== null ? at : exp - FALLBACK_LEAD_MS);
  const arm = (delay) => {
    if (stopped) return;
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(fire, Math.min(Math.max(0, delay), MAX_DELAY_MS));
  };
  const adopt = (t) => {
    if (t.expiresAt <= exp) return false;
    exp = t.expiresAt;
    at = t.refreshAt;
    failures = 0;
    if (options.onRefreshed) options.onRefreshed(new Date(exp), at === null ? null : new Date(at));
    if (at === null) stop(); // no refresh token: nothing more to schedule
    else arm(at - Date.now());
    return true;
  };
  const unsubscribe = subscribe(st, (ev) => {
    if (ev.type === "ended") stop();
    else if (ev.type === "refreshed") adopt({ expiresAt: ev.expiresAt.getTime(), refreshAt: ev.refreshAt && ev.refreshAt.getTime() });
  });
  function stop() {
    stopped = true;
    if (timer !== null) clearTimeout(timer);
    timer = null;
    unsubscribe();
  }

  async function fire() {
    timer = null;
    if (stopped) return;
    const wait = target() - Date.now();
    if (wait > 0) return arm(wait); // a capped long delay, or woken early
    const known = exp;
    let r;
    try {
      r = await sharedRefresh(cfg, st, known);
    } catch (err) {
      failures++;
      if (options.onError) options.onError(err);
      return arm(Math.min(5000 * 2 ** (failures - 1), 60000));
    }
    if (stopped) return;
    if (r.status === 200) {
      if (r.times && r.times.expiresAt > known) {
        adopt(r.times); // usually done already, through the "refreshed" event
        return;
      }
      // Not renewed: early by the server's clock, or nothing to renew with.
      if (!r.times || r.times.refreshAt === null) return stop();
      at = r.times.refreshAt;
      return arm(Math.max(at - r.serverNow, MIN_RETRY_MS));
    }
    if (r.status === 503) return arm(r.retryAt !== null ? r.retryAt - Date.now() : 5000);
    stop(); // 401: onSessionExpired ran; 403 and the rest: a loop would not help
  }

  if (st.ended) stop(); // signed out or expired already: nothing to renew
  else arm(target() - Date.now());
  return stop;
}

// --- sign-out and session events ------------------------------------------

function subscribe(st, listener) {
  st.listeners.add(listener);
  return () => { st.listeners.delete(listener); };
}

/**
 * Calls listener for every change of the session this tab learns about,
 * from this tab or another one:
 *   {type: "refreshed", expiresAt: Date, refreshAt: Date|null, source: "this-tab"|"other-tab"}
 *   {type: "ended", reason: "signed_out"|"session_expired", source: "this-tab"|"other-tab"}
 * Use it to update what the page shows, and to react to a sign-out in
 * another tab (the default is to do nothing: the next call answers 401).
 * @param {(event: object) => void} listener
 * @param {object} [options] refreshURL and fetch, as for createSessionFetch
 * @returns {() => void} unsubscribe
 */
function onSessionChange(listener, options = {}) {
  if (typeof listener !== "function") throw new TypeError("oidcsession: onSessionChange needs a function");
  return subscribe(stateFor(normalise(options)), listener);
}

/**
 * Signs out: POST logoutURL with X-Session-Refresh: 1, tell the other tabs,
 * then go where the server says (the provider's logout page), unless
 * options.navigate is false.
 * @param {object} [options]
 * @param {string} [options.logoutURL="/auth/logout"] where LogoutHandler is mounted
 * @param {boolean} [options.navigate=true] follow redirect_to
 * @returns {Promise<{ok: boolean, status: number, redirectTo: string|null, error?: string}>}
 */
async function signOut(options = {}) {
  const cfg = normalise(options);
  const st = stateFor(cfg);
  const res = await cfg.request(cfg.logoutURL, {
    method: "POST",
    headers: { [REFRESH_HEADER]: "1", Accept: "application/json" },
    credentials: "same-origin",
    cache: "no-store",
  });
  let body = {};
  try { body = (await res.json()) || {}; } catch { /* only the status matters */ }
  if (!res.ok) return { ok: false, status: res.status, redirectTo: null, error: body.error };
  end(st, endedResult("unauthenticated"));
  post(st, { type: "ended", reason: "signed_out" });
  emit(st, { type: "ended", reason: "signed_out", source: "this-tab" });
  const redirectTo = typeof body.redirect_to === "string" ? body.redirect_to : null;
  const loc = globalThis.location;
  if (options.navigate !== false && redirectTo && loc && typeof loc.assign === "function") loc.assign(redirectTo);
  return { ok: true, status: res.status, redirectTo };
}

// --- axios -------------------------------------------------------------------

function errorOfData(data) {
  let body = data;
  if (typeof body === "string") {
    try { body = JSON.parse(body); } catch { return undefined; }
  }
  return body && typeof body.error === "string" ? body.error : undefined;
}

/**
 * Adds the try-refresh contract to an axios instance: requests wait for a
 * refresh in flight, a 401 try_refresh refreshes (shared with sessionFetch
 * and the other tabs) and retries once, and a 401 session_expired or
 * unauthenticated calls onSessionExpired. A refresh that fails rejects with
 * the original error, with error.oidcsessionRefresh = {status, error}.
 * @param {object} axios an axios instance (or the axios default export)
 * @param {object} [options] createSessionFetch's options
 * @returns {() => void} removes both interceptors
 */
function installAxiosInterceptor(axios, options = {}) {
  const cfg = normalise(options);
  const st = stateFor(cfg);
  const before = axios.interceptors.request.use(async (config) => {
    if (st.inflight) await st.inflight.catch(() => {});
    config[AXIOS_ENDINGS_KEY] = st.endings;
    return config;
  });
  const after = axios.interceptors.response.use(undefined, async (error) => {
    const res = error && error.response;
    const config = error && error.config;
    if (!res || !config || res.status !== 401) throw error;
    const code = errorOfData(res.data);
    if (meansSessionOver(code)) {
      sessionOver(cfg, st, { status: 401, error: code, source: "response" });
      throw error;
    }
    const previous = config[AXIOS_RETRY_KEY];
    if (code !== "try_refresh" || previous === "refreshed") throw error;
    if (config[AXIOS_ENDINGS_KEY] !== undefined && config[AXIOS_ENDINGS_KEY] !== st.endings) {
      // The session ended while this request was on its way (see createSessionFetch).
      error.oidcsessionRefresh = { status: 401, error: st.endedWith.error };
      throw error;
    }
    // After a skipped refresh that did not help, refresh for real, once.
    const r = await sharedRefresh(cfg, st, previous === "skipped" ? undefined : serverTime(res.headers));
    if (r.status !== 200) {
      error.oidcsessionRefresh = { status: r.status, error: r.error };
      throw error;
    }
    return axios.request({ ...config, [AXIOS_RETRY_KEY]: r.skipped ? "skipped" : "refreshed" });
  });
  return function eject() {
    axios.interceptors.request.eject(before);
    axios.interceptors.response.eject(after);
  };
}

// --- the default instance --------------------------------------------------

let defaultInstance = null;

/**
 * sessionFetch with the defaults: refresh at /auth/refresh, sign in at
 * /auth/login, the browser's fetch. Built on first use.
 */
function sessionFetch(input, init) {
  defaultInstance ||= createSessionFetch();
  return defaultInstance(input, init);
}

// The classic build replaces this statement with `globalThis.oidcsession = {…}`.
export { sessionFetch as default, sessionFetch, createSessionFetch, scheduleRefresh, signOut, onSessionChange, installAxiosInterceptor };
