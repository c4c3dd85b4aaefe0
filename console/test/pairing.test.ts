import { describe, expect, it } from "vitest";
import type { GameStreamClient } from "../src/api/types";
import { PAIR_WAIT_MS, pairingStep, pendingPairing, shortId } from "../src/data/pairing";

const tv: GameStreamClient = { id: "a".repeat(64), name: "Living-room TV", paired_unix_ms: 1_000 };
const laptop: GameStreamClient = { id: "b".repeat(64), name: "Laptop", paired_unix_ms: 2_000 };

describe("pairingStep", () => {
  const pending = pendingPairing([tv], "Moonlight 0123", 10_000);

  it("keeps watching while only the clients paired before are listed", () => {
    expect(pairingStep(pending, [tv], 10_500)).toEqual({ pending, outcome: null });
  });

  it("reports the client that appeared", () => {
    expect(pairingStep(pending, [tv, laptop], 11_000)).toEqual({
      pending: null,
      outcome: { kind: "paired", name: "Laptop", id: laptop.id },
    });
  });

  it("reports a client that paired again (same certificate, new pairing time)", () => {
    const again = { ...tv, name: "Bedroom TV", paired_unix_ms: 12_000 };
    expect(pairingStep(pending, [again], 12_500).outcome).toEqual({ kind: "paired", name: "Bedroom TV", id: tv.id });
  });

  it("gives up after the wait: a wrong PIN fails only on the client", () => {
    expect(pairingStep(pending, [tv], 10_000 + PAIR_WAIT_MS - 1).outcome).toBeNull();
    expect(pairingStep(pending, [tv], 10_000 + PAIR_WAIT_MS)).toEqual({
      pending: null,
      outcome: { kind: "timeout", client: "Moonlight 0123" },
    });
  });

  it("does not take an unpaired client for a new one", () => {
    expect(pairingStep(pending, [], 10_500)).toEqual({ pending, outcome: null });
  });
});

describe("shortId", () => {
  it("shows the first 12 hex characters, like punktfunk devices", () => {
    expect(shortId("0123456789abcdef".repeat(4))).toBe("0123456789ab");
  });
});
