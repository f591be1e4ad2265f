import { ComponentFixture, TestBed } from '@angular/core/testing';
import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { Subscriptions } from './subscriptions';
import { SubscriptionItem } from '../api/api.types';
import { TEAPOT, allByTestId, byTestId, provideApiWith, text, typeInto } from '../testing';
import { CONFIRM } from '../confirm';

const FEED: SubscriptionItem = {
  subscriptionUUID: 'sub-1',
  url: 'https://example.com/feed.rss',
  checkEveryMinutes: 60,
  maxItemsPerCheck: 5,
  ytdlpCLIParameters: ['-f', 'best'],
  createdAt: '2026-01-02T03:04:05Z',
  lastCheckAt: '2026-01-02T03:04:06Z',
  lastCheckDownloadUUID: 'uuid-check',
  nextCheckAt: '2026-01-02T04:04:06Z',
  entriesSeen: 4,
};

describe('Subscriptions', () => {
  let fixture: ComponentFixture<Subscriptions>;
  let http: HttpTestingController;
  let confirmSpy: ReturnType<typeof vi.fn<(message: string) => boolean>>;

  beforeEach(async () => {
    confirmSpy = vi.fn<(message: string) => boolean>(() => false);
    TestBed.configureTestingModule({
      imports: [Subscriptions],
      providers: [
        provideHttpClient(),
        provideHttpClientTesting(),
        provideApiWith(),
        { provide: CONFIRM, useValue: (message: string) => confirmSpy(message) },
      ],
    });
    http = TestBed.inject(HttpTestingController);
    fixture = TestBed.createComponent(Subscriptions);
    await fixture.whenStable();
  });

  afterEach(() => http.verify());

  async function listed(subscriptions: SubscriptionItem[]): Promise<void> {
    http.expectOne('api/listSubscriptions').flush({ subscriptions });
    await fixture.whenStable();
  }

  it('lists subscriptions with schedule, last and next check and entries seen', async () => {
    await listed([FEED, { ...FEED, subscriptionUUID: 'sub-2', lastCheckAt: null, entriesSeen: 0 }]);
    const rows = allByTestId(fixture, 'subscription-row');
    expect(rows).toHaveLength(2);
    expect(text(rows[0].querySelector('[data-testid="subscription-row-url"]'))).toBe(FEED.url);
    expect(text(rows[0])).toContain('-f best');
    expect(text(rows[0].querySelector('[data-testid="subscription-schedule"]'))).toBe(
      'every 60 minutes, at most 5 per check',
    );
    const last = rows[0].querySelector('[data-testid="subscription-last-check"] time')!;
    expect(last.getAttribute('datetime')).toBe(FEED.lastCheckAt);
    const next = rows[0].querySelector('[data-testid="subscription-next-check"] time')!;
    expect(next.getAttribute('datetime')).toBe(FEED.nextCheckAt);
    expect(text(rows[0].querySelector('[data-testid="subscription-seen"]'))).toBe('4');
    expect(text(rows[1].querySelector('[data-testid="subscription-last-check"]'))).toBe('Not yet');
    expect(text(rows[0].querySelector('[data-testid="check-now"]'))).toBe(`Check now ${FEED.url}`);
  });

  it('says when there are none', async () => {
    await listed([]);
    expect(text(byTestId(fixture, 'subscriptions-empty'))).toBe('No subscriptions yet.');
    byTestId<HTMLButtonElement>(fixture, 'refresh-subscriptions')!.click();
    await listed([FEED]);
    expect(allByTestId(fixture, 'subscription-row')).toHaveLength(1);
  });

  it('adds a subscription with the schedule and parameters given, then lists again', async () => {
    await listed([]);
    typeInto(
      byTestId<HTMLInputElement>(fixture, 'subscription-url')!,
      ' https://example.com/feed.rss ',
    );
    typeInto(byTestId<HTMLInputElement>(fixture, 'subscription-every')!, '15');
    typeInto(byTestId<HTMLInputElement>(fixture, 'subscription-max-items')!, '3');
    typeInto(byTestId<HTMLInputElement>(fixture, 'subscription-params')!, '-f best');
    await fixture.whenStable();
    byTestId<HTMLButtonElement>(fixture, 'add-subscription')!.click();
    const create = http.expectOne('api/createSubscription');
    expect(create.request.body).toEqual({
      url: 'https://example.com/feed.rss',
      checkEveryMinutes: 15,
      maxItemsPerCheck: 3,
      ytdlpCLIParameters: '-f best',
    });
    create.flush({ subscriptionUUID: 'sub-1' });
    await fixture.whenStable();
    await listed([FEED]);
    expect(text(byTestId(fixture, 'subscription-message'))).toContain(
      'Subscribed to https://example.com/feed.rss',
    );
    expect(byTestId<HTMLInputElement>(fixture, 'subscription-url')!.value).toBe('');
    expect(document.activeElement?.id).toBe('subscription-url');
  });

  it("checks the fields before sending, and shows the server's refusal at its field", async () => {
    await listed([]);
    byTestId<HTMLButtonElement>(fixture, 'add-subscription')!.click();
    await fixture.whenStable();
    expect(byTestId(fixture, 'subscription-url')!.getAttribute('aria-invalid')).toBe('true');
    typeInto(
      byTestId<HTMLInputElement>(fixture, 'subscription-url')!,
      'https://example.com/feed.rss',
    );
    typeInto(byTestId<HTMLInputElement>(fixture, 'subscription-every')!, '0');
    byTestId<HTMLButtonElement>(fixture, 'add-subscription')!.click();
    await fixture.whenStable();
    expect(byTestId(fixture, 'subscription-every')!.getAttribute('aria-invalid')).toBe('true');
    http.expectNone('api/createSubscription');

    typeInto(byTestId<HTMLInputElement>(fixture, 'subscription-every')!, '60');
    typeInto(byTestId<HTMLInputElement>(fixture, 'subscription-params')!, '--exec rm');
    byTestId<HTMLButtonElement>(fixture, 'add-subscription')!.click();
    http
      .expectOne('api/createSubscription')
      .flush(
        { errorCode: 'forbiddenYtdlpParameter', errorMessage: '--exec is not allowed' },
        TEAPOT,
      );
    await fixture.whenStable();
    await new Promise((resolve) => queueMicrotask(() => resolve(null)));
    const params = byTestId(fixture, 'subscription-params')!;
    expect(params.getAttribute('aria-invalid')).toBe('true');
    expect(text(document.getElementById(params.getAttribute('aria-describedby')!))).toBe(
      '--exec is not allowed',
    );
    expect(document.activeElement).toBe(params);
  });

  it('checks now, then shows the new times and keeps focus on the button', async () => {
    await listed([FEED]);
    byTestId<HTMLButtonElement>(fixture, 'check-now')!.click();
    const check = http.expectOne('api/checkSubscriptionNow');
    expect(check.request.body).toEqual({ subscriptionUUID: 'sub-1' });
    check.flush({ subscriptionUUID: 'sub-1', downloadUUID: 'uuid-check-2' });
    await fixture.whenStable();
    await listed([{ ...FEED, lastCheckAt: '2026-01-02T03:30:00Z' }]);
    expect(text(byTestId(fixture, 'subscription-message'))).toBe(`Check of ${FEED.url} queued.`);
    expect(
      byTestId(fixture, 'subscription-last-check')!.querySelector('time')!.getAttribute('datetime'),
    ).toBe('2026-01-02T03:30:00Z');
    expect(document.activeElement).toBe(byTestId(fixture, 'check-now'));
  });

  it('deletes only after a confirmation naming the URL', async () => {
    await listed([FEED]);
    byTestId<HTMLButtonElement>(fixture, 'delete-subscription')!.click();
    expect(confirmSpy).toHaveBeenCalledTimes(1);
    expect(confirmSpy.mock.calls[0][0]).toContain(`Delete the subscription to ${FEED.url}?`);
    http.expectNone('api/deleteSubscription'); // answered "no"

    confirmSpy.mockReturnValue(true);
    byTestId<HTMLButtonElement>(fixture, 'delete-subscription')!.click();
    const remove = http.expectOne('api/deleteSubscription');
    expect(remove.request.body).toEqual({ subscriptionUUID: 'sub-1' });
    remove.flush({ subscriptionUUID: 'sub-1', deleted: true });
    await fixture.whenStable();
    await listed([]);
    expect(text(byTestId(fixture, 'subscription-message'))).toBe(
      `Subscription to ${FEED.url} deleted.`,
    );
    expect(document.activeElement?.id).toBe('subscriptions-heading');
  });
});
