/** Types of the prt-videodownloader REST API (see docs of the Flask service). */

export type KnownDownloadStatus = 'PENDING' | 'DOWNLOADING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';

/** Unknown future statuses are kept as plain strings and shown as such. */
export type DownloadStatus = KnownDownloadStatus | (string & {});

export interface InitiateDownloadRequest {
  videoURL: string;
  ytdlpCLIParameters?: string;
  /** A preset id from listPresets. */
  preset?: string;
  /** A playlist or channel URL: at most this many of its videos (absent: a single video). */
  playlistMaxItems?: number;
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
  s3UploadError?: string | null;
  // Video metadata and error classes (issue 15): used when the server sends them, never required.
  videoTitle?: string | null;
  thumbnailURL?: string | null;
  videoDurationSeconds?: number | null;
  extractor?: string | null;
  webpageURL?: string | null;
  errorCode?: string | null;
  errorDetail?: string | null;
  retryable?: boolean | null;
  // Playlists (issue 19): a PLAYLIST is the parent of its entries' downloads.
  downloadKind?: 'VIDEO' | 'PLAYLIST' | (string & {}) | null;
  parentDownloadUUID?: string | null;
  playlistMaxItems?: number | null;
  childrenTotal?: number | null;
  childrenCompleted?: number | null;
  childrenFailed?: number | null;
  subscriptionUUID?: string | null;
}

export interface ListDownloadsResponse {
  downloads: DownloadItem[];
  nextPageToken?: string | null;
}

export interface Preset {
  id: string;
  label: string;
  description: string;
  ytdlpCLIParameters: string[];
}

export interface ListPresetsResponse {
  presets: Preset[];
}

export interface ServerInfo {
  s3Configured: boolean;
  httpsBaseURL: string;
}

export type BulkAction = 'retry' | 'cancel' | 'delete';

export interface BulkActionRequest {
  action: BulkAction;
  videoDownloadUUIDs?: string[];
  filter?: { downloadStatus: KnownDownloadStatus };
}

export interface BulkOutcome {
  downloadUUID: string;
  ok: boolean;
  downloadStatus?: DownloadStatus | null;
  errorCode?: string | null;
  errorMessage?: string | null;
}

export interface BulkActionResponse {
  action: BulkAction;
  succeeded: number;
  failed: number;
  results: BulkOutcome[];
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
  downloadStatus?: KnownDownloadStatus | null;
  search?: string | null;
  pageToken?: string | null;
  maxResults?: number | null;
  /** Only the entries of this playlist. */
  parentDownloadUUID?: string | null;
  /** Only downloads without a parent (playlist entries are shown under their playlist). */
  topLevelOnly?: boolean | null;
}

export interface CreateSubscriptionRequest {
  url: string;
  checkEveryMinutes: number;
  maxItemsPerCheck: number;
  ytdlpCLIParameters?: string;
}

export interface SubscriptionItem {
  subscriptionUUID: string;
  url: string;
  checkEveryMinutes: number;
  maxItemsPerCheck: number;
  ytdlpCLIParameters?: string[] | null;
  createdAt: string;
  lastCheckAt?: string | null;
  lastCheckDownloadUUID?: string | null;
  nextCheckAt?: string | null;
  entriesSeen?: number | null;
}

export interface ListSubscriptionsResponse {
  subscriptions: SubscriptionItem[];
}

/** Normalised error: every API refusal is HTTP 418 with {errorCode, errorMessage}. */
export interface ApiError {
  errorCode: string;
  errorMessage: string;
  httpStatus: number;
}
