import { HttpClient, HttpParams } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { Observable } from 'rxjs';
import {
  CancelDownloadResponse,
  DeleteDownloadResponse,
  DownloadActionRequest,
  InitiateDownloadRequest,
  InitiateDownloadResponse,
  ListDownloadsQuery,
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
    const params = new HttpParams()
      .set('overLastPeriodDurationInMinutes', String(query.overLastPeriodDurationInMinutes))
      .set('onlyShowOngoingDownloads', String(query.onlyShowOngoingDownloads));
    return this.http.get<ListDownloadsResponse>(`${API_BASE}/listDownloads`, { params });
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
}
