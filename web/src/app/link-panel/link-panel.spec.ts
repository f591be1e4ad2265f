import { ComponentFixture, TestBed } from '@angular/core/testing';
import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { LinkPanel } from './link-panel';
import { TEAPOT, byTestId, text } from '../testing';

const UUID = '7d1c9a52-0a43-4b8e-9d4e-3f1b2c3d4e5f';

describe('LinkPanel', () => {
  let fixture: ComponentFixture<LinkPanel>;
  let http: HttpTestingController;

  beforeEach(async () => {
    TestBed.configureTestingModule({
      imports: [LinkPanel],
      providers: [provideHttpClient(), provideHttpClientTesting()],
    });
    fixture = TestBed.createComponent(LinkPanel);
    fixture.componentRef.setInput('downloadUUID', UUID);
    http = TestBed.inject(HttpTestingController);
    await fixture.whenStable();
  });

  afterEach(() => {
    vi.restoreAllMocks();
    http.verify();
  });

  function expectLinkRequest(type: 'HTTPS' | 'S3') {
    return http.expectOne(
      (r) =>
        r.url === 'api/getVideoDownloadPublicURL' &&
        r.params.get('videoDownloadUUID') === UUID &&
        r.params.get('URLType') === type,
    );
  }

  it('shows the HTTPS link in a read-only field with Copy and Open', async () => {
    byTestId<HTMLButtonElement>(fixture, 'https-link-button')!.click();
    await fixture.whenStable();
    const req = expectLinkRequest('HTTPS');
    expect(req.request.method).toBe('GET');
    req.flush({ publicURL: 'https://videos.example.org/files/video.mp4' });
    await fixture.whenStable();

    const field = byTestId<HTMLInputElement>(fixture, 'public-url')!;
    expect(field.value).toBe('https://videos.example.org/files/video.mp4');
    expect(field.readOnly).toBe(true);
    const root = fixture.nativeElement as HTMLElement;
    expect(root.querySelector(`label[for="${field.id}"]`)).not.toBeNull();
    const open = byTestId<HTMLAnchorElement>(fixture, 'open-link')!;
    expect(open.getAttribute('href')).toBe('https://videos.example.org/files/video.mp4');
    expect(open.target).toBe('_blank');
    expect(open.rel).toContain('noopener');
    expect(byTestId(fixture, 'link-error')).toBeNull();
  });

  it('shows the S3 link with its URI and expiry', async () => {
    byTestId<HTMLButtonElement>(fixture, 's3-link-button')!.click();
    expectLinkRequest('S3').flush({
      publicURL: 'https://s3.example.org/bucket/key?X-Amz-Signature=abc',
      s3URI: 's3://bucket/key',
      expiresAt: '2030-01-01T00:00:00Z',
    });
    await fixture.whenStable();
    expect(byTestId<HTMLInputElement>(fixture, 'public-url')!.value).toBe(
      'https://s3.example.org/bucket/key?X-Amz-Signature=abc',
    );
    expect(text(fixture.nativeElement)).toContain('s3://bucket/key');
    expect(text(fixture.nativeElement)).toContain('expires');
  });

  it('shows s3NotConfigured as a readable message', async () => {
    byTestId<HTMLButtonElement>(fixture, 's3-link-button')!.click();
    expectLinkRequest('S3').flush(
      { errorCode: 's3NotConfigured', errorMessage: 'S3_BUCKET is not set' },
      TEAPOT,
    );
    await fixture.whenStable();
    expect(text(byTestId(fixture, 'link-error'))).toBe(
      'S3 publishing is not configured on this server.',
    );
    expect(byTestId(fixture, 'public-url')).toBeNull();
  });

  it('shows downloadNotReady as a readable message', async () => {
    byTestId<HTMLButtonElement>(fixture, 'https-link-button')!.click();
    expectLinkRequest('HTTPS').flush(
      { errorCode: 'downloadNotReady', errorMessage: 'status is DOWNLOADING' },
      TEAPOT,
    );
    await fixture.whenStable();
    expect(text(byTestId(fixture, 'link-error'))).toBe(
      'Not ready yet: the download (or its S3 upload) is still in progress.',
    );
  });

  it('shows downloadFailed with its cause and downloadNotFound readably', async () => {
    byTestId<HTMLButtonElement>(fixture, 'https-link-button')!.click();
    expectLinkRequest('HTTPS').flush(
      { errorCode: 'downloadFailed', errorMessage: 'ERROR: Video unavailable' },
      TEAPOT,
    );
    await fixture.whenStable();
    expect(text(byTestId(fixture, 'link-error'))).toBe('ERROR: Video unavailable');

    byTestId<HTMLButtonElement>(fixture, 'https-link-button')!.click();
    expectLinkRequest('HTTPS').flush(
      { errorCode: 'downloadNotFound', errorMessage: 'no such download' },
      TEAPOT,
    );
    await fixture.whenStable();
    expect(text(byTestId(fixture, 'link-error'))).toBe('This download no longer exists.');
  });

  it('copies the link with navigator.clipboard', async () => {
    const writeText = vi.fn().mockResolvedValue(undefined);
    vi.spyOn(navigator, 'clipboard', 'get').mockReturnValue({ writeText } as unknown as Clipboard);
    byTestId<HTMLButtonElement>(fixture, 'https-link-button')!.click();
    expectLinkRequest('HTTPS').flush({ publicURL: 'https://videos.example.org/a.mp4' });
    await fixture.whenStable();

    byTestId<HTMLButtonElement>(fixture, 'copy-link')!.click();
    await vi.waitFor(() =>
      expect(writeText).toHaveBeenCalledWith('https://videos.example.org/a.mp4'),
    );
    await fixture.whenStable();
    expect(text(byTestId(fixture, 'copy-message'))).toBe('Link copied to the clipboard.');
  });

  it('falls back to a message when the clipboard API is unavailable', async () => {
    vi.spyOn(navigator, 'clipboard', 'get').mockReturnValue(undefined as unknown as Clipboard);
    byTestId<HTMLButtonElement>(fixture, 'https-link-button')!.click();
    expectLinkRequest('HTTPS').flush({ publicURL: 'https://videos.example.org/a.mp4' });
    await fixture.whenStable();

    byTestId<HTMLButtonElement>(fixture, 'copy-link')!.click();
    await vi.waitFor(() => expect(byTestId(fixture, 'copy-message')).not.toBeNull());
    await fixture.whenStable();
    expect(text(byTestId(fixture, 'copy-message'))).toContain('Copying is not available');
  });
});
