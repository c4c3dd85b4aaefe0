import { describe, expect, it } from "vitest";
import { exportFilename, filenameFromDisposition, safeFilename } from "../src/data/download";

describe("filenameFromDisposition", () => {
  it("reads the quoted filename the host sends", () => {
    expect(filenameFromDisposition('attachment; filename="2026-06-26T20-14-03Z_1280x720.csv"')).toBe(
      "2026-06-26T20-14-03Z_1280x720.csv",
    );
  });

  it("prefers filename* (RFC 5987) and accepts a bare token", () => {
    expect(filenameFromDisposition("attachment; filename=\"a.csv\"; filename*=UTF-8''b%20c.csv")).toBe("b_c.csv");
    expect(filenameFromDisposition("attachment; filename=rec.json")).toBe("rec.json");
  });

  it("never returns a path, and null without a filename", () => {
    expect(filenameFromDisposition('attachment; filename="../../etc/passwd"')).toBe("passwd");
    expect(filenameFromDisposition('attachment; filename="C:\\\\x\\\\evil.bat"')).toBe("evil.bat");
    expect(filenameFromDisposition("attachment")).toBeNull();
    expect(filenameFromDisposition(null)).toBeNull();
  });
});

describe("exportFilename", () => {
  it("falls back to <id>.<format>", () => {
    expect(exportFilename("rec-1", "csv", null)).toBe("rec-1.csv");
    expect(exportFilename("rec-1", "json", 'attachment; filename="server.json"')).toBe("server.json");
  });

  it("makes unsafe names safe", () => {
    expect(safeFilename("...hidden")).toBe("hidden");
    expect(safeFilename("")).toBe("download");
    expect(safeFilename("a b:c")).toBe("a_b_c");
  });
});
