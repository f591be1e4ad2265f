import { ComponentFixture, TestBed } from '@angular/core/testing';
import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { DownloadForm } from './download-form';
import { PRESETS, TEAPOT, byTestId, provideApiWith, text, typeInto } from '../testing';
import { StatusAnnouncer } from '../status-announcer';
import { DownloadItem } from '../api/api.types';

describe('DownloadForm', () => {
  let fixture: ComponentFixture<DownloadForm>;
  let http: HttpTestingController;
  let created: string[];

  beforeEach(async () => {
    TestBed.configureTestingModule({
      imports: [DownloadForm],
      providers: [provideHttpClient(), provideHttpClientTesting(), provideApiWith()],
    });
    fixture = TestBed.createComponent(DownloadForm);
    http = TestBed.inject(HttpTestingController);
    created = [];
    fixture.componentInstance.created.subscribe((uuid) => created.push(uuid));
    await fixture.whenStable();
  });

  afterEach(() => http.verify());

  function fill(url: string, params = ''): void {
    typeInto(byTestId<HTMLInputElement>(fixture, 'video-url')!, url);
    typeInto(byTestId<HTMLInputElement>(fixture, 'ytdlp-params')!, params);
  }

  async function submit(): Promise<void> {
    byTestId<HTMLButtonElement>(fixture, 'submit-download')!.click();
    await fixture.whenStable();
  }

  /** Answers the check for the same URL already queued or running (listDownloads with search). */
  function answerOngoing(url: string, downloads: Partial<DownloadItem>[] = []): void {
    const req = http.expectOne((r) => r.url === 'api/listDownloads');
    expect(req.request.params.get('search')).toBe(url);
    expect(req.request.params.get('onlyShowOngoingDownloads')).toBe('true');
    req.flush({ downloads });
  }

  it('has a label on every control and the allowed-parameters hint', () => {
    const root = fixture.nativeElement as HTMLElement;
    for (const id of ['video-url', 'format-preset', 'ytdlp-params']) {
      expect(root.querySelector(`label[for="${id}"]`)).not.toBeNull();
    }
    const url = byTestId<HTMLInputElement>(fixture, 'video-url')!;
    expect(url.type).toBe('url');
    expect(url.required).toBe(true);
    expect(text(root.querySelector('#ytdlp-params-hint'))).toContain('SponsorBlock');
  });

  it('posts the URL and parameters, disables submit while sending, then shows the UUID', async () => {
    fill('https://example.com/watch?v=abc', ' -f best --embed-subs ');
    await submit();
    answerOngoing('https://example.com/watch?v=abc');

    const req = http.expectOne('api/initiateDownload');
    expect(req.request.method).toBe('POST');
    expect(req.request.body).toEqual({
      videoURL: 'https://example.com/watch?v=abc',
      ytdlpCLIParameters: '-f best --embed-subs',
    });
    expect(byTestId<HTMLButtonElement>(fixture, 'submit-download')!.disabled).toBe(true);

    req.flush({ downloadUUID: '0b6f1c3e-6a35-4d1c-9f1e-2f0f8d7f1a11' });
    await fixture.whenStable();

    expect(text(byTestId(fixture, 'created-uuid'))).toBe('0b6f1c3e-6a35-4d1c-9f1e-2f0f8d7f1a11');
    expect(byTestId<HTMLButtonElement>(fixture, 'submit-download')!.disabled).toBe(false);
    expect(created).toEqual(['0b6f1c3e-6a35-4d1c-9f1e-2f0f8d7f1a11']);
    expect(byTestId(fixture, 'form-error')).toBeNull();
    // Cleared, so that pressing Enter twice does not queue the same video twice; ready for the next one.
    expect(byTestId<HTMLInputElement>(fixture, 'video-url')!.value).toBe('');
    await vi.waitFor(() => expect(document.activeElement?.id).toBe('video-url'));
  });

  it('offers the server presets next to the options and sends the chosen one', async () => {
    const menu = byTestId<HTMLSelectElement>(fixture, 'format-preset')!;
    const root = fixture.nativeElement as HTMLElement;
    expect(root.querySelector('label[for="format-preset"]')).not.toBeNull();
    expect(Array.from(menu.options).map((o) => o.text.trim())).toEqual([
      'Default',
      ...PRESETS.map((p) => p.label),
    ]);
    menu.value = 'audio-m4a';
    menu.dispatchEvent(new Event('change'));
    await fixture.whenStable();
    expect(text(byTestId(fixture, 'format-preset-hint'))).toBe(
      '--extract-audio --audio-format m4a',
    );
    fill('https://example.com/v/2', '--embed-metadata');
    await submit();
    answerOngoing('https://example.com/v/2');
    const req = http.expectOne('api/initiateDownload');
    expect(req.request.body).toEqual({
      videoURL: 'https://example.com/v/2',
      ytdlpCLIParameters: '--embed-metadata',
      preset: 'audio-m4a',
    });
    req.flush({ downloadUUID: 'u-2' });
    await fixture.whenStable();
  });

  it('warns once when the same URL is already queued or running, then queues it on a second press', async () => {
    fill('https://example.com/v/3');
    await submit();
    answerOngoing('https://example.com/v/3', [
      {
        downloadUUID: 'abcdef12-0000-4000-8000-000000000000',
        downloadStatus: 'DOWNLOADING',
        videoURL: 'https://example.com/v/3',
        videoTitle: 'Three',
      },
      // Search is a substring match: a longer URL is not the same video.
      { downloadUUID: 'other', downloadStatus: 'PENDING', videoURL: 'https://example.com/v/33' },
    ]);
    await fixture.whenStable();
    http.expectNone('api/initiateDownload');
    expect(text(byTestId(fixture, 'duplicate-warning'))).toBe(
      'This URL is already downloading: Three (ID abcdef12). Press Start download again to queue it once more.',
    );
    await submit();
    http.expectOne('api/initiateDownload').flush({ downloadUUID: 'u-3' });
    await fixture.whenStable();
    expect(byTestId(fixture, 'duplicate-warning')).toBeNull();
    expect(created).toEqual(['u-3']);
  });

  it('drops the "started" note once its download has ended', async () => {
    fill('https://example.com/v/4');
    await submit();
    answerOngoing('https://example.com/v/4');
    http.expectOne('api/initiateDownload').flush({ downloadUUID: 'u-4' });
    await fixture.whenStable();
    expect(text(byTestId(fixture, 'created-uuid'))).toBe('u-4');
    const announcer = TestBed.inject(StatusAnnouncer);
    const base = {
      videoURL: 'https://example.com/v/4',
      ytdlpCLIParameters: [],
      createdAt: '',
      updatedAt: '',
    };
    announcer.observe([{ ...base, downloadUUID: 'u-4', downloadStatus: 'DOWNLOADING' }]);
    await fixture.whenStable();
    expect(byTestId(fixture, 'created-uuid')).not.toBeNull();
    announcer.observe([{ ...base, downloadUUID: 'u-4', downloadStatus: 'COMPLETED' }]);
    await fixture.whenStable();
    expect(byTestId(fixture, 'created-uuid')).toBeNull();
  });

  it('omits empty yt-dlp parameters', async () => {
    fill('https://example.com/v/1');
    await submit();
    answerOngoing('https://example.com/v/1');
    const req = http.expectOne('api/initiateDownload');
    expect(req.request.body).toEqual({ videoURL: 'https://example.com/v/1' });
    req.flush({ downloadUUID: 'u-1' });
    await fixture.whenStable();
  });

  it('sends "Playlist: at most N videos" as playlistMaxItems, and refuses a number out of range', async () => {
    const field = byTestId<HTMLInputElement>(fixture, 'playlist-max-items')!;
    expect(text(document.querySelector(`label[for="${field.id}"]`))).toBe(
      'Playlist: at most N videos (optional)',
    );
    fill('https://example.com/feed.rss');
    typeInto(field, '0');
    await submit();
    http.expectNone('api/initiateDownload');
    expect(field.getAttribute('aria-invalid')).toBe('true');
    expect(text(byTestId(fixture, 'playlist-max-items-error'))).toContain('from 1 to 10000');

    typeInto(field, '25');
    await submit();
    answerOngoing('https://example.com/feed.rss');
    const req = http.expectOne('api/initiateDownload');
    expect(req.request.body).toEqual({
      videoURL: 'https://example.com/feed.rss',
      playlistMaxItems: 25,
    });
    req.flush({ downloadUUID: 'u-1' });
    await fixture.whenStable();
  });

  it('shows forbiddenYtdlpParameter next to the parameters field', async () => {
    fill('https://example.com/v/1', '--exec rm');
    await submit();
    answerOngoing('https://example.com/v/1');
    http
      .expectOne('api/initiateDownload')
      .flush(
        { errorCode: 'forbiddenYtdlpParameter', errorMessage: 'The option --exec is not allowed.' },
        TEAPOT,
      );
    await fixture.whenStable();

    const err = byTestId(fixture, 'ytdlp-params-error');
    expect(text(err)).toBe('The option --exec is not allowed.');
    expect(byTestId(fixture, 'video-url-error')).toBeNull();
    expect(byTestId(fixture, 'form-error')).toBeNull();
    expect(byTestId(fixture, 'created-uuid')).toBeNull();
    const params = byTestId<HTMLInputElement>(fixture, 'ytdlp-params')!;
    expect(params.getAttribute('aria-invalid')).toBe('true');
    expect(params.getAttribute('aria-describedby')).toContain('ytdlp-params-error');
    // The error sits right after the parameters input, inside the same field.
    expect(params.closest('.field')!.contains(err)).toBe(true);
    expect(created).toEqual([]);
  });

  it('shows invalidVideoURL next to the URL field', async () => {
    fill('https://not-a-video.example/');
    await submit();
    answerOngoing('https://not-a-video.example/');
    http
      .expectOne('api/initiateDownload')
      .flush({ errorCode: 'invalidVideoURL', errorMessage: 'Unsupported URL.' }, TEAPOT);
    await fixture.whenStable();

    const err = byTestId(fixture, 'video-url-error');
    expect(text(err)).toBe('Unsupported URL.');
    const url = byTestId<HTMLInputElement>(fixture, 'video-url')!;
    expect(url.closest('.field')!.contains(err)).toBe(true);
    expect(url.getAttribute('aria-invalid')).toBe('true');
    expect(byTestId(fixture, 'ytdlp-params-error')).toBeNull();
  });

  it('shows other refusals as a form-level message', async () => {
    fill('https://example.com/v/1');
    await submit();
    answerOngoing('https://example.com/v/1');
    http
      .expectOne('api/initiateDownload')
      .flush(
        { errorCode: 'serviceUnavailable', errorMessage: 'The queue is unavailable.' },
        TEAPOT,
      );
    await fixture.whenStable();

    expect(text(byTestId(fixture, 'form-error'))).toBe('The queue is unavailable.');
    expect(byTestId(fixture, 'video-url-error')).toBeNull();
    expect(byTestId(fixture, 'ytdlp-params-error')).toBeNull();
  });

  it('validates the URL locally without calling the server', async () => {
    await submit();
    expect(text(byTestId(fixture, 'video-url-error'))).toContain('Enter the URL');
    fill('not a url');
    await submit();
    expect(text(byTestId(fixture, 'video-url-error'))).toContain('http');
    http.expectNone('api/initiateDownload');
  });
});
