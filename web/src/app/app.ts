import { Component, inject, viewChild } from '@angular/core';
import { DownloadForm } from './download-form/download-form';
import { DownloadsList } from './downloads-list/downloads-list';
import { StatusAnnouncer } from './status-announcer';
import { Subscriptions } from './subscriptions/subscriptions';

@Component({
  selector: 'app-root',
  imports: [DownloadForm, DownloadsList, Subscriptions],
  templateUrl: './app.html',
})
export class App {
  private readonly list = viewChild.required(DownloadsList);
  protected readonly announcer = inject(StatusAnnouncer);

  /** A new download was accepted: refresh the list once (no polling). */
  protected onCreated(): void {
    this.list().refresh();
  }
}
