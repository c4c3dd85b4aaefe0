import { useState, type FormEvent } from "react";
import { useI18n } from "../i18n/I18nProvider";
import { ErrorNotice, Notice } from "./common";

export interface LoginViewProps {
  /** Why we are here (e.g. the token was rejected). */
  reason: string | null;
  error: string | null;
  busy: boolean;
  onSubmit: (token: string) => void;
}

export function LoginView({ reason, error, busy, onSubmit }: LoginViewProps) {
  const { t } = useI18n();
  const [token, setToken] = useState("");
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    onSubmit(token);
  };
  return (
    <section className="card login" aria-labelledby="login-title">
      <h1 id="login-title">{t("login.title")}</h1>
      {reason !== null ? <Notice tone="warn">{reason}</Notice> : null}
      <p>{t("login.help")}</p>
      <pre className="command">punktfunk token</pre>
      <form onSubmit={submit}>
        <label htmlFor="token">{t("login.token")}</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          spellcheck={false}
          value={token}
          onChange={(e) => setToken(e.currentTarget.value)}
          required
        />
        <ErrorNotice message={error} />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? t("login.checking") : t("login.submit")}
        </button>
      </form>
    </section>
  );
}
