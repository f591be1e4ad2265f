import { Component, signal } from '@angular/core';
import { ComponentFixture, TestBed } from '@angular/core/testing';
import { YtdlpParamsField } from './ytdlp-params-field';
import { byTestId, text, typeInto } from '../testing';

@Component({
  imports: [YtdlpParamsField],
  template: `
    <form>
      <app-ytdlp-params-field
        inputId="with-hint"
        placeholder="-f best"
        [hint]="hintTemplate"
        [(value)]="withHintValue"
        [(error)]="withHintError"
      />
      <ng-template #hintTemplate>Allowed: <code>-f</code>.</ng-template>
      <app-ytdlp-params-field inputId="no-hint" [(value)]="noHintValue" [(error)]="noHintError" />
    </form>
  `,
})
class TwoFields {
  readonly withHintValue = signal('-S res');
  readonly withHintError = signal<string | null>(null);
  readonly noHintValue = signal('');
  readonly noHintError = signal<string | null>(null);
}

describe('YtdlpParamsField', () => {
  let fixture: ComponentFixture<TwoFields>;
  let host: TwoFields;
  let root: HTMLElement;

  beforeEach(async () => {
    TestBed.configureTestingModule({ imports: [TwoFields] });
    fixture = TestBed.createComponent(TwoFields);
    host = fixture.componentInstance;
    root = fixture.nativeElement as HTMLElement;
    await fixture.whenStable();
  });

  function input(id: string): HTMLInputElement {
    return byTestId<HTMLInputElement>(fixture, id)!;
  }

  it('labels the input, shows the value and the hint it is given, with ids of its own', () => {
    const withHint = input('with-hint');
    expect(withHint.id).toBe('with-hint');
    expect(withHint.name).toBe('ytdlpCLIParameters');
    expect(withHint.value).toBe('-S res');
    expect(withHint.placeholder).toBe('-f best');
    expect(withHint.labels?.length).toBe(1);
    expect(text(withHint.labels![0])).toBe('yt-dlp parameters (optional)');
    expect(withHint.getAttribute('aria-describedby')).toBe('with-hint-hint');
    expect(text(document.getElementById('with-hint-hint'))).toBe('Allowed: -f.');
    expect(withHint.hasAttribute('aria-invalid')).toBe(false);

    const noHint = input('no-hint');
    expect(text(noHint.labels![0])).toBe('yt-dlp parameters (optional)');
    expect(noHint.hasAttribute('placeholder')).toBe(false);
    expect(noHint.hasAttribute('aria-describedby')).toBe(false);
    expect(root.querySelector('#no-hint-hint')).toBeNull();

    const ids = Array.from(root.querySelectorAll('[id]'), (el) => el.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('gives what is typed to the form', async () => {
    typeInto(input('no-hint'), '--embed-subs');
    await fixture.whenStable();
    expect(host.noHintValue()).toBe('--embed-subs');
    expect(host.withHintValue()).toBe('-S res');
  });

  it('shows the error as an alert the input is described by, and clears it on typing', async () => {
    host.withHintError.set('--exec is not allowed');
    host.noHintError.set('bad quoting');
    await fixture.whenStable();

    const withHint = input('with-hint');
    const error = byTestId(fixture, 'with-hint-error')!;
    expect(error.getAttribute('role')).toBe('alert');
    expect(text(error)).toBe('--exec is not allowed');
    expect(withHint.getAttribute('aria-invalid')).toBe('true');
    expect(withHint.getAttribute('aria-describedby')).toBe('with-hint-error with-hint-hint');
    const noHint = input('no-hint');
    expect(noHint.getAttribute('aria-describedby')).toBe('no-hint-error');
    expect(text(document.getElementById('no-hint-error'))).toBe('bad quoting');

    typeInto(withHint, '-f best');
    await fixture.whenStable();
    expect(host.withHintError()).toBeNull();
    expect(byTestId(fixture, 'with-hint-error')).toBeNull();
    expect(withHint.hasAttribute('aria-invalid')).toBe(false);
    expect(withHint.getAttribute('aria-describedby')).toBe('with-hint-hint');
    // The other form's error is its own business.
    expect(host.noHintError()).toBe('bad quoting');
  });
});
