/** Friendly names for the generated schema types (src/api/schema.gen.ts). */
import type { components } from "./schema.gen";

type Schemas = components["schemas"];

export type Capture = Schemas["Capture"];
export type CaptureColumns = Schemas["CaptureColumns"];
export type CaptureMeta = Schemas["CaptureMeta"];
export type StatsSample = Schemas["StatsSample"];
export type StageTiming = Schemas["StageTiming"];
export type StatsStatus = Schemas["StatsStatus"];
export type ErrorEnvelope = Schemas["ErrorEnvelope"];
export type GameStreamStatus = Schemas["GameStreamStatus"];
export type GameStreamClient = Schemas["GameStreamClient"];
export type ExportFormat = "json" | "csv";
export type RecordingSummary = Schemas["RecordingSummary"];
export type LatencySummary = Schemas["LatencySummary"];
export type CounterTotal = Schemas["CounterTotal"];
export type SessionSummary = Schemas["SessionSummary"];
export type Comparison = Schemas["Comparison"];
export type ComparisonRow = Schemas["ComparisonRow"];
export type MetricDelta = Schemas["MetricDelta"];
export type Verdict = MetricDelta["verdict"];
