import { DOCUMENT, InjectionToken, inject } from '@angular/core';

/** Asks the user a yes/no question; true means "go ahead". */
export type ConfirmFn = (message: string) => boolean;

/**
 * Confirmation used before destructive actions. Defaults to the browser's native
 * window.confirm (end-to-end tests accept it with page.on('dialog')); component
 * tests provide a stub instead.
 */
export const CONFIRM = new InjectionToken<ConfirmFn>('CONFIRM', {
  providedIn: 'root',
  factory: () => {
    const view = inject(DOCUMENT).defaultView;
    return (message: string) => (view ? view.confirm(message) : false);
  },
});
