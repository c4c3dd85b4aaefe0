/**
 * The summary and compare client for sections, signed in like `useApi()`: the kept token,
 * and a 401 signs out with the host's message.
 */
import { useMemo } from "react";
import { createStatsApi, type StatsApi } from "../api/stats";
import { useAuth } from "../app/auth";
import { loadToken } from "../app/session";
import { useI18n } from "../i18n/I18nProvider";

export function useStatsApi(): StatsApi {
  const { api, signOut } = useAuth();
  const { t } = useI18n();
  return useMemo(() => {
    // The token the app signed in with (kept in localStorage). Where the browser refuses
    // storage there is none to read: requests fail with the host's 401, shown as an error
    // without signing out, since the app's own token may still be good.
    const token = loadToken();
    return createStatsApi({
      token: token ?? "",
      ...(token !== null ? { onUnauthorized: (e) => signOut(t("login.expired", { message: e.message })) } : {}),
    });
    // `api` changes with the token the app signed in with.
  }, [api, signOut, t]);
}
