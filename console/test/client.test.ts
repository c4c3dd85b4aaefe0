import { describe, expect, it } from "vitest";
import { ApiError, createApi, toApiError } from "../src/api/client";
import { captureColumns } from "../src/data/columns";
import { capture, meta, series } from "./fixtures";

type Handler = (req: Request) => Response | Promise<Response>;

function fakeHost(handler: Handler) {
  const seen: Request[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const req = input instanceof Request ? input : new Request(input, init);
    seen.push(req);
    return handler(req);
  };
  return { fetch, seen };
}

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
const envelope = (status: number, code: string, message: string) => json({ error: { code, message } }, status);

const status = { armed: true, sample_count: 3, started_unix_ms: 1, kind: "native", elapsed_ms: 6000, truncated: false };

describe("createApi", () => {
  it("sends the bearer token", async () => {
    const host = fakeHost(() => json(status));
    const api = createApi({ token: "tok", baseUrl: "http://host", fetch: host.fetch });
    expect(await api.status()).toEqual(status);
    expect(host.seen[0].headers.get("Authorization")).toBe("Bearer tok");
    expect(new URL(host.seen[0].url).pathname).toBe("/api/v1/stats/capture/status");
  });

  it("turns the error envelope into an ApiError and reports a 401", async () => {
    const host = fakeHost(() => envelope(401, "unauthorized", "the bearer token is wrong"));
    const rejected: ApiError[] = [];
    const api = createApi({ token: "bad", baseUrl: "http://host", fetch: host.fetch, onUnauthorized: (e) => rejected.push(e) });
    await expect(api.list()).rejects.toMatchObject({ status: 401, code: "unauthorized", message: "the bearer token is wrong" });
    expect(rejected).toHaveLength(1);
  });

  it("passes a failed save (500 on stop) on with the host's message", async () => {
    const host = fakeHost(() => envelope(500, "recording_write_failed", "could not save the capture: No space left"));
    const api = createApi({ token: "t", baseUrl: "http://host", fetch: host.fetch });
    await expect(api.stop()).rejects.toMatchObject({ status: 500, code: "recording_write_failed" });
  });

  it("returns null for stop without a capture (204) and for live while idle (404)", async () => {
    const host = fakeHost((req) =>
      req.url.endsWith("/stop") ? new Response(null, { status: 204 }) : envelope(404, "not_recording", "nothing is recording"),
    );
    const api = createApi({ token: "t", baseUrl: "http://host", fetch: host.fetch });
    expect(await api.stop()).toBeNull();
    expect(await api.live(0)).toBeNull();
  });

  it("asks live for samples after the offset", async () => {
    const host = fakeHost(() => json(capture(series(1), { id: "live" })));
    const api = createApi({ token: "t", baseUrl: "http://host", fetch: host.fetch });
    await api.live(7);
    expect(new URL(host.seen[0].url).searchParams.get("offset")).toBe("7");
  });

  it("downloads an export as a blob named by the host", async () => {
    const host = fakeHost(
      () =>
        new Response("t_ms,session_id\r\n2000,1\r\n", {
          headers: { "Content-Type": "text/csv", "Content-Disposition": 'attachment; filename="rec.csv"' },
        }),
    );
    const api = createApi({ token: "t", baseUrl: "http://host", fetch: host.fetch });
    const file = await api.exportFile("rec", "csv");
    expect(file.filename).toBe("rec.csv");
    expect(await file.blob.text()).toContain("2000,1");
    expect(new URL(host.seen[0].url).searchParams.get("format")).toBe("csv");
  });

  it("describes a non-envelope error and a network failure", async () => {
    const proxy = fakeHost(() => new Response("<html>Bad Gateway</html>", { status: 502, statusText: "Bad Gateway" }));
    await expect(createApi({ token: "t", baseUrl: "http://h", fetch: proxy.fetch }).list()).rejects.toMatchObject({
      status: 502,
      code: "http_error",
    });
    const down = fakeHost(() => {
      throw new TypeError("Failed to fetch");
    });
    await expect(createApi({ token: "t", baseUrl: "http://h", fetch: down.fetch }).list()).rejects.toMatchObject({
      status: 0,
      code: "network_error",
    });
  });

  it("loads a recording by id, escaping the path", async () => {
    const host = fakeHost(() => json(capture(series(2), meta())));
    const api = createApi({ token: "t", baseUrl: "http://host", fetch: host.fetch });
    const rec = await api.get("a.b_c-1");
    expect(rec.samples).toHaveLength(2);
    expect(new URL(host.seen[0].url).pathname).toBe("/api/v1/stats/recordings/a.b_c-1");
  });

  it("asks the host for a summary and for a comparison of several recordings", async () => {
    const host = fakeHost(() => json({}));
    const api = createApi({ token: "t", baseUrl: "http://host", fetch: host.fetch });
    await api.summary("a b");
    await api.compare(["r1", "r2", "r3"]);
    expect(new URL(host.seen[0].url).pathname).toBe("/api/v1/stats/recordings/a%20b/summary");
    const compare = new URL(host.seen[1].url);
    expect(compare.pathname).toBe("/api/v1/stats/compare");
    expect(compare.searchParams.getAll("id")).toEqual(["r1", "r2", "r3"]);
    expect(host.seen[1].headers.get("Authorization")).toBe("Bearer t");
  });

  it("loads a recording's columns by id, escaping the path", async () => {
    const host = fakeHost(() => json(captureColumns(capture(series(2), meta()))));
    const api = createApi({ token: "t", baseUrl: "http://host", fetch: host.fetch });
    const rec = await api.columns("a b/c");
    expect(rec.t_ms).toHaveLength(2);
    expect(new URL(host.seen[0].url).pathname).toBe("/api/v1/stats/recordings/a%20b%2Fc/columns");
  });
});

describe("createApi: GameStream", () => {
  const client = { id: "ab".repeat(32), name: "Living-room TV", paired_unix_ms: 1_780_000_000_000 };

  it("reads the status and the paired clients", async () => {
    const gsStatus = { enabled: true, http_port: 47989, https_port: 47984, waiting: true, client_name: "Moonlight 0123" };
    const host = fakeHost((req) => json(req.url.endsWith("/status") ? gsStatus : [client]));
    const api = createApi({ token: "t", baseUrl: "http://host", fetch: host.fetch });
    expect(await api.gamestreamStatus()).toEqual(gsStatus);
    expect(await api.pairedClients()).toEqual([client]);
    expect(host.seen.map((r) => new URL(r.url).pathname)).toEqual(["/api/v1/gamestream/status", "/api/v1/gamestream/clients"]);
  });

  it("posts the PIN and the name as JSON and takes the 204", async () => {
    const host = fakeHost(() => new Response(null, { status: 204 }));
    const api = createApi({ token: "t", baseUrl: "http://host", fetch: host.fetch });
    await api.submitPin("1234", "Living-room TV");
    const [req] = host.seen;
    expect(req.method).toBe("POST");
    expect(new URL(req.url).pathname).toBe("/api/v1/gamestream/pin");
    expect(req.headers.get("Content-Type")).toBe("application/json");
    expect(await req.json()).toEqual({ pin: "1234", name: "Living-room TV" });
  });

  it("passes a refused PIN on with the host's message", async () => {
    const waiting = fakeHost(() => envelope(409, "no_client_waiting", "no Moonlight client is waiting for a PIN"));
    await expect(createApi({ token: "t", baseUrl: "http://h", fetch: waiting.fetch }).submitPin("1234", "")).rejects.toMatchObject({
      status: 409,
      code: "no_client_waiting",
      message: "no Moonlight client is waiting for a PIN",
    });
    const malformed = fakeHost(() => envelope(400, "invalid_parameter", "the PIN is the 4 digits the Moonlight client shows"));
    await expect(createApi({ token: "t", baseUrl: "http://h", fetch: malformed.fetch }).submitPin("12", "")).rejects.toMatchObject({
      status: 400,
      code: "invalid_parameter",
    });
  });

  it("unpairs by id", async () => {
    const host = fakeHost(() => new Response(null, { status: 204 }));
    const api = createApi({ token: "t", baseUrl: "http://host", fetch: host.fetch });
    await api.unpair(client.id);
    expect(host.seen[0].method).toBe("DELETE");
    expect(new URL(host.seen[0].url).pathname).toBe(`/api/v1/gamestream/clients/${client.id}`);
  });
});

describe("toApiError", () => {
  it("falls back to the status text for an empty body", () => {
    expect(toApiError(503, "", "Service Unavailable").message).toBe("HTTP 503: Service Unavailable");
  });
});

describe("createApi with a response fetched at boot", () => {
  const early = (r: Partial<import("../src/app/bootPrefetch").EarlyResponse>) => () =>
    Promise.resolve({ ok: true, status: 200, statusText: "OK", json: undefined, text: "", ...r });

  it("takes the recording boot.ts fetched instead of fetching again", async () => {
    const host = fakeHost(() => json({}));
    const seen: string[] = [];
    const rec = captureColumns(capture(series(2)));
    const api = createApi({
      token: "t",
      baseUrl: "http://host",
      fetch: host.fetch,
      early: (url, token) => {
        seen.push(`${url} ${token}`);
        return early({ json: rec })();
      },
    });
    expect(await api.columns("rec-1")).toBe(rec);
    expect(seen).toEqual(["http://host/api/v1/stats/recordings/rec-1/columns t"]);
    expect(host.seen).toHaveLength(0);
  });

  it("reports a rejected token from boot like any 401", async () => {
    const rejected: ApiError[] = [];
    const body = JSON.stringify({ error: { code: "unauthorized", message: "the bearer token is wrong" } });
    const api = createApi({
      token: "stale",
      baseUrl: "http://host",
      early: early({ ok: false, status: 401, statusText: "Unauthorized", text: body }),
      onUnauthorized: (e) => rejected.push(e),
    });
    await expect(api.columns("x")).rejects.toMatchObject({ status: 401, code: "unauthorized" });
    expect(rejected).toHaveLength(1);
  });

  it("turns a network failure at boot into a network error", async () => {
    const api = createApi({ token: "t", baseUrl: "http://host", early: () => Promise.reject(new TypeError("Failed to fetch")) });
    await expect(api.columns("x")).rejects.toMatchObject({ status: 0, code: "network_error" });
  });
});

describe("createApi.loadedColumns", () => {
  it("returns a recording that already arrived at boot, without fetching", () => {
    const rec = captureColumns(capture(series(1)));
    const host = fakeHost(() => json({}));
    const api = createApi({
      token: "t",
      baseUrl: "http://host",
      fetch: host.fetch,
      settled: (url, token) =>
        url === "http://host/api/v1/stats/recordings/rec-1/columns" && token === "t"
          ? { ok: true, status: 200, statusText: "OK", json: rec, text: "" }
          : undefined,
    });
    expect(api.loadedColumns("rec-1")).toBe(rec);
    expect(api.loadedColumns("rec-2")).toBeUndefined();
    expect(host.seen).toHaveLength(0);
  });
});
