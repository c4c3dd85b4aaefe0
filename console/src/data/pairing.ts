/**
 * Pairing a Moonlight client from the Devices page, as pure steps. Once the PIN went to
 * the waiting client (204), the client finishes pairing on its own; the page watches the
 * paired list for it: a new id, or a known id paired again (a new `paired_unix_ms`). A
 * wrong PIN fails only on the client, so the host never lists it: after `PAIR_WAIT_MS`
 * the page says so instead of waiting for ever.
 */
import type { GameStreamClient } from "../api/types";

export const PAIR_WAIT_MS = 20_000;
/** Ids are 64 hex characters; this many tell paired clients apart in practice. */
export const SHORT_ID_CHARS = 12;

export interface PendingPairing {
  /** The paired list when the PIN went out: id and pairing time of each client. */
  before: ReadonlySet<string>;
  /** The waiting client's own name, for the messages. */
  client: string;
  until: number;
}

export type PairingOutcome =
  | { kind: "sent"; client: string }
  | { kind: "paired"; name: string; id: string }
  | { kind: "timeout"; client: string };

function key(c: GameStreamClient): string {
  return `${c.id}@${c.paired_unix_ms}`;
}

export function pendingPairing(before: readonly GameStreamClient[], client: string, now: number): PendingPairing {
  return { before: new Set(before.map(key)), client, until: now + PAIR_WAIT_MS };
}

/** One look at the paired list: the client has paired, time is up, or keep watching. */
export function pairingStep(
  pending: PendingPairing,
  clients: readonly GameStreamClient[],
  now: number,
): { pending: PendingPairing | null; outcome: PairingOutcome | null } {
  const fresh = clients.filter((c) => !pending.before.has(key(c)));
  const paired = fresh.at(-1);
  if (paired !== undefined) return { pending: null, outcome: { kind: "paired", name: paired.name, id: paired.id } };
  if (now >= pending.until) return { pending: null, outcome: { kind: "timeout", client: pending.client } };
  return { pending, outcome: null };
}

export function shortId(id: string): string {
  return id.slice(0, SHORT_ID_CHARS);
}
