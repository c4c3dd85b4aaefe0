/** The shell: providers, header navigation, and the route switch. */
import { useCallback, useEffect } from "react";
import type { ApiError } from "../api/client";
import { useI18n, I18nProvider } from "../i18n/I18nProvider";
import { LOCALES, type Locale } from "../i18n/messages";
import { CompareRoute, DevicesRoute, LoginRoute, NotFoundRoute, PerformanceRoute, RecordingRoute } from "../routes/routes";
import { AuthProvider, useAuth } from "./auth";
import { Link, navigate, useRoute, type Route } from "./router";

function PerformanceIcon() {
  return (
    <svg className="icon" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false">
      <path d="M3 20h18v-2H3zm2-4h3V9H5zm5 0h3V4h-3zm5 0h3v-5h-3z" fill="currentColor" />
    </svg>
  );
}

function DevicesIcon() {
  return (
    <svg className="icon" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false">
      <path d="M3 5h18v11H3zm2 2v7h14V7zM8 18h8v2H8z" fill="currentColor" />
    </svg>
  );
}

/** Which navigation entry a route belongs to. */
function section(route: Route): "performance" | "devices" | null {
  switch (route.name) {
    case "performance":
    case "recording":
    case "compare":
      return "performance";
    case "devices":
      return "devices";
    case "login":
    case "notFound":
      return null;
  }
}

function Header({ route }: { route: Route }) {
  const { t, locale, setLocale } = useI18n();
  const { api, signOut } = useAuth();
  const current = section(route);
  return (
    <header className="app-header">
      <span className="brand">punktfunk</span>
      <nav aria-label={t("nav.label")}>
        <Link to={{ name: "performance" }} className="nav-item" current={current === "performance"}>
          <PerformanceIcon />
          <span>{t("nav.performance")}</span>
        </Link>
        <Link to={{ name: "devices" }} className="nav-item" current={current === "devices"}>
          <DevicesIcon />
          <span>{t("nav.devices")}</span>
        </Link>
      </nav>
      <div className="header-tools">
        <label className="inline">
          <span className="visually-hidden">{t("nav.language")}</span>
          <select value={locale} onChange={(e) => setLocale(e.currentTarget.value as Locale)} aria-label={t("nav.language")}>
            {LOCALES.map((l) => (
              <option key={l} value={l}>
                {l === "en" ? "English" : "Deutsch"}
              </option>
            ))}
          </select>
        </label>
        {api !== null ? (
          <button type="button" onClick={() => signOut(t("login.signedOut"))}>
            {t("nav.signOut")}
          </button>
        ) : null}
      </div>
    </header>
  );
}

function RouteView({ route }: { route: Route }) {
  const { api } = useAuth();
  const needsLogin = api === null && route.name !== "login";
  useEffect(() => {
    if (needsLogin) navigate("/login", true);
  }, [needsLogin]);
  if (needsLogin || route.name === "login") return <LoginRoute />;
  switch (route.name) {
    case "performance":
      return <PerformanceRoute />;
    case "devices":
      return <DevicesRoute />;
    case "recording":
      return <RecordingRoute key={route.id} id={route.id} />;
    case "compare":
      return <CompareRoute ids={route.ids} />;
    case "notFound":
      return <NotFoundRoute path={route.path} />;
  }
}

function Signed() {
  const { t } = useI18n();
  const route = useRoute();
  const unauthorized = useCallback((e: ApiError) => t("login.expired", { message: e.message }), [t]);
  return (
    <AuthProvider unauthorizedMessage={unauthorized}>
      <Header route={route} />
      <main id="main">
        <RouteView route={route} />
      </main>
    </AuthProvider>
  );
}

export function App() {
  return (
    <I18nProvider>
      <Signed />
    </I18nProvider>
  );
}
