// Tests for oidcsession.js against a real node:http server that speaks the
// try-refresh contract (run: node --test js/). They cover the logic; the
// browser behaviour is proven in headless Chromium by the e2e/ module.
import { test, describe, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import sessionFetch, {
  createSessionFetch, scheduleRefresh, signOut, onSessionChange, installAxiosInterceptor,
} from "./oidcsession.js";
import { FakeLockManager, miniAxios } from "./testdoubles.js";

// --- the server ------------------------------------------------------------

/**
 * One session, as the Go server keeps it: an access token that expires at
 * expiresAt, refreshed only inside the last windowMs of its lifetime.
 */
const state = {};

function reset() {
  Object.assign(state, {
    expiresAt: Date.now() - 1, // expired
    signedIn: true,
    lifetimeMs: 5000, // lifetime of a token a grant hands out
    windowMs: 1250, // the server grants only from expiresAt - windowMs
    refreshMode: "ok", // "ok" | "session_expired" | "unavailable"
    retryAfter: "5",
    refreshCalls: 0,
    grants: 0,
    refreshTimes: [],
    refreshHeaders: [],
    apiCalls: 0,
    apiBodies: [],
    logoutCalls: 0,
  });
}
state.pending = 0; // requests the server is still answering

function json(res, status, body, headers = {}) {
  res.writeHead(status, { "Content-Type": "application/json", "Cache-Control": "no-store", ...headers });
  res.end(JSON.stringify(body));
}

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString();
}

const iso = (ms) => new Date(ms).toISOString();

const server = http.createServer(async (req, res) => {
  state.pending++;
  res.on("close", () => state.pending--);
  const body = await readBody(req);
  const path = req.url.split("?")[0];
  if (path === "/api/x") {
    state.apiCalls++;
    state.apiBodies.push(body);
    if (!state.signedIn) return json(res, 401, { error: "unauthenticated" });
    // ?late=ms: decide now, answer ms later (a response still on its way).
    const late = Number(new URL(req.url, "http://x").searchParams.get("late") || 0);
    if (late > 0 && Date.now() >= state.expiresAt) {
      await sleep(late);
      return json(res, 401, { error: "try_refresh", error_description: "the access token has expired" });
    }
    if (Date.now() >= state.expiresAt) {
      return json(res, 401, { error: "try_refresh", error_description: "the access token has expired" },
        { "WWW-Authenticate": 'Bearer error="invalid_token", error_description="the access token has expired"' });
    }
    return json(res, 200, { ok: true, body });
  }
  if (path === "/auth/refresh") {
    if (req.method !== "POST") { res.writeHead(405, { Allow: "POST" }); return res.end(); }
    state.refreshHeaders.push(req.headers["x-session-refresh"]);
    if (req.headers["x-session-refresh"] !== "1") return json(res, 403, { error: "csrf" });
    state.refreshCalls++;
    state.refreshTimes.push(Date.now());
    await sleep(50);
    if (!state.signedIn) return json(res, 401, { error: "unauthenticated" });
    if (state.refreshMode === "session_expired") {
      state.signedIn = false;
      return json(res, 401, { error: "session_expired" });
    }
    if (state.refreshMode === "unavailable") {
      return json(res, 503, { error: "temporarily_unavailable" }, { "Retry-After": state.retryAfter });
    }
    if (Date.now() >= state.expiresAt - state.windowMs) {
      state.grants++;
      state.expiresAt = Date.now() + state.lifetimeMs;
    }
    return json(res, 200, { expires_at: iso(state.expiresAt), refresh_at: iso(state.expiresAt - state.windowMs) });
  }
  if (path === "/auth/logout") {
    if (req.headers["x-session-refresh"] !== "1") return json(res, 403, { error: "csrf" });
    state.logoutCalls++;
    state.signedIn = false;
    return json(res, 200, { redirect_to: "/signed-out" });
  }
  res.writeHead(404);
  res.end();
});

let base;
/** Node's fetch needs absolute URLs: prefix relative ones with the server's base URL. */
const nodeFetch = globalThis.fetch;
const fetchImpl = (input, init) => nodeFetch(typeof input === "string" && input.startsWith("/") ? base + input : input, init);
/** The same, but a "proxy" that strips the CSRF header from refresh POSTs. */
const strippingFetch = (input, init) => {
  if (input.startsWith("/auth/refresh")) init = { ...init, headers: {} };
  return fetchImpl(input, init);
};

/**
 * A stand-in for the browser's fetch that fails like Chromium's when it is
 * called as a method of another object ("Illegal invocation").
 */
function browserLikeFetch(input, init) {
  if (this !== undefined && this !== globalThis) {
    return Promise.reject(new TypeError("Failed to execute 'fetch' on 'Window': Illegal invocation"));
  }
  return fetchImpl(input, init);
}

before(async () => {
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(reset);
// Keep tests apart: a late request of one test must not count in the next.
afterEach(() => waitFor(() => state.pending === 0));

/** Polls cond every few ms; fails after ms. Real timers on a loaded machine need slack. */
async function waitFor(cond, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for " + cond + "; server state " + JSON.stringify(state));
    await sleep(5);
  }
}

/**
 * Options for a helper with its own refresh state: its own fetch function
 * and its own refresh URL, hence its own BroadcastChannel, so messages of
 * one test never reach the next.
 */
let uniq = 0;
const fresh = () => ({ fetch: (input, init) => fetchImpl(input, init), refreshURL: `/auth/refresh?t=${++uniq}` });

// --- sessionFetch ----------------------------------------------------------

describe("sessionFetch", () => {
  test("passes through when the token is valid", async () => {
    state.expiresAt = Date.now() + 60_000;
    const res = await createSessionFetch({ ...fresh() })("/api/x");
    assert.equal(res.status, 200);
    assert.equal(state.refreshCalls, 0);
    assert.equal(state.apiCalls, 1);
  });

  test("try_refresh: refreshes once and retries once", async () => {
    const res = await createSessionFetch({ ...fresh() })("/api/x");
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true, body: "" });
    assert.equal(state.refreshCalls, 1);
    assert.equal(state.grants, 1);
    assert.equal(state.apiCalls, 2);
  });

  test("sends X-Session-Refresh: 1 on the refresh POST", async () => {
    await createSessionFetch({ ...fresh() })("/api/x");
    assert.deepEqual(state.refreshHeaders, ["1"]);
  });

  test("the browser's fetch is called as a plain function (default export, no fetch option, scheduleRefresh)", async () => {
    const saved = globalThis.fetch;
    globalThis.fetch = browserLikeFetch;
    state.lifetimeMs = 600;
    state.windowMs = 300;
    try {
      // The default instance and createSessionFetch() use globalThis.fetch
      // (browserLikeFetch prefixes relative URLs with the server's).
      assert.equal((await sessionFetch("/api/x")).status, 200);
      assert.equal(state.refreshCalls, 1);
      assert.equal((await createSessionFetch()("/api/x")).status, 200);
      // Passing the browser's fetch explicitly must work too.
      assert.equal((await createSessionFetch({ fetch: browserLikeFetch })("/api/x")).status, 200);
      // scheduleRefresh with the default fetch: one POST at refresh_at.
      const refreshed = [];
      const cancel = scheduleRefresh(state.expiresAt, { refreshAt: state.expiresAt - state.windowMs, onRefreshed: (d) => refreshed.push(d) });
      try {
        await waitFor(() => refreshed.length === 1);
      } finally {
        cancel();
      }
      assert.equal(state.refreshCalls, 2);
      assert.equal(state.grants, 2);
    } finally {
      globalThis.fetch = saved;
    }
  });

  test("20 concurrent calls share one refresh POST and all succeed", async () => {
    const sf = createSessionFetch({ ...fresh() });
    const all = await Promise.all(Array.from({ length: 20 }, () => sf("/api/x")));
    assert.deepEqual(all.map((r) => r.status), Array(20).fill(200));
    assert.equal(state.refreshCalls, 1);
    assert.equal(state.grants, 1);
    await Promise.all(all.map((r) => r.text()));
  });

  test("a call started during a refresh waits for it instead of earning another try_refresh", async () => {
    const sf = createSessionFetch({ ...fresh() });
    const first = sf("/api/x");
    await waitFor(() => state.refreshCalls === 1); // the refresh (50 ms) is now in flight
    const second = await sf("/api/x");
    assert.equal(second.status, 200);
    assert.equal((await first).status, 200);
    assert.equal(state.refreshCalls, 1);
    assert.equal(state.apiCalls, 3); // first, its retry, second (once)
  });

  test("a try_refresh for a token this tab already renewed retries without a POST", async () => {
    // The first call renews; the second is answered try_refresh as if it had
    // left with the old cookie before that (its Date is two seconds old).
    const f = (input, init) => {
      if (input === "/api/x" && f.stale) {
        f.stale = false;
        return Promise.resolve(new Response('{"error":"try_refresh"}', {
          status: 401, headers: { "Content-Type": "application/json", Date: new Date(Date.now() - 2000).toUTCString() },
        }));
      }
      return fetchImpl(input, init);
    };
    const sf = createSessionFetch({ ...fresh(), fetch: f });
    assert.equal((await sf("/api/x")).status, 200);
    assert.equal(state.refreshCalls, 1);
    f.stale = true;
    const res = await sf("/api/x");
    assert.equal(res.status, 200);
    assert.equal(state.refreshCalls, 1, "no second POST");
    assert.equal(state.apiCalls, 3); // the first, its retry, the second's retry
  });

  test("refresh refused: onSessionExpired once, every caller gets the refresh's 401 session_expired", async () => {
    state.refreshMode = "session_expired";
    const calls = [];
    const events = [];
    const o = fresh();
    const off = onSessionChange((e) => events.push(e), o);
    const sf = createSessionFetch({ ...o, onSessionExpired: (info) => calls.push(info) });
    const all = await Promise.all(Array.from({ length: 5 }, () => sf("/api/x")));
    off();
    for (const res of all) {
      assert.equal(res.status, 401);
      assert.equal((await res.json()).error, "session_expired");
    }
    assert.deepEqual(calls, [{ status: 401, error: "session_expired", source: "refresh" }]);
    assert.deepEqual(events, [{ type: "ended", reason: "session_expired", source: "this-tab" }]);
    assert.equal(state.refreshCalls, 1);
    assert.equal(state.apiCalls, 5); // no retries
  });

  test("a try_refresh that arrives after a refused refresh sends no second POST", async () => {
    state.refreshMode = "session_expired";
    const calls = [];
    const sf = createSessionFetch({ ...fresh(), onSessionExpired: (info) => calls.push(info) });
    // The second answer leaves the server when the refresh (50 ms) is long over.
    const [first, late] = await Promise.all([sf("/api/x"), sf("/api/x?late=300")]);
    assert.equal(first.status, 401);
    assert.equal((await first.json()).error, "session_expired");
    assert.equal(late.status, 401);
    assert.equal((await late.json()).error, "session_expired", "the refused refresh's answer");
    assert.equal(state.refreshCalls, 1, "no POST for a session known to be over");
    assert.equal(calls.length, 1);
  });

  test("a try_refresh that arrives after a sign-out sends no POST", async () => {
    const o = fresh();
    const sf = createSessionFetch(o);
    const pending = sf("/api/x?late=300");
    await waitFor(() => state.apiCalls === 1);
    const out = await signOut({ ...o, navigate: false });
    assert.equal(out.ok, true);
    const res = await pending;
    assert.equal(res.status, 401);
    assert.equal((await res.json()).error, "unauthenticated");
    assert.equal(state.refreshCalls, 0);
  });

  test("an API answer of 401 unauthenticated or session_expired calls onSessionExpired once", async () => {
    for (const code of ["unauthenticated", "session_expired"]) {
      reset();
      const fake = (input, init) => input === "/api/x"
        ? Promise.resolve(new Response(JSON.stringify({ error: code }), { status: 401, headers: { "Content-Type": "application/json" } }))
        : fetchImpl(input, init);
      const calls = [];
      const sf = createSessionFetch({ ...fresh(), fetch: fake, onSessionExpired: (info) => calls.push(info) });
      const all = await Promise.all(Array.from({ length: 3 }, () => sf("/api/x")));
      for (const res of all) {
        assert.equal(res.status, 401);
        assert.equal((await res.json()).error, code, "the caller gets the answer untouched");
      }
      assert.deepEqual(calls, [{ status: 401, error: code, source: "response" }]);
      assert.equal(state.refreshCalls, 0);
    }
  });

  test("default onSessionExpired navigates to login with return_to", async () => {
    state.refreshMode = "session_expired";
    const assigned = [];
    globalThis.location = { pathname: "/app/orders", search: "?page=2", assign: (u) => assigned.push(u) };
    try {
      const res = await createSessionFetch({ ...fresh(), loginURL: "/signin" })("/api/x");
      assert.equal(res.status, 401);
    } finally {
      delete globalThis.location;
    }
    assert.deepEqual(assigned, ["/signin?return_to=" + encodeURIComponent("/app/orders?page=2")]);
  });

  test("provider unavailable: resolves with the 503, one refresh attempt, no loop", async () => {
    state.refreshMode = "unavailable";
    const res = await createSessionFetch({ ...fresh() })("/api/x");
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "5");
    assert.equal((await res.json()).error, "temporarily_unavailable");
    assert.equal(state.refreshCalls, 1);
    assert.equal(state.apiCalls, 1);
  });

  test("provider unavailable: until Retry-After ends, a try_refresh gets the 503 without a POST", async () => {
    state.refreshMode = "unavailable";
    state.retryAfter = "1";
    const o = fresh();
    const sf = createSessionFetch(o);
    const [first, late] = await Promise.all([sf("/api/x"), sf("/api/x?late=300")]);
    assert.deepEqual([first.status, late.status], [503, 503]);
    assert.equal(late.headers.get("retry-after"), "1");
    assert.equal((await late.json()).error, "temporarily_unavailable", "the refresh's answer, once more");
    assert.equal(state.refreshCalls, 1, "no POST while Retry-After runs");
    const early = await sf("/api/x");
    assert.equal(early.status, 503);
    assert.equal(state.refreshCalls, 1);
    // Once Retry-After is over the next try_refresh POSTs again; the provider is back.
    state.refreshMode = "ok";
    await sleep(Math.max(0, state.refreshTimes[0] + 1100 - Date.now()));
    const after = await sf("/api/x");
    assert.equal(after.status, 200);
    assert.equal(state.refreshCalls, 2);
  });

  test("a Retry-After over a minute is honoured for a minute only", async () => {
    state.refreshMode = "unavailable";
    state.retryAfter = "3600";
    const sf = createSessionFetch(fresh());
    assert.equal((await sf("/api/x")).status, 503);
    assert.equal((await sf("/api/x")).status, 503);
    assert.equal(state.refreshCalls, 1, "inside the minute: no POST");
    const realNow = Date.now;
    Date.now = () => realNow() + 61000;
    try {
      assert.equal((await sf("/api/x")).status, 503);
    } finally {
      Date.now = realNow;
    }
    assert.equal(state.refreshCalls, 2, "after a minute the refresh is tried again");
  });

  test("csrf 403 (header stripped on the way): resolves with it, no retry", async () => {
    const res = await createSessionFetch({ fetch: strippingFetch })("/api/x");
    assert.equal(res.status, 403);
    assert.equal((await res.json()).error, "csrf");
    assert.deepEqual(state.refreshHeaders, [undefined]);
    assert.equal(state.apiCalls, 1);
  });

  test("a ReadableStream body is not retried: the 401 comes back (the refresh still ran)", async () => {
    const body = new ReadableStream({
      start(c) { c.enqueue(new TextEncoder().encode("streamed")); c.close(); },
    });
    const res = await createSessionFetch({ ...fresh() })("/api/x", { method: "POST", body, duplex: "half" });
    assert.equal(res.status, 401);
    assert.equal((await res.json()).error, "try_refresh");
    assert.equal(state.apiCalls, 1);
    assert.deepEqual(state.apiBodies, ["streamed"]);
    assert.equal(state.refreshCalls, 1);
  });

  test("string, URLSearchParams and Blob bodies are replayed", async () => {
    for (const [body, want] of [["text", "text"], [new URLSearchParams({ a: "1" }), "a=1"], [new Blob(["blob"]), "blob"]]) {
      reset();
      const res = await createSessionFetch({ ...fresh() })("/api/x", { method: "POST", body });
      assert.equal(res.status, 200);
      assert.deepEqual(state.apiBodies, [want, want]);
    }
  });

  test("a Request input is cloned and retried with its body", async () => {
    const req = new Request(base + "/api/x", { method: "POST", body: "hello", headers: { "Content-Type": "text/plain" } });
    const res = await createSessionFetch({ ...fresh() })(req);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true, body: "hello" });
    assert.deepEqual(state.apiBodies, ["hello", "hello"]);
    assert.equal(state.refreshCalls, 1);
  });

  test("the default export is a function", () => {
    assert.equal(typeof sessionFetch, "function");
  });

  test("oidcsession.d.ts declares exactly the module's exports", async () => {
    const mod = await import("./oidcsession.js");
    const dts = readFileSync(new URL("./oidcsession.d.ts", import.meta.url), "utf8");
    const declared = [...dts.matchAll(/^export declare function (\w+)\(/gm)].map((m) => m[1]);
    const exported = Object.keys(mod).filter((k) => k !== "default");
    assert.deepEqual([...declared].sort(), [...exported].sort());
    for (const name of exported) assert.equal(typeof mod[name], "function", name);
    const def = /^export default (\w+);/m.exec(dts);
    assert.ok(def, "a default export is declared");
    assert.equal(mod.default, mod[def[1]], "the declared default is the module's");
  });
});

// --- scheduleRefresh -------------------------------------------------------

describe("scheduleRefresh", () => {
  test("POSTs at the server's refresh_at, re-arms from each answer: POSTs = grants over three lifetimes", async () => {
    state.lifetimeMs = 600;
    state.windowMs = 150;
    state.expiresAt = Date.now() + 600;
    const first = state.expiresAt - state.windowMs;
    const seen = [];
    const cancel = scheduleRefresh(iso(state.expiresAt), {
      refreshAt: iso(first), ...fresh(), onRefreshed: (e, r) => seen.push([e, r]),
    });
    try {
      await waitFor(() => seen.length >= 3);
    } finally {
      cancel();
    }
    await waitFor(() => state.pending === 0);
    assert.ok(state.refreshTimes[0] >= first, "not before the server's refresh_at");
    assert.equal(state.refreshCalls, state.grants, "every POST renewed");
    assert.ok(seen.length >= 3 && seen[0][0] instanceof Date && seen[0][1] instanceof Date);
    const n = state.refreshCalls;
    await sleep(700);
    assert.equal(state.refreshCalls, n, "no refresh after cancel");
  });

  test("a POST the server answers without renewing re-arms at its refresh_at, not in a loop", async () => {
    state.lifetimeMs = 60_000;
    state.windowMs = 500;
    state.expiresAt = Date.now() + 1000;
    // The page claims the window opens now; the server says in 500 ms.
    const cancel = scheduleRefresh(state.expiresAt, { refreshAt: Date.now(), ...fresh() });
    try {
      await waitFor(() => state.grants === 1);
    } finally {
      cancel();
    }
    assert.ok(state.refreshCalls <= 2, `${state.refreshCalls} POSTs for one renewal`);
  });

  test("without refresh_at it aims one second before expiry", async () => {
    state.expiresAt = Date.now() + 1300;
    const start = Date.now();
    const cancel = scheduleRefresh(new Date(state.expiresAt), { ...fresh() });
    try {
      await waitFor(() => state.grants === 1);
    } finally {
      cancel();
    }
    assert.ok(state.refreshTimes[0] - start >= 250, "not long before expiry - 1 s");
    assert.equal(state.refreshCalls, 1);
  });

  test("cancel before it fires: no refresh", async () => {
    const cancel = scheduleRefresh(iso(Date.now() + 200), { refreshAt: iso(Date.now() + 100), ...fresh() });
    cancel();
    await sleep(250);
    assert.equal(state.refreshCalls, 0);
  });

  test("session expired: stops and calls onSessionExpired", async () => {
    state.refreshMode = "session_expired";
    let expiredCalls = 0;
    const cancel = scheduleRefresh(Date.now() + 150, {
      refreshAt: Date.now() + 50, ...fresh(), onSessionExpired: () => expiredCalls++,
    });
    try {
      await waitFor(() => expiredCalls === 1);
      await sleep(300);
      assert.equal(state.refreshCalls, 1, "no further attempt after 401");
      assert.equal(expiredCalls, 1);
    } finally {
      cancel();
    }
  });

  test("a schedule started after the session ended sends nothing", async () => {
    state.refreshMode = "session_expired";
    const o = fresh();
    const calls = [];
    const res = await createSessionFetch({ ...o, onSessionExpired: (i) => calls.push(i) })("/api/x");
    assert.equal(res.status, 401);
    const cancel = scheduleRefresh(Date.now() - 1000, { ...o, refreshAt: Date.now() - 2000, onSessionExpired: (i) => calls.push(i) });
    await sleep(200);
    cancel();
    assert.equal(state.refreshCalls, 1, "only the refused refresh");
    assert.equal(calls.length, 1);
  });

  test("provider unavailable: retried after Retry-After, no sooner", async () => {
    state.refreshMode = "unavailable";
    state.retryAfter = "1";
    const cancel = scheduleRefresh(Date.now() + 100, { refreshAt: Date.now(), ...fresh() });
    try {
      await waitFor(() => state.refreshCalls === 2);
    } finally {
      cancel();
    }
    assert.ok(state.refreshTimes[1] - state.refreshTimes[0] >= 950, "waited Retry-After");
  });
});

// --- several tabs ----------------------------------------------------------

describe("several tabs (separate module instances, one lock manager, real BroadcastChannel)", () => {
  let locks;
  before(() => {
    locks = new FakeLockManager();
    Object.defineProperty(globalThis, "navigator", { value: { locks }, configurable: true, writable: true });
  });
  after(() => { delete globalThis.navigator; });

  /** n tabs: each its own copy of the module, as each browser tab has. */
  const tabs = (n) => Promise.all(Array.from({ length: n }, (_, i) => import(`./oidcsession.js?tab=${i}-${Math.random()}`)));

  test("3 tabs calling at expiry: one refresh POST in total, one grant, all succeed", async () => {
    const o = fresh();
    const ts = await tabs(3);
    const events = ts.map(() => []);
    const offs = ts.map((m, i) => m.onSessionChange((e) => events[i].push(e), o));
    const all = await Promise.all(ts.map((m) => m.createSessionFetch(o)("/api/x")));
    offs.forEach((off) => off());
    assert.deepEqual(all.map((r) => r.status), [200, 200, 200]);
    assert.equal(state.refreshCalls, 1);
    assert.equal(state.grants, 1);
    const sources = events.map((es) => es.filter((e) => e.type === "refreshed").map((e) => e.source)[0]).sort();
    assert.deepEqual(sources, ["other-tab", "other-tab", "this-tab"]);
  });

  test("3 tabs with scheduleRefresh: POSTs = grants", async () => {
    state.lifetimeMs = 800;
    state.windowMs = 200;
    state.expiresAt = Date.now() + 400;
    const o = fresh();
    const ts = await tabs(3);
    const cancels = ts.map((m) => m.scheduleRefresh(state.expiresAt, { refreshAt: state.expiresAt - 200, ...o }));
    try {
      await waitFor(() => state.grants >= 2);
    } finally {
      cancels.forEach((c) => c());
    }
    await waitFor(() => state.pending === 0);
    assert.equal(state.refreshCalls, state.grants);
  });

  test("sign-out in one tab: the others are told and their schedules stop", async () => {
    state.expiresAt = Date.now() + 60_000;
    const o = fresh();
    const [a, b] = await tabs(2);
    const seen = [];
    const off = b.onSessionChange((e) => seen.push(e), o);
    const cancel = b.scheduleRefresh(state.expiresAt, { refreshAt: Date.now() + 400, ...o });
    const out = await a.signOut(o);
    assert.deepEqual(out, { ok: true, status: 200, redirectTo: "/signed-out" });
    await waitFor(() => seen.length === 1);
    assert.deepEqual(seen, [{ type: "ended", reason: "signed_out", source: "other-tab" }]);
    await sleep(600);
    assert.equal(state.refreshCalls, 0, "the stopped schedule sent nothing");
    off();
    cancel();
  });

  test("a refused refresh in one tab is told to the others", async () => {
    state.refreshMode = "session_expired";
    const o = fresh();
    const [a, b] = await tabs(2);
    const seen = [];
    const off = b.onSessionChange((e) => seen.push(e), o);
    const res = await a.createSessionFetch({ ...o, onSessionExpired() {} })("/api/x");
    assert.equal(res.status, 401);
    await waitFor(() => seen.length === 1);
    assert.deepEqual(seen, [{ type: "ended", reason: "session_expired", source: "other-tab" }]);
    off();
  });
});

// --- signOut ---------------------------------------------------------------

describe("signOut", () => {
  test("POSTs with the header, navigates to redirect_to", async () => {
    const assigned = [];
    globalThis.location = { pathname: "/", search: "", assign: (u) => assigned.push(u) };
    try {
      const out = await signOut({ ...fresh() });
      assert.equal(out.ok, true);
    } finally {
      delete globalThis.location;
    }
    assert.equal(state.logoutCalls, 1);
    assert.deepEqual(assigned, ["/signed-out"]);
  });

  test("a refused sign-out (csrf) reports it and stays", async () => {
    const f = (input, init) => fetchImpl(input, { ...init, headers: {} });
    const out = await signOut({ ...fresh(), fetch: f, navigate: false });
    assert.deepEqual(out, { ok: false, status: 403, redirectTo: null, error: "csrf" });
  });
});

// --- axios -----------------------------------------------------------------

describe("installAxiosInterceptor", () => {
  test("try_refresh: 5 concurrent requests, one refresh POST, each retried once", async () => {
    const ax = miniAxios(fetchImpl);
    const eject = installAxiosInterceptor(ax, { ...fresh() });
    const all = await Promise.all(Array.from({ length: 5 }, () => ax.get("/api/x")));
    eject();
    assert.deepEqual(all.map((r) => r.status), Array(5).fill(200));
    assert.deepEqual(all[0].data, { ok: true, body: "" });
    assert.equal(state.refreshCalls, 1);
    assert.equal(state.apiCalls, 10);
  });

  test("refresh refused: rejects with the original error, onSessionExpired once", async () => {
    state.refreshMode = "session_expired";
    const calls = [];
    const ax = miniAxios(fetchImpl);
    installAxiosInterceptor(ax, { ...fresh(), onSessionExpired: (i) => calls.push(i) });
    const err = await ax.get("/api/x").then(() => null, (e) => e);
    assert.equal(err.response.status, 401);
    assert.deepEqual(err.oidcsessionRefresh, { status: 401, error: "session_expired" });
    assert.deepEqual(calls, [{ status: 401, error: "session_expired", source: "refresh" }]);
  });

  test("a try_refresh that arrives after a refused refresh: rejects without a second POST", async () => {
    state.refreshMode = "session_expired";
    const ax = miniAxios(fetchImpl);
    installAxiosInterceptor(ax, { ...fresh(), onSessionExpired: () => {} });
    const [first, late] = await Promise.all([ax.get("/api/x"), ax.get("/api/x?late=300")].map((p) => p.then(() => null, (e) => e)));
    assert.deepEqual(first.oidcsessionRefresh, { status: 401, error: "session_expired" });
    assert.deepEqual(late.oidcsessionRefresh, { status: 401, error: "session_expired" });
    assert.equal(state.refreshCalls, 1);
  });

  test("401 unauthenticated: onSessionExpired, no refresh", async () => {
    state.signedIn = false;
    const calls = [];
    const ax = miniAxios(fetchImpl);
    installAxiosInterceptor(ax, { ...fresh(), onSessionExpired: (i) => calls.push(i) });
    const err = await ax.get("/api/x").then(() => null, (e) => e);
    assert.equal(err.response.status, 401);
    assert.deepEqual(calls, [{ status: 401, error: "unauthenticated", source: "response" }]);
    assert.equal(state.refreshCalls, 0);
  });

  test("provider unavailable: rejects, no loop", async () => {
    state.refreshMode = "unavailable";
    const ax = miniAxios(fetchImpl);
    installAxiosInterceptor(ax, { ...fresh() });
    const err = await ax.get("/api/x").then(() => null, (e) => e);
    assert.deepEqual(err.oidcsessionRefresh, { status: 503, error: "temporarily_unavailable" });
    assert.equal(state.refreshCalls, 1);
    assert.equal(state.apiCalls, 1);
  });
});
