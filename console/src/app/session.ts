/** The bearer token and language choice, kept in the browser (localStorage). */

const TOKEN_KEY = "punktfunk.token";
const LOCALE_KEY = "punktfunk.locale";

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null; // storage disabled: the token lives only as long as the page
  }
}

export function loadToken(): string | null {
  const t = storage()?.getItem(TOKEN_KEY) ?? null;
  return t === null || t.trim() === "" ? null : t;
}

export function saveToken(token: string): void {
  storage()?.setItem(TOKEN_KEY, token);
}

export function clearToken(): void {
  storage()?.removeItem(TOKEN_KEY);
}

export function loadLocaleChoice(): string | null {
  return storage()?.getItem(LOCALE_KEY) ?? null;
}

export function saveLocaleChoice(locale: string): void {
  storage()?.setItem(LOCALE_KEY, locale);
}

/** What a pasted token must look like: printable, no whitespace inside. */
export function normalizeToken(input: string): string | null {
  let token = input.trim();
  if (/^bearer\s+/i.test(token)) token = token.replace(/^bearer\s+/i, "");
  if (token === "" || /[\s\u0000-\u001f\u007f]/.test(token)) return null;
  return token;
}
