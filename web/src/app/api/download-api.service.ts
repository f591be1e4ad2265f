import { HttpClient, HttpParams } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { Observable, shareReplay } from 'rxjs';
import {
  BulkActionRequest,
  BulkActionResponse,
  ListPresetsResponse,
  ServerInfo,
  CancelDownloadResponse,
  DeleteDownloadResponse,
  DownloadActionRequest,
  InitiateDownloadRequest,
  InitiateDownloadResponse,
  CreateSubscriptionRequest,
  ListDownloadsQuery,
  ListSubscriptionsResponse,
  ListDownloadsResponse,
  PublicURLResponse,
  PublicURLType,
  RetryDownloadResponse,
} from './api.types';

/**
 * Base of the REST API. Relative to the document base (<base href="/">), so the
 * same build works behind any host name; nginx proxies /api/ to Flask.
 */
export const API_BASE = 'api';

@Injectable({ providedIn: 'root' })
export class DownloadApiService {
  private readonly http = inject(HttpClient);

  initiateDownload(request: InitiateDownloadRequest): Observable<InitiateDownloadResponse> {
    return this.http.post<InitiateDownloadResponse>(`${API_BASE}/initiateDownload`, request);
  }

  listDownloads(query: ListDownloadsQuery): Observable<ListDownloadsResponse> {
    let params = new HttpParams()
      .set('overLastPeriodDurationInMinutes', String(query.overLastPeriodDurationInMinutes))
      .set('onlyShowOngoingDownloads', String(query.onlyShowOngoingDownloads));
    if (query.downloadStatus) params = params.set('downloadStatus', query.downloadStatus);
    if (query.search) params = params.set('search', query.search);
    if (query.pageToken) params = params.set('pageToken', query.pageToken);
    if (query.maxResults) params = params.set('maxResults', String(query.maxResults));
    if (query.parentDownloadUUID)
      params = params.set('parentDownloadUUID', query.parentDownloadUUID);
    if (query.topLevelOnly) params = params.set('topLevelOnly', 'true');
    return this.http.get<ListDownloadsResponse>(`${API_BASE}/listDownloads`, { params });
  }

  /** Format presets; they do not change while the server runs, so asked once. */
  readonly presets$: Observable<ListPresetsResponse> = this.http
    .get<ListPresetsResponse>(`${API_BASE}/listPresets`)
    .pipe(shareReplay({ bufferSize: 1, refCount: false }));

  /** Whether S3 links exist and where files are served; asked once. */
  readonly serverInfo$: Observable<ServerInfo> = this.http
    .get<ServerInfo>(`${API_BASE}/serverInfo`)
    .pipe(shareReplay({ bufferSize: 1, refCount: false }));

  /** Retry, cancel or delete many downloads in one call; each one's outcome comes back. */
  bulkAction(request: BulkActionRequest): Observable<BulkActionResponse> {
    return this.http.post<BulkActionResponse>(`${API_BASE}/bulkDownloadAction`, request);
  }

  getPublicURL(downloadUUID: string, urlType: PublicURLType): Observable<PublicURLResponse> {
    const params = new HttpParams().set('videoDownloadUUID', downloadUUID).set('URLType', urlType);
    return this.http.get<PublicURLResponse>(`${API_BASE}/getVideoDownloadPublicURL`, { params });
  }

  /** Cancels a PENDING or DOWNLOADING download (418 downloadNotOngoing otherwise). */
  cancelDownload(downloadUUID: string): Observable<CancelDownloadResponse> {
    const body: DownloadActionRequest = { videoDownloadUUID: downloadUUID };
    return this.http.post<CancelDownloadResponse>(`${API_BASE}/cancelDownload`, body);
  }

  /** Deletes the file, its S3 copy and the row (an ongoing download is cancelled first). */
  deleteDownload(downloadUUID: string): Observable<DeleteDownloadResponse> {
    const body: DownloadActionRequest = { videoDownloadUUID: downloadUUID };
    return this.http.post<DeleteDownloadResponse>(`${API_BASE}/deleteDownload`, body);
  }

  /** Queues a FAILED or CANCELLED download again (418 downloadNotRetryable otherwise). */
  retryDownload(downloadUUID: string): Observable<RetryDownloadResponse> {
    const body: DownloadActionRequest = { videoDownloadUUID: downloadUUID };
    return this.http.post<RetryDownloadResponse>(`${API_BASE}/retryDownload`, body);
  }

  createSubscription(request: CreateSubscriptionRequest): Observable<{ subscriptionUUID: string }> {
    return this.http.post<{ subscriptionUUID: string }>(`${API_BASE}/createSubscription`, request);
  }

  listSubscriptions(): Observable<ListSubscriptionsResponse> {
    return this.http.get<ListSubscriptionsResponse>(`${API_BASE}/listSubscriptions`);
  }

  deleteSubscription(subscriptionUUID: string): Observable<unknown> {
    return this.http.post(`${API_BASE}/deleteSubscription`, { subscriptionUUID });
  }

  /** Queues a check at once; answers the check's (PLAYLIST) downloadUUID. */
  checkSubscriptionNow(
    subscriptionUUID: string,
  ): Observable<{ subscriptionUUID: string; downloadUUID: string }> {
    return this.http.post<{ subscriptionUUID: string; downloadUUID: string }>(
      `${API_BASE}/checkSubscriptionNow`,
      { subscriptionUUID },
    );
  }
}
