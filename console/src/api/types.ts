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
