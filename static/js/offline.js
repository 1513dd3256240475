// The offline shell (templates/web/offline.html): the service worker shows
// it when a page cannot be reached. It loads the address asked for again as
// soon as the browser is back online, or when "Try again" is pressed.

function retry() {
  location.reload();
}

window.addEventListener("online", retry);
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-retry]")) button.addEventListener("click", retry);
});
