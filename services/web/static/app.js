// Rookery: small enhancements; every action also works without this file.
(function () {
  "use strict";
  var FRAGMENT = { "X-Rookery-Fragment": "1" };

  // Forms marked data-inline (votes, follows) post in the background and
  // swap in the part of the page they change.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-inline]")) return;
    var target = document.getElementById(form.getAttribute("data-inline"));
    if (!target || !window.fetch) return;
    event.preventDefault();
    fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      headers: FRAGMENT,
      credentials: "same-origin"
    }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.text();
    }).then(function (html) {
      target.outerHTML = html;
    }).catch(function () {
      form.removeAttribute("data-inline");
      form.submit();
    });
  });

  // "More" links load the next page into the list.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-more]");
    if (!link || !window.fetch) return;
    var list = document.getElementById(link.getAttribute("data-more"));
    if (!list) return;
    event.preventDefault();
    fetch(link.href, { headers: FRAGMENT, credentials: "same-origin" }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.text();
    }).then(function (html) {
      var page = document.createElement("template");
      page.innerHTML = html;
      var items = page.content.querySelector("ol, ul");
      if (items) while (items.firstElementChild) list.appendChild(items.firstElementChild);
      var holder = link.parentNode;
      var next = page.content.querySelector("a[data-more]");
      if (next) holder.replaceChild(next, link); else holder.remove();
    }).catch(function () { window.location.href = link.href; });
  });

  // Buttons that need a confirmation say so in data-confirm.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
  });
})();
