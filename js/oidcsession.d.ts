// Type declarations for oidcsession.js, the browser half of oidcsession's
// try-refresh contract. The classic-script build defines the same API as
// the global `oidcsession` (see the declaration at the end).

/** Options every entry point accepts. */
export interface Options {
  /** Where RefreshHandler is mounted. Default "/auth/refresh". */
  refreshURL?: string;
  /** Where LoginHandler is mounted; used by the default onSessionExpired. Default "/auth/login". */
  loginURL?: string;
  /** Where LogoutHandler is mounted; used by signOut. Default "/auth/logout". */
  logoutURL?: string;
  /** fetch implementation (tests, a base-URL prefix). Default: the browser's fetch. */
  fetch?: typeof fetch;
  /**
   * The session is over: the refresh was refused, or a call answered 401
   * session_expired or unauthenticated. Called once, not once per waiting
   * call. Default: go to `${loginURL}?return_to=<current path + query>`.
   */
  onSessionExpired?: (info: SessionExpiredInfo) => void;
}

export interface SessionExpiredInfo {
  status: 401;
  /** The server's "error": "session_expired" or "unauthenticated". */
  error?: string;
  /** Whether the refresh POST or the call itself said so. */
  source: "refresh" | "response";
}

export interface ScheduleOptions extends Options {
  /**
   * When the server starts refreshing: the refresh_at of the refresh
   * endpoint's answer, or the value the page rendered. Without it the first
   * POST is aimed one second before expiry.
   */
  refreshAt?: Date | string | number;
  /** Called with each new expiry, from this tab or another one. */
  onRefreshed?: (expiresAt: Date, refreshAt: Date | null) => void;
  /** Called when the POST could not be sent (network error); it is retried with backoff. */
  onError?: (error: unknown) => void;
}

export type SessionEvent =
  | { type: "refreshed"; expiresAt: Date; refreshAt: Date | null; source: "this-tab" | "other-tab" }
  | { type: "ended"; reason: "signed_out" | "session_expired"; source: "this-tab" | "other-tab" };

export interface SignOutOptions extends Options {
  /** Follow the server's redirect_to (the provider's logout page). Default true. */
  navigate?: boolean;
}

export interface SignOutResult {
  ok: boolean;
  status: number;
  redirectTo: string | null;
  error?: string;
}

/** The part of an axios instance the interceptor uses. */
export interface AxiosLike {
  interceptors: {
    request: { use(onFulfilled?: (config: any) => any, onRejected?: (error: any) => any): number; eject(id: number): void };
    response: { use(onFulfilled?: (response: any) => any, onRejected?: (error: any) => any): number; eject(id: number): void };
  };
  request(config: any): Promise<any>;
}

export type SessionFetch = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

/** fetch with the try-refresh contract and the default options. */
export declare function sessionFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
export default sessionFetch;

/** Builds a fetch wrapper that follows the try-refresh contract. */
export declare function createSessionFetch(options?: Options): SessionFetch;

/** Renews before expiry at the server's refresh_at; returns cancel. */
export declare function scheduleRefresh(expiresAt: Date | string | number, options?: ScheduleOptions): () => void;

/** Signs out (POST logoutURL), tells the other tabs, then follows redirect_to. */
export declare function signOut(options?: SignOutOptions): Promise<SignOutResult>;

/** Calls listener for every refresh and session end this tab learns about; returns unsubscribe. */
export declare function onSessionChange(listener: (event: SessionEvent) => void, options?: Options): () => void;

/** Adds the try-refresh contract to an axios instance; returns a function that removes it. */
export declare function installAxiosInterceptor(axios: AxiosLike, options?: Options): () => void;

/** The classic-script build's global. */
declare global {
  // eslint-disable-next-line no-var
  var oidcsession: {
    sessionFetch: typeof sessionFetch;
    createSessionFetch: typeof createSessionFetch;
    scheduleRefresh: typeof scheduleRefresh;
    signOut: typeof signOut;
    onSessionChange: typeof onSessionChange;
    installAxiosInterceptor: typeof installAxiosInterceptor;
  };
}
