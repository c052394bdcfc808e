// The pool page: a claim of a lead that has left the pool answers 404 with a row saying so (and nothing about the
// lead). htmx does not swap error answers by default; this lets it swap that row in place.
document.addEventListener("htmx:beforeSwap", function (event) {
  var target = event.detail.target;
  if (event.detail.xhr.status === 404 && target && target.classList.contains("pool-row")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
