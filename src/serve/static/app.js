// tt-vault serve: the little that needs script. Everything works without it too.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Snapshot pickers switch on change.
  for (const sel of document.querySelectorAll("select[data-autosubmit]")) {
    sel.addEventListener("change", () => sel.form.submit());
  }
  // Photo posts: a slideshow that follows the sound.
  for (const show of document.querySelectorAll("[data-slideshow]")) {
    const imgs = [...show.querySelectorAll("img")];
    let at = 0;
    const go = (n) => {
      imgs[at].classList.remove("on");
      at = (n + imgs.length) % imgs.length;
      imgs[at].classList.add("on");
    };
    show.querySelector(".prev")?.addEventListener("click", () => go(at - 1));
    show.querySelector(".next")?.addEventListener("click", () => go(at + 1));
    if (imgs.length > 1) {
      const sound = document.getElementById("sound");
      setInterval(() => { if (!sound || !sound.paused) go(at + 1); }, 3000);
    }
  }
});
