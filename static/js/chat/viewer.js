// The image viewer: an image of a chat opens in the app, not a new tab. It
// fits the screen and zooms to its real size (click, the + button or "z"),
// goes to the chat's previous and next image (arrow keys, buttons, a swipe on
// a touch screen), offers the download, and closes with Esc, its button, or
// the browser's Back (it pushes a history entry of its own).

import { h, t, tf } from "../dom.js";

const SWIPE_PX = 50;

// `links`: the chat's image links (a.thumb-link) in order; `start` the one
// opened.
export function openImageViewer(links, start) {
  let index = Math.max(0, links.indexOf(start));
  const img = h("img.viewer-image", { alt: "" });
  const caption = h("p.viewer-caption");
  const download = h("a.btn.btn-small", { download: "" }, t("Download"));
  const zoom = h("button.btn.btn-small", { type: "button", "aria-pressed": "false", onclick: () => toggleZoom() }, t("Zoom"));
  const prev = h("button.btn-icon.viewer-prev", { type: "button", "aria-label": t("Previous image"), onclick: () => go(-1) }, "‹");
  const next = h("button.btn-icon.viewer-next", { type: "button", "aria-label": t("Next image"), onclick: () => go(1) }, "›");
  const stage = h("div.viewer-stage", img);
  const dialog = h(
    "dialog.viewer",
    { "aria-label": t("Image") },
    h("div.viewer-bar", caption, h("span.grow"), zoom, download, h("button.btn-icon.viewer-close", { type: "button", "aria-label": t("Close"), onclick: () => dialog.close() }, "×")),
    stage,
    prev,
    next,
  );

  function show() {
    const link = links[index];
    const name = link.getAttribute("data-name") || "";
    img.src = link.href;
    img.alt = name;
    caption.textContent = links.length > 1 ? tf("%(name)s · %(i)s of %(n)s", { name, i: index + 1, n: links.length }) : name;
    download.href = link.href;
    download.setAttribute("download", name);
    prev.disabled = index === 0;
    next.disabled = index === links.length - 1;
    setZoom(false);
  }
  function go(step) {
    const to = index + step;
    if (to < 0 || to >= links.length) return;
    index = to;
    show();
  }
  function setZoom(on) {
    dialog.classList.toggle("zoomed", on);
    zoom.setAttribute("aria-pressed", String(on));
  }
  function toggleZoom() {
    setZoom(!dialog.classList.contains("zoomed"));
  }

  img.addEventListener("click", toggleZoom);
  dialog.addEventListener("keydown", (event) => {
    if (event.key === "ArrowLeft") go(-1);
    else if (event.key === "ArrowRight") go(1);
    else if (event.key === "z" || event.key === "+") toggleZoom();
    else return;
    event.preventDefault();
  });
  let touchX = null;
  stage.addEventListener("touchstart", (event) => (touchX = event.touches[0].clientX), { passive: true });
  stage.addEventListener("touchend", (event) => {
    if (touchX === null || dialog.classList.contains("zoomed")) return;
    const dx = event.changedTouches[0].clientX - touchX;
    touchX = null;
    if (Math.abs(dx) >= SWIPE_PX) go(dx < 0 ? 1 : -1);
  });

  // Back closes the viewer instead of leaving the chat.
  history.pushState({ viewer: true }, "");
  const onBack = () => dialog.open && dialog.close();
  window.addEventListener("popstate", onBack);
  dialog.addEventListener("close", () => {
    window.removeEventListener("popstate", onBack);
    if (history.state && history.state.viewer) history.back();
    dialog.remove();
    start.focus({ preventScroll: true });
  });
  document.body.append(dialog);
  show();
  dialog.showModal();
  return dialog;
}
