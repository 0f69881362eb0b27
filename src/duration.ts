// Durations as people write them (`500ms`, `10s`, `5m`, `1h`, or a bare number of seconds), in milliseconds; null if not one.
const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) return null;
  const ms = Number(m[1]) * UNITS[m[2] ?? 's'];
  return Number.isFinite(ms) ? Math.round(ms) : null;
}

/**
 * A point in time as `--since`/`--until` take it (as docker's do): RFC 3339 (`2026-12-02T10:00:00Z`, or a date), Unix
 * seconds (`1764669600`, fractions allowed), or a duration back from `now` (`10m`, `1h30m` is not: one unit). Null if none.
 */
export function parseTimeArg(text: string, now: number): number | null {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t) && t.length >= 9) return Math.round(Number(t) * 1000);
  const back = parseDuration(t);
  if (back !== null && /[a-z]$/.test(t)) return now - back;
  if (!/^\d{4}-\d{2}-\d{2}/.test(t)) return null;
  const ms = Date.parse(t);
  return Number.isFinite(ms) ? ms : null;
}
