// Tests for oidcsession.js against a real node:http server that speaks the
// try-refresh contract (run: node --test js/).
import { test, describe, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import sessionFetch, { createSessionFetch, scheduleRefresh } from "./oidcsession.js";

// --- the server ------------------------------------------------------------

/** A counter-backed "session": one flag says whether the access token has expired. */
const state = {
  expired: true,
  refreshMode: "ok", // "ok" | "session_expired" | "unavailable"
  lifetimeMs: 5000, // expires_at handed out by a successful refresh
  refreshCalls: 0,
  refreshTimes: [],
  refreshHeaders: [],
  apiCalls: 0,
  apiBodies: [],
  pending: 0, // requests the server is still answering
};

function reset() {
  Object.assign(state, {
    expired: true, refreshMode: "ok", lifetimeMs: 5000, refreshCalls: 0,
    refreshTimes: [], refreshHeaders: [], apiCalls: 0, apiBodies: [],
  });
}

function json(res, status, body, headers = {}) {
  res.writeHead(status, { "Content-Type": "application/json", "Cache-Control": "no-store", ...headers });
  res.end(JSON.stringify(body));
}

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString();
}

const server = http.createServer(async (req, res) => {
  state.pending++;
  res.on("close", () => state.pending--);
  const body = await readBody(req);
  if (req.url === "/api/x") {
    state.apiCalls++;
    state.apiBodies.push(body);
    if (state.expired) {
      return json(res, 401, { error: "try_refresh", error_description: "the access token has expired" },
        { "WWW-Authenticate": 'Bearer error="invalid_token", error_description="the access token has expired"' });
    }
    return json(res, 200, { ok: true, body });
  }
  if (req.url === "/auth/refresh") {
    if (req.method !== "POST") { res.writeHead(405, { Allow: "POST" }); return res.end(); }
    state.refreshHeaders.push(req.headers["x-session-refresh"]);
    if (req.headers["x-session-refresh"] !== "1") return json(res, 403, { error: "csrf" });
    state.refreshCalls++;
    state.refreshTimes.push(Date.now());
    await sleep(50);
    if (state.refreshMode === "session_expired") return json(res, 401, { error: "session_expired" });
    if (state.refreshMode === "unavailable") {
      return json(res, 503, { error: "temporarily_unavailable" }, { "Retry-After": "5" });
    }
    state.expired = false;
    return json(res, 200, { expires_at: new Date(Date.now() + state.lifetimeMs).toISOString() });
  }
  res.writeHead(404);
  res.end();
});

let base;
/** Node's fetch needs absolute URLs: prefix relative ones with the server's base URL. */
const fetchImpl = (input, init) => fetch(typeof input === "string" && input.startsWith("/") ? base + input : input, init);
/** The same, but a "proxy" that strips the CSRF header from refresh POSTs. */
const strippingFetch = (input, init) => {
  if (input === "/auth/refresh") init = { ...init, headers: {} };
  return fetchImpl(input, init);
};

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
async function waitFor(cond, ms = 3000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for " + cond);
    await sleep(5);
  }
}

// --- sessionFetch ----------------------------------------------------------

describe("sessionFetch", () => {
  test("passes through when the token is valid", async () => {
    state.expired = false;
    const res = await createSessionFetch({ fetch: fetchImpl })("/api/x");
    assert.equal(res.status, 200);
    assert.equal(state.refreshCalls, 0);
    assert.equal(state.apiCalls, 1);
  });

  test("try_refresh: refreshes once and retries once", async () => {
    const res = await createSessionFetch({ fetch: fetchImpl })("/api/x");
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true, body: "" });
    assert.equal(state.refreshCalls, 1);
    assert.equal(state.apiCalls, 2);
  });

  test("sends X-Session-Refresh: 1 on the refresh POST", async () => {
    await createSessionFetch({ fetch: fetchImpl })("/api/x");
    assert.deepEqual(state.refreshHeaders, ["1"]);
  });

  test("20 concurrent calls share one refresh POST and all succeed", async () => {
    const sf = createSessionFetch({ fetch: fetchImpl });
    const all = await Promise.all(Array.from({ length: 20 }, () => sf("/api/x")));
    assert.deepEqual(all.map((r) => r.status), Array(20).fill(200));
    assert.equal(state.refreshCalls, 1);
    await Promise.all(all.map((r) => r.text()));
  });

  test("a call started during a refresh waits for it instead of earning another try_refresh", async () => {
    const sf = createSessionFetch({ fetch: fetchImpl });
    const first = sf("/api/x");
    while (state.refreshCalls === 0) await sleep(2); // the refresh (50 ms) is now in flight
    const second = await sf("/api/x");
    assert.equal(second.status, 200);
    assert.equal((await first).status, 200);
    assert.equal(state.refreshCalls, 1);
    assert.equal(state.apiCalls, 3); // first, its retry, second (once)
  });

  test("session expired: onSessionExpired once, original 401 returned", async () => {
    state.refreshMode = "session_expired";
    const calls = [];
    const sf = createSessionFetch({ fetch: fetchImpl, onSessionExpired: (r) => calls.push(r.error) });
    const all = await Promise.all(Array.from({ length: 5 }, () => sf("/api/x")));
    for (const res of all) {
      assert.equal(res.status, 401);
      assert.equal((await res.json()).error, "try_refresh");
    }
    assert.deepEqual(calls, ["session_expired"]);
    assert.equal(state.refreshCalls, 1);
    assert.equal(state.apiCalls, 5); // no retries
  });

  test("default onSessionExpired navigates to login with return_to", async () => {
    state.refreshMode = "session_expired";
    const assigned = [];
    globalThis.location = { pathname: "/app/orders", search: "?page=2", assign: (u) => assigned.push(u) };
    try {
      const res = await createSessionFetch({ fetch: fetchImpl, loginURL: "/signin" })("/api/x");
      assert.equal(res.status, 401);
    } finally {
      delete globalThis.location;
    }
    assert.deepEqual(assigned, ["/signin?return_to=" + encodeURIComponent("/app/orders?page=2")]);
  });

  test("provider unavailable: resolves with the 503, one refresh attempt, no loop", async () => {
    state.refreshMode = "unavailable";
    const res = await createSessionFetch({ fetch: fetchImpl })("/api/x");
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "5");
    assert.equal((await res.json()).error, "temporarily_unavailable");
    assert.equal(state.refreshCalls, 1);
    assert.equal(state.apiCalls, 1);
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
    const res = await createSessionFetch({ fetch: fetchImpl })("/api/x", { method: "POST", body, duplex: "half" });
    assert.equal(res.status, 401);
    assert.equal((await res.json()).error, "try_refresh");
    assert.equal(state.apiCalls, 1);
    assert.deepEqual(state.apiBodies, ["streamed"]);
    assert.equal(state.refreshCalls, 1);
  });

  test("string, URLSearchParams and Blob bodies are replayed", async () => {
    const sf = createSessionFetch({ fetch: fetchImpl });
    for (const [body, want] of [["text", "text"], [new URLSearchParams({ a: "1" }), "a=1"], [new Blob(["blob"]), "blob"]]) {
      reset();
      const res = await sf("/api/x", { method: "POST", body });
      assert.equal(res.status, 200);
      assert.deepEqual(state.apiBodies, [want, want]);
    }
  });

  test("a Request input is cloned and retried with its body", async () => {
    const req = new Request(base + "/api/x", { method: "POST", body: "hello", headers: { "Content-Type": "text/plain" } });
    const res = await createSessionFetch({ fetch: fetchImpl })(req);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true, body: "hello" });
    assert.deepEqual(state.apiBodies, ["hello", "hello"]);
    assert.equal(state.refreshCalls, 1);
  });

  test("a 401 that is not try_refresh is returned untouched", async () => {
    const fakeFetch = async (input, init) =>
      input === "/api/x" ? new Response('{"error":"unauthenticated"}', { status: 401, headers: { "Content-Type": "application/json" } })
                         : fetchImpl(input, init);
    const res = await createSessionFetch({ fetch: fakeFetch })("/api/x");
    assert.equal(res.status, 401);
    assert.equal(state.refreshCalls, 0);
  });

  test("the default export is a function", () => {
    assert.equal(typeof sessionFetch, "function");
  });
});

// --- scheduleRefresh -------------------------------------------------------

describe("scheduleRefresh", () => {
  test("refreshes before expiry and re-schedules from the new expires_at", async () => {
    state.lifetimeMs = 600; // each refresh hands out 600 ms, so the next one is due ~100 ms later
    const seen = [];
    const expiry = Date.now() + 600;
    const cancel = scheduleRefresh(new Date(expiry), { skewSeconds: 0.5, fetch: fetchImpl, onRefreshed: (d) => seen.push(d) });
    try {
      await waitFor(() => state.refreshCalls >= 1);
      assert.ok(state.refreshTimes[0] >= expiry - 500 - 2, "not earlier than expiry - skew");
      assert.ok(state.refreshTimes[0] < expiry, "refresh POST must reach the server before expiry");
      await waitFor(() => state.refreshCalls >= 2); // re-scheduled from the new expires_at
      assert.ok(seen.length >= 1 && seen[0] instanceof Date && seen[0].getTime() > expiry);
    } finally {
      cancel();
    }
    await waitFor(() => state.pending === 0);
    const n = state.refreshCalls;
    await sleep(300);
    assert.equal(state.refreshCalls, n, "no refresh after cancel");
  });

  test("cancel before it fires: no refresh", async () => {
    const cancel = scheduleRefresh(new Date(Date.now() + 200).toISOString(), { skewSeconds: 0.1, fetch: fetchImpl });
    cancel();
    await sleep(250);
    assert.equal(state.refreshCalls, 0);
  });

  test("session expired: stops and calls onSessionExpired", async () => {
    state.refreshMode = "session_expired";
    let expiredCalls = 0;
    const cancel = scheduleRefresh(Date.now() + 150, {
      skewSeconds: 0.1, fetch: fetchImpl, onSessionExpired: () => expiredCalls++,
    });
    try {
      await waitFor(() => expiredCalls === 1);
      await sleep(200);
      assert.equal(state.refreshCalls, 1, "no further attempt after 401");
      assert.equal(expiredCalls, 1);
    } finally {
      cancel();
    }
  });
});
