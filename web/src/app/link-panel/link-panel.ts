import { Component, OnDestroy, inject, input, signal } from '@angular/core';
import { Subscription } from 'rxjs';
import { DownloadApiService } from '../api/download-api.service';
import { ApiError, PublicURLType } from '../api/api.types';
import { toApiError } from '../api/api-error';
import { localDateTime } from '../format';

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

interface ShownLink {
  type: PublicURLType;
  url: string;
  s3URI?: string;
  expiresAt?: string;
}

let nextId = 0;

@Component({
  selector: 'app-link-panel',
  templateUrl: './link-panel.html',
})
export class LinkPanel implements OnDestroy {
  private readonly api = inject(DownloadApiService);

  readonly downloadUUID = input.required<string>();
  /** From listDownloads; false means the S3 copy is not there (yet). */
  readonly s3Available = input<boolean | null | undefined>(undefined);

  protected readonly idPrefix = `link-${nextId++}`;
  protected readonly loading = signal<PublicURLType | null>(null);
  protected readonly link = signal<ShownLink | null>(null);
  protected readonly error = signal<string | null>(null);
  protected readonly copyMessage = signal<string | null>(null);
  protected readonly localDateTime = localDateTime;

  private request?: Subscription;

  protected fetch(type: PublicURLType): void {
    this.request?.unsubscribe();
    this.loading.set(type);
    this.error.set(null);
    this.copyMessage.set(null);
    this.link.set(null);
    this.request = this.api.getPublicURL(this.downloadUUID(), type).subscribe({
      next: (response) => {
        this.loading.set(null);
        this.link.set({
          type,
          url: response.publicURL,
          s3URI: response.s3URI,
          expiresAt: response.expiresAt,
        });
      },
      error: (err: unknown) => {
        this.loading.set(null);
        this.error.set(linkErrorMessage(toApiError(err)));
      },
    });
  }

  protected async copy(input: HTMLInputElement): Promise<void> {
    const text = input.value;
    const clipboard: Clipboard | undefined = navigator.clipboard;
    if (clipboard && typeof clipboard.writeText === 'function') {
      try {
        await clipboard.writeText(text);
        this.copyMessage.set('Link copied to the clipboard.');
        return;
      } catch {
        /* fall through to the manual fallback */
      }
    }
    input.focus();
    input.select();
    this.copyMessage.set(
      'Copying is not available in this browser: the link is selected, press Ctrl+C (⌘C) to copy it.',
    );
  }

  ngOnDestroy(): void {
    this.request?.unsubscribe();
  }
}
