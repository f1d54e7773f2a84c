// Echo's archive works without this file; with it, htmx swaps only the results.
// Nothing here may run inline (the Content-Security-Policy forbids inline scripts).
document.addEventListener("htmx:responseError", function (event) {
  var target = document.getElementById("results");
  if (target) {
    target.insertAdjacentHTML("afterbegin",
      '<div class="card notice bad">The server could not answer. Reload the page.</div>');
  }
});
