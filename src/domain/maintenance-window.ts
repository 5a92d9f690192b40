import { invalidArgument } from "./errors";

/**
 * When a device may be pushed to: weekdays and time ranges in a time zone, e.g.
 * "Mon-Fri 22:00-04:00; Sat,Sun 00:00-24:00" (a range that ends before it starts runs past
 * midnight into the next day). A push changes a machine's certificate and may restart its
 * endpoints, which a production line notices: the scheduler starts pushes only inside the window.
 */
export interface MaintenanceWindow {
  /** The specification as the operator wrote it (normalised spacing). */
  spec: string;
  /** IANA time zone name, e.g. "UTC", "Europe/Berlin". */
  timeZone: string;
  ranges: WindowRange[];
}

/** One "days start-end" part; minutes from local midnight, end up to 1440. */
export interface WindowRange {
  /** 0 Sunday ... 6 Saturday (as Date.getUTCDay). */
  days: number[];
  startMinute: number;
  endMinute: number;
}

const DAY_NAMES = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];
const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/** "Mon", "monday", "Tue", ...: three letters or more of an English weekday name. */
function dayIndex(name: string, spec: string): number {
  const n = name.trim().toLowerCase();
  const i = n.length >= 3 ? DAY_NAMES.findIndex((d) => d.startsWith(n)) : -1;
  if (i < 0) throw invalidArgument(`"${name.trim().slice(0, 20)}" in maintenance window "${spec.slice(0, 80)}" is not a weekday (Mon, Tue, Wed, Thu, Fri, Sat, Sun)`);
  return i;
}

function parseDays(text: string, spec: string): number[] {
  const days = new Set<number>();
  for (const part of text.split(",")) {
    const [from, to, ...rest] = part.split("-");
    if (rest.length || !from.trim()) throw invalidArgument(`"${part.slice(0, 20)}" in maintenance window "${spec.slice(0, 80)}" is not a weekday or a range like Mon-Fri`);
    const a = dayIndex(from, spec);
    const b = to === undefined ? a : dayIndex(to, spec);
    // Fri-Mon wraps over the weekend.
    for (let d = a; ; d = (d + 1) % 7) {
      days.add(d);
      if (d === b) break;
    }
  }
  return [...days].sort();
}

function parseMinute(text: string, spec: string): number {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text.trim());
  const minute = m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
  if (!m || Number(m[2]) > 59 || minute > 1440) throw invalidArgument(`"${text.trim().slice(0, 10)}" in maintenance window "${spec.slice(0, 80)}" is not a time from 00:00 to 24:00`);
  return minute;
}

/** True when `timeZone` is a zone this runtime knows (IANA name). */
export function isTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** Parses a window specification; InvalidArgument with what is wrong and an example. */
export function parseMaintenanceWindow(spec: string, timeZone = "UTC"): MaintenanceWindow {
  if (spec.length > 500) throw invalidArgument("a maintenance window is at most 500 characters");
  if (!isTimeZone(timeZone)) throw invalidArgument(`"${timeZone.slice(0, 60)}" is not a time zone: use an IANA name such as UTC or Europe/Berlin`);
  const ranges: WindowRange[] = [];
  for (const part of spec.split(";").map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\S+)\s+(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})$/.exec(part);
    if (!m) throw invalidArgument(`"${part.slice(0, 60)}" is not "DAYS HH:MM-HH:MM", e.g. "Mon-Fri 22:00-04:00; Sat,Sun 00:00-24:00"`);
    const startMinute = parseMinute(m[2], spec);
    const endMinute = parseMinute(m[3], spec);
    if (startMinute === endMinute) throw invalidArgument(`"${part.slice(0, 60)}" is an empty time range`);
    if (startMinute === 1440) throw invalidArgument(`"${part.slice(0, 60)}" starts at 24:00: write 00:00 of the next day`);
    ranges.push({ days: parseDays(m[1], spec), startMinute, endMinute });
  }
  if (ranges.length === 0) throw invalidArgument(`"${spec.slice(0, 60)}" names no time range, e.g. "Mon-Fri 22:00-04:00; Sat,Sun 00:00-24:00"`);
  return { spec: spec.split(";").map((p) => p.trim().replace(/\s+/g, " ")).filter(Boolean).join("; "), timeZone, ranges };
}

/** The local weekday and minute of the day of an instant in a time zone. */
function localTime(nowMs: number, timeZone: string): { day: number; minute: number; offsetMs: number } {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" }).formatToParts(new Date(nowMs));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  const asUtc = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
  const offsetMs = asUtc - Math.floor(nowMs / 1000) * 1000;
  return { day: new Date(asUtc).getUTCDay(), minute: get("hour") * 60 + get("minute"), offsetMs };
}

/** True when the window is open at `nowMs`. */
export function isWindowOpen(window: MaintenanceWindow, nowMs: number): boolean {
  const { day, minute } = localTime(nowMs, window.timeZone);
  const yesterday = (day + 6) % 7;
  return window.ranges.some((r) =>
    r.startMinute < r.endMinute
      ? r.days.includes(day) && minute >= r.startMinute && minute < r.endMinute
      : (r.days.includes(day) && minute >= r.startMinute) || (r.days.includes(yesterday) && minute < r.endMinute),
  );
}

/**
 * When the window next opens: `nowMs` itself while it is open, else the first range start after
 * it (to the minute, in the window's time zone, daylight saving included).
 */
export function nextWindowOpening(window: MaintenanceWindow, nowMs: number): number {
  if (isWindowOpen(window, nowMs)) return nowMs;
  const { day, minute, offsetMs } = localTime(nowMs, window.timeZone);
  // Local midnight of today, as if local time were UTC; a candidate is converted back with the offset it has then.
  const localMidnight = Math.floor((nowMs + offsetMs) / DAY_MS) * DAY_MS;
  let best = Infinity;
  for (let d = 0; d <= 7; d++) {
    const weekday = (day + d) % 7;
    for (const r of window.ranges) {
      if (!r.days.includes(weekday) || (d === 0 && r.startMinute <= minute)) continue;
      const localMs = localMidnight + d * DAY_MS + r.startMinute * MINUTE_MS;
      let utc = localMs - offsetMs;
      utc = localMs - localTime(utc, window.timeZone).offsetMs;
      if (utc > nowMs && utc < best) best = utc;
    }
  }
  // Past a daylight-saving jump the converted start can land a little off: never earlier than the real opening.
  if (best !== Infinity && !isWindowOpen(window, best)) {
    for (let t = best; t < best + 2 * 3_600_000; t += MINUTE_MS) if (isWindowOpen(window, t)) return t;
  }
  return best;
}
