/**
 * Focus an element when it appears: a ref callback, for a PIN box or a confirm button
 * that shows up after the page has loaded. (The `autofocus` attribute only works on page
 * load, and Preact, unlike React, does not emulate it for elements added later.)
 * Module-level, so its identity is stable and it runs only when the element mounts.
 */
export function focusOnMount(element: HTMLElement | null): void {
  element?.focus();
}
