/**
 * End-to-end tests of the chat page in headless Chromium: pages and a TCP
 * client on one real server subprocess, talking through the WebSocket
 * gateway and the TCP port. Every wait is for a DOM condition, with a
 * generous deadline; none is a fixed sleep. Skipped, with the reason
 * printed, when /usr/bin/chromium is missing.
 */

import assert from "node:assert/strict";
import type { Browser } from "playwright-core";
import { Tag } from "../protocol/mod.ts";
import {
  ChatPage,
  chromiumMissing,
  freePort,
  launchChromium,
  PAGE_TIMEOUT_MS,
  startChatServer,
} from "./_browser.ts";
import { nick, RawClient, text } from "./_kit.ts";
import type { ServerProcess } from "./_process.ts";

const missing = chromiumMissing();
if (missing !== null) {
  console.log(`Browser tests skipped: ${missing}`);
}

const XSS = "<img src=x onerror=alert(1)>";
/** A DOM node, as far as the functions run in the page look at one. */
type Node = { textContent: string | null };

/**
 * Where the conversation's screenshot goes: the path in HUBBUB_SCREENSHOT
 * when set (`HUBBUB_SCREENSHOT=docs/screenshot.png` refreshes the README's),
 * else a temporary file, so that a test run leaves the checkout clean.
 */
const SCREENSHOT_PATH = Deno.env.get("HUBBUB_SCREENSHOT") ?? null;

/** A test with a browser and a fresh server, both closed after it. */
function browserTest(
  name: string,
  body: (
    browser: Browser,
    server: { process: ServerProcess; url: string; tcpPort: number },
  ) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: missing !== null,
    fn: async () => {
      const { server, ports } = await startChatServer();
      let browser: Browser | null = null;
      try {
        browser = await launchChromium();
        await body(browser, {
          process: server,
          url: `http://127.0.0.1:${ports.http}/`,
          tcpPort: ports.tcp,
        });
      } finally {
        await browser?.close();
        await server.stop("SIGKILL");
      }
    },
  });
}

/** The next CHAT the TCP client receives, as text. */
async function nextChat(client: RawClient): Promise<string> {
  return text(await client.next(Tag.CHAT, PAGE_TIMEOUT_MS));
}

browserTest(
  "Browser page: two pages and a TCP client in one room exchange messages in every direction",
  async (browser, server) => {
    const alice = await ChatPage.open(browser, server.url);
    const bob = await ChatPage.open(browser, server.url);
    const terminal = await RawClient.connect(server.tcpPort);
    try {
      await alice.setNick("alice");
      await bob.setNick("bob");
      await nick(terminal, "carol");
      await alice.waitForMember("carol");
      await bob.waitForMember("carol");

      await alice.send("from alice");
      await bob.waitForChat("alice", "from alice");
      await alice.waitForChat("alice", "from alice"); // the sender's echo
      assert.equal(await nextChat(terminal), "from alice");

      await bob.send("from bob");
      await alice.waitForChat("bob", "from bob");
      assert.equal(await nextChat(terminal), "from bob");

      await terminal.send(Tag.CHAT, "from carol");
      await alice.waitForChat("carol", "from carol");
      await bob.waitForChat("carol", "from carol");
      assert.deepEqual(alice.errors, []);
      assert.deepEqual(bob.errors, []);
    } finally {
      await terminal.close();
    }
  },
);

browserTest(
  "Browser page: a nickname set in one page appears in the other page's member list, and a rename replaces it",
  async (browser, server) => {
    const first = await ChatPage.open(browser, server.url);
    const second = await ChatPage.open(browser, server.url);
    await first.setNick("dora");
    await second.waitForMember("dora");
    await second.waitForEntry((entry) =>
      entry.kind === "notice" && / is now known as dora$/.test(entry.text)
    );
    await first.setNick("dorothy");
    await second.waitForMember("dorothy");
    assert.ok(!(await second.memberNames()).includes("dora"));
    assert.equal((await second.memberNames()).length, 2);
  },
);

browserTest(
  "Browser page: switching rooms isolates, for messages and for the member list",
  async (browser, server) => {
    const mover = await ChatPage.open(browser, server.url);
    const stayer = await ChatPage.open(browser, server.url);
    const terminal = await RawClient.connect(server.tcpPort);
    try {
      await mover.setNick("mover");
      await stayer.setNick("stayer");
      await stayer.waitForMember("mover");
      await mover.join("dev");
      await mover.waitForEntry((entry) => entry.text === "You are in dev");
      // The member lists follow: the mover is alone in dev, gone from the lobby.
      await stayer.waitForEntry((entry) => entry.text === "mover left");
      assert.deepEqual(
        await stayer.memberNames(),
        [
          "stayer",
          String(`#${terminal.id}`),
        ].sort((a, b) => a.localeCompare(b)),
      );
      assert.deepEqual(await mover.memberNames(), ["mover"]);

      await mover.send("only for dev");
      await mover.waitForChat("mover", "only for dev");
      // The mover's frames are handled in order: once its lobby message
      // arrives, the dev one would have arrived before it.
      await mover.join("lobby");
      await mover.send("back in the lobby");
      await stayer.waitForChat("mover", "back in the lobby");
      assert.equal(await nextChat(terminal), "back in the lobby");
      const texts = (await stayer.entries()).map((entry) => entry.text);
      assert.ok(!texts.includes("only for dev"), JSON.stringify(texts));
    } finally {
      await terminal.close();
    }
  },
);

browserTest(
  "Browser page: the room list shows each room with its size, and pressing one moves there",
  async (browser, server) => {
    const first = await ChatPage.open(browser, server.url);
    const second = await ChatPage.open(browser, server.url);
    await first.setNick("scout");
    await first.join("garden");
    await second.page.click("#rooms-refresh");
    const garden = second.page.locator("#rooms button", { hasText: "garden" });
    await garden.waitFor();
    assert.equal(await garden.locator(".count").textContent(), "1");
    await garden.click();
    await second.waitForText("room-name", "garden");
    await second.waitForMember("scout");
    await second.send("found you");
    await first.waitForChat(`#${await second.clientId()}`, "found you");
  },
);

browserTest(
  "Browser page: markup and control characters from others render as text, and nothing runs",
  async (browser, server) => {
    const page = await ChatPage.open(browser, server.url);
    const terminal = await RawClient.connect(server.tcpPort);
    try {
      await nick(terminal, "<b>eve</b>");
      await page.waitForMember("<b>eve</b>");
      await terminal.send(Tag.CHAT, XSS);
      await terminal.send(Tag.CHAT, "red\x1b[31m\r\nforged \u202eevil");
      await page.send(XSS);
      await page.waitForChat("<b>eve</b>", XSS);
      await page.waitForChat("<b>eve</b>", "red␛[31m␍␊forged <U+202E>evil");
      await page.waitForEntry((entry) =>
        entry.kind === "chat" && entry.text === XSS &&
        entry.sender !== "<b>eve</b>"
      );
      const elements = await page.page.evaluate(
        `({ img: document.querySelectorAll("img").length,
            b: document.querySelectorAll("#log b, #members b").length })`,
      );
      assert.deepEqual(elements, { img: 0, b: 0 });
      assert.deepEqual(page.dialogs, []);
      assert.deepEqual(page.errors, []);
    } finally {
      await terminal.close();
    }
  },
);

browserTest(
  "Browser page: a message over 488 bytes is refused on the page with its reason, and not sent",
  async (browser, server) => {
    const page = await ChatPage.open(browser, server.url);
    const terminal = await RawClient.connect(server.tcpPort);
    try {
      // 163 three-byte characters: 489 bytes of UTF-8 in 163 characters.
      const long = "€".repeat(163);
      await page.send(long);
      await page.page.waitForSelector("#problem:not([hidden])");
      assert.equal(
        await page.page.textContent("#problem"),
        "Not sent: the message is 489 bytes of UTF-8 and the limit is 488.",
      );
      assert.equal(await page.page.inputValue("#message"), long);
      await page.send("€".repeat(162)); // 486 bytes: sent
      assert.equal(await nextChat(terminal), "€".repeat(162));
      assert.equal(await page.page.isHidden("#problem"), true);
    } finally {
      await terminal.close();
    }
  },
);

Deno.test({
  name:
    "Browser page: after the server restarts the page says it is reconnecting, then is back in its room under its nickname",
  ignore: missing !== null,
  fn: async () => {
    const ports = { tcp: freePort(), http: freePort() };
    let { server } = await startChatServer(ports);
    const browser = await launchChromium();
    try {
      const page = await ChatPage.open(
        browser,
        `http://127.0.0.1:${ports.http}/`,
      );
      await page.setNick("phoenix");
      await page.join("ashes");
      await server.stop("SIGKILL");
      await page.page.waitForSelector('#status[data-state="reconnecting"]');
      assert.match(
        (await page.page.textContent("#status")) ?? "",
        /reconnecting in \d+(\.\d)? s/,
      );
      await page.waitForEntry((entry) =>
        entry.text === "Connection lost; reconnecting"
      );
      ({ server } = await startChatServer(ports));
      // The waits grow while the server is away: allow for a few of them.
      await page.waitConnected(PAGE_TIMEOUT_MS * 2);
      await page.waitForEntry((entry) => entry.text === "Reconnected");
      await page.waitForText("room-name", "ashes");
      const terminal = await RawClient.connect(ports.tcp);
      try {
        await terminal.send(Tag.JOIN, "ashes");
        await page.waitForMember(`#${terminal.id}`);
        await page.waitForMember("phoenix");
        await page.send("risen");
        assert.equal(await nextChat(terminal), "risen");
      } finally {
        await terminal.close();
      }
    } finally {
      await browser.close();
      await server.stop("SIGKILL");
    }
  },
});

/** The page's earlier (history) entries, in order: sender and text. */
async function earlierEntries(page: ChatPage): Promise<string[][]> {
  return await page.page.$$eval(
    "#log > li.entry.earlier",
    (items) =>
      items.map((item) => [
        item.querySelector(".sender")?.textContent ?? "",
        item.querySelector(".text")?.textContent ?? "",
      ]),
  );
}

/** Wait until the page shows `count` earlier entries. */
async function waitForEarlier(page: ChatPage, count: number): Promise<void> {
  await page.page.waitForFunction(
    (count) =>
      (globalThis as unknown as {
        document: { querySelectorAll(s: string): ArrayLike<Node> };
      }).document.querySelectorAll("#log > li.entry.earlier").length >= count,
    count,
    { timeout: PAGE_TIMEOUT_MS * 2 },
  );
}

Deno.test({
  name:
    "Browser page: earlier messages show on joining, marked earlier and inert, and after a server restart the page fills its gap once",
  ignore: missing !== null,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "hubbub-browser-history-" });
    const history = ["--history-db", `${dir}/history.db`];
    const write = {
      permissions: ["--allow-net", "--allow-read", "--allow-write"],
    };
    const ports = { tcp: freePort(), http: freePort() };
    let { server } = await startChatServer(ports, history, write);
    let browser: Browser | null = null;
    try {
      const hostile = "<b>x</b>\x1b[2J";
      let terminal = await RawClient.connect(ports.tcp);
      await nick(terminal, "carol");
      for (const body of ["first", hostile, "third"]) {
        await terminal.send(Tag.CHAT, body);
        assert.equal(await nextChat(terminal), body);
      }
      await terminal.close();

      browser = await launchChromium();
      const page = await ChatPage.open(
        browser,
        `http://127.0.0.1:${ports.http}/`,
      );
      await waitForEarlier(page, 3);
      assert.deepEqual(await earlierEntries(page), [
        ["carol", "first"],
        ["carol", "<b>x</b>\u241b[2J"],
        ["carol", "third"],
      ]);
      assert.equal(
        await page.page.evaluate(`document.querySelectorAll("#log b").length`),
        0,
      );

      // Away: the page cannot reach the server that takes the next message.
      assert.equal((await server.stop("SIGTERM")).code, 0);
      ({ server } = await startChatServer(undefined, history, write));
      terminal = await RawClient.connect(server.port);
      await terminal.send(Tag.CHAT, "while you were away");
      assert.equal(await nextChat(terminal), "while you were away");
      await terminal.close();
      assert.equal((await server.stop("SIGTERM")).code, 0);

      ({ server } = await startChatServer(ports, history, write));
      await page.waitConnected(PAGE_TIMEOUT_MS * 2);
      await waitForEarlier(page, 4);
      terminal = await RawClient.connect(ports.tcp);
      try {
        await terminal.send(Tag.CHAT, "live again");
        await page.waitForChat(`#${terminal.id}`, "live again");
      } finally {
        await terminal.close();
      }
      const earlier = await earlierEntries(page);
      assert.deepEqual(earlier.slice(3).map(([, text]) => text), [
        "while you were away",
      ]);
      assert.equal(earlier.length, 4, JSON.stringify(earlier));
      assert.deepEqual(page.errors, []);
    } finally {
      await browser?.close();
      await server.stop("SIGKILL");
      await Deno.remove(dir, { recursive: true });
    }
  },
});

browserTest(
  "Gateway: a page of an origin not allowed cannot open a WebSocket, the page's own origin can",
  async (browser, server) => {
    const other = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      () =>
        new Response("<!doctype html><title>elsewhere</title>", {
          headers: { "content-type": "text/html" },
        }),
    );
    try {
      const probe = (url: string) =>
        `new Promise((resolve) => {
          const socket = new WebSocket(${JSON.stringify(url)});
          socket.onopen = () => { socket.close(); resolve("open"); };
          socket.onerror = () => resolve("refused");
        })`;
      const gateway = server.url.replace("http:", "ws:") + "ws";
      const context = await browser.newContext();
      const page = await context.newPage();
      page.setDefaultTimeout(PAGE_TIMEOUT_MS);
      await page.goto(`http://127.0.0.1:${other.addr.port}/`);
      assert.equal(await page.evaluate(probe(gateway)), "refused");
      await page.goto(server.url);
      assert.equal(await page.evaluate(probe(gateway)), "open");
      await context.close();
    } finally {
      await other.shutdown();
    }
  },
);

browserTest(
  "Browser page: on a phone-sized window every control is on screen and a long word wraps instead of widening the page",
  async (browser, server) => {
    const width = 360;
    const page = await ChatPage.open(browser, server.url, {
      width,
      height: 640,
    });
    await page.setNick("pocket");
    const word = "w".repeat(300);
    await page.send(word);
    await page.waitForChat("pocket", word);
    for (
      const selector of [
        "#room-input",
        "#nick-input",
        "#members",
        "#message",
        "#composer button",
        "#log > li:last-child",
      ]
    ) {
      const box = await page.page.locator(selector).boundingBox();
      assert.ok(box !== null, `${selector} is shown`);
      assert.ok(
        box.x >= 0 && box.x + box.width <= width + 0.5,
        `${selector} within the window: ${JSON.stringify(box)}`,
      );
      assert.ok(box.y >= 0 && box.y + box.height <= 640 + 0.5, selector);
    }
    const scrollWidth = await page.page.evaluate(
      "document.documentElement.scrollWidth",
    );
    assert.ok(Number(scrollWidth) <= width, `page ${scrollWidth} px wide`);
  },
);

browserTest(
  "Browser page: a conversation, screenshot written where HUBBUB_SCREENSHOT says (else to a temporary file)",
  async (browser, server) => {
    const alice = await ChatPage.open(browser, server.url, {
      width: 960,
      height: 560,
    });
    const bob = await ChatPage.open(browser, server.url);
    const terminal = await RawClient.connect(server.tcpPort);
    try {
      await alice.setNick("alice");
      await bob.setNick("bob");
      await nick(terminal, "carol");
      await alice.join("hubbub-dev");
      await bob.join("hubbub-dev");
      await terminal.send(Tag.JOIN, "hubbub-dev");
      await alice.waitForMember("carol");
      await alice.send("Morning! The WebSocket gateway is in.");
      await alice.waitForChat("alice", "Morning! The WebSocket gateway is in.");
      await terminal.send(Tag.CHAT, "Nice, I am on the terminal client.");
      await alice.waitForChat("carol", "Nice, I am on the terminal client.");
      await bob.send(`And markup shows as text: ${XSS}`);
      await alice.waitForChat("bob", `And markup shows as text: ${XSS}`);
      // The room list as of now: the lobby the three left is empty.
      await alice.page.click("#rooms-refresh");
      await alice.page.waitForFunction(() =>
        Array.from(
          (globalThis as unknown as {
            document: { querySelectorAll(s: string): ArrayLike<Node> };
          }).document.querySelectorAll("#rooms button"),
        ).every((button) => !button.textContent?.startsWith("lobby2"))
      );
      await alice.page.fill("#message", "Same rooms, same ids, same limits");
      const temporary = SCREENSHOT_PATH === null
        ? await Deno.makeTempDir({ prefix: "hubbub_screenshot_" })
        : null;
      const path = SCREENSHOT_PATH ?? `${temporary}/screenshot.png`;
      try {
        await alice.page.screenshot({ path });
        const size = (await Deno.stat(path)).size;
        assert.ok(size > 10_000, `screenshot of ${size} bytes`);
      } finally {
        if (temporary !== null) {
          await Deno.remove(temporary, { recursive: true });
        }
      }
    } finally {
      await terminal.close();
    }
  },
);
