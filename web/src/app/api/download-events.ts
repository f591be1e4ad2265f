import { Injectable, InjectionToken, inject } from '@angular/core';
import { Observable } from 'rxjs';
import { API_BASE } from './download-api.service';
import { DownloadItem } from './api.types';

/**
 * One committed change of a download, as /api/events sends it: the download's UUID and status, plus the
 * fields that changed (the whole item when its status changed). `deleted` when the download is gone.
 */
export type DownloadChange = Partial<DownloadItem> &
  Pick<DownloadItem, 'downloadUUID' | 'downloadStatus'> & { deleted?: boolean };

/** What the stream tells the page: a change; that it missed too much and must load the list again; or that
 * the connection is open, or lost (the browser then reconnects by itself). */
export type DownloadEvent =
  | { kind: 'change'; change: DownloadChange }
  | { kind: 'reload' }
  | { kind: 'open' }
  | { kind: 'lost' };

/** Opens the server-sent event stream; a token so that component tests can give their own source. */
export const EVENT_SOURCE = new InjectionToken<(url: string) => EventSource>('EVENT_SOURCE', {
  providedIn: 'root',
  factory: () => (url: string) => new EventSource(url),
});

/**
 * /api/events as an Observable. The browser reconnects by itself and sends Last-Event-ID, so the server
 * replays what was missed (or says `reload` when that is too old); unsubscribing closes the stream.
 */
@Injectable({ providedIn: 'root' })
export class DownloadEvents {
  private readonly open = inject(EVENT_SOURCE);

  follow(): Observable<DownloadEvent> {
    return new Observable<DownloadEvent>((subscriber) => {
      const source = this.open(`${API_BASE}/events`);
      source.onmessage = (message: MessageEvent<string>) => {
        try {
          const change = JSON.parse(message.data) as DownloadChange;
          if (change && typeof change.downloadUUID === 'string') {
            subscriber.next({ kind: 'change', change });
          }
        } catch {
          // not JSON: nothing a page can use
        }
      };
      source.addEventListener('reload', () => subscriber.next({ kind: 'reload' }));
      source.onopen = () => subscriber.next({ kind: 'open' });
      source.onerror = () => subscriber.next({ kind: 'lost' });
      return () => source.close();
    });
  }
}
