/** Types of the prt-videodownloader REST API (see docs of the Flask service). */

export type KnownDownloadStatus = 'PENDING' | 'DOWNLOADING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';

/** Unknown future statuses are kept as plain strings and shown as such. */
export type DownloadStatus = KnownDownloadStatus | (string & {});

export interface InitiateDownloadRequest {
  videoURL: string;
  ytdlpCLIParameters?: string;
}

export interface InitiateDownloadResponse {
  downloadUUID: string;
}

export interface DownloadItem {
  downloadUUID: string;
  downloadStatus: DownloadStatus;
  videoURL: string;
  ytdlpCLIParameters: string[];
  createdAt: string;
  updatedAt: string;
  downloadSizeInBytes?: number | null;
  progress?: number | null;
  speedBytesPerSecond?: number | null;
  etaSeconds?: number | null;
  errorMessage?: string | null;
  fileName?: string | null;
  attempts?: number | null;
  s3Available?: boolean | null;
}

export interface ListDownloadsResponse {
  downloads: DownloadItem[];
}

export type PublicURLType = 'HTTPS' | 'S3';

export interface PublicURLResponse {
  publicURL: string;
  s3URI?: string;
  expiresAt?: string;
}

/** Body of cancelDownload, deleteDownload and retryDownload. */
export interface DownloadActionRequest {
  videoDownloadUUID: string;
}

export interface CancelDownloadResponse {
  downloadUUID: string;
  downloadStatus: DownloadStatus;
}

export interface DeleteDownloadResponse {
  downloadUUID: string;
  deleted: boolean;
}

export interface RetryDownloadResponse {
  downloadUUID: string;
  downloadStatus: DownloadStatus;
}

export interface ListDownloadsQuery {
  overLastPeriodDurationInMinutes: number;
  onlyShowOngoingDownloads: boolean;
}

/** Normalised error: every API refusal is HTTP 418 with {errorCode, errorMessage}. */
export interface ApiError {
  errorCode: string;
  errorMessage: string;
  httpStatus: number;
}
