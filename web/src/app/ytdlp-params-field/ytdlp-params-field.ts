import { Component, TemplateRef, computed, input, model } from '@angular/core';
import { NgTemplateOutlet } from '@angular/common';

/**
 * The "yt-dlp parameters" text field of the download and subscription forms: label, input, optional
 * hint and the error message, tied together with for/id and aria-describedby.
 *
 * The ids derive from `inputId`, so each form passes its own and two forms on one page stay unique.
 * Typing clears `error`; the form sets it (client check or server answer) and focuses `#inputId`.
 */
@Component({
  selector: 'app-ytdlp-params-field',
  templateUrl: './ytdlp-params-field.html',
  imports: [NgTemplateOutlet],
  host: { class: 'field params-field' },
})
export class YtdlpParamsField {
  /** The input's id and data-testid; the hint and error use it with -hint / -error. */
  readonly inputId = input.required<string>();
  readonly placeholder = input('');
  /** Shown under the input and read with it; none when absent. */
  readonly hint = input<TemplateRef<unknown> | null>(null);
  readonly value = model('');
  readonly error = model<string | null>(null);

  protected readonly hintId = computed(() => `${this.inputId()}-hint`);
  protected readonly errorId = computed(() => `${this.inputId()}-error`);
  /** The error first, so that it is read before the longer hint. */
  protected readonly describedBy = computed(() => {
    const ids = [this.error() ? this.errorId() : null, this.hint() ? this.hintId() : null];
    return ids.filter((id) => id !== null).join(' ') || null;
  });

  protected onInput(event: Event): void {
    this.value.set((event.target as HTMLInputElement).value);
    this.error.set(null);
  }
}
