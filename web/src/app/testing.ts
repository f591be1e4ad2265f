import { Provider } from '@angular/core';
import { ComponentFixture } from '@angular/core/testing';
import { of } from 'rxjs';
import { DownloadApiService } from './api/download-api.service';
import { Preset, ServerInfo } from './api/api.types';

/** Test helpers shared by the component specs (not part of the app bundle). */

export function byTestId<T extends Element = HTMLElement>(
  fixture: ComponentFixture<unknown>,
  testId: string,
): T | null {
  return (fixture.nativeElement as HTMLElement).querySelector<T & Element>(
    `[data-testid="${testId}"]`,
  ) as T | null;
}

export function allByTestId<T extends Element = HTMLElement>(
  root: ComponentFixture<unknown> | Element,
  testId: string,
): T[] {
  const el = root instanceof Element ? root : (root.nativeElement as HTMLElement);
  return Array.from(el.querySelectorAll(`[data-testid="${testId}"]`)) as T[];
}

export function typeInto(input: HTMLInputElement, value: string): void {
  input.value = value;
  input.dispatchEvent(new Event('input', { bubbles: true }));
}

export function text(el: Element | null | undefined): string {
  return (el?.textContent ?? '').replace(/\s+/g, ' ').trim();
}

export const TEAPOT = { status: 418, statusText: "I'm a teapot" };

export const SERVER_INFO_NO_S3: ServerInfo = {
  s3Configured: false,
  httpsBaseURL: 'https://files.example.org/videodownloader',
};

export const PRESETS: Preset[] = [
  {
    id: '720p',
    label: '720p',
    description: 'Up to 720 lines',
    ytdlpCLIParameters: ['--format', 'bv*[height<=720]+ba/b'],
  },
  {
    id: 'audio-m4a',
    label: 'Audio only (M4A)',
    description: 'Best audio as M4A',
    ytdlpCLIParameters: ['--extract-audio', '--audio-format', 'm4a'],
  },
];

/**
 * The real DownloadApiService, but with listPresets and serverInfo answered at once: components that only use
 * them on the side do not leave requests open in every test.
 */
export function provideApiWith(
  serverInfo: ServerInfo = SERVER_INFO_NO_S3,
  presets: Preset[] = PRESETS,
): Provider {
  return {
    provide: DownloadApiService,
    useFactory: () => {
      const api = new DownloadApiService();
      Object.defineProperty(api, 'serverInfo$', { value: of(serverInfo) });
      Object.defineProperty(api, 'presets$', { value: of({ presets }) });
      return api;
    },
  };
}
