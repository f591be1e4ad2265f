import { ComponentFixture } from '@angular/core/testing';

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
