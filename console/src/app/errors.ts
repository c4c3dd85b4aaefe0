/** Turn anything thrown into a message for the user (the API's message when there is one). */
import { ApiError } from "../api/client";
import type { Translate } from "../i18n/messages";

export function errorMessage(err: unknown, t: Translate): string {
  if (err instanceof ApiError) {
    if (err.status === 0 && err.code === "network_error") return t("error.network", { reason: err.message });
    return t("error.api", { status: err.status, message: err.message });
  }
  if (err instanceof Error) return err.message;
  return String(err);
}
