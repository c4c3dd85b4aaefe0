/**
 * The hand-over between boot.ts (which fetches a deep-linked recording before the app has
 * loaded) and the app's API client (which takes the result instead of fetching again).
 * No dependencies, so boot.ts stays a few hundred bytes.
 *
 * boot.ts reads and parses the body as soon as it arrives: an unread fetch body stalls
 * the transfer (the browser stops reading the socket), so merely starting the request
 * early would not help.
 */

/** A response as boot.ts received it: the parsed JSON when ok, else the body text. */
export interface EarlyResponse {
  ok: boolean;
  status: number;
  statusText: string;
  json: unknown;
  text: string;
}

export interface BootPrefetch {
  url: string;
  token: string;
  result: Promise<EarlyResponse>;
  /** The result once it arrived (lets the first render use it synchronously). */
  settled?: EarlyResponse;
}

declare global {
  interface Window {
    __pfBoot?: BootPrefetch;
  }
}

/** Where a recording's columns are (what its detail page draws). */
export function columnsUrl(origin: string, id: string): string {
  return `${origin}/api/v1/stats/recordings/${encodeURIComponent(id)}/columns`;
}

export async function readEarly(response: Response): Promise<EarlyResponse> {
  const { ok, status, statusText } = response;
  if (ok) return { ok, status, statusText, json: await response.json(), text: "" };
  return { ok, status, statusText, json: undefined, text: await response.text() };
}

/**
 * Wait (at most `limitMs`) for boot.ts's request, so that the app's first render can
 * already show the deep-linked recording instead of a loading state.
 */
export function bootSettled(limitMs: number): Promise<void> {
  const boot = window.__pfBoot;
  if (boot === undefined) return Promise.resolve();
  return Promise.race([
    boot.result.then(
      () => undefined,
      () => undefined,
    ),
    new Promise<void>((resolve) => window.setTimeout(resolve, limitMs)),
  ]);
}

/** boot.ts's successful result for `url` and `token` if it has already arrived; taken once. */
export function takeSettledBoot(url: string, token: string): EarlyResponse | undefined {
  const boot = typeof window === "undefined" ? undefined : window.__pfBoot;
  if (boot?.settled === undefined || !boot.settled.ok || boot.url !== url || boot.token !== token) {
    return undefined;
  }
  window.__pfBoot = undefined;
  return boot.settled;
}

/** What boot.ts fetched for `url` with `token`, once; undefined when it fetched nothing. */
export function takeBootResult(url: string, token: string): Promise<EarlyResponse> | undefined {
  const boot = typeof window === "undefined" ? undefined : window.__pfBoot;
  if (boot === undefined || boot.url !== url || boot.token !== token) return undefined;
  window.__pfBoot = undefined;
  return boot.result;
}
