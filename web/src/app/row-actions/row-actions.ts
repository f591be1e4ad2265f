import { Component, OnDestroy, computed, inject, input, output, signal } from '@angular/core';
import { Observable, Subscription } from 'rxjs';
import { DownloadApiService } from '../api/download-api.service';
import { DownloadItem } from '../api/api.types';
import { toApiError } from '../api/api-error';
import { CONFIRM } from '../confirm';
import { displayName } from '../status-announcer';

export type RowAction = 'cancel' | 'retry' | 'delete';

export interface RowActionDone {
  action: RowAction;
  downloadUUID: string;
}

const CANCELLABLE = new Set(['PENDING', 'DOWNLOADING']);
const RETRYABLE = new Set(['FAILED', 'CANCELLED']);

const BUSY_TEXT: Record<RowAction, string> = {
  cancel: 'Cancelling…',
  retry: 'Retrying…',
  delete: 'Deleting…',
};

/** First 8 characters of a UUID: enough to tell rows apart in labels and messages. */
export function shortUuid(uuid: string): string {
  return (uuid ?? '').slice(0, 8);
}

export function deleteQuestion(item: DownloadItem): string {
  const ongoing = CANCELLABLE.has(item.downloadStatus)
    ? ' It is still running and will be cancelled first.'
    : '';
  return (
    `Delete “${displayName(item)}” (ID ${shortUuid(item.downloadUUID)})?${ongoing}\n\n` +
    'This removes the downloaded file, its S3 copy and this entry. It cannot be undone.'
  );
}

/** Cancel / Retry / Delete buttons of one row of the downloads list. */
@Component({
  selector: 'app-row-actions',
  templateUrl: './row-actions.html',
})
export class RowActions implements OnDestroy {
  private readonly api = inject(DownloadApiService);
  private readonly confirm = inject(CONFIRM);

  readonly item = input.required<DownloadItem>();
  /** Emits after the server accepted an action; the list then refreshes once. */
  readonly done = output<RowActionDone>();

  protected readonly busy = signal<RowAction | null>(null);
  protected readonly error = signal<string | null>(null);
  protected readonly busyText = computed(() => {
    const action = this.busy();
    return action ? BUSY_TEXT[action] : null;
  });

  /** What screen readers say after "Cancel", "Retry", "Delete": the video's name, not a hex id. */
  protected readonly name = computed(() => displayName(this.item()));
  protected readonly canCancel = computed(() => CANCELLABLE.has(this.item().downloadStatus));
  protected readonly canRetry = computed(() => RETRYABLE.has(this.item().downloadStatus));

  private request?: Subscription;

  protected run(action: RowAction): void {
    if (this.busy()) return;
    const item = this.item();
    if (action === 'delete' && !this.confirm(deleteQuestion(item))) return;

    const uuid = item.downloadUUID;
    let call: Observable<unknown>;
    switch (action) {
      case 'cancel':
        call = this.api.cancelDownload(uuid);
        break;
      case 'retry':
        call = this.api.retryDownload(uuid);
        break;
      case 'delete':
        call = this.api.deleteDownload(uuid);
        break;
    }

    this.error.set(null);
    this.busy.set(action);
    this.request?.unsubscribe();
    this.request = call.subscribe({
      next: () => {
        this.busy.set(null);
        this.done.emit({ action, downloadUUID: uuid });
      },
      error: (err: unknown) => {
        this.busy.set(null);
        this.error.set(toApiError(err).errorMessage);
      },
    });
  }

  ngOnDestroy(): void {
    this.request?.unsubscribe();
  }
}
