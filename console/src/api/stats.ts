/**
 * The host's own figures for recordings: a recording's summary (what `punktfunk stats
 * show` prints) and the comparison of recordings with its significance verdicts. Typed
 * from the generated schema, with the same bearer token and error handling as `createApi`.
 */
import createClient, { type Middleware } from "openapi-fetch";
import { ApiError, toApiError, type ApiOptions } from "./client";
import type { components, paths } from "./schema.gen";

type Schemas = components["schemas"];

export type RecordingSummary = Schemas["RecordingSummary"];
export type LatencySummary = Schemas["LatencySummary"];
export type CounterTotal = Schemas["CounterTotal"];
export type SessionSummary = Schemas["SessionSummary"];
export type Comparison = Schemas["Comparison"];
export type ComparisonRow = Schemas["ComparisonRow"];
export type MetricDelta = Schemas["MetricDelta"];
export type Verdict = MetricDelta["verdict"];

export interface StatsApi {
  /** A saved recording's summary (microseconds; null: never measured). */
  summary(id: string): Promise<RecordingSummary>;
  /** Recordings side by side, `ids[0]` the baseline; the host judges every difference. */
  compare(ids: readonly string[]): Promise<Comparison>;
}

type StatsApiOptions = Pick<ApiOptions, "token" | "baseUrl" | "onUnauthorized" | "fetch">;

export function createStatsApi(options: StatsApiOptions): StatsApi {
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

  async function call<T>(what: string, run: () => Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
    let result: { data?: T; error?: unknown; response: Response };
    try {
      result = await run();
    } catch (err: unknown) {
      throw new ApiError(0, "network_error", err instanceof Error ? err.message : String(err));
    }
    const { response } = result;
    if (!response.ok) {
      const error = toApiError(response.status, result.error, response.statusText);
      if (response.status === 401) options.onUnauthorized?.(error);
      throw error;
    }
    if (result.data === undefined) throw new ApiError(0, "empty_response", `${what}: the host sent an empty response`);
    return result.data;
  }

  return {
    summary(id) {
      return call("summary", () => client.GET("/api/v1/stats/recordings/{id}/summary", { params: { path: { id } } }));
    },
    compare(ids) {
      return call("compare", () => client.GET("/api/v1/stats/compare", { params: { query: { id: [...ids] } } }));
    },
  };
}
