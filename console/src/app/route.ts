/** The console's routes: URL ↔ route, free of React (boot.ts uses it before React loads). */

export type Route =
  | { name: "performance" }
  | { name: "devices" }
  | { name: "login" }
  | { name: "recording"; id: string }
  | { name: "compare"; ids: string[] }
  | { name: "notFound"; path: string };

export function parseRoute(pathname: string, search: string): Route {
  const path = pathname.replace(/\/+$/, "") || "/";
  if (path === "/" || path === "/performance") return { name: "performance" };
  if (path === "/devices") return { name: "devices" };
  if (path === "/login") return { name: "login" };
  const rec = /^\/recordings\/([^/]+)$/.exec(path);
  if (rec !== null) {
    try {
      return { name: "recording", id: decodeURIComponent(rec[1]) };
    } catch {
      return { name: "notFound", path };
    }
  }
  if (path === "/compare") {
    const ids = (new URLSearchParams(search).get("ids") ?? "").split(",").filter((s) => s !== "");
    return { name: "compare", ids };
  }
  return { name: "notFound", path };
}

export function routeHref(route: Route): string {
  switch (route.name) {
    case "performance":
      return "/";
    case "devices":
      return "/devices";
    case "login":
      return "/login";
    case "recording":
      return `/recordings/${encodeURIComponent(route.id)}`;
    case "compare":
      return `/compare?ids=${route.ids.map(encodeURIComponent).join(",")}`;
    case "notFound":
      return route.path;
  }
}
