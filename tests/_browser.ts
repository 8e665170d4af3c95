/**
 * Helpers for the end-to-end tests of the chat page in headless Chromium
 * (Debian's `/usr/bin/chromium` driven by playwright-core): launching the
 * browser, the server as a subprocess on fixed ports (so it can be
 * restarted where the page reconnects), and a page object that waits for
 * DOM conditions rather than sleeping.
 */

import type { Browser, Page } from "playwright-core";
import {
  type ServerProcess,
  type SpawnOptions,
  startServerProcess,
} from "./_process.ts";

/** Where Debian installs Chromium. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/** How long a test waits for something the page should show, in ms. */
export const PAGE_TIMEOUT_MS = 30_000;

/** Why the browser tests cannot run here, or `null` when they can. */
export function chromiumMissing(): string | null {
  try {
    Deno.statSync(CHROMIUM_PATH);
    return null;
  } catch {
    return `${CHROMIUM_PATH} is missing (apt-get install chromium)`;
  }
}

/**
 * playwright-core, imported on first use. At load it asks whether it runs
 * under WSL by probing `/proc/sys/fs/binfmt_misc/WSLInterop`, which Deno
 * lets only `--allow-all` read, and the README's test command grants less;
 * its own test switch `__IS_WSL_TEST__` defers that probe to code that
 * opens URLs in desktop apps, which these tests never run.
 */
async function playwright(): Promise<typeof import("playwright-core")> {
  Deno.env.set("__IS_WSL_TEST__", "1");
  return await import("playwright-core");
}

/** Launch headless Chromium with a fresh profile and no background traffic. */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await playwright();
  return await chromium.launch({
    executablePath: CHROMIUM_PATH,
    timeout: PAGE_TIMEOUT_MS * 2,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-quic",
      "--no-first-run",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A port nothing listens on now, on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** The chat server's two ports: TCP chat and HTTP (page and WebSocket). */
export interface ChatPorts {
  /** The TCP chat port. */
  tcp: number;
  /** The HTTP port serving `/` and `/ws`. */
  http: number;
}

/**
 * Start `server/main.ts` as a subprocess on the given ports (fresh free ones
 * by default), serving the page with the WebSocket gateway.
 */
export async function startChatServer(
  ports: ChatPorts = { tcp: freePort(), http: freePort() },
  extraArgs: string[] = [],
  options: SpawnOptions = {},
): Promise<{ server: ServerProcess; ports: ChatPorts }> {
  const server = await startServerProcess([
    "--port",
    String(ports.tcp),
    "--http-port",
    String(ports.http),
    ...extraArgs,
  ], options);
  return { server, ports };
}

/** The page's document, as the functions run in the page use it. */
interface PageDocument {
  getElementById(id: string): { textContent: string | null } | null;
  querySelectorAll(selector: string): ArrayLike<{ textContent: string | null }>;
}

/**
 * The global object inside the page, for the functions run there (Deno's
 * type checker knows no DOM). Those are functions, not strings: the page's
 * Content Security Policy refuses to evaluate strings. Each is sent as its
 * source, so it can call nothing of this module.
 */
type PageGlobal = { document: PageDocument };

/** One line of the page's log, as the reader sees it. */
export interface ShownEntry {
  /** `chat`, `notice` or `problem`. */
  kind: string;
  /** The sender's shown name (chat only), else `""`. */
  sender: string;
  /** The text shown. */
  text: string;
}

/** A browser tab holding the chat page. */
export class ChatPage {
  /** Dialogs (alert, confirm) the page opened: none is ever expected. */
  readonly dialogs: string[] = [];
  /** Errors thrown in the page. */
  readonly errors: string[] = [];

  private constructor(readonly page: Page) {
    page.on("dialog", (dialog) => {
      this.dialogs.push(dialog.message());
      dialog.dismiss().catch(() => {});
    });
    page.on("pageerror", (error) => this.errors.push(String(error)));
  }

  /**
   * Open the page in a new browser context and wait until it is connected.
   *
   * @param browser The browser.
   * @param url The page's URL.
   * @param viewport The window size (default a laptop's).
   */
  static async open(
    browser: Browser,
    url: string,
    viewport = { width: 1000, height: 700 },
  ): Promise<ChatPage> {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    page.setDefaultTimeout(PAGE_TIMEOUT_MS);
    const chat = new ChatPage(page);
    await page.goto(url);
    await chat.waitConnected();
    return chat;
  }

  /** Wait until the status says connected (after a reconnection too). */
  async waitConnected(timeoutMs = PAGE_TIMEOUT_MS): Promise<void> {
    try {
      await this.page.waitForSelector('#status[data-state="connected"]', {
        timeout: timeoutMs,
      });
    } catch (error) {
      throw new Error(
        `The page did not connect; status ${
          JSON.stringify(await this.page.textContent("#status"))
        }, errors ${JSON.stringify(this.errors)}, log ${
          JSON.stringify(await this.entries())
        }`,
        { cause: error },
      );
    }
  }

  /** The client id the page shows in its status. */
  async clientId(): Promise<number> {
    const status = await this.page.textContent("#status");
    return Number(/#(\d+)/.exec(status ?? "")?.[1]);
  }

  /** Type `text` in the message box and press Enter. */
  async send(text: string): Promise<void> {
    await this.page.fill("#message", text);
    await this.page.press("#message", "Enter");
  }

  /** Move to `room` with the room form and wait until the page shows it. */
  async join(room: string): Promise<void> {
    await this.page.fill("#room-input", room);
    await this.page.press("#room-input", "Enter");
    await this.waitForText("room-name", room);
  }

  /**
   * Wait until the element with this id shows exactly `text`.
   *
   * @param id The element's id.
   * @param text The text.
   */
  async waitForText(id: string, text: string): Promise<void> {
    await this.page.waitForFunction(
      ([id, text]) =>
        (globalThis as unknown as PageGlobal).document.getElementById(id)
          ?.textContent === text,
      [id, text],
    );
  }

  /** Set the nickname with its form and wait for the server's confirmation. */
  async setNick(nick: string): Promise<void> {
    await this.page.fill("#nick-input", nick);
    await this.page.press("#nick-input", "Enter");
    await this.waitForEntry((entry) =>
      entry.kind === "notice" && entry.text === `You are now known as ${nick}`
    );
  }

  /** Every line of the log. */
  async entries(): Promise<ShownEntry[]> {
    return await this.page.$$eval("#log > li", (items) =>
      items.map((item) => ({
        kind: item.classList.contains("chat")
          ? "chat"
          : item.classList.contains("problem")
          ? "problem"
          : "notice",
        sender: item.querySelector(".sender")?.textContent ?? "",
        text: item.querySelector(".text")?.textContent ?? "",
      })));
  }

  /** Wait until a line of the log satisfies `matches`, and return it. */
  async waitForEntry(
    matches: (entry: ShownEntry) => boolean,
    timeoutMs = PAGE_TIMEOUT_MS,
  ): Promise<ShownEntry> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = (await this.entries()).find(matches);
      if (found) return found;
      if (Date.now() > until) {
        throw new Error(
          `No such log entry; the log: ${JSON.stringify(await this.entries())}`,
        );
      }
      // Wake on the next change of the log (or a second later, at most).
      const count = (await this.entries()).length;
      await this.page.waitForFunction(
        (count) =>
          (globalThis as unknown as PageGlobal).document.querySelectorAll(
            "#log > li",
          ).length !== count,
        count,
        { timeout: 1000 },
      ).catch((error) => {
        if (error?.name !== "TimeoutError") throw error;
      });
    }
  }

  /** Wait for a chat message with this sender and text. */
  async waitForChat(sender: string, text: string): Promise<ShownEntry> {
    return await this.waitForEntry((entry) =>
      entry.kind === "chat" && entry.sender === sender && entry.text === text
    );
  }

  /** The member list's names, as shown. */
  async memberNames(): Promise<string[]> {
    return await this.page.$$eval(
      "#members .member-name",
      (names) => names.map((name) => name.textContent ?? ""),
    );
  }

  /** Wait until the member list shows `name`. */
  async waitForMember(name: string): Promise<void> {
    await this.page.waitForFunction(
      (name) =>
        Array.from(
          (globalThis as unknown as PageGlobal).document.querySelectorAll(
            "#members .member-name",
          ),
        )
          .some((node) => node.textContent === name),
      name,
    );
  }

  /** Close the tab and its context. */
  async close(): Promise<void> {
    await this.page.context().close();
  }
}
