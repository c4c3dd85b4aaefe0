/**
 * Inlined into index.html as a classic script (see vite.config.ts), so it runs while the
 * HTML is parsed, before the app bundle has even loaded: on a deep link to a recording it
 * fetches the recording's columns (about a megabyte for a 3 h capture) and parses them,
 * overlapping the app's own start-up. The API client takes the result (api/client.ts,
 * `columns`); errors (401, 404, network) surface there exactly as for any other request.
 */
import { columnsUrl, readEarly, type BootPrefetch } from "./app/bootPrefetch";
import { parseRoute } from "./app/route";
import { loadToken } from "./app/session";

const token = loadToken();
const route = parseRoute(window.location.pathname, window.location.search);
if (token !== null && route.name === "recording") {
  const url = columnsUrl(window.location.origin, route.id);
  const boot: BootPrefetch = {
    url,
    token,
    result: fetch(url, { headers: { Authorization: `Bearer ${token}` } }).then(readEarly),
  };
  boot.result.then(
    (r) => void (boot.settled = r),
    () => undefined, // reported by the app when it takes the result
  );
  window.__pfBoot = boot;
}
