/** Small display helpers (pure functions, unit-tested). */

const SIZE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];

/** Human-readable size with decimal (SI) units: 4200000 -> "4.2 MB". */
export function humanSize(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes) || bytes < 0) {
    return '—';
  }
  if (bytes < 1000) {
    return `${Math.round(bytes)} B`;
  }
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < SIZE_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  // 1 decimal below 100, none above ("4.2 MB", "12.5 MB", "350 MB").
  const text = value < 100 ? value.toFixed(1) : Math.round(value).toString();
  return `${text.replace(/\.0$/, '')} ${SIZE_UNITS[unit]}`;
}

export function humanSpeed(bytesPerSecond: number | null | undefined): string | null {
  if (bytesPerSecond === null || bytesPerSecond === undefined || !Number.isFinite(bytesPerSecond)) {
    return null;
  }
  return `${humanSize(bytesPerSecond)}/s`;
}

/** 75 -> "1 min 15 s", 3700 -> "1 h 1 min". */
export function humanDuration(seconds: number | null | undefined): string | null {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) {
    return null;
  }
  const s = Math.round(seconds);
  if (s < 60) {
    return `${s} s`;
  }
  const minutes = Math.floor(s / 60);
  if (minutes < 60) {
    const rest = s % 60;
    return rest ? `${minutes} min ${rest} s` : `${minutes} min`;
  }
  const hours = Math.floor(minutes / 60);
  const restMin = minutes % 60;
  return restMin ? `${hours} h ${restMin} min` : `${hours} h`;
}

/** Period in minutes -> "the last hour", "the last 15 minutes", "the last 7 days". */
export function describePeriod(minutes: number): string {
  if (minutes === 60) return 'the last hour';
  if (minutes === 1440) return 'the last 24 hours';
  if (minutes % 1440 === 0) return `the last ${minutes / 1440} days`;
  if (minutes % 60 === 0) return `the last ${minutes / 60} hours`;
  return minutes === 1 ? 'the last minute' : `the last ${minutes} minutes`;
}

/** Local, readable date-time of an ISO-8601 string; the input itself if unparsable. */
export function localDateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

export function localTime(date: Date): string {
  return date.toLocaleTimeString(undefined, {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}
