// The time an event is filed under by the sinks that name things by day: storage object keys (event_day,
// Security Lake eventDay) and name templates ({yyyy}, {mm}, {dd} of an Elasticsearch index).
import type { OcsfEvent } from "../normalize/ocsf";

/**
 * The earliest event time that files an event under its own day: 2000-01-01T00:00:00Z. Earlier times are
 * a sensor clock that was never set (0, 1970, negative), not events anyone searches by that day.
 */
export const FILE_TIME_MIN = Date.UTC(2000, 0, 1);
/** How far after its receipt (metadata.logged_time) an event time may be and still file the event: clock skew. */
export const FILE_TIME_AHEAD_MS = 24 * 3_600_000;
/** The last instant with a four-digit year: the upper bound when an event has no receipt time. */
const FILE_TIME_MAX = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * The time an event is filed under (object keys' event_day / eventDay, index names' {yyyy}{mm}{dd}): its own
 * `time`, unless a wrong sensor clock put that before 2000 or more than a day after Tributary received it
 * (2038, 9999, evt.time in the far future); then its receipt time (`loggedTime`, metadata.logged_time), so one
 * absurd time cannot create an absurd partition or index. Late events (a buffer flushed days later) keep their
 * own day. Without a receipt time, a time outside 2000-01-01..9999-12-31 files under 2000-01-01.
 * The event itself is not changed: its `time` stays as the sensor sent it.
 */
export function fileTime(time: number, loggedTime?: unknown): number {
  const received = typeof loggedTime === "number" && loggedTime >= FILE_TIME_MIN && loggedTime <= FILE_TIME_MAX ? loggedTime : undefined;
  const max = received === undefined ? FILE_TIME_MAX : received + FILE_TIME_AHEAD_MS;
  if (Number.isFinite(time) && time >= FILE_TIME_MIN && time <= max) return time;
  return received ?? FILE_TIME_MIN;
}

/** fileTime of an event. */
export function eventFileTime(e: Pick<OcsfEvent, "time" | "metadata">): number {
  return fileTime(e.time, e.metadata?.logged_time);
}
