/**
 * The typed REST client: openapi-fetch over the generated `paths`, with the bearer token,
 * the API's error envelope turned into `ApiError`, and a 401 reported to `onUnauthorized`
 * (the app returns to the login page with the server's message).
 */
import createClient, { type Middleware } from "openapi-fetch";
import { columnsUrl, takeBootResult, takeSettledBoot, type EarlyResponse } from "../app/bootPrefetch";
import { exportFilename } from "../data/download";
import type { paths } from "./schema.gen";
import type {
  Capture,
  CaptureColumns,
  CaptureMeta,
  Comparison,
  ExportFormat,
  GameStreamClient,
  GameStreamStatus,
  RecordingSummary,
  StatsStatus,
} from "./types";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** The `{"error": {"code", "message"}}` envelope, or a description of whatever came instead. */
export function toApiError(status: number, body: unknown, statusText = ""): ApiError {
  if (typeof body === "object" && body !== null && "error" in body) {
    const inner: unknown = body.error;
    if (typeof inner === "object" && inner !== null && "code" in inner && "message" in inner) {
      const { code, message } = inner;
      if (typeof code === "string" && typeof message === "string") return new ApiError(status, code, message);
    }
  }
  const text = typeof body === "string" && body.trim() !== "" ? body.trim().slice(0, 200) : statusText;
  return new ApiError(status, "http_error", `HTTP ${status}${text ? `: ${text}` : ""}`);
}

export interface DownloadedFile {
  blob: Blob;
  filename: string;
}

export interface Api {
  status(): Promise<StatsStatus>;
  start(): Promise<StatsStatus>;
  /** The saved recording's meta; null when nothing was recording. */
  stop(): Promise<CaptureMeta | null>;
  /** The capture in progress from `offset` on; null when nothing is recording. */
  live(offset: number): Promise<Capture | null>;
  list(): Promise<CaptureMeta[]>;
  get(id: string): Promise<Capture>;
  /** A saved recording column by column: what its charts are built from. */
  columns(id: string): Promise<CaptureColumns>;
  /** The recording's columns if they are already here (fetched at boot); never fetches. */
  loadedColumns(id: string): CaptureColumns | undefined;
  /** A saved recording's summary, what `punktfunk stats show` prints (µs; null: never measured). */
  summary(id: string): Promise<RecordingSummary>;
  /** Recordings side by side, `ids[0]` the baseline; the host judges every difference. */
  compare(ids: readonly string[]): Promise<Comparison>;
  exportFile(id: string, format: ExportFormat): Promise<DownloadedFile>;
  remove(id: string): Promise<void>;
  /** GameStream on/off, its ports, and whether a Moonlight client waits for its PIN. */
  gamestreamStatus(): Promise<GameStreamStatus>;
  /** Hand the PIN to the waiting client (an empty name keeps the client's own). */
  submitPin(pin: string, name: string): Promise<void>;
  /** Paired Moonlight clients, oldest pairing first. */
  pairedClients(): Promise<GameStreamClient[]>;
  unpair(id: string): Promise<void>;
}

export interface ApiOptions {
  token: string;
  baseUrl?: string;
  /** A response fetched before the app started (boot.ts); by default the page's own. */
  early?: (url: string, token: string) => Promise<EarlyResponse> | undefined;
  /** A successful early response that has already arrived; by default boot.ts's. */
  settled?: (url: string, token: string) => EarlyResponse | undefined;
  onUnauthorized?: (error: ApiError) => void;
  fetch?: (input: Request) => Promise<Response>;
}

interface Result<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

export function createApi(options: ApiOptions): Api {
  const client = createClient<paths>({
    baseUrl: options.baseUrl ?? "",
    ...(options.fetch !== undefined ? { fetch: options.fetch } : {}),
  });
  const auth: Middleware = {
    onRequest({ request }) {
      request.headers.set("Authorization", `Bearer ${options.token}`);
      return request;
    },
  };
  client.use(auth);

  async function call<T>(run: () => Promise<Result<T>>): Promise<{ data: T | undefined; response: Response }> {
    let result: Result<T>;
    try {
      result = await run();
    } catch (err: unknown) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new ApiError(0, "network_error", reason);
    }
    const { response } = result;
    if (!response.ok) {
      const error = toApiError(response.status, result.error, response.statusText);
      if (response.status === 401) options.onUnauthorized?.(error);
      throw error;
    }
    return { data: result.data, response };
  }

  function columnsUrlFor(id: string): string {
    const base = options.baseUrl ?? (typeof window === "undefined" ? "" : window.location.origin);
    return columnsUrl(base, id);
  }

  /** The recording boot.ts already fetched, through the same error handling as `call`. */
  async function fromEarly(early: Promise<EarlyResponse>): Promise<CaptureColumns> {
    let r: EarlyResponse;
    try {
      r = await early;
    } catch (err: unknown) {
      throw new ApiError(0, "network_error", err instanceof Error ? err.message : String(err));
    }
    if (!r.ok) {
      let body: unknown = r.text;
      try {
        body = JSON.parse(r.text);
      } catch {
        // not JSON: toApiError describes the text
      }
      const error = toApiError(r.status, body, r.statusText);
      if (r.status === 401) options.onUnauthorized?.(error);
      throw error;
    }
    // Trusted like every other response of the typed client (openapi-fetch casts too).
    return r.json as CaptureColumns;
  }

  function required<T>(data: T | undefined, what: string): T {
    if (data === undefined) throw new ApiError(0, "empty_response", `${what}: the host sent an empty response`);
    return data;
  }

  return {
    async status() {
      return required((await call(() => client.GET("/api/v1/stats/capture/status"))).data, "status");
    },
    async start() {
      return required((await call(() => client.POST("/api/v1/stats/capture/start"))).data, "start");
    },
    async stop() {
      const { data, response } = await call(() => client.POST("/api/v1/stats/capture/stop"));
      return response.status === 204 ? null : required(data, "stop");
    },
    async live(offset) {
      try {
        const { data } = await call(() =>
          client.GET("/api/v1/stats/capture/live", { params: { query: { offset } } }),
        );
        return required(data, "live");
      } catch (err: unknown) {
        if (err instanceof ApiError && err.status === 404 && err.code === "not_recording") return null;
        throw err;
      }
    },
    async list() {
      return required((await call(() => client.GET("/api/v1/stats/recordings"))).data, "recordings");
    },
    async get(id) {
      const { data } = await call(() => client.GET("/api/v1/stats/recordings/{id}", { params: { path: { id } } }));
      return required(data, "recording");
    },
    loadedColumns(id) {
      const settled = (options.settled ?? takeSettledBoot)(columnsUrlFor(id), options.token);
      // Trusted like every other response of the typed client (openapi-fetch casts too).
      return settled === undefined ? undefined : (settled.json as CaptureColumns);
    },
    async columns(id) {
      const early = (options.early ?? takeBootResult)(columnsUrlFor(id), options.token);
      if (early !== undefined) return fromEarly(early);
      const { data } = await call(() =>
        client.GET("/api/v1/stats/recordings/{id}/columns", { params: { path: { id } } }),
      );
      return required(data, "recording");
    },
    async summary(id) {
      const { data } = await call(() =>
        client.GET("/api/v1/stats/recordings/{id}/summary", { params: { path: { id } } }),
      );
      return required(data, "summary");
    },
    async compare(ids) {
      const { data } = await call(() => client.GET("/api/v1/stats/compare", { params: { query: { id: [...ids] } } }));
      return required(data, "compare");
    },
    async exportFile(id, format) {
      const { data, response } = await call(() =>
        client.GET("/api/v1/stats/recordings/{id}/export", {
          params: { path: { id }, query: { format } },
          parseAs: "blob",
        }),
      );
      return {
        blob: required(data, "export"),
        filename: exportFilename(id, format, response.headers.get("Content-Disposition")),
      };
    },
    async remove(id) {
      await call(() => client.DELETE("/api/v1/stats/recordings/{id}", { params: { path: { id } } }));
    },
    async gamestreamStatus() {
      return required((await call(() => client.GET("/api/v1/gamestream/status"))).data, "GameStream status");
    },
    async submitPin(pin, name) {
      await call(() => client.POST("/api/v1/gamestream/pin", { body: { pin, name } }));
    },
    async pairedClients() {
      return required((await call(() => client.GET("/api/v1/gamestream/clients"))).data, "paired clients");
    },
    async unpair(id) {
      await call(() => client.DELETE("/api/v1/gamestream/clients/{id}", { params: { path: { id } } }));
    },
  };
}
