import { TestBed } from '@angular/core/testing';
import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { App } from './app';
import { byTestId, provideApiWith, typeInto } from './testing';

describe('App', () => {
  it('refreshes the list once after a download is started', async () => {
    TestBed.configureTestingModule({
      imports: [App],
      providers: [provideHttpClient(), provideHttpClientTesting(), provideApiWith()],
    });
    const http = TestBed.inject(HttpTestingController);
    const fixture = TestBed.createComponent(App);
    await fixture.whenStable();

    expect((fixture.nativeElement as HTMLElement).querySelector('h1')?.textContent).toContain(
      'Video downloader',
    );
    http.expectOne((r) => r.url === 'api/listDownloads').flush({ downloads: [] });
    http.expectOne('api/listSubscriptions').flush({ subscriptions: [] });
    await fixture.whenStable();

    typeInto(byTestId<HTMLInputElement>(fixture, 'video-url')!, 'https://example.com/v/1');
    byTestId<HTMLButtonElement>(fixture, 'submit-download')!.click();
    http
      .expectOne((r) => r.url === 'api/listDownloads' && r.params.has('search'))
      .flush({ downloads: [] });
    http.expectOne('api/initiateDownload').flush({ downloadUUID: 'new-uuid' });
    await fixture.whenStable();

    http.expectOne((r) => r.url === 'api/listDownloads').flush({ downloads: [] });
    await fixture.whenStable();
    http.verify();
    // One polite live region for announcements, whatever the number of rows.
    const root = fixture.nativeElement as HTMLElement;
    expect(root.querySelectorAll('[data-testid="announcement"][aria-live="polite"]')).toHaveLength(
      1,
    );
    // Both forms' fields on one page: every id (label for, aria-describedby targets) is unique.
    const ids = Array.from(root.querySelectorAll('[id]'), (el) => el.id);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
    expect(ids).toContain('ytdlp-params');
    expect(ids).toContain('subscription-params');
  });
});

describe('test environment', () => {
  it('runs in a real Chromium, not a simulated DOM', () => {
    expect(navigator.userAgent).toMatch(/Chrome\/\d+/);
    expect(navigator.userAgent).not.toMatch(/jsdom|happy-dom/i);
    expect(typeof (window as unknown as { chrome?: unknown }).chrome).toBe('object');
  });
});
