/**
 * The message catalogs (en.json, de.json: flat keys, `{name}` placeholders) and the
 * pure translation function. `npm run check` fails when the two catalogs' keys differ.
 */
import de from "./de.json";
import en from "./en.json";

export type MessageKey = keyof typeof en;
export type Locale = "en" | "de";
export type Vars = Readonly<Record<string, string | number>>;
export type Translate = (key: MessageKey, vars?: Vars) => string;

export const LOCALES: readonly Locale[] = ["en", "de"];

const CATALOGS: Record<Locale, Record<MessageKey, string>> = { en, de };

/** BCP 47 tag for Intl formatting. */
export const INTL_LOCALE: Record<Locale, string> = { en: "en-GB", de: "de-DE" };

export function translator(locale: Locale): Translate {
  const catalog = CATALOGS[locale];
  return (key, vars) => {
    const text = catalog[key] ?? en[key] ?? key;
    if (vars === undefined) return text;
    return text.replace(/\{(\w+)\}/g, (whole, name: string) =>
      Object.hasOwn(vars, name) ? String(vars[name]) : whole,
    );
  };
}

/** The first supported language among the browser's preferences; English otherwise. */
export function detectLocale(languages: readonly string[]): Locale {
  for (const tag of languages) {
    const lang = tag.toLowerCase().split("-")[0];
    if (lang === "de" || lang === "en") return lang;
  }
  return "en";
}
