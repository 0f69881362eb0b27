// Durations as people write them (`500ms`, `10s`, `5m`, `1h`, or a bare number of seconds), in milliseconds; null if not one.
const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) return null;
  const ms = Number(m[1]) * UNITS[m[2] ?? 's'];
  return Number.isFinite(ms) ? Math.round(ms) : null;
}
