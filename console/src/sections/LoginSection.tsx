/** Paste the token; it is checked against the host before it is kept. */
import { useState } from "react";
import { ApiError, createApi } from "../api/client";
import { useAuth } from "../app/auth";
import { errorMessage } from "../app/errors";
import { navigate } from "../app/router";
import { normalizeToken } from "../app/session";
import { useI18n } from "../i18n/I18nProvider";
import { LoginView } from "../views/LoginView";

export function LoginSection() {
  const { message, signIn } = useAuth();
  const { t } = useI18n();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const onSubmit = async (input: string) => {
    const token = normalizeToken(input);
    if (token === null) {
      setError(t("login.malformed"));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await createApi({ token }).status();
      signIn(token);
      navigate("/", true);
    } catch (err: unknown) {
      setError(err instanceof ApiError && err.status === 401 ? t("login.rejected", { message: err.message }) : errorMessage(err, t));
    } finally {
      setBusy(false);
    }
  };

  return <LoginView reason={message} error={error} busy={busy} onSubmit={(tok) => void onSubmit(tok)} />;
}
