// Drives the chat page of `swapmoe serve` in a real (headless) Chromium, the way a person would:
// node page_test.mjs BASE_URL OUT.png   (run by scripts/server-browser-test)
// Exits 0 when every step passed, 1 with "FAIL: <step>: <why>" otherwise. CHROMIUM names the
// browser (default /usr/bin/chromium); SWAPMOE_API_KEY, when set, is entered like a user would.
import puppeteer from "puppeteer-core";

const [base_url, png_path] = process.argv.slice(2);
if (!base_url || !png_path) {
  console.error("usage: node page_test.mjs BASE_URL OUT.png");
  process.exit(2);
}
const chromium = process.env.CHROMIUM || "/usr/bin/chromium";
const STEP_TIMEOUT_MS = 60_000;  // generation on a slow CPU is the long pole
const TOTAL_TIMEOUT_MS = 240_000;

let step_name = "start";
function step(name) {
  step_name = name;
  console.log(`.. ${name}`);
}
function fail(why) {
  console.error(`FAIL: ${step_name}: ${why}`);
  process.exit(1);
}
const total_timer = setTimeout(() => fail(`the whole test ran over ${TOTAL_TIMEOUT_MS / 1000} s`), TOTAL_TIMEOUT_MS);

const text_of = (page, selector) => page.$eval(selector, (el) => el.textContent.trim());
// Waits until fn(arg) is truthy in the page; on timeout the failure names what was awaited.
async function wait_until(page, what, fn, arg, timeout = STEP_TIMEOUT_MS) {
  try {
    return await page.waitForFunction(fn, { timeout, polling: 100 }, arg);
  } catch (err) {
    const shown = await page.evaluate(() => {
      const text = (id) => document.getElementById(id)?.textContent.trim();
      return [document.getElementById("auth")?.hidden === false && "it asks for an API key (set SWAPMOE_API_KEY)",
              text("error"), text("memory-status"), "model: " + text("model-id")].filter(Boolean).join("; ");
    }).catch(() => "");
    throw new Error(`timed out after ${timeout / 1000} s waiting for ${what}` + (shown ? `; the page shows: ${shown}` : ""));
  }
}

async function run(browser) {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  const page_errors = [];
  page.on("pageerror", (err) => page_errors.push(err.message));
  page.on("console", (msg) => { if (msg.type() === "error") console.log(`   [page console] ${msg.text()}`); });

  step(`open ${base_url}`);
  const res = await page.goto(new URL("/", base_url).href, { waitUntil: "domcontentloaded", timeout: 30_000 });
  if (!res.ok()) throw new Error(`GET / answered HTTP ${res.status()}`);
  for (const id of ["messages", "input", "send", "budget-slider", "hit-rate", "tokens-per-s"]) {
    if (!(await page.$(`#${id}`))) throw new Error(`the page has no #${id}`);
  }

  if (process.env.SWAPMOE_API_KEY) {
    step("enter the API key");
    await wait_until(page, "the API key field", () => !document.getElementById("auth").hidden, null, 15_000);
    await page.type("#api-key", process.env.SWAPMOE_API_KEY);
    await page.click("#api-key-save");
  }

  step("model id and memory figures show");
  await wait_until(page, "the model id from GET /v1/models", () => {
    const t = document.getElementById("model-id").textContent;
    return t && !t.includes("connecting") && !t.includes("unknown");
  }, null, 15_000);
  await wait_until(page, "the memory figures from GET /v1/memory",
    () => ["budget", "accounted"].every((id) => document.getElementById(id).textContent.trim() !== "–") &&
          !document.getElementById("budget-slider").disabled, null, 15_000);
  console.log(`   model ${await text_of(page, "#model-id")}, budget ${await text_of(page, "#budget")}`);

  step("send a message and stream the reply");
  await page.type("#input", "Hello! Who are you?");
  await page.click("#send");
  await wait_until(page, "the user's bubble", () => document.querySelector("#messages .msg.user"), null, 5_000);
  await wait_until(page, "the streamed reply to end",
    () => document.querySelector("#messages .msg.assistant[data-done]") && document.body.dataset.busy === "false");
  const reply = await page.$eval("#messages .msg.assistant[data-done]", (el) => ({ text: el.textContent, done: el.dataset.done }));
  if (reply.done !== "stop" && reply.done !== "length") throw new Error(`the reply ended with "${reply.done}"`);
  if (!reply.text.trim()) throw new Error("the reply is empty");
  const speed = await text_of(page, "#tokens-per-s");
  if (!/\d+ tokens/.test(speed)) throw new Error(`#tokens-per-s shows "${speed}"`);
  console.log(`   reply (${reply.done}, ${speed}): ${JSON.stringify(reply.text.slice(0, 80))}`);

  step("move the budget slider");
  const slider = await page.$eval("#budget-slider", (el) => ({ min: +el.min, max: +el.max, value: +el.value }));
  if (slider.max <= slider.min) throw new Error(`the slider has no range (min ${slider.min}%, max ${slider.max}%)`);
  // Aim well away from the current value, then press there, as a person would with the mouse.
  const target = slider.value > (slider.min + slider.max) / 2
    ? slider.min + 0.3 * (slider.max - slider.min) : slider.min + 0.8 * (slider.max - slider.min);
  const budget_before = await text_of(page, "#budget");
  const box = await (await page.$("#budget-slider")).boundingBox();
  await page.mouse.click(box.x + box.width * (target - slider.min) / (slider.max - slider.min), box.y + box.height / 2);
  await wait_until(page, "the answer to POST /v1/memory",
    () => ["ok", "error"].includes(document.getElementById("budget-status").dataset.state), null, 30_000);
  const status = await page.$eval("#budget-status", (el) => ({ state: el.dataset.state, text: el.textContent }));
  if (status.state !== "ok") throw new Error(`the server refused the budget: ${status.text}`);
  await wait_until(page, "the budget figure to change", (before) =>
    document.getElementById("budget").textContent.trim() !== before, budget_before, 10_000);
  const value_after = await page.$eval("#budget-slider", (el) => +el.value);
  if (value_after === slider.value) throw new Error(`the slider still shows ${value_after}%`);
  console.log(`   ${slider.value}% -> ${value_after}%: ${status.text}; budget ${budget_before} -> ${await text_of(page, "#budget")}`);

  step("screenshot");
  await new Promise((r) => setTimeout(r, 1200));  // one more poll of the live figures
  await page.screenshot({ path: png_path });
  console.log(`   wrote ${png_path}`);
  if (page_errors.length) throw new Error(`JavaScript errors in the page: ${page_errors.join("; ")}`);
}

let browser;
try {
  step(`launch ${chromium}`);
  browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    // root in a container: no sandbox; a small /dev/shm: use /tmp.
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
    timeout: 30_000,
  });
  await run(browser);
  console.log("PASS: the chat page works");
} catch (err) {
  await browser?.close().catch(() => {});
  fail(err.message);
}
await browser.close();
clearTimeout(total_timer);
