/**
 * Load something once per `deps`: the result, or the error as a message for the user.
 * A load that a newer one (or unmounting) has overtaken is ignored, so a slow answer for
 * the previous recording never replaces the current one.
 */
import { useEffect, useRef, useState } from "react";
import { useI18n } from "../i18n/I18nProvider";
import { errorMessage } from "./errors";

export interface Loaded<T> {
  data: T | null;
  error: string | null;
}

/** `load` null: nothing to load (the result stays empty). */
export function useLoad<T>(load: (() => Promise<T>) | null, deps: readonly unknown[]): Loaded<T> {
  const { t } = useI18n();
  const [state, setState] = useState<Loaded<T>>({ data: null, error: null });
  const latest = useRef(load);
  latest.current = load;
  useEffect(() => {
    const run = latest.current;
    setState({ data: null, error: null });
    if (run === null) return undefined;
    let cancelled = false;
    run().then(
      (data) => {
        if (!cancelled) setState({ data, error: null });
      },
      (err: unknown) => {
        if (!cancelled) setState({ data: null, error: errorMessage(err, t) });
      },
    );
    return () => {
      cancelled = true;
    };
    // `deps` name what is loaded; `load` itself is a new closure every render.
  }, [...deps, t]);
  return state;
}
