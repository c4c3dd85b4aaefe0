/** The system's light/dark preference, followed live (charts are re-themed on change). */
import { useEffect, useState } from "react";
import type { ColorScheme } from "../data/stages";

const QUERY = "(prefers-color-scheme: dark)";

export function useColorScheme(): ColorScheme {
  const [dark, setDark] = useState(() => window.matchMedia(QUERY).matches);
  useEffect(() => {
    const mq = window.matchMedia(QUERY);
    const update = () => setDark(mq.matches);
    mq.addEventListener("change", update);
    return () => mq.removeEventListener("change", update);
  }, []);
  return dark ? "dark" : "light";
}
