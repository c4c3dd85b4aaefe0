/**
 * A minimal history router: five routes don't justify a routing library. mgmt answers
 * every extension-less path with index.html, so deep links and reloads work.
 * The routes themselves (parse, href) live in route.ts, free of React, for boot.ts.
 */
import { useEffect, useState, type MouseEvent, type ReactNode } from "react";
import { parseRoute, routeHref, type Route } from "./route";

export { parseRoute, routeHref, type Route };

const listeners = new Set<() => void>();

export function navigate(href: string, replace = false): void {
  performance.mark("pf:navigate"); // in-app navigations, for the benchmark
  if (replace) window.history.replaceState(null, "", href);
  else window.history.pushState(null, "", href);
  for (const l of listeners) l();
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.pathname, window.location.search));
  useEffect(() => {
    const update = () => setRoute(parseRoute(window.location.pathname, window.location.search));
    listeners.add(update);
    window.addEventListener("popstate", update);
    return () => {
      listeners.delete(update);
      window.removeEventListener("popstate", update);
    };
  }, []);
  return route;
}

export function Link({
  to,
  children,
  className,
  label,
  current,
}: {
  to: Route;
  children: ReactNode;
  className?: string;
  label?: string;
  /** This link leads to the page being shown (a navigation entry). */
  current?: boolean;
}) {
  const href = routeHref(to);
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  return (
    <a href={href} onClick={onClick} className={className} aria-label={label} aria-current={current === true ? "page" : undefined}>
      {children}
    </a>
  );
}
