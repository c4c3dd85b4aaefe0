/**
 * Run `tick` now and then every `intervalMs` after the previous run finished (runs never
 * overlap), while `enabled`. The returned `poke()` runs it again right away (after the
 * run in progress, if any). `tick` gets a function that says whether polling stopped.
 */
import { useCallback, useEffect, useRef } from "react";

export function usePoll(
  tick: (stopped: () => boolean) => Promise<void>,
  intervalMs: number,
  enabled = true,
): () => void {
  const tickRef = useRef(tick);
  tickRef.current = tick;
  const pokeRef = useRef<() => void>(() => undefined);

  useEffect(() => {
    if (!enabled) return undefined;
    let stopped = false;
    let running = false;
    let again = false;
    let timer: number | undefined;
    const run = async () => {
      if (stopped) return;
      if (running) {
        again = true;
        return;
      }
      running = true;
      window.clearTimeout(timer);
      try {
        await tickRef.current(() => stopped);
      } catch {
        // tick reports its own errors; polling goes on
      } finally {
        running = false;
        if (!stopped) {
          if (again) {
            again = false;
            void run();
          } else {
            timer = window.setTimeout(() => void run(), intervalMs);
          }
        }
      }
    };
    pokeRef.current = () => void run();
    void run();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
      pokeRef.current = () => undefined;
    };
  }, [intervalMs, enabled]);

  return useCallback(() => pokeRef.current(), []);
}
