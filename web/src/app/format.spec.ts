import {
  clockDuration,
  describePeriod,
  encodeFileName,
  errorSummary,
  humanDuration,
  humanSize,
  localDateTime,
  readableURL,
  saveAsName,
} from './format';

describe('format helpers', () => {
  it('formats sizes in decimal units', () => {
    expect(humanSize(0)).toBe('0 B');
    expect(humanSize(999)).toBe('999 B');
    expect(humanSize(1500)).toBe('1.5 kB');
    expect(humanSize(4_200_000)).toBe('4.2 MB');
    expect(humanSize(4_000_000)).toBe('4 MB');
    expect(humanSize(350_000_000)).toBe('350 MB');
    expect(humanSize(1_234_567_890)).toBe('1.2 GB');
    expect(humanSize(null)).toBe('—');
    expect(humanSize(undefined)).toBe('—');
  });

  it('formats durations and periods', () => {
    expect(humanDuration(42)).toBe('42 s');
    expect(humanDuration(75)).toBe('1 min 15 s');
    expect(humanDuration(3700)).toBe('1 h 1 min');
    expect(humanDuration(null)).toBeNull();
    expect(describePeriod(15)).toBe('the last 15 minutes');
    expect(describePeriod(60)).toBe('the last hour');
    expect(describePeriod(1440)).toBe('the last 24 hours');
    expect(describePeriod(10080)).toBe('the last 7 days');
    expect(describePeriod(120)).toBe('the last 2 hours');
  });

  it('shows dates compactly: no seconds, no year for this year', () => {
    const now = new Date('2026-11-27T12:00:00');
    const thisYear = localDateTime(new Date('2026-03-04T05:06:07').toISOString(), now);
    expect(thisYear).not.toContain('2026');
    expect(thisYear).not.toMatch(/:07/);
    expect(localDateTime(new Date('2025-03-04T05:06:07').toISOString(), now)).toContain('2025');
    expect(localDateTime('not a date')).toBe('not a date');
  });

  it('formats video lengths, URLs, errors and file names for people', () => {
    expect(clockDuration(65)).toBe('1:05');
    expect(clockDuration(3725)).toBe('1:02:05');
    expect(clockDuration(null)).toBeNull();
    expect(readableURL('https://www.youtube.com/watch?v=abc')).toBe('youtube.com/watch?v=abc');
    expect(readableURL('https://example.com/')).toBe('example.com');
    expect(errorSummary("ERROR: [generic] 'x': Unsupported URL\nmore")).toBe(
      "'x': Unsupported URL",
    );
    expect(errorSummary('[Errno 2] No such file: /srv/app/data/abc.unknown_video')).toBe(
      '[Errno 2] No such file: abc.unknown_video',
    );
    expect(errorSummary(null)).toBe('Download failed.');
    expect(saveAsName('a/b: "c"?', 'x.webm')).toBe('a b c.webm');
    expect(saveAsName('...', 'x.mp4')).toBe('video.mp4');
    expect(encodeFileName("it's (1).mp4")).toBe('it%27s%20%281%29.mp4');
  });
});
