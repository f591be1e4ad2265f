import { describePeriod, humanDuration, humanSize } from './format';

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
});
