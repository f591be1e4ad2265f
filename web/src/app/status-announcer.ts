import { DOCUMENT, Injectable, inject, signal } from '@angular/core';
import { DownloadItem } from './api/api.types';
import { errorSummary, readableURL } from './format';

export const BASE_TITLE = 'Video downloader';

const FINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

export interface Transition {
  downloadUUID: string;
  status: string;
}

/** The name a person knows a download by: its title, else its URL without the scheme. */
export function displayName(item: Pick<DownloadItem, 'videoTitle' | 'videoURL'>): string {
  return item.videoTitle?.trim() || readableURL(item.videoURL);
}

/**
 * Says when a download finishes or fails, once, in the page's single polite live region and in the tab title.
 * Fed with every list of downloads the page receives (a refresh today; the events stream later feeds the same
 * observe()), it compares each status with the one seen before: a download seen running and now final is
 * announced; downloads seen for the first time are not.
 */
@Injectable({ providedIn: 'root' })
export class StatusAnnouncer {
  private readonly document = inject(DOCUMENT);
  private readonly seen = new Map<string, string>();

  /** Text of the live region (rendered once, by the app shell). */
  readonly message = signal('');
  /** The last download that reached a final state (e.g. the form drops its "started" note). */
  readonly lastFinal = signal<Transition | null>(null);

  constructor() {
    this.document.addEventListener('visibilitychange', () => {
      if (this.document.visibilityState === 'visible') this.document.title = BASE_TITLE;
    });
  }

  observe(items: readonly DownloadItem[]): void {
    const ended: { item: DownloadItem; line: string; mark: string }[] = [];
    for (const item of items) {
      const before = this.seen.get(item.downloadUUID);
      const now = item.downloadStatus;
      this.seen.set(item.downloadUUID, now);
      if (before === undefined || before === now || FINAL.has(before) || !FINAL.has(now)) continue;
      this.lastFinal.set({ downloadUUID: item.downloadUUID, status: now });
      const name = displayName(item);
      if (now === 'COMPLETED') ended.push({ item, line: `Finished: ${name}.`, mark: '✓' });
      if (now === 'FAILED') {
        ended.push({
          item,
          line: `Failed: ${name}: ${errorSummary(item.errorMessage)}`,
          mark: '✗',
        });
      }
    }
    if (ended.length === 0) return;
    this.message.set(ended.map((e) => e.line).join(' '));
    this.document.title =
      ended.length === 1
        ? `${ended[0].mark} ${displayName(ended[0].item)} – ${BASE_TITLE}`
        : `(${ended.length}) downloads ended – ${BASE_TITLE}`;
  }

  /** Reports a download the user started, so that its end is announced even if no list showed it yet. */
  expect(downloadUUID: string): void {
    if (!this.seen.has(downloadUUID)) this.seen.set(downloadUUID, 'PENDING');
  }
}
