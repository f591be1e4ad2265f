import { ComponentFixture, TestBed } from '@angular/core/testing';
import { provideHttpClient } from '@angular/common/http';
import {
  HttpTestingController,
  TestRequest,
  provideHttpClientTesting,
} from '@angular/common/http/testing';
import { DownloadsList } from './downloads-list';
import { DownloadItem } from '../api/api.types';
import { TEAPOT, allByTestId, byTestId, text } from '../testing';

function item(overrides: Partial<DownloadItem>): DownloadItem {
  return {
    downloadUUID: 'uuid-x',
    downloadStatus: 'PENDING',
    videoURL: 'https://example.com/watch?v=x',
    ytdlpCLIParameters: [],
    createdAt: '2026-01-02T03:04:05Z',
    updatedAt: '2026-01-02T03:04:05Z',
    ...overrides,
  };
}

const SAMPLE: DownloadItem[] = [
  item({
    downloadUUID: 'uuid-downloading',
    downloadStatus: 'DOWNLOADING',
    progress: 42.5,
    downloadSizeInBytes: 4_200_000,
    speedBytesPerSecond: 1_500_000,
    etaSeconds: 75,
    videoURL: 'https://www.example.com/watch?v=' + 'a'.repeat(120),
    ytdlpCLIParameters: ['-f', 'best'],
  }),
  item({
    downloadUUID: 'uuid-completed',
    downloadStatus: 'COMPLETED',
    progress: 100,
    downloadSizeInBytes: 1_234_567_890,
    fileName: 'video.mp4',
    s3Available: true,
  }),
  item({
    downloadUUID: 'uuid-failed',
    downloadStatus: 'FAILED',
    errorMessage: 'ERROR: [generic] Unsupported URL',
    attempts: 3,
  }),
  item({ downloadUUID: 'uuid-pending', downloadStatus: 'PENDING', progress: null }),
  item({ downloadUUID: 'uuid-future', downloadStatus: 'PAUSED' }),
];

describe('DownloadsList', () => {
  let fixture: ComponentFixture<DownloadsList>;
  let http: HttpTestingController;

  function expectList(minutes: string, ongoing: string): TestRequest {
    return http.expectOne(
      (r) =>
        r.method === 'GET' &&
        r.url === 'api/listDownloads' &&
        r.params.get('overLastPeriodDurationInMinutes') === minutes &&
        r.params.get('onlyShowOngoingDownloads') === ongoing,
    );
  }

  function row(uuid: string): HTMLElement {
    const el = (fixture.nativeElement as HTMLElement).querySelector<HTMLElement>(
      `[data-testid="download-row"][data-uuid="${uuid}"]`,
    );
    expect(el, `row ${uuid}`).not.toBeNull();
    return el!;
  }

  beforeEach(async () => {
    TestBed.configureTestingModule({
      imports: [DownloadsList],
      providers: [provideHttpClient(), provideHttpClientTesting()],
    });
    http = TestBed.inject(HttpTestingController);
    fixture = TestBed.createComponent(DownloadsList);
    await fixture.whenStable();
  });

  afterEach(() => {
    vi.useRealTimers();
    http.verify();
  });

  it('loads the last hour of all downloads on start, showing a loading state', async () => {
    const req = expectList('60', 'false');
    expect(byTestId(fixture, 'loading')).not.toBeNull();
    expect(text(byTestId(fixture, 'last-refresh'))).toBe('Not refreshed yet');
    req.flush({ downloads: SAMPLE });
    await fixture.whenStable();
    expect(byTestId(fixture, 'loading')).toBeNull();
    expect(text(byTestId(fixture, 'last-refresh'))).toMatch(/^Last refreshed at \S/);
  });

  it('renders one row per download with status text, progress and human-readable size', async () => {
    expectList('60', 'false').flush({ downloads: SAMPLE });
    await fixture.whenStable();

    const rows = allByTestId(fixture, 'download-row');
    expect(rows.map((r) => r.getAttribute('data-uuid'))).toEqual(SAMPLE.map((d) => d.downloadUUID));

    const downloading = row('uuid-downloading');
    const badge = downloading.querySelector('[data-testid="status"]')!;
    expect(text(badge)).toBe('DOWNLOADING');
    expect(badge.classList).toContain('status-downloading');
    const progress = downloading.querySelector('progress')!;
    expect(progress.value).toBe(42.5);
    expect(progress.max).toBe(100);
    expect(text(downloading.querySelector('[data-testid="progress-text"]'))).toBe('43%');
    expect(text(downloading.querySelector('[data-testid="size"]'))).toBe('4.2 MB');
    expect(text(downloading)).toContain('1.5 MB/s');
    expect(text(downloading)).toContain('1 min 15 s left');
    const link = downloading.querySelector<HTMLAnchorElement>('a.url')!;
    expect(link.title).toBe(SAMPLE[0].videoURL);
    // Truncated visually (ellipsis) but the full URL stays in the title.
    expect(getComputedStyle(link).textOverflow).toBe('ellipsis');
    expect(text(downloading)).toContain('-f best');

    const completed = row('uuid-completed');
    expect(text(completed.querySelector('[data-testid="status"]'))).toBe('COMPLETED');
    expect(text(completed.querySelector('[data-testid="size"]'))).toBe('1.2 GB');
    expect(text(completed.querySelector('[data-testid="progress-text"]'))).toBe('100%');
    expect(completed.querySelector('[data-testid="https-link-button"]')).not.toBeNull();
    expect(completed.querySelector('[data-testid="s3-link-button"]')).not.toBeNull();

    const failed = row('uuid-failed');
    expect(text(failed.querySelector('[data-testid="status"]'))).toBe('FAILED');
    expect(text(failed)).toContain('ERROR: [generic] Unsupported URL');
    expect(failed.querySelector('[data-testid="https-link-button"]')).toBeNull();

    const pending = row('uuid-pending');
    expect(text(pending.querySelector('[data-testid="status"]'))).toBe('PENDING');
    expect(text(pending.querySelector('[data-testid="size"]'))).toBe('—');
    expect(pending.querySelector('[data-testid="https-link-button"]')).toBeNull();

    // Unknown statuses (e.g. a future CANCELLED/PAUSED) are shown as text, neutrally.
    const future = row('uuid-future');
    expect(text(future.querySelector('[data-testid="status"]'))).toBe('PAUSED');
    expect(future.querySelector('[data-testid="status"]')!.classList).toContain('status-unknown');

    // Created time is shown in local, readable form with the ISO value kept.
    const time = downloading.querySelector('time')!;
    expect(time.getAttribute('datetime')).toBe('2026-01-02T03:04:05Z');
    expect(text(time)).toContain('2026');
  });

  it('shows an empty state that says what to do', async () => {
    expectList('60', 'false').flush({ downloads: [] });
    await fixture.whenStable();
    expect(allByTestId(fixture, 'download-row')).toHaveLength(0);
    expect(text(byTestId(fixture, 'empty-state'))).toBe(
      'No downloads in the last hour. Start one above, or widen the period.',
    );
  });

  it('shows an error state when listing fails', async () => {
    expectList('60', 'false').flush(
      { errorCode: 'serviceUnavailable', errorMessage: 'Database unavailable.' },
      TEAPOT,
    );
    await fixture.whenStable();
    expect(text(byTestId(fixture, 'list-error'))).toContain('Database unavailable.');
    expect(byTestId(fixture, 'empty-state')).toBeNull();
  });

  it('changes the query parameters when the period or the toggle changes', async () => {
    expectList('60', 'false').flush({ downloads: [] });
    await fixture.whenStable();

    const period = byTestId<HTMLSelectElement>(fixture, 'period')!;
    period.value = '15';
    period.dispatchEvent(new Event('change'));
    expectList('15', 'false').flush({ downloads: [] });
    await fixture.whenStable();
    expect(text(byTestId(fixture, 'empty-state'))).toContain('the last 15 minutes');

    period.value = '10080';
    period.dispatchEvent(new Event('change'));
    expectList('10080', 'false').flush({ downloads: [] });
    await fixture.whenStable();

    const ongoing = byTestId<HTMLInputElement>(fixture, 'only-ongoing')!;
    ongoing.click();
    expectList('10080', 'true').flush({ downloads: [] });
    await fixture.whenStable();
    expect(text(byTestId(fixture, 'empty-state'))).toBe(
      'No ongoing downloads in the last 7 days. Start one above, or widen the period.',
    );

    period.value = 'custom';
    period.dispatchEvent(new Event('change'));
    expectList('120', 'true').flush({ downloads: [] });
    await fixture.whenStable();
    const minutes = byTestId<HTMLInputElement>(fixture, 'period-custom-minutes')!;
    expect(
      (fixture.nativeElement as HTMLElement).querySelector('label[for="period-custom-minutes"]'),
    ).not.toBeNull();
    minutes.value = '45';
    minutes.dispatchEvent(new Event('change'));
    expectList('45', 'true').flush({ downloads: [] });
    await fixture.whenStable();

    minutes.value = '0';
    minutes.dispatchEvent(new Event('change'));
    await fixture.whenStable();
    http.expectNone('api/listDownloads');
    expect(text(fixture.nativeElement)).toContain('whole number of minutes');
  });

  it('Refresh triggers a new request', async () => {
    expectList('60', 'false').flush({ downloads: [] });
    await fixture.whenStable();

    byTestId<HTMLButtonElement>(fixture, 'refresh')!.click();
    expectList('60', 'false').flush({ downloads: [SAMPLE[1]] });
    await fixture.whenStable();
    expect(allByTestId(fixture, 'download-row')).toHaveLength(1);
    expect(byTestId(fixture, 'empty-state')).toBeNull();
  });

  it('never polls by itself', async () => {
    expectList('60', 'false').flush({ downloads: SAMPLE });
    fixture.destroy();

    // A fresh component created under fake timers, so that any timer it starts
    // (setTimeout, setInterval, rxjs interval/timer) is under our control.
    vi.useFakeTimers();
    const polled = TestBed.createComponent(DownloadsList);
    polled.detectChanges();
    expectList('60', 'false').flush({ downloads: SAMPLE });
    polled.detectChanges();
    for (let i = 0; i < 60; i++) {
      vi.advanceTimersByTime(60 * 1000); // one hour, minute by minute...
      polled.detectChanges();
    }
    http.expectNone(() => true); // ...and still no new request
    expect(allByTestId(polled, 'download-row')).toHaveLength(SAMPLE.length);
    polled.destroy();
  });
});
