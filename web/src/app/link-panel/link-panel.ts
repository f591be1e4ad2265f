import { Component, OnDestroy, computed, inject, input, signal } from '@angular/core';
import { toSignal } from '@angular/core/rxjs-interop';
import { Subscription, catchError, of } from 'rxjs';
import { DownloadApiService } from '../api/download-api.service';
import { ApiError, PublicURLType, ServerInfo } from '../api/api.types';
import { toApiError } from '../api/api-error';
import { encodeFileName, localDateTime, saveAsName } from '../format';

/** Readable messages for the error codes of getVideoDownloadPublicURL. */
export function linkErrorMessage(error: ApiError): string {
  switch (error.errorCode) {
    case 'downloadNotReady':
      return 'Not ready yet: the download (or its S3 upload) is still in progress.';
    case 'downloadFailed':
      return error.errorMessage;
    case 's3NotConfigured':
      return 'S3 publishing is not configured on this server.';
    case 'downloadNotFound':
      return 'This download no longer exists.';
    default:
      return error.errorMessage;
  }
}

interface LinkState {
  loading: boolean;
  url?: string;
  s3URI?: string;
  expiresAt?: string;
  error?: string;
  copyMessage?: string;
}

let nextId = 0;

/** A finished download's links: a Download that saves under the video's name, and HTTPS and S3 side by side. */
@Component({
  selector: 'app-link-panel',
  templateUrl: './link-panel.html',
})
export class LinkPanel implements OnDestroy {
  private readonly api = inject(DownloadApiService);

  readonly downloadUUID = input.required<string>();
  /** From listDownloads; false means the S3 copy is not there (yet). */
  readonly s3Available = input<boolean | null | undefined>(undefined);
  /** The video's name (title, else URL): the saved file is called after it. */
  readonly name = input<string>('video');
  readonly fileName = input<string | null | undefined>(undefined);

  protected readonly serverInfo = toSignal(
    this.api.serverInfo$.pipe(catchError(() => of(null as ServerInfo | null))),
    { initialValue: null },
  );
  /** S3 is offered only where the server says it publishes there. */
  protected readonly s3Offered = computed(() => this.serverInfo()?.s3Configured === true);
  protected readonly types = computed<PublicURLType[]>(() =>
    this.s3Offered() ? ['HTTPS', 'S3'] : ['HTTPS'],
  );
  protected readonly saveAs = computed(() => saveAsName(this.name(), this.fileName()));
  /** Same origin as the page: nginx adds Content-Disposition for ?download=, so the file keeps its name. */
  protected readonly downloadHref = computed(() => {
    const info = this.serverInfo();
    const file = this.fileName();
    if (!info || !file) return null;
    return `${info.httpsBaseURL}/${encodeURIComponent(file)}?download=${encodeFileName(this.saveAs())}`;
  });

  protected readonly idPrefix = `link-${nextId++}`;
  protected readonly open = signal(false);
  protected readonly links = signal<Partial<Record<PublicURLType, LinkState>>>({});
  protected readonly localDateTime = localDateTime;

  private requests: Subscription[] = [];

  protected toggle(): void {
    if (this.open()) {
      this.open.set(false);
      return;
    }
    this.open.set(true);
    this.fetchAll();
  }

  private fetchAll(): void {
    this.requests.forEach((r) => r.unsubscribe());
    this.links.set({});
    this.requests = this.types().map((type) => {
      this.update(type, { loading: true });
      return this.api.getPublicURL(this.downloadUUID(), type).subscribe({
        next: (response) =>
          this.update(type, {
            loading: false,
            url: response.publicURL,
            s3URI: response.s3URI,
            expiresAt: response.expiresAt,
          }),
        error: (err: unknown) =>
          this.update(type, { loading: false, error: linkErrorMessage(toApiError(err)) }),
      });
    });
  }

  private update(type: PublicURLType, state: LinkState): void {
    this.links.update((all) => ({ ...all, [type]: state }));
  }

  protected async copy(type: PublicURLType, input: HTMLInputElement): Promise<void> {
    const clipboard: Clipboard | undefined = navigator.clipboard;
    const current = this.links()[type];
    if (!current) return;
    if (clipboard && typeof clipboard.writeText === 'function') {
      try {
        await clipboard.writeText(input.value);
        this.update(type, { ...current, copyMessage: `${type} link copied to the clipboard.` });
        return;
      } catch {
        /* fall through to the manual fallback */
      }
    }
    input.focus();
    input.select();
    this.update(type, {
      ...current,
      copyMessage:
        'Copying is not available in this browser: the link is selected, press Ctrl+C (⌘C) to copy it.',
    });
  }

  ngOnDestroy(): void {
    this.requests.forEach((r) => r.unsubscribe());
  }
}
