import { ComponentFixture, TestBed } from '@angular/core/testing';
import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { LinkPanel } from './link-panel';
import { TEAPOT, allByTestId, byTestId, text } from '../testing';

const UUID = '7d1c9a52-0a43-4b8e-9d4e-3f1b2c3d4e5f';
const BASE = 'https://videos.example.org/files';

describe('LinkPanel', () => {
  let fixture: ComponentFixture<LinkPanel>;
  let http: HttpTestingController;

  async function create(s3Configured: boolean): Promise<void> {
    fixture = TestBed.createComponent(LinkPanel);
    fixture.componentRef.setInput('downloadUUID', UUID);
    fixture.componentRef.setInput('name', 'Été: «clip» 1/2');
    fixture.componentRef.setInput('fileName', `${UUID}.mp4`);
    http.expectOne('api/serverInfo').flush({ s3Configured, httpsBaseURL: BASE });
    await fixture.whenStable();
  }

  beforeEach(() => {
    TestBed.configureTestingModule({
      imports: [LinkPanel],
      providers: [provideHttpClient(), provideHttpClientTesting()],
    });
    http = TestBed.inject(HttpTestingController);
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

  async function openLinks(): Promise<void> {
    byTestId<HTMLButtonElement>(fixture, 'links-button')!.click();
    await fixture.whenStable();
  }

  it('offers a Download that saves the file under the video name, in one step', async () => {
    await create(false);
    const download = byTestId<HTMLAnchorElement>(fixture, 'download-link')!;
    const saveAs = 'Été «clip» 1 2.mp4';
    expect(download.getAttribute('download')).toBe(saveAs);
    expect(download.getAttribute('href')).toBe(
      `${BASE}/${UUID}.mp4?download=${encodeURIComponent(saveAs)}`,
    );
    // nginx accepts only letters, digits, !._~- and %XX in the name.
    expect(download.getAttribute('href')!.split('?download=')[1]).toMatch(
      /^(?:[A-Za-z0-9!._~-]|%[0-9A-F]{2})+$/,
    );
    expect(text(download)).toBe('Download Été: «clip» 1/2');
  });

  it('shows HTTPS and S3 side by side when S3 is configured', async () => {
    await create(true);
    const button = byTestId<HTMLButtonElement>(fixture, 'links-button')!;
    expect(button.getAttribute('aria-expanded')).toBe('false');
    await openLinks();
    expect(button.getAttribute('aria-expanded')).toBe('true');
    expectLinkRequest('HTTPS').flush({ publicURL: `${BASE}/${UUID}.mp4` });
    expectLinkRequest('S3').flush({
      publicURL: 'https://s3.example.org/bucket/key?X-Amz-Signature=abc',
      s3URI: 's3://bucket/key',
      expiresAt: '2030-01-01T00:00:00Z',
    });
    await fixture.whenStable();
    const https = byTestId<HTMLInputElement>(fixture, 'public-url-HTTPS')!;
    const s3 = byTestId<HTMLInputElement>(fixture, 'public-url-S3')!;
    expect(https.value).toBe(`${BASE}/${UUID}.mp4`);
    expect(https.readOnly).toBe(true);
    expect(s3.value).toBe('https://s3.example.org/bucket/key?X-Amz-Signature=abc');
    expect(text(fixture.nativeElement)).toContain('s3://bucket/key');
    expect(text(fixture.nativeElement)).toContain('Expires');
    // Each field is named by its own label.
    const label = document.getElementById(https.getAttribute('aria-labelledby')!);
    expect(text(label)).toBe('HTTPS link');
    const open = byTestId<HTMLAnchorElement>(fixture, 'open-link-S3')!;
    expect(open.target).toBe('_blank');
    expect(open.rel).toContain('noopener');
  });

  it('offers no S3 link where S3 is not configured', async () => {
    await create(false);
    await openLinks();
    expectLinkRequest('HTTPS').flush({ publicURL: `${BASE}/${UUID}.mp4` });
    await fixture.whenStable();
    expect(byTestId(fixture, 'link-S3')).toBeNull();
    expect(text(fixture.nativeElement)).not.toContain('S3');
  });

  it('shows the link errors readably', async () => {
    await create(true);
    await openLinks();
    expectLinkRequest('HTTPS').flush(
      { errorCode: 'downloadNotFound', errorMessage: 'no such download' },
      TEAPOT,
    );
    expectLinkRequest('S3').flush(
      { errorCode: 'downloadNotReady', errorMessage: 'not in the bucket yet' },
      TEAPOT,
    );
    await fixture.whenStable();
    expect(allByTestId(fixture, 'link-error').map((e) => text(e))).toEqual([
      'This download no longer exists.',
      'Not ready yet: the download (or its S3 upload) is still in progress.',
    ]);
  });

  it('copies a link with navigator.clipboard, or selects it where that is not possible', async () => {
    await create(false);
    const writeText = vi.fn().mockResolvedValue(undefined);
    vi.spyOn(navigator, 'clipboard', 'get').mockReturnValue({ writeText } as unknown as Clipboard);
    await openLinks();
    expectLinkRequest('HTTPS').flush({ publicURL: 'https://videos.example.org/a.mp4' });
    await fixture.whenStable();
    byTestId<HTMLButtonElement>(fixture, 'copy-link-HTTPS')!.click();
    await vi.waitFor(() =>
      expect(writeText).toHaveBeenCalledWith('https://videos.example.org/a.mp4'),
    );
    await fixture.whenStable();
    expect(text(byTestId(fixture, 'copy-message'))).toBe('HTTPS link copied to the clipboard.');

    vi.spyOn(navigator, 'clipboard', 'get').mockReturnValue(undefined as unknown as Clipboard);
    byTestId<HTMLButtonElement>(fixture, 'copy-link-HTTPS')!.click();
    await vi.waitFor(() =>
      expect(text(byTestId(fixture, 'copy-message'))).toContain('Copying is not available'),
    );
  });
});
