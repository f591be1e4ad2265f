import { Component, effect, inject, output, signal } from '@angular/core';
import { toSignal } from '@angular/core/rxjs-interop';
import { Observable, catchError, map, of } from 'rxjs';
import { DownloadApiService } from '../api/download-api.service';
import { DownloadItem, InitiateDownloadRequest, Preset } from '../api/api.types';
import { toApiError } from '../api/api-error';
import { StatusAnnouncer, displayName } from '../status-announcer';
import { shortUuid } from '../row-actions/row-actions';
import { YtdlpParamsField } from '../ytdlp-params-field/ytdlp-params-field';

/** listDownloads's search is at most this long; the exact URL is compared here. */
const SEARCH_MAX = 200;
const ALL_TIME_MINUTES = 10 * 365 * 24 * 60;
const MAX_PLAYLIST_ITEMS = 10000; // initiateDownload's limit

const URL_ERROR_CODES = new Set(['invalidVideoURL']);
const PARAMS_ERROR_CODES = new Set([
  'forbiddenYtdlpParameter',
  'invalidYtdlpParameters',
  'presetNotFound',
]);

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
  imports: [YtdlpParamsField],
})
export class DownloadForm {
  private readonly api = inject(DownloadApiService);
  private readonly announcer = inject(StatusAnnouncer);

  /** Emits the UUID of each download the server accepted. */
  readonly created = output<string>();

  protected readonly videoURL = signal('');
  protected readonly ytdlpParams = signal('');
  protected readonly sending = signal(false);
  protected readonly createdUUID = signal<string | null>(null);
  protected readonly urlError = signal<string | null>(null);
  protected readonly paramsError = signal<string | null>(null);
  protected readonly formError = signal<string | null>(null);
  protected readonly preset = signal('');
  /** The playlist field's text: empty for a single video. */
  protected readonly playlistMaxItems = signal('');
  protected readonly playlistError = signal<string | null>(null);
  protected readonly presets = toSignal(
    this.api.presets$.pipe(
      map((answer) => answer.presets),
      catchError(() => of([] as Preset[])),
    ),
    { initialValue: [] as Preset[] },
  );
  /** Downloads of the same URL already queued or running; a second press of Start queues anyway. */
  protected readonly duplicates = signal<DownloadItem[]>([]);
  private duplicateAcceptedFor: string | null = null;

  constructor() {
    // The "started" note lasts as long as its download: gone once it finished, failed or was cancelled.
    effect(() => {
      const ended = this.announcer.lastFinal();
      if (ended && ended.downloadUUID === this.createdUUID()) this.createdUUID.set(null);
    });
  }

  protected readonly shortUuid = shortUuid;
  protected readonly displayName = displayName;

  protected onPresetChange(event: Event): void {
    this.preset.set((event.target as HTMLSelectElement).value);
    this.paramsError.set(null);
  }

  protected presetParameters(id: string): string {
    return (
      this.presets()
        .find((p) => p.id === id)
        ?.ytdlpCLIParameters.join(' ') ?? ''
    );
  }

  protected onUrlInput(event: Event): void {
    this.videoURL.set((event.target as HTMLInputElement).value);
    this.urlError.set(null);
    this.duplicates.set([]);
    this.duplicateAcceptedFor = null;
  }

  protected onPlaylistInput(event: Event): void {
    this.playlistMaxItems.set((event.target as HTMLInputElement).value);
    this.playlistError.set(null);
  }

  protected submit(event: Event): void {
    event.preventDefault();
    if (this.sending()) return;

    this.urlError.set(null);
    this.paramsError.set(null);
    this.formError.set(null);
    this.playlistError.set(null);

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
    const request: InitiateDownloadRequest = { videoURL };
    if (params) request.ytdlpCLIParameters = params;
    if (this.preset()) request.preset = this.preset();
    const playlistText = this.playlistMaxItems().trim();
    if (playlistText) {
      const maxItems = Number(playlistText);
      if (!Number.isInteger(maxItems) || maxItems < 1 || maxItems > MAX_PLAYLIST_ITEMS) {
        this.playlistError.set(
          `Enter a whole number from 1 to ${MAX_PLAYLIST_ITEMS}, or leave it empty for a single video.`,
        );
        this.focus('playlist-max-items');
        return;
      }
      request.playlistMaxItems = maxItems;
    }
    this.sending.set(true);
    this.createdUUID.set(null);
    const accepted = this.duplicateAcceptedFor === videoURL;
    (accepted ? of([]) : this.ongoingWithSameURL(videoURL)).subscribe((same) => {
      if (same.length > 0) {
        this.sending.set(false);
        this.duplicates.set(same);
        this.duplicateAcceptedFor = videoURL;
        return;
      }
      this.duplicates.set([]);
      this.start(request);
    });
  }

  /** Downloads of exactly this URL that are PENDING or DOWNLOADING; none when the check itself fails. */
  private ongoingWithSameURL(videoURL: string): Observable<DownloadItem[]> {
    return this.api
      .listDownloads({
        overLastPeriodDurationInMinutes: ALL_TIME_MINUTES,
        onlyShowOngoingDownloads: true,
        search: videoURL.slice(0, SEARCH_MAX),
        maxResults: 20,
      })
      .pipe(
        map((answer) => (answer.downloads ?? []).filter((d) => d.videoURL === videoURL)),
        catchError(() => of([] as DownloadItem[])),
      );
  }

  private start(request: InitiateDownloadRequest): void {
    this.api.initiateDownload(request).subscribe({
      next: (response) => {
        this.sending.set(false);
        this.createdUUID.set(response.downloadUUID);
        this.announcer.expect(response.downloadUUID);
        // Cleared, so that Enter pressed twice does not queue the same video twice.
        this.videoURL.set('');
        this.duplicateAcceptedFor = null;
        this.focus('video-url');
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
          this.focus(apiError.errorCode === 'presetNotFound' ? 'format-preset' : 'ytdlp-params');
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
