import { describe, expect, it } from "vitest";
import de from "../src/i18n/de.json";
import en from "../src/i18n/en.json";
import { detectLocale, translator } from "../src/i18n/messages";

describe("catalogs", () => {
  it("have the same keys and no empty strings", () => {
    expect(Object.keys(de).sort()).toEqual(Object.keys(en).sort());
    for (const v of [...Object.values(en), ...Object.values(de)]) expect(v.trim()).not.toBe("");
  });

  it("use the same placeholders in both languages", () => {
    const names = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      expect(names(de[key]), key).toEqual(names(en[key]));
    }
  });
});

describe("translator", () => {
  it("fills placeholders and leaves unknown ones", () => {
    const t = translator("de");
    expect(t("recordings.compare", { n: 2 })).toBe("Auswahl vergleichen (2)");
    expect(translator("en")("capture.stop")).toBe("Stop & save");
    expect(translator("en")("recordings.compare")).toBe("Compare selected ({n})");
  });
});

describe("detectLocale", () => {
  it("picks the first supported browser language", () => {
    expect(detectLocale(["de-DE", "en"])).toBe("de");
    expect(detectLocale(["fr-FR", "en-US"])).toBe("en");
    expect(detectLocale(["fr"])).toBe("en");
    expect(detectLocale([])).toBe("en");
  });
});
