/**
 * The host's columns and the browser's agree: `fixtures/columns.json` holds a recording and
 * what the host's `GET …/columns` answers for it (kept current by
 * tests/mgmt/test_columns_fixture.py): three sessions in two lanes, two paths, a window
 * without stage timings, one missing a stage, fields measured in some windows only.
 */
import { describe, expect, it } from "vitest";
import type { Capture, CaptureColumns } from "../src/api/types";
import { columnsOf, EMPTY_COLUMNS, sortedByTime, stageNamesAt } from "../src/data/columns";
import { describeSessionColumns, describeSessions } from "../src/data/sessions";
import { buildTimeline, timelineOfColumns } from "../src/data/timeline";
import { sample } from "./fixtures";
import fixture from "./fixtures/columns.json";

// Checked by the assertions below rather than by the type system (JSON widens nulls).
const { capture, columns } = fixture as unknown as { capture: Capture; columns: CaptureColumns };

describe("columns", () => {
  it("hold what the samples hold, column for column, as the host's do", () => {
    const mine = columnsOf(capture.samples);
    expect(mine.t_ms).toEqual(columns.t_ms);
    expect(mine.session_id).toEqual(columns.session_id);
    expect(mine.fields).toEqual(columns.fields);
    // The same stage columns; the order of the columns is each side's pipeline merge.
    const byName = (cols: Pick<CaptureColumns, "stages">) => Object.fromEntries(cols.stages.map((s) => [s.name, s]));
    expect(byName(mine)).toEqual(byName(columns));
    for (let i = 0; i < capture.samples.length; i++) {
      expect(new Set(stageNamesAt(columns, i))).toEqual(new Set(capture.samples[i].stages.map((s) => s.name)));
    }
  });

  it("chart the same as the samples: lanes, gaps, nulls and stacks kept", () => {
    const fromHost = timelineOfColumns(columns, 1000 / 60);
    expect(fromHost).toStrictEqual(buildTimeline(capture.samples, 1000 / 60));
    expect(fromHost.lanes).toHaveLength(2);
    expect(fromHost.lanes.map((l) => l.sessions)).toEqual([[1, 3], [2]]);
    expect(fromHost.sessionCount).toBe(3);
    const lane0 = fromHost.lanes[0];
    expect(lane0.present.has("gpu_util_pct")).toBe(true);
    expect(lane0.present.has("rtt_ms")).toBe(false);
    expect(fromHost.lanes[1].present.has("rtt_ms")).toBe(true);
    // The window without stage timings is a gap in every stage and in the stack.
    const row = fromHost.x.indexOf(capture.samples.find((s) => s.stages.length === 0)!.t_ms / 1000);
    expect(lane0.p50.map((c) => c[row])).toEqual(lane0.stages.map(() => null));
    expect(lane0.stack50.map((c) => c[row])).toEqual(lane0.stages.map(() => null));
  });

  it("describe the sessions as the samples do", () => {
    expect(describeSessionColumns(columns, capture.meta.kind)).toEqual(describeSessions(capture.samples, capture.meta.kind));
    expect(describeSessionColumns(columns, "native").map((s) => [s.id, s.kind, s.measuresRtt, s.measuresSoundInput])).toEqual([
      [1, "native", false, false],
      [2, "gamestream", true, true],
      [3, "native", false, false],
    ]);
  });

  it("are put in time order when they are not", () => {
    const late = sample(4000, { session_id: 1 });
    const early = sample(2000, { session_id: 1, fps: 30 });
    const cols = columnsOf([late, early]);
    const sorted = sortedByTime(cols);
    expect(sorted.t_ms).toEqual([2000, 4000]);
    expect(sorted.fields["fps"]).toEqual([30, 60]);
    expect(timelineOfColumns(cols)).toStrictEqual(buildTimeline([early, late]));
    expect(sortedByTime(sorted)).toBe(sorted);
  });

  it("of nothing chart nothing", () => {
    const tl = timelineOfColumns(EMPTY_COLUMNS);
    expect(tl.x).toEqual([]);
    expect(tl.lanes).toEqual([]);
  });
});
