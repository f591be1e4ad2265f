import { ComponentFixture, TestBed } from '@angular/core/testing';
import { provideHttpClient } from '@angular/common/http';
import {
  HttpTestingController,
  TestRequest,
  provideHttpClientTesting,
} from '@angular/common/http/testing';
import { DownloadsList } from './downloads-list';
import { DownloadItem } from '../api/api.types';
import { TEAPOT, allByTestId, byTestId, provideApiWith, text } from '../testing';
import { CONFIRM } from '../confirm';
import { StatusAnnouncer } from '../status-announcer';
import { page } from 'vitest/browser';
import { EVENT_SOURCE } from '../api/download-events';

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

const ALL = '5256000';

/** Stands in for the browser's EventSource: the test sends what /api/events would. */
class FakeEventSource {
  onmessage: ((message: MessageEvent<string>) => void) | null = null;
  closed = false;
  private readonly listeners = new Map<string, () => void>();

  constructor(
    readonly url: string,
    opened: FakeEventSource[],
  ) {
    opened.push(this);
  }

  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;

  addEventListener(type: string, listener: () => void): void {
    this.listeners.set(type, listener);
  }

  send(data: object): void {
    this.onmessage?.(new MessageEvent('message', { data: JSON.stringify(data) }));
  }

  emit(type: string): void {
    this.listeners.get(type)?.();
  }

  close(): void {
    this.closed = true;
  }
}

describe('DownloadsList', () => {
  let fixture: ComponentFixture<DownloadsList>;
  let http: HttpTestingController;
  let confirmSpy: ReturnType<typeof vi.fn<(message: string) => boolean>>;
  let streams: FakeEventSource[];

  function expectList(
    minutes: string,
    ongoing: string,
    extra: Record<string, string | null> = {},
  ): TestRequest {
    const wanted: Record<string, string | null> = {
      maxResults: '50',
      downloadStatus: null,
      search: null,
      pageToken: null,
      topLevelOnly: 'true', // a playlist's entries are shown under it, not as rows of their own
      parentDownloadUUID: null,
      ...extra,
    };
    return http.expectOne(
      (r) =>
        r.method === 'GET' &&
        r.url === 'api/listDownloads' &&
        r.params.get('overLastPeriodDurationInMinutes') === minutes &&
        r.params.get('onlyShowOngoingDownloads') === ongoing &&
        Object.entries(wanted).every(([key, value]) => r.params.get(key) === value),
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
    streams = [];
    TestBed.configureTestingModule({
      imports: [DownloadsList],
      providers: [
        provideHttpClient(),
        provideHttpClientTesting(),
        provideApiWith(),
        { provide: CONFIRM, useValue: (message: string) => confirmSpy(message) },
        { provide: EVENT_SOURCE, useValue: (url: string) => new FakeEventSource(url, streams) },
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

  it('loads the first page of all of history on start, showing a loading state', async () => {
    const req = expectList(ALL, 'false');
    expect(byTestId(fixture, 'loading')).not.toBeNull();
    expect(text(byTestId(fixture, 'last-refresh'))).toBe('Not refreshed yet');
    req.flush({ downloads: SAMPLE });
    await fixture.whenStable();
    expect(byTestId(fixture, 'loading')).toBeNull();
    expect(text(byTestId(fixture, 'last-refresh'))).toMatch(/^Last refreshed at \S/);
  });

  it('renders one row per download with status text, progress and human-readable size', async () => {
    expectList(ALL, 'false').flush({ downloads: SAMPLE });
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
    const link = downloading.querySelector<HTMLAnchorElement>('[data-testid="title"]')!;
    // No title yet: the URL as a person reads it, host first and the whole path; the full URL in the tooltip.
    expect(text(link)).toBe('example.com/watch?v=' + 'a'.repeat(120));
    expect(link.title).toBe(SAMPLE[0].videoURL);
    expect(text(downloading.querySelector('[data-testid="site"]'))).toBe('example.com');
    expect(text(downloading.querySelector('[data-testid="short-id"]'))).toBe('ID uuid-dow');
    expect(text(downloading)).toContain('-f best');

    const completed = row('uuid-completed');
    expect(text(completed.querySelector('[data-testid="status"]'))).toBe('COMPLETED');
    expect(text(completed.querySelector('[data-testid="size"]'))).toBe('1.2 GB');
    // No redundant 100 % bar on a finished download.
    expect(completed.querySelector('[data-testid="progress"]')).toBeNull();
    expect(completed.querySelector('[data-testid="links-button"]')).not.toBeNull();
    expect(completed.querySelector('[data-testid="download-link"]')).not.toBeNull();

    const failed = row('uuid-failed');
    expect(text(failed.querySelector('[data-testid="status"]'))).toBe('FAILED');
    expect(text(failed.querySelector('[data-testid="row-error"]'))).toBe('Unsupported URL');
    expect(failed.querySelector('[data-testid="links-button"]')).toBeNull();

    const pending = row('uuid-pending');
    expect(text(pending.querySelector('[data-testid="status"]'))).toBe('PENDING');
    expect(pending.querySelector('[data-testid="size"]')).toBeNull();
    expect(pending.querySelector('[data-testid="links-button"]')).toBeNull();

    // Unknown statuses (e.g. a future PAUSED) are shown as text, neutrally.
    const future = row('uuid-future');
    expect(text(future.querySelector('[data-testid="status"]'))).toBe('PAUSED');
    expect(future.querySelector('[data-testid="status"]')!.classList).toContain('status-unknown');

    // Created time is shown in local, compact form (no seconds) with the ISO value kept.
    const time = downloading.querySelector('time')!;
    expect(time.getAttribute('datetime')).toBe('2026-01-02T03:04:05Z');
    expect(text(time)).not.toMatch(/:\d\d:\d\d/);
  });

  it('shows an empty state that says what to do', async () => {
    expectList(ALL, 'false').flush({ downloads: [] });
    await fixture.whenStable();
    expect(allByTestId(fixture, 'download-row')).toHaveLength(0);
    expect(text(byTestId(fixture, 'empty-state'))).toBe('No downloads. Start one above.');
  });

  it('shows an error state when listing fails', async () => {
    expectList(ALL, 'false').flush(
      { errorCode: 'serviceUnavailable', errorMessage: 'Database unavailable.' },
      TEAPOT,
    );
    await fixture.whenStable();
    expect(text(byTestId(fixture, 'list-error'))).toContain('Database unavailable.');
    expect(byTestId(fixture, 'empty-state')).toBeNull();
  });

  it('changes the query when the period, the status or the search changes', async () => {
    expectList(ALL, 'false').flush({ downloads: [] });
    await fixture.whenStable();
    const period = byTestId<HTMLSelectElement>(fixture, 'period')!;
    expect(period.value).toBe('all');
    expect(Array.from(period.options).map((o) => o.text.trim())[0]).toBe('All');

    period.value = '10080';
    period.dispatchEvent(new Event('change'));
    expectList('10080', 'false').flush({ downloads: [] });
    await fixture.whenStable();
    expect(text(byTestId(fixture, 'empty-state'))).toContain('in the last 7 days');

    const status = byTestId<HTMLSelectElement>(fixture, 'status-filter')!;
    expect(
      (fixture.nativeElement as HTMLElement).querySelector('label[for="status-filter"]'),
    ).not.toBeNull();
    status.value = 'ongoing';
    status.dispatchEvent(new Event('change'));
    expectList('10080', 'true').flush({ downloads: [] });
    await fixture.whenStable();
    status.value = 'FAILED';
    status.dispatchEvent(new Event('change'));
    expectList('10080', 'false', { downloadStatus: 'FAILED' }).flush({ downloads: [] });
    await fixture.whenStable();
    expect(text(byTestId(fixture, 'empty-state'))).toBe(
      'No failed downloads in the last 7 days. Change the filters to see more.',
    );

    const search = byTestId<HTMLInputElement>(fixture, 'search')!;
    expect(
      (fixture.nativeElement as HTMLElement).querySelector('label[for="list-search"]')?.textContent,
    ).toContain('Search title or URL');
    search.value = '  cats ';
    search.form!.requestSubmit();
    expectList('10080', 'false', {
      downloadStatus: 'FAILED',
      search: 'cats',
      topLevelOnly: null,
    }).flush({
      downloads: [],
    });
    await fixture.whenStable();
    expect(text(byTestId(fixture, 'empty-state'))).toContain('matching “cats”');

    period.value = 'custom';
    period.dispatchEvent(new Event('change'));
    expectList('120', 'false', {
      downloadStatus: 'FAILED',
      search: 'cats',
      topLevelOnly: null,
    }).flush({
      downloads: [],
    });
    await fixture.whenStable();
    const minutes = byTestId<HTMLInputElement>(fixture, 'period-custom-minutes')!;
    minutes.value = '0';
    minutes.dispatchEvent(new Event('change'));
    await fixture.whenStable();
    http.expectNone('api/listDownloads');
    expect(text(fixture.nativeElement)).toContain('whole number of minutes');
  });

  it('searches by itself after a pause in typing', async () => {
    expectList(ALL, 'false').flush({ downloads: [] });
    await fixture.whenStable();
    vi.useFakeTimers();
    const search = byTestId<HTMLInputElement>(fixture, 'search')!;
    search.value = 'do';
    search.dispatchEvent(new Event('input'));
    vi.advanceTimersByTime(100);
    search.value = 'dog';
    search.dispatchEvent(new Event('input'));
    vi.advanceTimersByTime(399);
    http.expectNone('api/listDownloads');
    vi.advanceTimersByTime(1);
    expectList(ALL, 'false', { search: 'dog', topLevelOnly: null }).flush({ downloads: [] });
  });

  it('pages with the token the server gives, appending the next page', async () => {
    const first = Array.from({ length: 3 }, (_, n) => item({ downloadUUID: `p1-${n}` }));
    expectList(ALL, 'false').flush({ downloads: first, nextPageToken: 'TOKEN-1' });
    await fixture.whenStable();
    const more = byTestId<HTMLButtonElement>(fixture, 'show-more')!;
    more.click();
    expectList(ALL, 'false', { pageToken: 'TOKEN-1' }).flush({
      downloads: [item({ downloadUUID: 'p2-0' }), first[2]], // a repeat is not shown twice
    });
    await fixture.whenStable();
    expect(allByTestId(fixture, 'download-row').map((r) => r.dataset['uuid'])).toEqual([
      'p1-0',
      'p1-1',
      'p1-2',
      'p2-0',
    ]);
    expect(byTestId(fixture, 'show-more')).toBeNull();
    // Reading goes on at the first new row.
    expect(document.activeElement).toBe(
      allByTestId(fixture, 'download-row')[3].querySelector('[data-testid="title"]'),
    );
  });

  it('Refresh triggers a new request', async () => {
    expectList(ALL, 'false').flush({ downloads: [] });
    await fixture.whenStable();

    byTestId<HTMLButtonElement>(fixture, 'refresh')!.click();
    expectList(ALL, 'false').flush({ downloads: [SAMPLE[1]] });
    await fixture.whenStable();
    expect(allByTestId(fixture, 'download-row')).toHaveLength(1);
    expect(byTestId(fixture, 'empty-state')).toBeNull();
  });

  it('never polls by itself', async () => {
    expectList(ALL, 'false').flush({ downloads: SAMPLE });
    fixture.destroy();

    // A fresh component created under fake timers, so that any timer it starts
    // (setTimeout, setInterval, rxjs interval/timer) is under our control.
    vi.useFakeTimers();
    const polled = TestBed.createComponent(DownloadsList);
    polled.detectChanges();
    expectList(ALL, 'false').flush({ downloads: SAMPLE });
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
      item({ downloadUUID: U.pending, downloadStatus: 'PENDING', videoTitle: 'Pending video' }),
      item({
        downloadUUID: U.downloading,
        downloadStatus: 'DOWNLOADING',
        progress: 10,
        videoTitle: 'Running video',
      }),
      item({
        downloadUUID: U.completed,
        downloadStatus: 'COMPLETED',
        s3Available: false,
        videoTitle: 'Completed video',
        fileName: '33333333.mp4',
      }),
      item({
        downloadUUID: U.failed,
        downloadStatus: 'FAILED',
        errorMessage: 'boom',
        attempts: 1,
        videoURL: 'https://example.com/failed',
      }),
      item({
        downloadUUID: U.cancelled,
        downloadStatus: 'CANCELLED',
        progress: 37,
        downloadSizeInBytes: 5_000_000,
        attempts: 2,
        videoURL: 'https://example.com/cancelled',
      }),
      item({ downloadUUID: U.future, downloadStatus: 'PAUSED', videoURL: 'https://example.com/f' }),
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
      expectList(ALL, 'false').flush({ downloads: ROWS });
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
      expect(cancel.getAttribute('aria-label')).toBe('Cancel Pending video');
      expect(text(cancel)).toBe('Cancel');
      expect(button(U.failed, 'retry-button')!.getAttribute('aria-label')).toBe(
        'Retry example.com/failed',
      );
      expect(button(U.completed, 'delete-button')!.getAttribute('aria-label')).toBe(
        'Delete Completed video',
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
      // A cancelled download has neither a progress bar nor an expected size any more.
      expect(cancelled.querySelector('[data-testid="progress"]')).toBeNull();
      expect(cancelled.querySelector('[data-testid="size"]')).toBeNull();
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
      expectList(ALL, 'false').flush({ downloads: withStatus(U.downloading, 'CANCELLED') });
      await fixture.whenStable();

      expect(text(row(U.downloading).querySelector('[data-testid="status"]'))).toBe('CANCELLED');
      expect(button(U.downloading, 'cancel-button')).toBeNull();
      const retry = button(U.downloading, 'retry-button')!;
      expect(retry.disabled).toBe(false);
      expect(text(byTestId(fixture, 'action-message'))).toBe('“Running video” cancelled.');
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
      expectList(ALL, 'false').flush({ downloads: withStatus(U.failed, 'PENDING') });
      await fixture.whenStable();

      expect(text(row(U.failed).querySelector('[data-testid="status"]'))).toBe('PENDING');
      expect(button(U.failed, 'retry-button')).toBeNull();
      expect(button(U.failed, 'cancel-button')).not.toBeNull();
      expect(text(byTestId(fixture, 'action-message'))).toBe('“example.com/failed” queued again.');
      http.expectNone(() => true);
    });

    it('Delete asks for confirmation and does nothing when declined', async () => {
      confirmSpy.mockReturnValue(false);
      button(U.completed, 'delete-button')!.click();
      await fixture.whenStable();
      expect(confirmSpy).toHaveBeenCalledTimes(1);
      expect(confirmSpy.mock.calls[0][0]).toContain('Delete “Completed video” (ID 33333333)?');
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
      expectList(ALL, 'false').flush({
        downloads: ROWS.filter((d) => d.downloadUUID !== U.downloading),
      });
      await fixture.whenStable();

      expect(
        allByTestId(fixture, 'download-row').map((r) => r.getAttribute('data-uuid')),
      ).not.toContain(U.downloading);
      expect(text(byTestId(fixture, 'action-message'))).toBe('“Running video” deleted.');
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
      expectList(ALL, 'false').flush({ downloads: ROWS });
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

  it('shows the title, thumbnail, length and site when the server knows them', async () => {
    expectList(ALL, 'false').flush({
      downloads: [
        item({
          downloadUUID: 'meta',
          downloadStatus: 'COMPLETED',
          videoTitle: 'Big Buck Bunny',
          thumbnailURL: 'https://i.example.com/bunny.jpg',
          videoDurationSeconds: 596,
          extractor: 'youtube',
          webpageURL: 'https://www.youtube.com/watch?v=aqz-KE-bpKQ',
          fileName: 'meta.mp4',
          downloadSizeInBytes: 12_000_000,
        }),
      ],
    });
    await fixture.whenStable();
    const r = row('meta');
    const title = r.querySelector<HTMLAnchorElement>('[data-testid="title"]')!;
    expect(text(title)).toBe('Big Buck Bunny');
    expect(title.getAttribute('href')).toBe('https://www.youtube.com/watch?v=aqz-KE-bpKQ');
    const thumbnail = r.querySelector<HTMLImageElement>('[data-testid="thumbnail"]')!;
    expect(thumbnail.getAttribute('src')).toBe('https://i.example.com/bunny.jpg');
    expect(thumbnail.alt).toBe(''); // decorative: the title next to it names the row
    expect(text(r.querySelector('[data-testid="duration"]'))).toBe('length 9:56');
    expect(text(r.querySelector('[data-testid="site"]'))).toBe('youtube');
    expect(r.querySelector('[data-testid="select-row"]')!.getAttribute('aria-label')).toBe(
      'Select Big Buck Bunny',
    );
  });

  it('shows an error as one line, with the whole text behind Details and a Copy button', async () => {
    const message =
      'ERROR: [generic] Unable to download webpage: HTTP Error 404: Not Found\n' +
      'Traceback: /srv/data/.partial/abc.unknown_video';
    expectList(ALL, 'false').flush({
      downloads: [
        item({ downloadUUID: 'bad', downloadStatus: 'FAILED', errorMessage: message }),
        item({
          downloadUUID: 'classified',
          downloadStatus: 'FAILED',
          errorMessage: 'The video is private.',
          errorCode: 'videoUnavailable',
          errorDetail: 'ERROR: [youtube] x: Private video. Sign in if you have access',
        }),
      ],
    });
    await fixture.whenStable();
    const bad = row('bad');
    const line = bad.querySelector<HTMLElement>('[data-testid="row-error"]')!;
    expect(text(line)).toBe('Unable to download webpage: HTTP Error 404: Not Found');
    expect(getComputedStyle(line).whiteSpace).toBe('nowrap');
    const details = bad.querySelector<HTMLDetailsElement>('[data-testid="error-detail"]')!;
    expect(details.open).toBe(false);
    expect(text(details.querySelector('summary'))).toBe(
      'Details of the error of example.com/watch?v=x',
    );
    expect(text(details.querySelector('pre'))).toContain('/srv/data/.partial/abc.unknown_video');

    const writeText = vi.fn().mockResolvedValue(undefined);
    vi.spyOn(navigator, 'clipboard', 'get').mockReturnValue({ writeText } as unknown as Clipboard);
    details.open = true;
    details.querySelector<HTMLButtonElement>('[data-testid="copy-error"]')!.click();
    await vi.waitFor(() => expect(writeText).toHaveBeenCalledWith(message));
    await fixture.whenStable();
    expect(text(details.querySelector('[role="status"]'))).toBe('Copied.');
    vi.restoreAllMocks();

    const classified = row('classified');
    expect(text(classified.querySelector('[data-testid="row-error"]'))).toBe(
      'The video is private.',
    );
    expect(text(classified.querySelector('pre'))).toBe(
      'ERROR: [youtube] x: Private video. Sign in if you have access',
    );
  });

  describe('bulk actions', () => {
    const ROWS: DownloadItem[] = [
      item({ downloadUUID: 'aaaaaaaa-1', downloadStatus: 'FAILED', videoTitle: 'One' }),
      item({ downloadUUID: 'bbbbbbbb-2', downloadStatus: 'DOWNLOADING', videoTitle: 'Two' }),
      item({ downloadUUID: 'cccccccc-3', downloadStatus: 'CANCELLED', videoTitle: 'Three' }),
    ];

    beforeEach(async () => {
      expectList(ALL, 'false').flush({ downloads: ROWS });
      await fixture.whenStable();
    });

    function select(uuid: string): void {
      row(uuid).querySelector<HTMLInputElement>('[data-testid="select-row"]')!.click();
    }

    it('retries the selection after one confirmation and reports each outcome', async () => {
      const retry = byTestId<HTMLButtonElement>(fixture, 'bulk-retry')!;
      expect(retry.disabled).toBe(true);
      select('aaaaaaaa-1');
      select('bbbbbbbb-2');
      select('cccccccc-3');
      await fixture.whenStable();
      expect(text(byTestId(fixture, 'selection-count'))).toBe('3 selected');
      expect(byTestId<HTMLInputElement>(fixture, 'select-all')!.checked).toBe(true);
      confirmSpy.mockReturnValue(true);
      retry.click();
      expect(confirmSpy).toHaveBeenCalledTimes(1);
      // Only the retryable ones; named with the id the row shows.
      expect(confirmSpy.mock.calls[0][0]).toBe(
        'Retry 2 downloads: “One” (ID aaaaaaaa) and “Three” (ID cccccccc)?',
      );
      const req = http.expectOne('api/bulkDownloadAction');
      expect(req.request.body).toEqual({
        action: 'retry',
        videoDownloadUUIDs: ['aaaaaaaa-1', 'cccccccc-3'],
      });
      req.flush({
        action: 'retry',
        succeeded: 1,
        failed: 1,
        results: [
          { downloadUUID: 'aaaaaaaa-1', ok: true, downloadStatus: 'PENDING' },
          {
            downloadUUID: 'cccccccc-3',
            ok: false,
            errorCode: 'downloadNotRetryable',
            errorMessage: 'it is PENDING',
          },
        ],
      });
      await fixture.whenStable();
      expectList(ALL, 'false').flush({ downloads: ROWS });
      await fixture.whenStable();
      expect(text(byTestId(fixture, 'action-message'))).toBe(
        '1 download queued again. 1 could not be: “Three”: it is PENDING.',
      );
      expect(text(byTestId(fixture, 'selection-count'))).toBe('0 selected');
    });

    it('does nothing when the confirmation is declined', async () => {
      byTestId<HTMLInputElement>(fixture, 'select-all')!.click();
      await fixture.whenStable();
      byTestId<HTMLButtonElement>(fixture, 'bulk-delete')!.click();
      expect(confirmSpy.mock.calls[0][0]).toContain('Delete 3 downloads:');
      expect(confirmSpy.mock.calls[0][0]).toContain('cannot be undone');
      http.expectNone('api/bulkDownloadAction');
    });

    it('"Retry all failed" and "Clear completed" act on the server\'s filter, not on the shown page', async () => {
      confirmSpy.mockReturnValue(true);
      byTestId<HTMLButtonElement>(fixture, 'retry-all-failed')!.click();
      const retry = http.expectOne('api/bulkDownloadAction');
      expect(retry.request.body).toEqual({ action: 'retry', filter: { downloadStatus: 'FAILED' } });
      retry.flush({ action: 'retry', succeeded: 0, failed: 0, results: [] });
      await fixture.whenStable();
      expectList(ALL, 'false').flush({ downloads: ROWS });
      await fixture.whenStable();
      expect(text(byTestId(fixture, 'action-message'))).toBe('Nothing to do: no download matched.');

      byTestId<HTMLButtonElement>(fixture, 'clear-completed')!.click();
      expect(confirmSpy.mock.calls[1][0]).toContain('Delete every completed download');
      const clear = http.expectOne('api/bulkDownloadAction');
      expect(clear.request.body).toEqual({
        action: 'delete',
        filter: { downloadStatus: 'COMPLETED' },
      });
      clear.flush(
        { errorCode: 'serviceUnavailable', errorMessage: 'the database writer did not answer' },
        TEAPOT,
      );
      await fixture.whenStable();
      expect(text(byTestId(fixture, 'bulk-error'))).toBe('the database writer did not answer');
    });
  });

  it('announces a download that finished or failed since the last refresh, once, and in the tab title', async () => {
    expectList(ALL, 'false').flush({
      downloads: [
        item({ downloadUUID: 'a', downloadStatus: 'DOWNLOADING', videoTitle: 'Alpha' }),
        item({ downloadUUID: 'b', downloadStatus: 'PENDING' }),
        item({ downloadUUID: 'c', downloadStatus: 'FAILED', errorMessage: 'old failure' }),
      ],
    });
    await fixture.whenStable();
    const announcer = TestBed.inject(StatusAnnouncer);
    expect(announcer.message()).toBe(''); // what was already there is not news
    byTestId<HTMLButtonElement>(fixture, 'refresh')!.click();
    expectList(ALL, 'false').flush({
      downloads: [
        item({ downloadUUID: 'a', downloadStatus: 'COMPLETED', videoTitle: 'Alpha' }),
        item({ downloadUUID: 'b', downloadStatus: 'DOWNLOADING' }),
        item({ downloadUUID: 'c', downloadStatus: 'FAILED', errorMessage: 'old failure' }),
      ],
    });
    await fixture.whenStable();
    expect(announcer.message()).toBe('Finished: Alpha.');
    expect(document.title).toBe('✓ Alpha – Video downloader');
    byTestId<HTMLButtonElement>(fixture, 'refresh')!.click();
    expectList(ALL, 'false').flush({
      downloads: [
        item({ downloadUUID: 'a', downloadStatus: 'COMPLETED', videoTitle: 'Alpha' }),
        item({
          downloadUUID: 'b',
          downloadStatus: 'FAILED',
          errorMessage: 'ERROR: HTTP Error 404',
        }),
      ],
    });
    await fixture.whenStable();
    expect(announcer.message()).toBe('Failed: example.com/watch?v=x: HTTP Error 404');
    expect(document.title).toBe('✗ example.com/watch?v=x – Video downloader');
    document.title = 'Video downloader';
  });

  it('follows /api/events only while "Live updates" is on, updating rows in place', async () => {
    expectList(ALL, 'false').flush({ downloads: SAMPLE });
    await fixture.whenStable();
    expect(streams).toEqual([]); // manual refresh is the default

    const toggle = byTestId(fixture, 'live-updates') as HTMLInputElement;
    expect(toggle.getAttribute('role')).toBe('switch');
    toggle.click();
    await fixture.whenStable();
    expect(streams.length).toBe(1);
    expect(streams[0].url).toBe('api/events');
    expectList(ALL, 'false').flush({ downloads: SAMPLE }); // current state first
    await fixture.whenStable();
    expect(text(byTestId(fixture, 'live-state'))).toBe('connecting…');
    vi.useFakeTimers();
    streams[0].onopen?.();
    vi.advanceTimersByTime(1000);
    vi.useRealTimers();
    expectList(ALL, 'false').flush({ downloads: SAMPLE }); // what happened while connecting
    await fixture.whenStable();
    expect(text(byTestId(fixture, 'live-state'))).toBe('connected');

    streams[0].send({
      downloadUUID: 'uuid-downloading',
      downloadStatus: 'DOWNLOADING',
      progress: 77,
    });
    await fixture.whenStable();
    expect(text(row('uuid-downloading'))).toContain('77');

    streams[0].send({
      ...SAMPLE[0],
      downloadStatus: 'COMPLETED',
      progress: 100,
      fileName: 'a.mp4',
    });
    await fixture.whenStable();
    expect(text(row('uuid-downloading').querySelector('[data-testid="status"]')!)).toContain(
      'COMPLETED',
    );
    expect(TestBed.inject(StatusAnnouncer).message()).toMatch(/^Finished: /);

    streams[0].send({ downloadUUID: 'uuid-failed', downloadStatus: 'FAILED', deleted: true });
    await fixture.whenStable();
    expect(
      allByTestId(fixture, 'download-row').map((r) => r.getAttribute('data-uuid')),
    ).not.toContain('uuid-failed');

    vi.useFakeTimers();
    streams[0].send({ downloadUUID: 'uuid-new', downloadStatus: 'PENDING' }); // not shown: load again
    streams[0].emit('reload');
    vi.advanceTimersByTime(1000);
    vi.useRealTimers();
    expectList(ALL, 'false', { maxResults: '50' }).flush({ downloads: SAMPLE }); // once for the burst

    toggle.click();
    await fixture.whenStable();
    expect(streams[0].closed).toBe(true);
  });

  describe('playlists', () => {
    const PLAYLIST = item({
      downloadUUID: 'uuid-playlist',
      downloadStatus: 'DOWNLOADING',
      downloadKind: 'PLAYLIST',
      videoTitle: 'Test feed',
      videoURL: 'https://example.com/feed.rss',
      childrenTotal: 3,
      childrenCompleted: 1,
      childrenFailed: 1,
    });
    const entry = (n: number, status: string) =>
      item({
        downloadUUID: `uuid-entry-${n}`,
        downloadStatus: status,
        videoTitle: `Entry ${n}`,
        parentDownloadUUID: 'uuid-playlist',
        fileName: status === 'COMPLETED' ? `e${n}.mp4` : null,
      });

    function expectChildren(): TestRequest {
      return http.expectOne(
        (r) =>
          r.url === 'api/listDownloads' &&
          r.params.get('parentDownloadUUID') === 'uuid-playlist' &&
          r.params.get('overLastPeriodDurationInMinutes') === ALL &&
          !r.params.has('topLevelOnly'),
      );
    }

    it('shows a playlist as one row with its counts that expands to its entries, asked for by parent', async () => {
      expectList(ALL, 'false').flush({ downloads: [PLAYLIST, SAMPLE[1]] });
      await fixture.whenStable();
      expect(allByTestId(fixture, 'download-row')).toHaveLength(2);
      expect(allByTestId(fixture, 'child-row')).toHaveLength(0);
      expect(text(row('uuid-playlist'))).toContain('Test feed');
      expect(text(byTestId(fixture, 'playlist-counts'))).toBe('3 videos, 1 completed, 1 failed');
      expect(text(row('uuid-playlist'))).toContain('Each video has its own links');

      const expand = byTestId<HTMLButtonElement>(fixture, 'expand-playlist')!;
      expect(expand.getAttribute('aria-expanded')).toBe('false');
      expect(text(expand)).toBe('▸ Show the videos of the playlist Test feed');
      expand.click();
      await fixture.whenStable();
      expect(expand.getAttribute('aria-expanded')).toBe('true');
      expect(text(byTestId(fixture, 'children-state'))).toContain(
        'Loading the videos of Test feed',
      );
      // newest first from the server: shown in playlist order
      expectChildren().flush({
        downloads: [entry(3, 'FAILED'), entry(2, 'DOWNLOADING'), entry(1, 'COMPLETED')],
      });
      await fixture.whenStable();
      const children = allByTestId(fixture, 'child-row');
      expect(children.map((r) => r.getAttribute('data-uuid'))).toEqual([
        'uuid-entry-1',
        'uuid-entry-2',
        'uuid-entry-3',
      ]);
      // right under their playlist, before the next top-level row
      const rows = Array.from(
        (fixture.nativeElement as HTMLElement).querySelectorAll('tbody > tr'),
      );
      expect(rows.map((r) => r.getAttribute('data-uuid'))).toEqual([
        'uuid-playlist',
        'uuid-entry-1',
        'uuid-entry-2',
        'uuid-entry-3',
        'uuid-completed',
      ]);
      expect(text(children[0])).toContain('Entry 1');
      expect(children[0].querySelector('app-link-panel')).not.toBeNull();
      expect(children[0].querySelector('[data-testid="expand-playlist"]')).toBeNull();
      expect(children[2].querySelector('[data-testid="row-actions"]')).not.toBeNull();

      expand.click();
      await fixture.whenStable();
      expect(expand.getAttribute('aria-expanded')).toBe('false');
      expect(allByTestId(fixture, 'child-row')).toHaveLength(0);
    });

    it("loads an expanded playlist's entries again with the list, and live changes update an entry in place", async () => {
      expectList(ALL, 'false').flush({ downloads: [PLAYLIST] });
      await fixture.whenStable();
      byTestId<HTMLButtonElement>(fixture, 'expand-playlist')!.click();
      expectChildren().flush({ downloads: [entry(2, 'PENDING'), entry(1, 'DOWNLOADING')] });
      await fixture.whenStable();

      byTestId<HTMLButtonElement>(fixture, 'live-updates')!.click();
      await fixture.whenStable();
      expectList(ALL, 'false').flush({ downloads: [PLAYLIST] });
      expectChildren().flush({ downloads: [entry(2, 'PENDING'), entry(1, 'DOWNLOADING')] });
      await fixture.whenStable();

      streams[0].send({
        downloadUUID: 'uuid-entry-1',
        downloadStatus: 'DOWNLOADING',
        progress: 64,
      });
      await fixture.whenStable();
      const first = allByTestId(fixture, 'child-row')[0];
      expect(first.getAttribute('data-uuid')).toBe('uuid-entry-1');
      expect(text(first.querySelector('[data-testid="progress-text"]'))).toBe('64%');
      streams[0].send({
        downloadUUID: 'uuid-playlist',
        downloadStatus: 'DOWNLOADING',
        childrenCompleted: 2,
      });
      await fixture.whenStable();
      expect(text(byTestId(fixture, 'playlist-counts'))).toBe('3 videos, 2 completed, 1 failed');
      streams[0].send({ downloadUUID: 'uuid-entry-2', downloadStatus: 'PENDING', deleted: true });
      await fixture.whenStable();
      expect(allByTestId(fixture, 'child-row').map((r) => r.getAttribute('data-uuid'))).toEqual([
        'uuid-entry-1',
      ]);
      http.expectNone((r) => r.url === 'api/listDownloads'); // all applied in place
    });

    it("says when a playlist's entries cannot be loaded", async () => {
      expectList(ALL, 'false').flush({ downloads: [PLAYLIST] });
      await fixture.whenStable();
      byTestId<HTMLButtonElement>(fixture, 'expand-playlist')!.click();
      expectChildren().flush(
        { errorCode: 'serviceUnavailable', errorMessage: 'the database cannot be read right now' },
        TEAPOT,
      );
      await fixture.whenStable();
      expect(text(byTestId(fixture, 'children-state'))).toBe(
        'Could not load its videos: the database cannot be read right now',
      );
    });
  });
});
