// The /app page's script, an ES module that imports the helper's module
// build through the page's import map ("oidcsession").
import { createSessionFetch, scheduleRefresh, signOut, onSessionChange } from "oidcsession";

const $ = (id) => document.getElementById(id);
const root = $("app");
let expiresAt = Date.parse(root.dataset.expiresAt);
let refreshAt = root.dataset.refreshAt ? Date.parse(root.dataset.refreshAt) : null;
let cancelSchedule = null;
let ended = false;

const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });

/** Adds a line to the activity log, newest first, keeping ten. */
function log(text) {
  const li = document.createElement("li");
  const time = document.createElement("time");
  time.textContent = clock(Date.now());
  li.append(time, " ", text);
  $("log").prepend(li);
  while ($("log").children.length > 10) $("log").lastElementChild.remove();
}

/** The access token's state, in words, once a second. */
function tick() {
  if (ended) {
    $("token-state").textContent = "none";
    $("token-until").textContent = "";
    $("token-next").textContent = "The session is over.";
    return;
  }
  const left = Math.round((expiresAt - Date.now()) / 1000);
  $("token-state").textContent = left > 0 ? `valid for ${left} s` : `expired ${-left} s ago`;
  $("token-until").textContent = left > 0 ? `until ${clock(expiresAt)}` : `at ${clock(expiresAt)}`;
  let next;
  if (refreshAt === null) next = "The provider gave no refresh token: the session ends when the access token expires.";
  else if (left <= 0) next = "The next API call refreshes it (the server answers try_refresh).";
  else if (Date.now() < refreshAt) next = `The server renews it from ${clock(refreshAt)}, the last ${Math.round((expiresAt - refreshAt) / 1000)} s of its lifetime.`;
  else next = "Inside the refresh window: the server renews it on request.";
  $("token-next").textContent = next;
}

function setTimes(exp, at) {
  expiresAt = exp;
  refreshAt = at;
  tick();
}

/** The session is over: say so, offer a way back, stop sending requests. */
function showEnded(text) {
  if (ended) return;
  ended = true;
  stopSchedule();
  $("ended-text").textContent = text;
  $("ended").hidden = false;
  for (const b of document.querySelectorAll("[data-needs-session]")) b.disabled = true;
  tick();
}

const api = createSessionFetch({
  onSessionExpired(info) {
    showEnded(info.error === "unauthenticated" ? "You are not signed in any more." : "Your session has ended.");
  },
});

function show(text) {
  $("api").hidden = false;
  $("api").textContent = text;
}

/** Puts /api/me's claims into the cards, so they never go stale after a refresh. */
function showClaims(me) {
  $("claims").textContent = JSON.stringify(me.claims, null, 2);
  if (me.userinfo) {
    $("userinfo").textContent = JSON.stringify(me.userinfo, null, 2);
    $("userinfo-card").hidden = false;
  }
  if (me.expires_at) setTimes(Date.parse(me.expires_at), me.refresh_at ? Date.parse(me.refresh_at) : null);
}

async function loadMe() {
  const res = await api("/api/me", { headers: { Accept: "application/json" } });
  const body = await res.json().catch(() => null);
  if (res.ok && body) showClaims(body);
  return { res, body };
}

async function callAPI() {
  try {
    const { res, body } = await loadMe();
    let text = `${res.status} ${res.statusText}\n`;
    if (res.status === 503) text += `The provider is unavailable; the session is kept. Try again in ${res.headers.get("Retry-After") || "a few"} s.\n`;
    show(text + JSON.stringify(body, null, 2));
    log(`GET /api/me: ${res.status}`);
  } catch {
    show("The server could not be reached.");
  }
}

/** Calls the orders API through the server's proxy, which adds the token. */
async function callOrders() {
  try {
    const res = await api("/api/orders/", { headers: { Accept: "application/json" } });
    const body = await res.json().catch(() => null);
    show(`${res.status} ${res.statusText} from the orders API, through the proxy (the browser never holds its token)\n` + JSON.stringify(body, null, 2));
    log(`GET /api/orders/: ${res.status}`);
  } catch {
    show("The server could not be reached.");
  }
}

async function refreshNow() {
  let res;
  try {
    res = await fetch("/auth/refresh", { method: "POST", headers: { "X-Session-Refresh": "1", Accept: "application/json" } });
  } catch {
    return show("The server could not be reached.");
  }
  const body = await res.json().catch(() => ({}));
  if (res.ok) {
    const exp = Date.parse(body.expires_at);
    const at = body.refresh_at ? Date.parse(body.refresh_at) : null;
    if (exp > expiresAt) {
      log(`Refresh now: renewed; expires ${clock(exp)}`);
      show(`200: renewed. The new access token expires at ${clock(exp)}.`);
      setTimes(exp, at);
      loadMe().catch(() => {});
    } else {
      show(`200: the server kept the token. It renews only inside the refresh window, from ${at ? clock(at) : "—"}.`);
      log("Refresh now: too early, the server kept the token");
    }
  } else if (res.status === 503) {
    show(`503: the provider is unavailable; the session is kept. Retry after ${res.headers.get("Retry-After")} s.`);
    log("Refresh now: provider unavailable");
  } else if (res.status === 401) {
    showEnded("Your session has ended.");
  } else {
    show(`${res.status}: ${body.error || "refused"}`);
  }
}

function startSchedule() {
  if (cancelSchedule || ended || refreshAt === null) return;
  cancelSchedule = scheduleRefresh(expiresAt, {
    refreshAt,
    onError: () => log("Renewal: the server could not be reached; retrying"),
    onSessionExpired: () => showEnded("Your session has ended."),
  });
}

function stopSchedule() {
  if (cancelSchedule) cancelSchedule();
  cancelSchedule = null;
}

onSessionChange((e) => {
  if (e.type === "refreshed") {
    setTimes(e.expiresAt.getTime(), e.refreshAt ? e.refreshAt.getTime() : null);
    log(`renewed by ${e.source === "this-tab" ? "this tab" : "another tab"}; expires ${clock(e.expiresAt)}`);
    loadMe().catch(() => {});
  } else if (e.type === "ended" && e.source === "other-tab") {
    showEnded(e.reason === "signed_out" ? "You signed out in another tab." : "Your session ended in another tab.");
  }
});

/** Signs this browser out, here and at the provider (the helper tells the other tabs). */
async function signOutHere() {
  stopSchedule();
  const out = await signOut().catch(() => null);
  if (!out || !out.ok) show("Sign-out failed" + (out ? ` (${out.status})` : "") + ".");
}

// --- Your sessions: the user's devices (listed with REDIS_URL) ---------------

/** Shows the card's times in the browser's time zone. */
for (const t of document.querySelectorAll("#sessions time[datetime]")) {
  const ms = Date.parse(t.getAttribute("datetime"));
  if (!Number.isNaN(ms)) t.textContent = new Date(ms).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

/** Updates the "other devices" parts of the card after rows went away. */
function othersChanged() {
  const others = document.querySelectorAll("#device-list li:not([data-current])").length;
  $("sign-out-others").hidden = others === 0;
  $("no-others").hidden = others !== 0;
}

/**
 * POSTs to one of the app's session endpoints: same-origin, with the CSRF
 * header the server requires, through sessionFetch (an expired access
 * token is renewed and the request retried once).
 */
async function postSessions(path, form) {
  try {
    const res = await api(path, {
      method: "POST",
      headers: { "X-Session-Refresh": "1", Accept: "application/json" },
      body: new URLSearchParams(form),
    });
    return { res, body: await res.json().catch(() => ({})) };
  } catch {
    show("The server could not be reached.");
    return null;
  }
}

async function signOutDevice(li, button) {
  const name = li.querySelector("strong").textContent;
  button.disabled = true;
  const out = await postSessions("/api/sessions/sign-out", { id: li.dataset.sessionId });
  if (out && (out.res.ok || out.res.status === 404)) {
    li.remove();
    othersChanged();
    log(out.res.ok ? `Signed out a device (${name})` : `That device (${name}) was signed out already`);
    return;
  }
  if (ended) return; // this session is over: the card above says so
  button.disabled = false;
  if (out) show(`${out.res.status}: ${out.body.error_description || out.body.error || "the sign-out failed"}`);
}

const deviceList = $("device-list");
if (deviceList) {
  deviceList.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-sign-out]");
    if (!button || button.disabled) return;
    const li = button.closest("li");
    if ("current" in li.dataset) signOutHere();
    else signOutDevice(li, button);
  });
  $("sign-out-others").addEventListener("click", async (e) => {
    const button = e.currentTarget;
    button.disabled = true;
    const out = await postSessions("/api/sessions/sign-out-others", {});
    if (ended) return;
    button.disabled = false;
    if (!out) return;
    const { res, body } = out;
    if (res.ok) {
      for (const li of document.querySelectorAll("#device-list li:not([data-current])")) li.remove();
      othersChanged();
      log(`Signed out ${body.signed_out} other device${body.signed_out === 1 ? "" : "s"}`);
    } else {
      show(`${res.status}: ${body.error_description || body.error || "the sign-out failed"}`);
    }
  });
}

$("call").addEventListener("click", callAPI);
$("orders").addEventListener("click", callOrders);
$("refresh").addEventListener("click", refreshNow);
$("signout").addEventListener("click", signOutHere);
$("auto").addEventListener("change", (e) => (e.target.checked ? startSchedule() : stopSchedule()));

const outage = $("outage");
if (outage) {
  outage.addEventListener("click", async () => {
    const on = outage.getAttribute("aria-pressed") !== "true";
    const res = await fetch("/demo/outage", { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "on=" + on });
    if (!res.ok) return show(`${res.status}: the outage switch failed`);
    const { outage: now } = await res.json();
    outage.setAttribute("aria-pressed", String(now));
    outage.textContent = now ? "End provider outage" : "Simulate provider outage";
    log(now ? "provider outage on: refreshes answer 503" : "provider outage over");
  });
}

tick();
setInterval(tick, 1000);
if ($("auto").checked) startSchedule();
document.documentElement.dataset.ready = "1"; // for the end-to-end tests: the module ran
