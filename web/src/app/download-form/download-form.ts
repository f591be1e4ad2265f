import { Component, inject, output, signal } from '@angular/core';
import { DownloadApiService } from '../api/download-api.service';
import { toApiError } from '../api/api-error';

const URL_ERROR_CODES = new Set(['invalidVideoURL']);
const PARAMS_ERROR_CODES = new Set(['forbiddenYtdlpParameter', 'invalidYtdlpParameters']);

/** Client-side check only; the server does the real validation. */
export function looksLikeHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && !!url.hostname;
  } catch {
    return false;
  }
}

@Component({
  selector: 'app-download-form',
  templateUrl: './download-form.html',
})
export class DownloadForm {
  private readonly api = inject(DownloadApiService);

  /** Emits the UUID of each download the server accepted. */
  readonly created = output<string>();

  protected readonly videoURL = signal('');
  protected readonly ytdlpParams = signal('');
  protected readonly sending = signal(false);
  protected readonly createdUUID = signal<string | null>(null);
  protected readonly urlError = signal<string | null>(null);
  protected readonly paramsError = signal<string | null>(null);
  protected readonly formError = signal<string | null>(null);

  protected onUrlInput(event: Event): void {
    this.videoURL.set((event.target as HTMLInputElement).value);
    this.urlError.set(null);
  }

  protected onParamsInput(event: Event): void {
    this.ytdlpParams.set((event.target as HTMLInputElement).value);
    this.paramsError.set(null);
  }

  protected submit(event: Event): void {
    event.preventDefault();
    if (this.sending()) return;

    this.urlError.set(null);
    this.paramsError.set(null);
    this.formError.set(null);

    const videoURL = this.videoURL().trim();
    if (!videoURL) {
      this.urlError.set('Enter the URL of the video to download.');
      this.focus('video-url');
      return;
    }
    if (!looksLikeHttpUrl(videoURL)) {
      this.urlError.set('Enter a full http:// or https:// URL.');
      this.focus('video-url');
      return;
    }

    const params = this.ytdlpParams().trim();
    this.sending.set(true);
    this.createdUUID.set(null);
    this.api
      .initiateDownload(params ? { videoURL, ytdlpCLIParameters: params } : { videoURL })
      .subscribe({
        next: (response) => {
          this.sending.set(false);
          this.createdUUID.set(response.downloadUUID);
          this.created.emit(response.downloadUUID);
        },
        error: (err: unknown) => {
          this.sending.set(false);
          const apiError = toApiError(err);
          if (URL_ERROR_CODES.has(apiError.errorCode)) {
            this.urlError.set(apiError.errorMessage);
            this.focus('video-url');
          } else if (PARAMS_ERROR_CODES.has(apiError.errorCode)) {
            this.paramsError.set(apiError.errorMessage);
            this.focus('ytdlp-params');
          } else {
            this.formError.set(apiError.errorMessage);
          }
        },
      });
  }

  private focus(id: string): void {
    // Let the error message render (aria-describedby target) before focusing.
    queueMicrotask(() => document.getElementById(id)?.focus());
  }
}
