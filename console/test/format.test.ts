import { describe, expect, it } from "vitest";
import { formatElapsed, formatNumber, resolutionLabel } from "../src/data/format";

describe("format", () => {
  it("formats elapsed host time", () => {
    expect(formatElapsed(0)).toBe("0:00");
    expect(formatElapsed(65_000)).toBe("1:05");
    expect(formatElapsed(3_725_999)).toBe("1:02:05");
    expect(formatElapsed(-5)).toBe("0:00");
  });

  it("labels resolution@fps, or a dash without a session", () => {
    expect(resolutionLabel({ width: 1280, height: 720, fps: 60 })).toBe("1280×720@60");
    expect(resolutionLabel({ width: 0, height: 0, fps: 0 })).toBe("—");
  });

  it("formats numbers per locale", () => {
    expect(formatNumber("de-DE", 1234.5, 1)).toBe("1.234,5");
    expect(formatNumber("en-GB", 1234.5, 1)).toBe("1,234.5");
    expect(formatNumber("en-GB", null, 1)).toBe("—");
  });
});
