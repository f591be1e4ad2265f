import {
  Component,
  ElementRef,
  Injector,
  OnDestroy,
  OnInit,
  afterNextRender,
  inject,
  signal,
} from '@angular/core';
import { Subscription } from 'rxjs';
import { DownloadApiService } from '../api/download-api.service';
import { CreateSubscriptionRequest, SubscriptionItem } from '../api/api.types';
import { toApiError } from '../api/api-error';
import { CONFIRM } from '../confirm';
import { localDateTime } from '../format';
import { YtdlpParamsField } from '../ytdlp-params-field/ytdlp-params-field';

const MAX_CHECK_MINUTES = 366 * 24 * 60; // createSubscription's limits
const MAX_ITEMS_PER_CHECK = 10000;
const URL_ERROR_CODES = new Set(['invalidVideoURL']);
const PARAMS_ERROR_CODES = new Set(['forbiddenYtdlpParameter', 'invalidYtdlpParameters']);

/** "every 60 minutes", "every 1 minute". */
export function describeEvery(minutes: number): string {
  return minutes === 1 ? 'every minute' : `every ${minutes} minutes`;
}

function wholeNumberIn(text: string, max: number): number | null {
  const value = Number(text.trim());
  return text.trim() && Number.isInteger(value) && value >= 1 && value <= max ? value : null;
}

/** Playlists, channels and feeds checked on a schedule: add, list, check now, delete. */
@Component({
  selector: 'app-subscriptions',
  templateUrl: './subscriptions.html',
  imports: [YtdlpParamsField],
})
export class Subscriptions implements OnInit, OnDestroy {
  private readonly api = inject(DownloadApiService);
  private readonly confirm = inject(CONFIRM);
  private readonly host = inject<ElementRef<HTMLElement>>(ElementRef);
  private readonly injector = inject(Injector);

  protected readonly url = signal('');
  protected readonly every = signal('60');
  protected readonly maxItems = signal('10');
  protected readonly params = signal('');
  protected readonly urlError = signal<string | null>(null);
  protected readonly everyError = signal<string | null>(null);
  protected readonly maxItemsError = signal<string | null>(null);
  protected readonly paramsError = signal<string | null>(null);
  protected readonly formError = signal<string | null>(null);
  protected readonly adding = signal(false);

  protected readonly subscriptions = signal<SubscriptionItem[]>([]);
  protected readonly loaded = signal(false);
  protected readonly listError = signal<string | null>(null);
  /** What the last action did (added, checked, deleted), announced politely. */
  protected readonly message = signal<string | null>(null);
  protected readonly busy = signal<string | null>(null);

  protected readonly localDateTime = localDateTime;
  protected readonly describeEvery = describeEvery;
  protected readonly maxCheckMinutes = MAX_CHECK_MINUTES;
  protected readonly maxItemsPerCheck = MAX_ITEMS_PER_CHECK;

  private listRequest?: Subscription;
  private readonly requests = new Subscription();

  ngOnInit(): void {
    this.refresh();
  }

  ngOnDestroy(): void {
    this.listRequest?.unsubscribe();
    this.requests.unsubscribe();
  }

  refresh(focusAfter?: string): void {
    this.listRequest?.unsubscribe();
    this.listRequest = this.api.listSubscriptions().subscribe({
      next: (answer) => {
        this.subscriptions.set(Array.isArray(answer?.subscriptions) ? answer.subscriptions : []);
        this.loaded.set(true);
        this.listError.set(null);
        if (focusAfter) this.focusRow(focusAfter);
      },
      error: (err: unknown) => {
        this.listError.set(`Could not load the subscriptions: ${toApiError(err).errorMessage}`);
      },
    });
  }

  protected onInput(field: 'url' | 'every' | 'maxItems', event: Event): void {
    const value = (event.target as HTMLInputElement).value;
    this[field].set(value);
    const errors = {
      url: this.urlError,
      every: this.everyError,
      maxItems: this.maxItemsError,
    };
    errors[field].set(null);
  }

  protected add(event: Event): void {
    event.preventDefault();
    if (this.adding()) return;
    for (const error of [this.urlError, this.everyError, this.maxItemsError, this.paramsError]) {
      error.set(null);
    }
    this.formError.set(null);
    const url = this.url().trim();
    const every = wholeNumberIn(this.every(), MAX_CHECK_MINUTES);
    const maxItems = wholeNumberIn(this.maxItems(), MAX_ITEMS_PER_CHECK);
    if (!/^https?:\/\/\S+$/i.test(url)) {
      this.urlError.set('Enter the full http:// or https:// URL of a playlist, channel or feed.');
      this.focus('subscription-url');
      return;
    }
    if (every === null) {
      this.everyError.set(`Enter a whole number of minutes from 1 to ${MAX_CHECK_MINUTES}.`);
      this.focus('subscription-every');
      return;
    }
    if (maxItems === null) {
      this.maxItemsError.set(`Enter a whole number from 1 to ${MAX_ITEMS_PER_CHECK}.`);
      this.focus('subscription-max-items');
      return;
    }
    const request: CreateSubscriptionRequest = {
      url,
      checkEveryMinutes: every,
      maxItemsPerCheck: maxItems,
    };
    if (this.params().trim()) request.ytdlpCLIParameters = this.params().trim();
    this.adding.set(true);
    this.message.set(null);
    this.requests.add(
      this.api.createSubscription(request).subscribe({
        next: () => {
          this.adding.set(false);
          this.url.set('');
          this.message.set(`Subscribed to ${url}: the first check is queued now.`);
          this.refresh();
          this.focus('subscription-url');
        },
        error: (err: unknown) => {
          this.adding.set(false);
          const apiError = toApiError(err);
          if (URL_ERROR_CODES.has(apiError.errorCode)) {
            this.urlError.set(apiError.errorMessage);
            this.focus('subscription-url');
          } else if (PARAMS_ERROR_CODES.has(apiError.errorCode)) {
            this.paramsError.set(apiError.errorMessage);
            this.focus('subscription-params');
          } else {
            this.formError.set(apiError.errorMessage);
          }
        },
      }),
    );
  }

  protected checkNow(item: SubscriptionItem): void {
    if (this.busy()) return;
    this.busy.set(item.subscriptionUUID);
    this.message.set(null);
    this.requests.add(
      this.api.checkSubscriptionNow(item.subscriptionUUID).subscribe({
        next: () => {
          this.busy.set(null);
          this.message.set(`Check of ${item.url} queued.`);
          this.refresh(item.subscriptionUUID);
        },
        error: (err: unknown) => this.failed(item, err),
      }),
    );
  }

  protected remove(item: SubscriptionItem): void {
    if (this.busy()) return;
    const question =
      `Delete the subscription to ${item.url}?\n\n` +
      'It will not be checked any more; the downloads it made stay.';
    if (!this.confirm(question)) return;
    this.busy.set(item.subscriptionUUID);
    this.message.set(null);
    this.requests.add(
      this.api.deleteSubscription(item.subscriptionUUID).subscribe({
        next: () => {
          this.busy.set(null);
          this.message.set(`Subscription to ${item.url} deleted.`);
          this.refresh();
          this.focus('subscriptions-heading');
        },
        error: (err: unknown) => this.failed(item, err),
      }),
    );
  }

  private failed(item: SubscriptionItem, err: unknown): void {
    this.busy.set(null);
    const apiError = toApiError(err);
    this.message.set(`${item.url}: ${apiError.errorMessage}`);
    this.refresh(apiError.errorCode === 'subscriptionNotFound' ? undefined : item.subscriptionUUID);
  }

  protected paramsText(item: SubscriptionItem): string {
    return Array.isArray(item.ytdlpCLIParameters) ? item.ytdlpCLIParameters.join(' ') : '';
  }

  private focus(id: string): void {
    queueMicrotask(() => document.getElementById(id)?.focus());
  }

  /** After Check now: the row's button again, once the list shows the new times. */
  private focusRow(uuid: string): void {
    afterNextRender(
      () => {
        const row = Array.from(
          this.host.nativeElement.querySelectorAll<HTMLElement>('[data-testid="subscription-row"]'),
        ).find((r) => r.dataset['uuid'] === uuid);
        row?.querySelector<HTMLElement>('[data-testid="check-now"]')?.focus();
      },
      { injector: this.injector },
    );
  }
}
