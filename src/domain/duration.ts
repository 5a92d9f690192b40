import { invalidArgument } from "./errors";

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Parses "90s", "15m", "2h", "30d" or "1w" into milliseconds. */
export function parseDurationMs(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$/i.exec(text);
  if (!m) throw invalidArgument(`"${text.slice(0, 40)}" is not a duration such as 90s, 15m, 2h, 30d or 1w`);
  return Math.round(Number(m[1]) * UNIT_MS[m[2].toLowerCase()]);
}

/** A point in time given as an ISO date or as a duration back from `nowMs` ("24h" = a day ago). */
export function parseSince(text: string, nowMs: number): number {
  if (/^\s*\d+(?:\.\d+)?\s*[smhdw]\s*$/i.test(text)) return nowMs - parseDurationMs(text);
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw invalidArgument(`"${text.slice(0, 40)}" is neither a date (2026-11-26T08:00Z) nor a duration (24h)`);
  return t;
}
