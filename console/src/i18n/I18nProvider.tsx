/** The language of the console: the user's choice, else the browser's preference. */
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { loadLocaleChoice, saveLocaleChoice } from "../app/session";
import { detectLocale, INTL_LOCALE, LOCALES, translator, type Locale, type Translate } from "./messages";

export interface I18n {
  locale: Locale;
  /** Intl tag for number and date formatting. */
  intl: string;
  t: Translate;
  setLocale: (locale: Locale) => void;
}

const I18nContext = createContext<I18n | null>(null);

function initialLocale(): Locale {
  const chosen = loadLocaleChoice();
  if (chosen !== null && (LOCALES as readonly string[]).includes(chosen)) return chosen as Locale;
  return detectLocale(navigator.languages.length > 0 ? navigator.languages : [navigator.language]);
}

export function I18nProvider({ children }: { children: ReactNode }) {
  const [locale, setLocaleState] = useState<Locale>(initialLocale);
  const setLocale = useCallback((next: Locale) => {
    saveLocaleChoice(next);
    setLocaleState(next);
  }, []);
  useEffect(() => {
    document.documentElement.lang = locale;
  }, [locale]);
  const value = useMemo<I18n>(
    () => ({ locale, intl: INTL_LOCALE[locale], t: translator(locale), setLocale }),
    [locale, setLocale],
  );
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18n {
  const ctx = useContext(I18nContext);
  if (ctx === null) throw new Error("useI18n outside I18nProvider");
  return ctx;
}

/** For views rendered outside the app (tests, fixtures): a fixed language. */
export function StaticI18n({ locale, children }: { locale: Locale; children: ReactNode }) {
  const value = useMemo<I18n>(
    () => ({ locale, intl: INTL_LOCALE[locale], t: translator(locale), setLocale: () => undefined }),
    [locale],
  );
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}
