import { describe, expect, it } from "vitest";
import { parseRoute, routeHref } from "../src/app/route";
import { normalizeToken } from "../src/app/session";

describe("routes", () => {
  it("parse and build the console's paths", () => {
    expect(parseRoute("/", "")).toEqual({ name: "performance" });
    expect(parseRoute("/login/", "")).toEqual({ name: "login" });
    expect(parseRoute("/devices", "")).toEqual({ name: "devices" });
    expect(routeHref({ name: "devices" })).toBe("/devices");
    expect(parseRoute("/recordings/2026-06-26T20-14-03Z_1280x720", "")).toEqual({
      name: "recording",
      id: "2026-06-26T20-14-03Z_1280x720",
    });
    expect(parseRoute("/compare", "?ids=a,b,,c")).toEqual({ name: "compare", ids: ["a", "b", "c"] });
    expect(parseRoute("/recordings/%E0%A4%A", "")).toEqual({ name: "notFound", path: "/recordings/%E0%A4%A" });
    expect(parseRoute("/nope", "")).toEqual({ name: "notFound", path: "/nope" });
    expect(routeHref({ name: "compare", ids: ["a b", "c"] })).toBe("/compare?ids=a%20b,c");
    expect(routeHref({ name: "recording", id: "x/y" })).toBe("/recordings/x%2Fy");
  });
});

describe("normalizeToken", () => {
  it("accepts a pasted token, with or without the Bearer prefix, and rejects junk", () => {
    expect(normalizeToken("  abc-DEF_123 \n")).toBe("abc-DEF_123");
    expect(normalizeToken("Bearer abc")).toBe("abc");
    expect(normalizeToken("two words")).toBeNull();
    expect(normalizeToken("")).toBeNull();
  });
});
