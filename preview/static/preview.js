// Shows a tile's details (tags, score, propensity, why, other candidates) in the side panel,
// and toggles the non-personalized page without a reload.
(function () {
  const panel = document.getElementById("details-panel");
  const panels = document.querySelector(".panels");
  let pinned = null;

  function show(tile) {
    const details = tile.querySelector(".details");
    if (panel && details) panel.innerHTML = details.innerHTML;
  }

  document.querySelectorAll(".tile").forEach(function (tile) {
    tile.addEventListener("mouseenter", function () { if (!pinned) show(tile); });
    tile.addEventListener("focus", function () { show(tile); });
    tile.addEventListener("click", function () {
      if (pinned) pinned.classList.remove("selected");
      pinned = pinned === tile ? null : tile;
      if (pinned) { pinned.classList.add("selected"); show(pinned); }
    });
  });

  const toggle = document.getElementById("toggle-defaults");
  if (toggle && panels) {
    toggle.addEventListener("change", function () {
      panels.classList.toggle("show-defaults", toggle.checked);
      const url = new URL(window.location.href);
      if (toggle.checked) url.searchParams.set("defaults", "1"); else url.searchParams.delete("defaults");
      window.history.replaceState(null, "", url);
    });
  }
})();
