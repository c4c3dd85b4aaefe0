// Fixed decimals as the host's command line writes them (Python's format), in any locale.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { fixedLikePython, formatDecimal } from "../src/data/decimal";

describe("fixedLikePython", () => {
  it("rounds the double's exact value, as Python does", () => {
    // 424.5 / 1000 is 0.42449999…: Python says 0.424 (Intl alone says 0.425)
    expect(fixedLikePython(424.5 / 1000, 3)).toBe("0.424");
    expect(fixedLikePython(0.1 + 0.2, 1)).toBe("0.3");
    expect(fixedLikePython(2.675, 2)).toBe("2.67"); // 2.67499999…
    expect(fixedLikePython(1.005, 2)).toBe("1.00"); // 1.00499999…
    expect(fixedLikePython(59.94, 1)).toBe("59.9");
  });

  it("sends a true tie to the even neighbour", () => {
    // each is exact in binary: f"{0.0625:.3f}" == "0.062", f"{1.0625:.3f}" == "1.062"
    expect(fixedLikePython(0.0625, 3)).toBe("0.062");
    expect(fixedLikePython(1.0625, 3)).toBe("1.062");
    expect(fixedLikePython(0.1875, 3)).toBe("0.188");
    expect(fixedLikePython(2.5, 0)).toBe("2");
    expect(fixedLikePython(3.5, 0)).toBe("4");
    expect(fixedLikePython(97.5, 0)).toBe("98");
    expect(fixedLikePython(-2.5, 0)).toBe("-2");
    expect(fixedLikePython(-0.0625, 3)).toBe("-0.062");
  });

  it("agrees with toFixed wherever there is no tie", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000_000 }), fc.integer({ min: 0, max: 3 }), (us, digits) => {
        const ms = us / 1000;
        const exact = ms.toFixed(60).slice(ms.toFixed(60).indexOf(".") + 1 + digits);
        if (/^50*$/.test(exact)) return;
        expect(fixedLikePython(ms, digits)).toBe(ms.toFixed(digits));
      }),
    );
  });
});

describe("formatDecimal", () => {
  it("writes the same digits in the locale's notation", () => {
    expect(formatDecimal("en-GB", 424.5 / 1000, 3)).toBe("0.424");
    expect(formatDecimal("de-DE", 424.5 / 1000, 3)).toBe("0,424");
    expect(formatDecimal("en-GB", 12345.6785, 3)).toBe("12,345.678"); // 12345.67849999…
    expect(formatDecimal("de-DE", 1234.5, 0)).toBe("1.234");
    expect(formatDecimal("en-GB", null, 1)).toBe("—");
  });
});
