/**
 * The part of the browser's DOM the page uses, typed here. Deno's type
 * checker has no DOM library, and a module that pulls one in with
 * `/// <reference lib="dom" />` clashes with Deno's own stream types when
 * `deno check .` checks the whole project as one program.
 *
 * @module
 */

/** An element's class list. */
export interface DomClassList {
  /** Add or remove `token`. */
  toggle(token: string, force?: boolean): boolean;
}

/** An event passed to a listener. */
export interface DomEvent {
  /** Stop the browser's own handling (a form's submission). */
  preventDefault(): void;
}

/** An HTML element, as far as the page uses one. */
export interface DomElement {
  /** Its text; setting it replaces the children with one text node. */
  textContent: string | null;
  /** Its `class` attribute. */
  className: string;
  /** Its `hidden` attribute. */
  hidden: boolean;
  /** Its `data-*` attributes. */
  readonly dataset: Record<string, string | undefined>;
  /** Its classes. */
  readonly classList: DomClassList;
  /** Its first child element. */
  readonly firstElementChild: DomElement | null;
  /** How many child elements it has. */
  readonly childElementCount: number;
  /** How far its content is scrolled, in CSS pixels. */
  scrollTop: number;
  /** Its content's height. */
  readonly scrollHeight: number;
  /** Its visible height. */
  readonly clientHeight: number;
  /** Add children at the end. */
  append(...nodes: DomElement[]): void;
  /** Replace all children. */
  replaceChildren(...nodes: DomElement[]): void;
  /** Take it out of the document. */
  remove(): void;
  /** Listen for an event. */
  addEventListener(type: string, listener: (event: DomEvent) => void): void;
}

/** A text field. */
export interface DomInput extends DomElement {
  /** What it holds. */
  value: string;
}

/** A `<time>` element. */
export interface DomTime extends DomElement {
  /** Its machine-readable `datetime` attribute. */
  dateTime: string;
}

/** The document, as far as the page uses it. */
export interface DomDocument {
  /** The tab's title. */
  title: string;
  /** The `<body>`. */
  readonly body: DomElement;
  /** The focused element. */
  readonly activeElement: DomElement | null;
  /** The element with this id. */
  getElementById(id: string): DomElement | null;
  /** A new element. */
  createElement(tag: string): DomElement;
}

/** The page's document (undefined outside a browser). */
export const dom: DomDocument =
  (globalThis as unknown as { document: DomDocument }).document;
