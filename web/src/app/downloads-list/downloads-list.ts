import {
  Component,
  ElementRef,
  Injector,
  OnDestroy,
  OnInit,
  afterNextRender,
  computed,
  inject,
  signal,
} from '@angular/core';
import { Subscription } from 'rxjs';
import { DownloadApiService } from '../api/download-api.service';
import { DownloadItem } from '../api/api.types';
import { toApiError } from '../api/api-error';
import {
  describePeriod,
  humanDuration,
  humanSize,
  humanSpeed,
  localDateTime,
  localTime,
} from '../format';
import { LinkPanel } from '../link-panel/link-panel';
import { RowActionDone, RowActions, shortUuid } from '../row-actions/row-actions';

export interface PeriodOption {
  value: string;
  label: string;
  minutes: number | null;
}

export const PERIOD_OPTIONS: readonly PeriodOption[] = [
  { value: '15', label: 'Last 15 minutes', minutes: 15 },
  { value: '60', label: 'Last hour', minutes: 60 },
  { value: '1440', label: 'Last 24 hours', minutes: 1440 },
  { value: '10080', label: 'Last 7 days', minutes: 10080 },
  { value: 'custom', label: 'Custom…', minutes: null },
];

const KNOWN_STATUSES = new Set(['PENDING', 'DOWNLOADING', 'COMPLETED', 'FAILED', 'CANCELLED']);

const DONE_TEXT: Record<RowActionDone['action'], string> = {
  cancel: 'cancelled',
  retry: 'queued again',
  delete: 'deleted',
};

const MAX_CUSTOM_MINUTES = 525600; // one year

@Component({
  selector: 'app-downloads-list',
  imports: [LinkPanel, RowActions],
  templateUrl: './downloads-list.html',
})
export class DownloadsList implements OnInit, OnDestroy {
  private readonly api = inject(DownloadApiService);
  private readonly host = inject<ElementRef<HTMLElement>>(ElementRef);
  private readonly injector = inject(Injector);

  protected readonly periodOptions = PERIOD_OPTIONS;
  protected readonly period = signal('60');
  protected readonly customMinutes = signal(120);
  protected readonly customError = signal<string | null>(null);
  protected readonly onlyOngoing = signal(false);

  protected readonly downloads = signal<DownloadItem[]>([]);
  protected readonly loading = signal(false);
  protected readonly loaded = signal(false);
  protected readonly error = signal<string | null>(null);
  protected readonly lastRefresh = signal<Date | null>(null);
  /** Confirmation of the last Cancel / Retry / Delete, announced politely. */
  protected readonly actionMessage = signal<string | null>(null);

  /** Period actually queried, in minutes. */
  protected readonly periodMinutes = computed(() => {
    const option = PERIOD_OPTIONS.find((o) => o.value === this.period());
    return option?.minutes ?? this.customMinutes();
  });

  protected readonly emptyMessage = computed(() => {
    const what = this.onlyOngoing() ? 'No ongoing downloads' : 'No downloads';
    const period = describePeriod(this.periodMinutes());
    return `${what} in ${period}. Start one above, or widen the period.`;
  });

  protected readonly humanSize = humanSize;
  protected readonly humanSpeed = humanSpeed;
  protected readonly humanDuration = humanDuration;
  protected readonly localDateTime = localDateTime;
  protected readonly localTime = localTime;

  private request?: Subscription;
  /** Row whose action just succeeded: focus goes back to it (or to the heading) after the refresh. */
  private focusAfterRefresh: string | null = null;

  ngOnInit(): void {
    this.refresh();
  }

  ngOnDestroy(): void {
    this.request?.unsubscribe();
  }

  /** Loads the list once. There is deliberately no automatic polling. */
  refresh(): void {
    this.actionMessage.set(null);
    this.focusAfterRefresh = null;
    this.load();
  }

  /** A row's Cancel / Retry / Delete succeeded: say so and refresh the list once. */
  protected onRowAction(event: RowActionDone): void {
    this.load();
    this.actionMessage.set(`Download ${shortUuid(event.downloadUUID)} ${DONE_TEXT[event.action]}.`);
    this.focusAfterRefresh = event.downloadUUID;
  }

  private load(): void {
    this.request?.unsubscribe();
    this.loading.set(true);
    this.error.set(null);
    this.request = this.api
      .listDownloads({
        overLastPeriodDurationInMinutes: this.periodMinutes(),
        onlyShowOngoingDownloads: this.onlyOngoing(),
      })
      .subscribe({
        next: (response) => {
          this.downloads.set(Array.isArray(response?.downloads) ? response.downloads : []);
          this.loading.set(false);
          this.loaded.set(true);
          this.lastRefresh.set(new Date());
          this.restoreFocus();
        },
        error: (err: unknown) => {
          this.loading.set(false);
          this.error.set(`Could not load the downloads: ${toApiError(err).errorMessage}`);
        },
      });
  }

  protected onPeriodChange(event: Event): void {
    this.period.set((event.target as HTMLSelectElement).value);
    if (this.period() !== 'custom' || this.validateCustom()) {
      this.refresh();
    }
  }

  protected onCustomMinutesChange(event: Event): void {
    const value = Number((event.target as HTMLInputElement).value);
    this.customMinutes.set(value);
    if (this.validateCustom()) {
      this.refresh();
    }
  }

  protected onOnlyOngoingChange(event: Event): void {
    this.onlyOngoing.set((event.target as HTMLInputElement).checked);
    this.refresh();
  }

  /**
   * The button that was used may have disappeared (row deleted, Cancel replaced by Retry):
   * put focus on the row's first action, or on the list heading, so keyboard users keep
   * their place.
   */
  private restoreFocus(): void {
    const uuid = this.focusAfterRefresh;
    this.focusAfterRefresh = null;
    if (uuid === null) return;
    afterNextRender(
      () => {
        const root = this.host.nativeElement;
        const active = root.ownerDocument.activeElement;
        if (active && active !== root.ownerDocument.body && !root.contains(active)) {
          return; // the user already moved elsewhere
        }
        const row = Array.from(
          root.querySelectorAll<HTMLElement>('[data-testid="download-row"]'),
        ).find((r) => r.dataset['uuid'] === uuid);
        const target =
          row?.querySelector<HTMLElement>('[data-testid="row-actions"] button:not(:disabled)') ??
          root.querySelector<HTMLElement>('#downloads-heading');
        target?.focus();
      },
      { injector: this.injector },
    );
  }

  private validateCustom(): boolean {
    const value = this.customMinutes();
    const ok = Number.isInteger(value) && value >= 1 && value <= MAX_CUSTOM_MINUTES;
    this.customError.set(
      ok ? null : `Enter a whole number of minutes from 1 to ${MAX_CUSTOM_MINUTES}.`,
    );
    return ok;
  }

  /** Badge text: the API value itself (e.g. COMPLETED), so unknown future values still show. */
  protected statusLabel(status: string): string {
    return status ? status.toUpperCase() : 'UNKNOWN';
  }

  protected statusClass(status: string): string {
    return KNOWN_STATUSES.has(status) ? `status-${status.toLowerCase()}` : 'status-unknown';
  }

  /** Percentage to show, or null when there is nothing meaningful. */
  protected progressOf(item: DownloadItem): number | null {
    if (item.downloadStatus === 'COMPLETED') return 100;
    if (typeof item.progress === 'number' && Number.isFinite(item.progress)) {
      return Math.min(100, Math.max(0, item.progress));
    }
    return null;
  }

  protected formatPercent(value: number): string {
    return `${value >= 10 || Number.isInteger(value) ? Math.round(value) : value.toFixed(1)}%`;
  }

  protected paramsText(item: DownloadItem): string {
    const params: unknown = item.ytdlpCLIParameters;
    if (Array.isArray(params)) return params.join(' ');
    return typeof params === 'string' ? params : '';
  }
}
