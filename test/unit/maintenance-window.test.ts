import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isWindowOpen, nextWindowOpening, parseMaintenanceWindow } from "../../src/domain/maintenance-window";

/** 2026-11-23 is a Monday. */
const at = (iso: string) => Date.parse(iso);
const NIGHTS_AND_WEEKENDS = "Mon-Fri 22:00-04:00; Sat,Sun 00:00-24:00";

describe("maintenance windows (pure)", () => {
  it("parses weekdays, lists, ranges over the weekend and times; normalises spacing", () => {
    const w = parseMaintenanceWindow("  mon-fri 22:00-04:00 ;Sat,Sunday   00:00-24:00 ");
    assert.equal(w.spec, "mon-fri 22:00-04:00; Sat,Sunday 00:00-24:00");
    assert.equal(w.timeZone, "UTC");
    assert.deepEqual(w.ranges, [
      { days: [1, 2, 3, 4, 5], startMinute: 22 * 60, endMinute: 4 * 60 },
      { days: [0, 6], startMinute: 0, endMinute: 1440 },
    ]);
    assert.deepEqual(parseMaintenanceWindow("Fri-Mon 01:00-02:00").ranges[0].days, [0, 1, 5, 6]);
  });

  it("refuses what it cannot read, saying what is wrong and how to write it", () => {
    assert.throws(() => parseMaintenanceWindow("weekdays 22:00-04:00"), /"weekdays" .* is not a weekday/);
    assert.throws(() => parseMaintenanceWindow("Mon 22:00"), /is not "DAYS HH:MM-HH:MM", e.g. "Mon-Fri 22:00-04:00; Sat,Sun 00:00-24:00"/);
    assert.throws(() => parseMaintenanceWindow("Mon 25:00-26:00"), /"25:00" .* is not a time from 00:00 to 24:00/);
    assert.throws(() => parseMaintenanceWindow("Mon 10:60-11:00"), /not a time/);
    assert.throws(() => parseMaintenanceWindow("Mon 10:00-10:00"), /empty time range/);
    assert.throws(() => parseMaintenanceWindow(" ; "), /names no time range/);
    assert.throws(() => parseMaintenanceWindow("Mon 10:00-11:00", "Mars/Olympus"), /not a time zone: use an IANA name/);
  });

  it("open inside a range, closed outside; a range past midnight belongs to the day it starts", () => {
    const w = parseMaintenanceWindow(NIGHTS_AND_WEEKENDS);
    assert.equal(isWindowOpen(w, at("2026-11-23T12:00:00Z")), false, "Monday noon");
    assert.equal(isWindowOpen(w, at("2026-11-23T22:00:00Z")), true, "Monday 22:00");
    assert.equal(isWindowOpen(w, at("2026-11-24T03:59:00Z")), true, "Tuesday 03:59, Monday night's range");
    assert.equal(isWindowOpen(w, at("2026-11-24T04:00:00Z")), false, "Tuesday 04:00: closed");
    assert.equal(isWindowOpen(w, at("2026-11-23T02:00:00Z")), false, "Monday 02:00: Sunday's range ends at 24:00, Sunday is not Mon-Fri");
    assert.equal(isWindowOpen(w, at("2026-11-29T13:00:00Z")), true, "Sunday");
    assert.equal(isWindowOpen(w, at("2026-11-28T03:00:00Z")), true, "Saturday 03:00 (Friday night and Saturday)");
  });

  it("nextWindowOpening: now while open, else the next range start", () => {
    const w = parseMaintenanceWindow(NIGHTS_AND_WEEKENDS);
    const openNow = at("2026-11-23T23:30:00Z");
    assert.equal(nextWindowOpening(w, openNow), openNow);
    assert.equal(nextWindowOpening(w, at("2026-11-23T12:00:00Z")), at("2026-11-23T22:00:00Z"));
    assert.equal(nextWindowOpening(w, at("2026-11-24T04:00:00Z")), at("2026-11-24T22:00:00Z"));
    const weekly = parseMaintenanceWindow("Wed 10:00-11:00");
    assert.equal(nextWindowOpening(weekly, at("2026-11-25T11:00:00Z")), at("2026-12-02T10:00:00Z"), "a week later");
    assert.equal(nextWindowOpening(weekly, at("2026-11-25T09:59:30Z")), at("2026-11-25T10:00:00Z"));
  });

  it("in a time zone, across a daylight-saving change", () => {
    const berlin = parseMaintenanceWindow("Mon-Fri 22:00-04:00", "Europe/Berlin");
    // Winter: Berlin is UTC+1, so 22:00 there is 21:00 UTC.
    assert.equal(nextWindowOpening(berlin, at("2026-11-23T12:00:00Z")), at("2026-11-23T21:00:00Z"));
    assert.equal(isWindowOpen(berlin, at("2026-11-23T21:30:00Z")), true);
    // Summer: UTC+2.
    assert.equal(nextWindowOpening(berlin, at("2026-06-15T12:00:00Z")), at("2026-06-15T20:00:00Z"));
    // Sunday 29 March 2026 02:00 Berlin jumps to 03:00; a window at 02:30 opens when the clock reaches it (03:00 local).
    const jump = parseMaintenanceWindow("Sun 02:30-05:00", "Europe/Berlin");
    const opening = nextWindowOpening(jump, at("2026-03-28T12:00:00Z"));
    assert.ok(isWindowOpen(jump, opening), new Date(opening).toISOString());
    assert.ok(opening >= at("2026-03-29T01:00:00Z") && opening <= at("2026-03-29T01:30:00Z"), new Date(opening).toISOString());
  });
});
