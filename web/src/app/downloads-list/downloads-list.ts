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
import { NgTemplateOutlet } from '@angular/common';
import { Subscription } from 'rxjs';
import { DownloadApiService } from '../api/download-api.service';
import {
  BulkAction,
  BulkActionRequest,
  BulkActionResponse,
  DownloadItem,
  KnownDownloadStatus,
} from '../api/api.types';
import { toApiError } from '../api/api-error';
import {
  clockDuration,
  describePeriod,
  errorSummary,
  hostOf,
  humanDuration,
  humanSize,
  humanSpeed,
  localDateTime,
  localTime,
} from '../format';
import { LinkPanel } from '../link-panel/link-panel';
import { RowActionDone, RowActions, shortUuid } from '../row-actions/row-actions';
import { CONFIRM } from '../confirm';
import { StatusAnnouncer, displayName } from '../status-announcer';
import { DownloadChange, DownloadEvents } from '../api/download-events';

export interface PeriodOption {
  value: string;
  label: string;
  minutes: number | null;
}

/** "All": the longest period the API accepts (ten years). */
export const ALL_TIME_MINUTES = 10 * 365 * 24 * 60;
export const PAGE_SIZE = 50;
/** The most rows one refresh asks again for, after "Show more" was pressed many times. */
const MAX_REFRESH_ROWS = 1000;

export const PERIOD_OPTIONS: readonly PeriodOption[] = [
  { value: 'all', label: 'All', minutes: ALL_TIME_MINUTES },
  { value: '60', label: 'Last hour', minutes: 60 },
  { value: '1440', label: 'Last 24 hours', minutes: 1440 },
  { value: '10080', label: 'Last 7 days', minutes: 10080 },
  { value: '43200', label: 'Last 30 days', minutes: 43200 },
  { value: 'custom', label: 'Custom…', minutes: null },
];

export const STATUS_OPTIONS: readonly { value: string; label: string }[] = [
  { value: '', label: 'Any status' },
  { value: 'ongoing', label: 'Ongoing (queued or downloading)' },
  { value: 'PENDING', label: 'Queued' },
  { value: 'DOWNLOADING', label: 'Downloading' },
  { value: 'COMPLETED', label: 'Completed' },
  { value: 'FAILED', label: 'Failed' },
  { value: 'CANCELLED', label: 'Cancelled' },
];

const KNOWN_STATUSES = new Set(['PENDING', 'DOWNLOADING', 'COMPLETED', 'FAILED', 'CANCELLED']);
const CANCELLABLE = new Set(['PENDING', 'DOWNLOADING']);
const RETRYABLE = new Set(['FAILED', 'CANCELLED']);

const DONE_TEXT: Record<BulkAction, string> = {
  cancel: 'cancelled',
  retry: 'queued again',
  delete: 'deleted',
};

const MAX_CUSTOM_MINUTES = 525600; // one year

/** "A", "A and B", "A, B, C and 4 more": names for a confirmation. */
function listNames(items: readonly DownloadItem[]): string {
  const names = items
    .slice(0, 5)
    .map((i) => `“${displayName(i)}” (ID ${shortUuid(i.downloadUUID)})`);
  const more = items.length - names.length;
  if (more > 0) return `${names.join(', ')} and ${more} more`;
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)}` : names[0];
}

/** A playlist's entries asked for at once when it is expanded (initiateDownload allows 10000). */
const MAX_CHILDREN_ROWS = 1000;

/** Live updates: new rows (or a `reload`) are fetched once a burst of events has passed. */
const LIVE_RELOAD_DELAY_MS = 300;
const FINAL_STATUSES = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

/** A changed field that became empty is absent from the item, as listDownloads leaves it out. */
function withoutNulls(fields: Partial<DownloadItem>): Partial<DownloadItem> {
  const kept: Record<string, unknown> = {};
  const removed: string[] = [];
  for (const [key, value] of Object.entries(fields)) {
    if (value === null || value === undefined) removed.push(key);
    else kept[key] = value;
  }
  return Object.assign(kept, Object.fromEntries(removed.map((key) => [key, undefined])));
}

@Component({
  selector: 'app-downloads-list',
  imports: [LinkPanel, RowActions, NgTemplateOutlet],
  templateUrl: './downloads-list.html',
})
export class DownloadsList implements OnInit, OnDestroy {
  private readonly api = inject(DownloadApiService);
  private readonly host = inject<ElementRef<HTMLElement>>(ElementRef);
  private readonly injector = inject(Injector);
  private readonly confirm = inject(CONFIRM);
  private readonly announcer = inject(StatusAnnouncer);
  private readonly events = inject(DownloadEvents);

  protected readonly periodOptions = PERIOD_OPTIONS;
  protected readonly statusOptions = STATUS_OPTIONS;
  protected readonly period = signal('all');
  protected readonly customMinutes = signal(120);
  protected readonly customError = signal<string | null>(null);
  protected readonly statusFilter = signal('');
  /** The search the list shows; the field's text is applied on Enter or after a short pause. */
  protected readonly search = signal('');

  protected readonly downloads = signal<DownloadItem[]>([]);
  protected readonly nextPageToken = signal<string | null>(null);
  protected readonly loading = signal(false);
  protected readonly loadingMore = signal(false);
  protected readonly loaded = signal(false);
  protected readonly error = signal<string | null>(null);
  protected readonly lastRefresh = signal<Date | null>(null);
  /** Confirmation of the last action (one row's or a bulk one), announced politely. */
  protected readonly actionMessage = signal<string | null>(null);

  /** Following /api/events: off by default (manual refresh stays the default). */
  protected readonly live = signal(false);
  /** Whether the live stream is connected: changes are only followed while it is. */
  protected readonly liveConnected = signal(false);

  /** Playlists shown expanded, and the entries loaded for each (absent: still loading). */
  protected readonly expanded = signal<ReadonlySet<string>>(new Set());
  protected readonly children = signal<ReadonlyMap<string, DownloadItem[]>>(new Map());
  protected readonly childrenError = signal<ReadonlyMap<string, string>>(new Map());

  protected readonly selected = signal<ReadonlySet<string>>(new Set());
  protected readonly bulkBusy = signal<BulkAction | null>(null);
  protected readonly bulkError = signal<string | null>(null);

  protected readonly periodMinutes = computed(() => {
    const option = PERIOD_OPTIONS.find((o) => o.value === this.period());
    return option?.minutes ?? this.customMinutes();
  });

  protected readonly emptyMessage = computed(() => {
    const status = STATUS_OPTIONS.find((o) => o.value === this.statusFilter());
    const what = status?.value ? `No ${status.label.toLowerCase()} downloads` : 'No downloads';
    const period = this.period() === 'all' ? '' : ` in ${describePeriod(this.periodMinutes())}`;
    const search = this.search() ? ` matching “${this.search()}”` : '';
    const hint =
      this.search() || status?.value || this.period() !== 'all'
        ? 'Change the filters to see more.'
        : 'Start one above.';
    return `${what}${search}${period}. ${hint}`;
  });

  protected readonly selectedItems = computed(() =>
    this.downloads().filter((d) => this.selected().has(d.downloadUUID)),
  );
  protected readonly allShownSelected = computed(
    () => this.downloads().length > 0 && this.selectedItems().length === this.downloads().length,
  );
  protected readonly selectedRetryable = computed(() =>
    this.selectedItems().filter((d) => RETRYABLE.has(d.downloadStatus)),
  );
  protected readonly selectedCancellable = computed(() =>
    this.selectedItems().filter((d) => CANCELLABLE.has(d.downloadStatus)),
  );

  protected readonly humanSize = humanSize;
  protected readonly humanSpeed = humanSpeed;
  protected readonly humanDuration = humanDuration;
  protected readonly clockDuration = clockDuration;
  protected readonly localDateTime = localDateTime;
  protected readonly localTime = localTime;
  protected readonly displayName = displayName;
  protected readonly errorSummary = errorSummary;
  protected readonly shortUuid = shortUuid;

  private request?: Subscription;
  private readonly childRequests = new Map<string, Subscription>();
  /** Entries seen in full events, with their playlist: their later changes matter only while it is expanded. */
  private readonly parentOf = new Map<string, string>();
  private bulkRequest?: Subscription;
  private liveEvents?: Subscription;
  private liveReload?: ReturnType<typeof setTimeout>;
  private searchTimer?: ReturnType<typeof setTimeout>;
  /** Row whose action just succeeded: focus goes back to it (or to the heading) after the refresh. */
  private focusAfterRefresh: string | null = null;

  ngOnInit(): void {
    this.refresh();
  }

  ngOnDestroy(): void {
    this.request?.unsubscribe();
    this.bulkRequest?.unsubscribe();
    this.liveEvents?.unsubscribe();
    this.childRequests.forEach((r) => r.unsubscribe());
    clearTimeout(this.searchTimer);
    clearTimeout(this.liveReload);
  }

  /** Live updates on: rows follow the server's committed changes as they happen; off: only Refresh. */
  protected setLive(on: boolean): void {
    this.live.set(on);
    this.liveEvents?.unsubscribe();
    this.liveEvents = undefined;
    clearTimeout(this.liveReload);
    if (!on) return;
    this.liveConnected.set(false);
    this.liveEvents = this.events.follow().subscribe((event) => {
      if (event.kind === 'open') {
        if (!this.liveConnected()) this.reloadSoon(); // catch up with what happened while (re)connecting
        this.liveConnected.set(true);
      } else if (event.kind === 'lost') this.liveConnected.set(false);
      else if (event.kind === 'reload') this.reloadSoon();
      else this.applyChange(event.change);
    });
    this.refresh();
  }

  /** A change to a shown row is applied in place; anything else (a new download, a row of another page or
   * filter) makes the list load again, once for a burst of changes. */
  private applyChange(change: DownloadChange): void {
    const items = this.downloads();
    const index = items.findIndex((d) => d.downloadUUID === change.downloadUUID);
    if (change.deleted) {
      if (index >= 0) this.show(items.filter((_, i) => i !== index));
      const parent = this.parentOf.get(change.downloadUUID);
      const entries = parent ? this.children().get(parent) : undefined;
      if (parent && entries) {
        this.setChildren(
          parent,
          entries.filter((d) => d.downloadUUID !== change.downloadUUID),
        );
      }
      return;
    }
    if (change.parentDownloadUUID)
      this.parentOf.set(change.downloadUUID, change.parentDownloadUUID);
    const parent = change.parentDownloadUUID ?? this.parentOf.get(change.downloadUUID);
    if (index < 0 && parent && this.applyChildChange(parent, change)) return;
    if (index < 0) {
      // seen running through the stream: its end is news, even if the list first shows it finished
      if (!FINAL_STATUSES.has(change.downloadStatus)) this.announcer.expect(change.downloadUUID);
      this.reloadSoon();
      return;
    }
    const { deleted: _deleted, ...fields } = change;
    const updated = [...items];
    updated[index] = { ...items[index], ...withoutNulls(fields) } as DownloadItem;
    this.show(updated);
    this.lastRefresh.set(new Date());
  }

  /** A playlist entry's change: applied to its row when the playlist is expanded; true when handled. */
  private applyChildChange(parent: string, change: DownloadChange): boolean {
    if (!this.expanded().has(parent)) return true; // its playlist's own change brings the counts
    const entries = this.children().get(parent);
    const index = entries?.findIndex((d) => d.downloadUUID === change.downloadUUID) ?? -1;
    if (!entries || index < 0) return false;
    const { deleted: _deleted, ...fields } = change;
    const updated = [...entries];
    updated[index] = { ...entries[index], ...withoutNulls(fields) } as DownloadItem;
    this.setChildren(parent, updated);
    this.lastRefresh.set(new Date());
    return true;
  }

  private reloadSoon(): void {
    clearTimeout(this.liveReload);
    this.liveReload = setTimeout(() => this.load(true), LIVE_RELOAD_DELAY_MS);
  }

  /** Loads the list again, as many rows as are shown (at least a page). No automatic polling. */
  refresh(): void {
    this.actionMessage.set(null);
    this.focusAfterRefresh = null;
    this.load(false);
  }

  /**
   * Every list of downloads the page receives goes through here, refreshes and live updates alike, so that
   * finished and failed downloads are announced once.
   */
  private show(items: DownloadItem[]): void {
    this.downloads.set(items);
    this.announcer.observe(items);
    const present = new Set(items.map((i) => i.downloadUUID));
    this.selected.update((s) => new Set([...s].filter((uuid) => present.has(uuid))));
    this.expanded.update((s) => new Set([...s].filter((uuid) => present.has(uuid))));
  }

  // ---- Playlists ----

  protected isPlaylist(item: DownloadItem): boolean {
    return item.downloadKind === 'PLAYLIST';
  }

  protected isExpanded(uuid: string): boolean {
    return this.expanded().has(uuid);
  }

  protected childrenOf(uuid: string): DownloadItem[] | undefined {
    return this.children().get(uuid);
  }

  /** "2 of 3 completed, 1 failed": a playlist's counts. */
  protected playlistCounts(item: DownloadItem): string {
    const total = item.childrenTotal ?? 0;
    const failed = item.childrenFailed ?? 0;
    const videos = total === 1 ? '1 video' : `${total} videos`;
    let counts = `${videos}, ${item.childrenCompleted ?? 0} completed`;
    if (failed > 0) counts += `, ${failed} failed`;
    return counts;
  }

  protected toggleExpanded(item: DownloadItem): void {
    const uuid = item.downloadUUID;
    const open = !this.isExpanded(uuid);
    this.expanded.update((s) => {
      const next = new Set(s);
      if (open) next.add(uuid);
      else next.delete(uuid);
      return next;
    });
    if (open) this.loadChildren(uuid);
    else this.childRequests.get(uuid)?.unsubscribe();
  }

  /** Entries may be on another page than their playlist: asked for by parent, in playlist order. */
  private loadChildren(parent: string): void {
    this.childRequests.get(parent)?.unsubscribe();
    this.childrenError.update((m) => new Map([...m].filter(([uuid]) => uuid !== parent)));
    const request = this.api
      .listDownloads({
        overLastPeriodDurationInMinutes: ALL_TIME_MINUTES,
        onlyShowOngoingDownloads: false,
        parentDownloadUUID: parent,
        maxResults: MAX_CHILDREN_ROWS,
      })
      .subscribe({
        next: (response) => {
          const entries = Array.isArray(response?.downloads) ? [...response.downloads] : [];
          entries.forEach((entry) => this.parentOf.set(entry.downloadUUID, parent));
          this.setChildren(parent, entries.reverse());
          this.restoreFocus();
        },
        error: (err: unknown) => {
          this.childrenError.update((m) =>
            new Map(m).set(parent, `Could not load its videos: ${toApiError(err).errorMessage}`),
          );
        },
      });
    this.childRequests.set(parent, request);
  }

  private setChildren(parent: string, entries: DownloadItem[]): void {
    this.children.update((m) => new Map(m).set(parent, entries));
    this.announcer.observe(entries);
  }

  protected onRowAction(event: RowActionDone): void {
    const item = [...this.downloads(), ...[...this.children().values()].flat()].find(
      (d) => d.downloadUUID === event.downloadUUID,
    );
    this.load(true);
    const name = item ? `“${displayName(item)}”` : `Download ${shortUuid(event.downloadUUID)}`;
    this.actionMessage.set(`${name} ${DONE_TEXT[event.action]}.`);
    this.focusAfterRefresh = event.downloadUUID;
  }

  private query(pageToken: string | null, maxResults: number) {
    const status = this.statusFilter();
    return {
      overLastPeriodDurationInMinutes: this.periodMinutes(),
      onlyShowOngoingDownloads: status === 'ongoing',
      downloadStatus: KNOWN_STATUSES.has(status) ? (status as KnownDownloadStatus) : null,
      search: this.search() || null,
      // a search finds videos inside playlists too; otherwise they are shown under their playlist
      topLevelOnly: !this.search(),
      pageToken,
      maxResults,
    };
  }

  /** keepCount: as many rows as shown now (after an action); else the first page (filters changed). */
  private load(keepCount: boolean): void {
    this.request?.unsubscribe();
    this.loading.set(true);
    this.loadingMore.set(false);
    this.error.set(null);
    const count = keepCount
      ? Math.min(MAX_REFRESH_ROWS, Math.max(PAGE_SIZE, this.downloads().length))
      : PAGE_SIZE;
    this.request = this.api.listDownloads(this.query(null, count)).subscribe({
      next: (response) => {
        this.show(Array.isArray(response?.downloads) ? response.downloads : []);
        this.nextPageToken.set(response?.nextPageToken ?? null);
        this.loading.set(false);
        this.loaded.set(true);
        this.lastRefresh.set(new Date());
        this.expanded().forEach((uuid) => this.loadChildren(uuid));
        // an entry's row comes back with its playlist's entries, which focus it then
        const target = this.focusAfterRefresh;
        const entry = target !== null && this.expanded().has(this.parentOf.get(target) ?? '');
        if (!entry) this.restoreFocus();
      },
      error: (err: unknown) => {
        this.loading.set(false);
        this.error.set(`Could not load the downloads: ${toApiError(err).errorMessage}`);
      },
    });
  }

  protected showMore(): void {
    const token = this.nextPageToken();
    if (!token || this.loading()) return;
    this.request?.unsubscribe();
    this.loading.set(true);
    this.loadingMore.set(true);
    this.error.set(null);
    const firstNew = this.downloads().length;
    this.request = this.api.listDownloads(this.query(token, PAGE_SIZE)).subscribe({
      next: (response) => {
        const known = new Set(this.downloads().map((d) => d.downloadUUID));
        const added = (response?.downloads ?? []).filter((d) => !known.has(d.downloadUUID));
        this.show([...this.downloads(), ...added]);
        this.nextPageToken.set(response?.nextPageToken ?? null);
        this.loading.set(false);
        this.loadingMore.set(false);
        this.focusRow(firstNew);
      },
      error: (err: unknown) => {
        this.loading.set(false);
        this.loadingMore.set(false);
        this.error.set(`Could not load more downloads: ${toApiError(err).errorMessage}`);
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

  protected onStatusChange(event: Event): void {
    this.statusFilter.set((event.target as HTMLSelectElement).value);
    this.refresh();
  }

  protected onSearchInput(event: Event): void {
    const value = (event.target as HTMLInputElement).value;
    clearTimeout(this.searchTimer);
    this.searchTimer = setTimeout(() => this.applySearch(value), 400);
  }

  protected onSearchSubmit(event: Event, input: HTMLInputElement): void {
    event.preventDefault();
    clearTimeout(this.searchTimer);
    this.applySearch(input.value);
  }

  private applySearch(value: string): void {
    const search = value.trim().slice(0, 200);
    if (search === this.search()) return;
    this.search.set(search);
    this.refresh();
  }

  // ---- Selection and bulk actions ----

  protected isSelected(uuid: string): boolean {
    return this.selected().has(uuid);
  }

  protected toggleSelected(uuid: string, event: Event): void {
    const checked = (event.target as HTMLInputElement).checked;
    this.selected.update((s) => {
      const next = new Set(s);
      if (checked) next.add(uuid);
      else next.delete(uuid);
      return next;
    });
  }

  protected toggleAll(event: Event): void {
    const checked = (event.target as HTMLInputElement).checked;
    this.selected.set(new Set(checked ? this.downloads().map((d) => d.downloadUUID) : []));
  }

  protected bulkSelected(action: BulkAction): void {
    const items =
      action === 'retry'
        ? this.selectedRetryable()
        : action === 'cancel'
          ? this.selectedCancellable()
          : this.selectedItems();
    if (items.length === 0) return;
    const verb = { retry: 'Retry', cancel: 'Cancel', delete: 'Delete' }[action];
    const what = items.length === 1 ? '1 download' : `${items.length} downloads`;
    const consequence =
      action === 'delete'
        ? '\n\nThis removes their files, S3 copies and entries. It cannot be undone.'
        : '';
    if (!this.confirm(`${verb} ${what}: ${listNames(items)}?${consequence}`)) return;
    this.runBulk({ action, videoDownloadUUIDs: items.map((i) => i.downloadUUID) });
  }

  protected retryAllFailed(): void {
    if (!this.confirm('Retry every failed download (not only those shown)?')) return;
    this.runBulk({ action: 'retry', filter: { downloadStatus: 'FAILED' } });
  }

  protected clearCompleted(): void {
    if (
      !this.confirm(
        'Delete every completed download (not only those shown)?\n\n' +
          'This removes their files, S3 copies and entries. It cannot be undone.',
      )
    ) {
      return;
    }
    this.runBulk({ action: 'delete', filter: { downloadStatus: 'COMPLETED' } });
  }

  private runBulk(request: BulkActionRequest): void {
    if (this.bulkBusy()) return;
    this.bulkBusy.set(request.action);
    this.bulkError.set(null);
    this.actionMessage.set(null);
    const names = new Map(this.downloads().map((d) => [d.downloadUUID, displayName(d)]));
    this.bulkRequest?.unsubscribe();
    this.bulkRequest = this.api.bulkAction(request).subscribe({
      next: (answer) => {
        this.bulkBusy.set(null);
        this.actionMessage.set(this.describeBulk(answer, names));
        this.selected.set(new Set());
        this.load(true);
      },
      error: (err: unknown) => {
        this.bulkBusy.set(null);
        this.bulkError.set(toApiError(err).errorMessage);
      },
    });
  }

  private describeBulk(answer: BulkActionResponse, names: Map<string, string>): string {
    const done = DONE_TEXT[answer.action];
    if (answer.results.length === 0) return `Nothing to do: no download matched.`;
    let message = `${answer.succeeded} ${answer.succeeded === 1 ? 'download' : 'downloads'} ${done}.`;
    const refused = answer.results.filter((r) => !r.ok);
    if (refused.length > 0) {
      const first = refused[0];
      const name = names.get(first.downloadUUID) ?? shortUuid(first.downloadUUID);
      message += ` ${refused.length} could not be: “${name}”: ${first.errorMessage ?? first.errorCode}`;
      if (refused.length > 1) message += ` (and ${refused.length - 1} more)`;
      message += '.';
    }
    return message;
  }

  // ---- Focus ----

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
          root.querySelectorAll<HTMLElement>(
            '[data-testid="download-row"], [data-testid="child-row"]',
          ),
        ).find((r) => r.dataset['uuid'] === uuid);
        const target =
          row?.querySelector<HTMLElement>('[data-testid="row-actions"] button:not(:disabled)') ??
          root.querySelector<HTMLElement>('#downloads-heading');
        target?.focus();
      },
      { injector: this.injector },
    );
  }

  /** After "Show more": focus the first new row's title link, where reading continues. */
  private focusRow(index: number): void {
    afterNextRender(
      () => {
        const rows = this.host.nativeElement.querySelectorAll<HTMLElement>(
          '[data-testid="download-row"]',
        );
        rows[index]?.querySelector<HTMLElement>('[data-testid="title"]')?.focus();
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

  // ---- Row display ----

  protected statusLabel(status: string): string {
    return status ? status.toUpperCase() : 'UNKNOWN';
  }

  protected statusClass(status: string): string {
    return KNOWN_STATUSES.has(status) ? `status-${status.toLowerCase()}` : 'status-unknown';
  }

  /** A progress bar only while it says something: a running download (not a finished or cancelled one). */
  protected progressOf(item: DownloadItem): number | null {
    if (item.downloadStatus !== 'DOWNLOADING') return null;
    if (typeof item.progress === 'number' && Number.isFinite(item.progress)) {
      return Math.min(100, Math.max(0, item.progress));
    }
    return null;
  }

  /** Size worth showing: the file's once completed, the expected one while running, none otherwise. */
  protected sizeOf(item: DownloadItem): string | null {
    if (item.downloadStatus !== 'COMPLETED' && item.downloadStatus !== 'DOWNLOADING') return null;
    const size = humanSize(item.downloadSizeInBytes);
    return size === '—' ? null : size;
  }

  protected siteOf(item: DownloadItem): string | null {
    return item.extractor?.trim() || hostOf(item.webpageURL || item.videoURL);
  }

  /** The error's full text, when it says more than the one-line summary. */
  protected errorDetailOf(item: DownloadItem): string | null {
    const detail = (item.errorDetail || item.errorMessage || '').trim();
    return detail && detail !== errorSummary(item.errorMessage) ? detail : null;
  }

  protected formatPercent(value: number): string {
    return `${value >= 10 || Number.isInteger(value) ? Math.round(value) : value.toFixed(1)}%`;
  }

  protected paramsText(item: DownloadItem): string {
    const params: unknown = item.ytdlpCLIParameters;
    if (Array.isArray(params)) return params.join(' ');
    return typeof params === 'string' ? params : '';
  }

  /** UUID of the row whose error detail was just copied (or selected, where copying is not possible). */
  protected readonly detailCopied = signal<{ uuid: string; copied: boolean } | null>(null);

  protected async copyDetail(item: DownloadItem, detail: HTMLElement): Promise<void> {
    try {
      await navigator.clipboard.writeText(this.errorDetailOf(item) ?? '');
      this.detailCopied.set({ uuid: item.downloadUUID, copied: true });
    } catch {
      const range = document.createRange();
      range.selectNodeContents(detail);
      const selection = getSelection();
      selection?.removeAllRanges();
      selection?.addRange(range);
      this.detailCopied.set({ uuid: item.downloadUUID, copied: false });
    }
  }
}
