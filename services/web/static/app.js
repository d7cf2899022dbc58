// Rookery: small enhancements; every action also works without this file.
(function () {
  "use strict";
  var FRAGMENT = { "X-Rookery-Fragment": "1" };

  // The form's fields and, as a browser sends it, the pressed button's.
  function formBody(form, button) {
    var body = new URLSearchParams(new FormData(form));
    if (button && button.name) body.append(button.name, button.value);
    return body;
  }

  // Forms marked data-inline (votes, follows) post in the background and
  // swap in the part of the page they change.
  // (The attribute is on the form, or on the button that was pressed.)
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter;
    var source = button && button.hasAttribute("data-inline") ? button : form;
    if (!source.hasAttribute || !source.hasAttribute("data-inline")) return;
    var target = document.getElementById(source.getAttribute("data-inline"));
    if (!target || !window.fetch) return;
    event.preventDefault();
    var action = button && button.hasAttribute("formaction") ? button.formAction : form.action;
    fetch(action, {
      method: "POST",
      body: formBody(form, button),
      headers: FRAGMENT,
      credentials: "same-origin"
    }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.text();
    }).then(function (html) {
      target.outerHTML = html;
    }).catch(function () {
      source.removeAttribute("data-inline");
      if (button) form.requestSubmit(button); else form.submit();
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
