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

/**
 * Compact local date-time of an ISO-8601 string: "Nov 27, 08:15" this year, "Dec 3, 2025, 08:15" before;
 * no seconds. The input itself if unparsable.
 */
export function localDateTime(iso: string | null | undefined, now: Date = new Date()): string {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, {
    year: date.getFullYear() === now.getFullYear() ? undefined : 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  });
}

/** Video length as on a player: 65 -> "1:05", 3725 -> "1:02:05". */
export function clockDuration(seconds: number | null | undefined): string | null {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) {
    return null;
  }
  const s = Math.round(seconds);
  const two = (n: number) => String(n).padStart(2, '0');
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  return hours ? `${hours}:${two(minutes)}:${two(s % 60)}` : `${minutes}:${two(s % 60)}`;
}

/** Host without "www.": "https://www.youtube.com/watch?v=x" -> "youtube.com"; null if not a URL. */
export function hostOf(url: string | null | undefined): string | null {
  if (!url) return null;
  try {
    return new URL(url).hostname.replace(/^www\./, '') || null;
  } catch {
    return null;
  }
}

/** A URL as a person reads it: host and path, no scheme ("youtube.com/watch?v=x"). */
export function readableURL(url: string): string {
  try {
    const parsed = new URL(url);
    const rest = `${parsed.pathname === '/' ? '' : parsed.pathname}${parsed.search}`;
    return `${parsed.hostname.replace(/^www\./, '')}${rest}`;
  } catch {
    return url;
  }
}

/**
 * One readable line of an error: its first line without yt-dlp's "ERROR: " and "[extractor] " prefixes, and
 * with server paths reduced to their file name.
 */
export function errorSummary(message: string | null | undefined): string {
  const first = (message ?? '').split('\n').find((line) => line.trim()) ?? '';
  const line = first
    .trim()
    .replace(/^ERROR:\s*/i, '')
    .replace(/^\[[\w:-]+\]\s*/, '')
    .replace(/(?:\/[^\s/:'"]+)+\/([^\s/:'"]+)/g, '$1');
  return line || 'Download failed.';
}

/** A file name a person recognises: the title, without characters file systems refuse, plus the extension. */
export function saveAsName(title: string, fileName: string | null | undefined): string {
  const extension = /\.[A-Za-z0-9]{1,8}$/.exec(fileName ?? '')?.[0] ?? '';
  const base = title
    .replace(/[\u0000-\u001f\u007f/\\:*?"<>|]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^\.+/, '')
    .slice(0, 150)
    .trim();
  return (base || 'video') + extension;
}

/** RFC 8187 encoding of a file name, as nginx's ?download= accepts it (letters, digits, !._~- and %XX). */
export function encodeFileName(name: string): string {
  return encodeURIComponent(name).replace(
    /['()*]/g,
    (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase(),
  );
}

export function localTime(date: Date): string {
  return date.toLocaleTimeString(undefined, {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}
