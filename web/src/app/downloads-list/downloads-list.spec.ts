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
import { CONFIRM } from '../confirm';
import { page } from 'vitest/browser';

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
  let confirmSpy: ReturnType<typeof vi.fn<(message: string) => boolean>>;

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
    // Never a real window.confirm in component tests: answer "no" unless a test says otherwise.
    confirmSpy = vi.fn<(message: string) => boolean>(() => false);
    TestBed.configureTestingModule({
      imports: [DownloadsList],
      providers: [
        provideHttpClient(),
        provideHttpClientTesting(),
        { provide: CONFIRM, useValue: (message: string) => confirmSpy(message) },
      ],
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

    // Unknown statuses (e.g. a future PAUSED) are shown as text, neutrally.
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

  describe('row actions', () => {
    const U = {
      pending: '11111111-aaaa-4bbb-8ccc-000000000001',
      downloading: '22222222-aaaa-4bbb-8ccc-000000000002',
      completed: '33333333-aaaa-4bbb-8ccc-000000000003',
      failed: '44444444-aaaa-4bbb-8ccc-000000000004',
      cancelled: '55555555-aaaa-4bbb-8ccc-000000000005',
      future: '66666666-aaaa-4bbb-8ccc-000000000006',
    };
    const ROWS: DownloadItem[] = [
      item({ downloadUUID: U.pending, downloadStatus: 'PENDING' }),
      item({ downloadUUID: U.downloading, downloadStatus: 'DOWNLOADING', progress: 10 }),
      item({ downloadUUID: U.completed, downloadStatus: 'COMPLETED', s3Available: false }),
      item({ downloadUUID: U.failed, downloadStatus: 'FAILED', errorMessage: 'boom', attempts: 1 }),
      item({ downloadUUID: U.cancelled, downloadStatus: 'CANCELLED', progress: 37, attempts: 2 }),
      item({ downloadUUID: U.future, downloadStatus: 'PAUSED' }),
    ];

    function withStatus(uuid: string, downloadStatus: string): DownloadItem[] {
      return ROWS.map((d) => (d.downloadUUID === uuid ? { ...d, downloadStatus } : d));
    }

    function button(uuid: string, testId: string): HTMLButtonElement | null {
      return row(uuid).querySelector<HTMLButtonElement>(`[data-testid="${testId}"]`);
    }

    function rowButtons(uuid: string): HTMLButtonElement[] {
      return Array.from(
        row(uuid).querySelectorAll<HTMLButtonElement>('[data-testid="row-actions"] button'),
      );
    }

    function expectAction(operation: string, uuid: string): TestRequest {
      const req = http.expectOne(`api/${operation}`);
      expect(req.request.method).toBe('POST');
      expect(req.request.body).toEqual({ videoDownloadUUID: uuid });
      return req;
    }

    beforeEach(async () => {
      expectList('60', 'false').flush({ downloads: ROWS });
      await fixture.whenStable();
    });

    it('shows Cancel only on PENDING/DOWNLOADING, Retry only on FAILED/CANCELLED, Delete everywhere', () => {
      const expected: Record<string, string[]> = {
        [U.pending]: ['cancel-button', 'delete-button'],
        [U.downloading]: ['cancel-button', 'delete-button'],
        [U.completed]: ['delete-button'],
        [U.failed]: ['retry-button', 'delete-button'],
        [U.cancelled]: ['retry-button', 'delete-button'],
        [U.future]: ['delete-button'],
      };
      for (const [uuid, testIds] of Object.entries(expected)) {
        expect(
          rowButtons(uuid).map((b) => b.getAttribute('data-testid')),
          uuid,
        ).toEqual(testIds);
      }
      // Accessible names say which download each button acts on; visible text stays short.
      const cancel = button(U.pending, 'cancel-button')!;
      expect(cancel.getAttribute('aria-label')).toBe('Cancel download 11111111');
      expect(text(cancel)).toBe('Cancel');
      expect(button(U.failed, 'retry-button')!.getAttribute('aria-label')).toBe(
        'Retry download 44444444',
      );
      expect(button(U.completed, 'delete-button')!.getAttribute('aria-label')).toBe(
        'Delete download 33333333',
      );
      for (const b of rowButtons(U.pending)) {
        expect(b.type).toBe('button');
        expect(b.disabled).toBe(false);
      }
      expect(byTestId(fixture, 'row-action-error')).toBeNull();
    });

    it('shows CANCELLED with its own neutral badge and the attempt number', () => {
      const cancelled = row(U.cancelled);
      const badge = cancelled.querySelector<HTMLElement>('[data-testid="status"]')!;
      expect(text(badge)).toBe('CANCELLED');
      expect(badge.getAttribute('data-status')).toBe('CANCELLED');
      expect(badge.classList).toContain('status-cancelled');
      expect(badge.classList).not.toContain('status-unknown');
      expect(text(cancelled.querySelector('[data-testid="attempts"]'))).toBe('attempt 2');
      // One attempt is the normal case: nothing shown.
      expect(row(U.failed).querySelector('[data-testid="attempts"]')).toBeNull();

      // Its colour is neither PENDING's nor the unknown-status one.
      const pendingBadge = row(U.pending).querySelector<HTMLElement>('[data-testid="status"]')!;
      const unknownBadge = row(U.future).querySelector<HTMLElement>('[data-testid="status"]')!;
      const style = getComputedStyle(badge);
      expect(style.borderTopStyle).toBe('dashed');
      expect(style.backgroundColor).not.toBe(getComputedStyle(unknownBadge).backgroundColor);
      expect(getComputedStyle(pendingBadge).borderTopStyle).toBe('solid');
    });

    it('Cancel posts the UUID, disables the row while in flight, then refreshes the list once', async () => {
      button(U.downloading, 'cancel-button')!.click();
      await fixture.whenStable();
      const req = expectAction('cancelDownload', U.downloading);
      expect(rowButtons(U.downloading).every((b) => b.disabled)).toBe(true);
      expect(text(row(U.downloading))).toContain('Cancelling…');
      // Other rows stay usable.
      expect(rowButtons(U.pending).every((b) => !b.disabled)).toBe(true);
      http.expectNone((r) => r.url === 'api/listDownloads');

      req.flush({ downloadUUID: U.downloading, downloadStatus: 'CANCELLED' });
      await fixture.whenStable();
      expectList('60', 'false').flush({ downloads: withStatus(U.downloading, 'CANCELLED') });
      await fixture.whenStable();

      expect(text(row(U.downloading).querySelector('[data-testid="status"]'))).toBe('CANCELLED');
      expect(button(U.downloading, 'cancel-button')).toBeNull();
      const retry = button(U.downloading, 'retry-button')!;
      expect(retry.disabled).toBe(false);
      expect(text(byTestId(fixture, 'action-message'))).toBe('Download 22222222 cancelled.');
      // Focus stays in the row, on its first action.
      expect(document.activeElement).toBe(retry);
      http.expectNone(() => true); // exactly one refresh, no polling
    });

    it('Retry posts the UUID and refreshes the list once', async () => {
      button(U.failed, 'retry-button')!.click();
      const req = expectAction('retryDownload', U.failed);
      await fixture.whenStable();
      expect(rowButtons(U.failed).every((b) => b.disabled)).toBe(true);
      req.flush({ downloadUUID: U.failed, downloadStatus: 'PENDING' });
      await fixture.whenStable();
      expectList('60', 'false').flush({ downloads: withStatus(U.failed, 'PENDING') });
      await fixture.whenStable();

      expect(text(row(U.failed).querySelector('[data-testid="status"]'))).toBe('PENDING');
      expect(button(U.failed, 'retry-button')).toBeNull();
      expect(button(U.failed, 'cancel-button')).not.toBeNull();
      expect(text(byTestId(fixture, 'action-message'))).toBe('Download 44444444 queued again.');
      http.expectNone(() => true);
    });

    it('Delete asks for confirmation and does nothing when declined', async () => {
      confirmSpy.mockReturnValue(false);
      button(U.completed, 'delete-button')!.click();
      await fixture.whenStable();
      expect(confirmSpy).toHaveBeenCalledTimes(1);
      expect(confirmSpy.mock.calls[0][0]).toContain('Delete download 33333333?');
      http.expectNone(() => true);
      expect(rowButtons(U.completed).every((b) => !b.disabled)).toBe(true);
      expect(allByTestId(fixture, 'download-row')).toHaveLength(ROWS.length);
    });

    it('Delete posts the UUID when confirmed, then refreshes the list once', async () => {
      confirmSpy.mockReturnValue(true);
      button(U.downloading, 'delete-button')!.focus();
      button(U.downloading, 'delete-button')!.click();
      expect(confirmSpy).toHaveBeenCalledTimes(1);
      // An ongoing download is cancelled first: the question says so.
      expect(confirmSpy.mock.calls[0][0]).toContain('cancelled first');
      const req = expectAction('deleteDownload', U.downloading);
      await fixture.whenStable();
      expect(rowButtons(U.downloading).every((b) => b.disabled)).toBe(true);
      req.flush({ downloadUUID: U.downloading, deleted: true });
      await fixture.whenStable();
      expectList('60', 'false').flush({
        downloads: ROWS.filter((d) => d.downloadUUID !== U.downloading),
      });
      await fixture.whenStable();

      expect(
        allByTestId(fixture, 'download-row').map((r) => r.getAttribute('data-uuid')),
      ).not.toContain(U.downloading);
      expect(text(byTestId(fixture, 'action-message'))).toBe('Download 22222222 deleted.');
      // The row (and the focused button) is gone: focus moves to the list heading.
      expect(document.activeElement?.id).toBe('downloads-heading');
      http.expectNone(() => true);
    });

    it("shows a 418's errorMessage next to the row's buttons and does not refresh", async () => {
      button(U.pending, 'cancel-button')!.click();
      expectAction('cancelDownload', U.pending).flush(
        {
          errorCode: 'downloadNotOngoing',
          errorMessage: 'Download 11111111 is already COMPLETED and cannot be cancelled.',
        },
        TEAPOT,
      );
      await fixture.whenStable();

      const errors = allByTestId(fixture, 'row-action-error');
      expect(errors).toHaveLength(1);
      expect(row(U.pending).contains(errors[0])).toBe(true);
      expect(text(errors[0])).toBe(
        'Download 11111111 is already COMPLETED and cannot be cancelled.',
      );
      expect(errors[0].getAttribute('role')).toBe('alert');
      expect(rowButtons(U.pending).every((b) => !b.disabled)).toBe(true);
      http.expectNone(() => true);

      // Retry with a different error, on another row; then a success clears the error.
      button(U.cancelled, 'retry-button')!.click();
      expectAction('retryDownload', U.cancelled).flush(
        { errorCode: 'downloadNotFound', errorMessage: 'No download with this UUID.' },
        TEAPOT,
      );
      await fixture.whenStable();
      expect(text(row(U.cancelled).querySelector('[data-testid="row-action-error"]'))).toBe(
        'No download with this UUID.',
      );

      button(U.pending, 'cancel-button')!.click();
      expectAction('cancelDownload', U.pending).flush({
        downloadUUID: U.pending,
        downloadStatus: 'CANCELLED',
      });
      await fixture.whenStable();
      expect(row(U.pending).querySelector('[data-testid="row-action-error"]')).toBeNull();
      expectList('60', 'false').flush({ downloads: ROWS });
      await fixture.whenStable();
    });

    it('fits a 375 px wide phone screen without horizontal scrolling', async () => {
      const before = { width: window.innerWidth, height: window.innerHeight };
      await page.viewport(375, 740);
      try {
        await fixture.whenStable();
        expect(window.innerWidth).toBe(375);
        const doc = document.documentElement;
        expect(doc.scrollWidth).toBeLessThanOrEqual(doc.clientWidth);
        const wrap = (fixture.nativeElement as HTMLElement).querySelector<HTMLElement>(
          '.table-wrap',
        )!;
        expect(wrap.scrollWidth).toBeLessThanOrEqual(wrap.clientWidth);
        for (const uuid of Object.values(U)) {
          const r = row(uuid);
          expect(r.scrollWidth, uuid).toBeLessThanOrEqual(r.clientWidth + 1);
          for (const b of rowButtons(uuid)) {
            const box = b.getBoundingClientRect();
            expect(box.right, uuid).toBeLessThanOrEqual(375);
            expect(box.height).toBeGreaterThanOrEqual(24); // comfortable touch target
          }
        }
      } finally {
        await page.viewport(before.width, before.height);
      }
    });
  });
});
