import { HttpClient, HttpParams } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { Observable } from 'rxjs';
import {
  InitiateDownloadRequest,
  InitiateDownloadResponse,
  ListDownloadsQuery,
  ListDownloadsResponse,
  PublicURLResponse,
  PublicURLType,
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
}
