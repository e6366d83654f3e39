// gotrue-web console: toasts for htmx answers. Everything else is plain HTML and htmx attributes.
(function () {
  // The button that sent the last form: a toast reports on it and must not cover it.
  var lastSubmitter = null;
  document.addEventListener("submit", function (event) {
    lastSubmitter = event.submitter || null;
  }, true);

  // Room kept around that button: the answer swapped in can move it a little.
  var CLEARANCE = 48;

  function overlap(box, avoid) {
    var width = Math.min(box.right, avoid.right) - Math.max(box.left, avoid.left);
    var height = Math.min(box.bottom, avoid.bottom + CLEARANCE) -
      Math.max(box.top, avoid.top - CLEARANCE);
    return width > 0 && height > 0 ? width * height : 0;
  }

  // What the answer came for: the submitting button of the form that asked, else the element.
  function triggerOf(target) {
    if (!target || !target.getBoundingClientRect || target === document.body) return null;
    if (lastSubmitter && lastSubmitter.isConnected && target.contains(lastSubmitter)) {
      return lastSubmitter;
    }
    return target;
  }

  // Toasts sit in the bottom corner, or at the top when there they would cover the trigger.
  function place(box, trigger) {
    box.classList.remove("at-top");
    if (!trigger) return;
    var avoid = trigger.getBoundingClientRect();
    var atBottom = overlap(box.getBoundingClientRect(), avoid);
    if (!atBottom) return;
    box.classList.add("at-top");
    if (overlap(box.getBoundingClientRect(), avoid) > atBottom) box.classList.remove("at-top");
  }

  function showToast(message, kind, target) {
    var box = document.getElementById("toasts");
    if (!box || !message) return;
    var toast = document.createElement("div");
    toast.className = "toast" + (kind === "error" ? " error" : "");
    toast.setAttribute("role", kind === "error" ? "alert" : "status");
    toast.textContent = message;
    box.appendChild(toast);
    place(box, triggerOf(target));
    setTimeout(function () { toast.classList.add("hide"); }, 3500);
    setTimeout(function () { toast.remove(); }, 4000);
  }
  document.addEventListener("toast", function (event) {
    var detail = event.detail || {};
    showToast(detail.message, detail.kind, event.target);
  });
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    // An answer with its own toast (HX-Trigger: a 403 refusal, say) has said why already.
    var toasted = event.detail.xhr && event.detail.xhr.getResponseHeader("HX-Trigger");
    if (status !== 422 && !toasted) {
      showToast("The server answered " + status + ". Please try again.", "error", event.target);
    }
  });
  document.addEventListener("htmx:sendError", function (event) {
    showToast("The server could not be reached.", "error", event.target);
  });
})();

// --- Keyboard and comfort -------------------------------------------------------------------
// Times in the operator's zone, copy buttons, the theme menu, the command palette (Ctrl+K),
// "/" for the page's search box, j / k over list rows and "?" for the shortcut list. Each one
// adds to a page that works without it: without JavaScript times stay in UTC and the palette
// link opens the "Go to" page.
(function () {
  var THEME_KEY = "console-theme";
  var root = document.documentElement;
  var isMac = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent || "");

  function byId(id) { return document.getElementById(id); }

  // Elements of ``scope`` matching ``selector``, ``scope`` itself included.
  function within(scope, selector) {
    var found = Array.prototype.slice.call(scope.querySelectorAll(selector));
    if (scope.matches && scope.matches(selector)) found.unshift(scope);
    return found;
  }

  function announce(message) {
    var region = byId("live-status");
    if (!region) return;
    region.textContent = "";
    // Emptied first, so the same words said twice are announced twice.
    setTimeout(function () { region.textContent = message; }, 60);
  }

  // --- times --------------------------------------------------------------------------------

  function pad(number) { return number < 10 ? "0" + number : String(number); }

  var zoneFormat = null;
  function zoneName(date) {
    try {
      zoneFormat = zoneFormat || new Intl.DateTimeFormat("en-US", {timeZoneName: "short"});
      var parts = zoneFormat.formatToParts(date);
      for (var i = 0; i < parts.length; i++) {
        if (parts[i].type === "timeZoneName") return parts[i].value;
      }
    } catch (error) { /* no Intl: the offset-less text below still reads right */ }
    return "";
  }

  // The same shape as the UTC text ("2024-05-01 21:30:00 GMT+9"), in the browser's zone.
  function localText(date, precision) {
    var text = date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) +
      " " + pad(date.getHours()) + ":" + pad(date.getMinutes());
    if (precision !== "minutes") text += ":" + pad(date.getSeconds());
    var zone = zoneName(date);
    return zone ? text + "\u00a0" + zone : text;
  }

  function localizeTimes(scope) {
    within(scope, "time.moment[datetime]:not([data-localized])").forEach(function (time) {
      var date = new Date(time.getAttribute("datetime"));
      if (isNaN(date.getTime())) return;
      var local = localText(date, time.getAttribute("data-precision"));
      if (time.hasAttribute("data-relative")) {
        // "5 min ago" stays; the title gives both moments.
        time.title = local.replace(/\u00a0/g, " ") + " (" + time.title + ")";
      } else {
        time.title = time.textContent.replace(/\u00a0/g, " ").trim();
        time.textContent = local;
      }
      time.setAttribute("data-localized", "");
    });
  }

  // --- copy buttons -------------------------------------------------------------------------

  function showCopied(button) {
    var label = button.querySelector(".copy-label");
    button.classList.add("copied");
    if (label) label.textContent = "Copied";
    announce("Copied");
    clearTimeout(button.copyTimer);
    button.copyTimer = setTimeout(function () {
      button.classList.remove("copied");
      if (label) label.textContent = "Copy";
    }, 2000);
  }

  // No clipboard API (a console served over plain HTTP): the value, selected, for Ctrl+C.
  function offerSelection(button, value) {
    var field = button.nextElementSibling;
    if (!field || !field.classList.contains("copy-fallback")) {
      field = document.createElement("input");
      field.type = "text";
      field.readOnly = true;
      field.className = "copy-fallback";
      field.setAttribute("aria-label", "Value to copy");
      button.insertAdjacentElement("afterend", field);
    }
    field.value = value;
    field.focus();
    field.select();
    var copied = false;
    try { copied = document.execCommand("copy"); } catch (error) { copied = false; }
    if (copied) {
      showCopied(button);
    } else {
      announce("Selected. Press " + (isMac ? "Command" : "Control") + " C to copy.");
    }
  }

  function copyValue(button) {
    var value = button.getAttribute("data-copy") || "";
    if (navigator.clipboard && navigator.clipboard.writeText && window.isSecureContext) {
      navigator.clipboard.writeText(value).then(function () { showCopied(button); },
        function () { offerSelection(button, value); });
    } else {
      offerSelection(button, value);
    }
  }

  // --- theme --------------------------------------------------------------------------------

  function storedTheme() {
    try { return window.localStorage.getItem(THEME_KEY) || "system"; } catch (error) {
      return "system";
    }
  }

  function showTheme(choice) {
    if (choice === "light" || choice === "dark") root.setAttribute("data-theme", choice);
    else root.removeAttribute("data-theme");
  }

  function chooseTheme(choice) {
    showTheme(choice);
    try {
      if (choice === "light" || choice === "dark") window.localStorage.setItem(THEME_KEY, choice);
      else window.localStorage.removeItem(THEME_KEY);
    } catch (error) { /* not remembered, but applied to this page */ }
  }

  // Another tab changed it.
  window.addEventListener("storage", function (event) {
    if (event.key !== THEME_KEY) return;
    showTheme(event.newValue || "system");
    within(document.body, "select[data-theme-choice]").forEach(function (select) {
      select.value = event.newValue || "system";
    });
  });

  // --- dialogs: focus kept inside, and given back on close ----------------------------------

  function openDialog(dialog) {
    if (!dialog || dialog.open) return;
    var other = document.querySelector("dialog[open]");
    if (other) other.close();
    dialog.returnFocus = document.activeElement;
    dialog.showModal();
  }

  document.addEventListener("close", function (event) {
    var dialog = event.target;
    if (!dialog || dialog.tagName !== "DIALOG") return;
    var back = dialog.returnFocus;
    dialog.returnFocus = null;
    if (back && back.isConnected && back.focus && back !== document.body) back.focus();
    else if (byId("main")) byId("main").focus();
  }, true);

  var FOCUSABLE = "a[href], button:not([disabled]), input:not([disabled]), select:not([disabled])," +
    " textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";

  function trapTab(dialog, event) {
    var controls = Array.prototype.filter.call(dialog.querySelectorAll(FOCUSABLE), function (el) {
      return el.getClientRects().length > 0;
    });
    if (!controls.length) { event.preventDefault(); return; }
    var first = controls[0];
    var last = controls[controls.length - 1];
    var active = document.activeElement;
    if (event.shiftKey && (active === first || !dialog.contains(active))) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (active === last || !dialog.contains(active))) {
      event.preventDefault();
      first.focus();
    }
  }

  // A click on the backdrop (outside the dialog's box) closes it.
  document.addEventListener("click", function (event) {
    var dialog = event.target;
    if (!dialog || dialog.tagName !== "DIALOG" || !dialog.open) return;
    var box = dialog.getBoundingClientRect();
    if (event.clientX < box.left || event.clientX > box.right || event.clientY < box.top ||
        event.clientY > box.bottom) dialog.close();
  });

  // --- the command palette ------------------------------------------------------------------

  var palette = {options: [], active: -1, timer: null, request: null, serial: 0,
                 loading: false, enterWaiting: false};

  function destinations() {
    var seen = {};
    var found = [];
    within(document.body, "nav.sidebar a.nav[href], #palette a[data-palette-page]")
      .forEach(function (link) {
        var href = link.getAttribute("href");
        if (seen[href]) return;
        seen[href] = true;
        found.push({label: link.textContent.trim(), href: href, kind: "Page"});
      });
    return found;
  }

  // Pages whose name holds every word typed, those starting with it first.
  function matchingPages(query) {
    var words = query.toLowerCase().split(/\s+/).filter(Boolean);
    var pages = destinations().filter(function (page) {
      var name = page.label.toLowerCase();
      return words.every(function (word) { return name.indexOf(word) >= 0; });
    });
    if (!words.length) return pages;
    var first = words.join(" ");
    return pages.filter(function (page) { return page.label.toLowerCase().indexOf(first) === 0; })
      .concat(pages.filter(function (page) {
        return page.label.toLowerCase().indexOf(first) !== 0;
      }));
  }

  function setActive(index) {
    var list = byId("palette-options");
    var input = byId("palette-input");
    if (!list || !input) return;
    palette.active = index;
    Array.prototype.forEach.call(list.children, function (item, position) {
      item.setAttribute("aria-selected", position === index ? "true" : "false");
    });
    var item = list.children[index];
    if (item) {
      input.setAttribute("aria-activedescendant", item.id);
      item.scrollIntoView({block: "nearest"});
    } else {
      input.setAttribute("aria-activedescendant", "");
    }
  }

  function renderOptions(options, message) {
    var list = byId("palette-options");
    var status = byId("palette-status");
    if (!list) return;
    var keep = palette.options[palette.active];
    list.textContent = "";
    options.forEach(function (option, index) {
      var item = document.createElement("li");
      item.id = "palette-option-" + index;
      item.setAttribute("role", "option");
      item.setAttribute("aria-selected", "false");
      var name = document.createElement("span");
      name.className = "name";
      name.textContent = option.label;
      if (option.detail) {
        var detail = document.createElement("span");
        detail.className = "sub";
        detail.textContent = option.detail;
        name.appendChild(detail);
      }
      var kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = option.kind;
      item.appendChild(name);
      item.appendChild(kind);
      list.appendChild(item);
    });
    palette.options = options;
    // The option chosen with the arrows stays chosen when the users arrive.
    var again = keep ? options.findIndex(function (option) { return option.href === keep.href; })
      : -1;
    setActive(again >= 0 ? again : (options.length ? 0 : -1));
    if (status) {
      status.textContent = message || (options.length
        ? options.length + (options.length === 1 ? " destination" : " destinations")
        : "Nothing matches.");
    }
  }

  function go(index) {
    var option = palette.options[index];
    var dialog = byId("palette");
    if (!option) return;
    if (dialog && dialog.open) {
      dialog.returnFocus = null;
      dialog.close();
    }
    window.location.assign(option.href);
  }

  function usersFound(html) {
    var page = new DOMParser().parseFromString(html, "text/html");
    var users = Array.prototype.map.call(page.querySelectorAll("a[data-palette-user]"),
      function (link) {
        return {label: link.getAttribute("data-label"), detail: link.getAttribute("data-detail"),
                href: link.getAttribute("href"), kind: "User"};
      });
    var more = page.querySelector("a[data-palette-more]");
    if (more) users.push({label: more.textContent.trim(), href: more.getAttribute("href"),
                          kind: "Users"});
    var problem = page.querySelector("[data-palette-error]");
    return {users: users, problem: problem ? problem.textContent.trim() : ""};
  }

  function finishLoading() {
    palette.loading = false;
    if (palette.enterWaiting) {
      palette.enterWaiting = false;
      go(palette.active);
    }
  }

  function lookUpUsers(query, pages) {
    var input = byId("palette-input");
    if (!input) return;
    var serial = ++palette.serial;
    if (palette.request) palette.request.abort();
    palette.request = window.AbortController ? new AbortController() : null;
    var url = input.getAttribute("data-search-url") + "?q=" + encodeURIComponent(query);
    fetch(url, {headers: {"HX-Request": "true"}, credentials: "same-origin",
                signal: palette.request ? palette.request.signal : undefined})
      .then(function (response) {
        if (!response.ok) throw new Error("status " + response.status);
        return response.text();
      })
      .then(function (html) {
        if (serial !== palette.serial) return;
        var found = usersFound(html);
        var options = pages.concat(found.users);
        renderOptions(options, found.problem || null);
        finishLoading();
      })
      .catch(function (error) {
        if (serial !== palette.serial || (error && error.name === "AbortError")) return;
        renderOptions(pages, "Users could not be looked up. Pages are still listed.");
        finishLoading();
      });
  }

  function paletteInput() {
    var input = byId("palette-input");
    if (!input) return;
    var query = input.value.trim();
    var pages = matchingPages(query);
    clearTimeout(palette.timer);
    palette.serial++;
    if (!query) {
      palette.loading = false;
      renderOptions(pages);
      return;
    }
    palette.loading = true;
    renderOptions(pages, "Looking for users…");
    palette.timer = setTimeout(function () { lookUpUsers(query, pages); }, 150);
  }

  function openPalette() {
    var dialog = byId("palette");
    var input = byId("palette-input");
    if (!dialog || !input) return false;
    input.value = "";
    palette.options = [];
    palette.enterWaiting = false;
    renderOptions(matchingPages(""));
    openDialog(dialog);
    input.focus();
    return true;
  }

  function paletteKey(event) {
    var count = palette.options.length;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!count) return;
      var step = event.key === "ArrowDown" ? 1 : -1;
      setActive(((palette.active < 0 ? -step : palette.active) + step + count) % count);
    } else if (event.key === "Enter") {
      event.preventDefault();
      if (palette.loading) palette.enterWaiting = true;
      else go(palette.active);
    }
  }

  document.addEventListener("input", function (event) {
    if (event.target && event.target.id === "palette-input") paletteInput();
  });

  // Options are chosen with the mouse without taking the focus from the input.
  document.addEventListener("mousedown", function (event) {
    if (event.target.closest && event.target.closest("#palette-options li")) event.preventDefault();
  });

  // --- lists: j / k move a visible row focus; Enter or o opens the row's link -----------------

  var currentRow = null;

  function listRows() {
    var main = byId("main");
    if (!main) return [];
    return Array.prototype.filter.call(main.querySelectorAll("table.data > tbody > tr"),
      function (row) { return row.getClientRects().length > 0; });
  }

  function rowOf(element) {
    return element && element.closest ? element.closest("main table.data > tbody > tr") : null;
  }

  function markRow(row) {
    if (currentRow && currentRow !== row) currentRow.classList.remove("row-current");
    currentRow = row;
    row.classList.add("row-current");
    if (!row.hasAttribute("tabindex")) row.setAttribute("tabindex", "-1");
    row.focus({preventScroll: true});
    row.scrollIntoView({block: "nearest"});
  }

  function moveRow(step) {
    var rows = listRows();
    if (!rows.length) return false;
    var from = rowOf(document.activeElement) || (currentRow && currentRow.isConnected
      ? currentRow : null);
    var index = rows.indexOf(from);
    var next = index < 0 ? (step > 0 ? 0 : rows.length - 1)
      : Math.min(rows.length - 1, Math.max(0, index + step));
    markRow(rows[next]);
    return true;
  }

  function chosenRow() {
    var row = rowOf(document.activeElement);
    if (row) return row;
    return currentRow && currentRow.isConnected ? currentRow : null;
  }

  function openRow(row) {
    var link = row && (row.querySelector("a[href]:not(.btn)") || row.querySelector("a[href]"));
    if (!link) return false;
    link.click();
    return true;
  }

  // --- the keys -------------------------------------------------------------------------------

  function isTyping(element) {
    if (!element || !element.tagName) return false;
    if (element.isContentEditable) return true;
    var tag = element.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    if (tag !== "INPUT") return false;
    return !/^(checkbox|radio|button|submit|reset|image|range|color|file)$/i.test(element.type);
  }

  function searchBox() {
    var main = byId("main");
    if (!main) return null;
    return main.querySelector("form[role=search] input[type=search], " +
                              "form[role=search] input[type=text]") ||
      main.querySelector("input[type=search]");
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.isComposing) return;
    var key = event.key;
    if ((event.ctrlKey || event.metaKey) && !event.altKey && !event.shiftKey &&
        (key === "k" || key === "K")) {
      event.preventDefault();
      var open = byId("palette");
      if (open && open.open) open.close();
      else openPalette();
      return;
    }
    var dialog = document.querySelector("dialog[open]");
    if (dialog) {
      if (key === "Tab") trapTab(dialog, event);
      else if (key === "Escape") { event.preventDefault(); dialog.close(); }
      else if (event.target && event.target.id === "palette-input") paletteKey(event);
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
    var handled = true;
    if (key === "/") {
      var box = searchBox();
      if (box) { box.focus(); box.select(); } else handled = false;
    } else if (key === "?") {
      openDialog(byId("shortcuts"));
    } else if (key === "j" || key === "k") {
      handled = moveRow(key === "j" ? 1 : -1);
    } else if (key === "o") {
      handled = openRow(chosenRow());
    } else if (key === "Enter") {
      // Only when the row itself has the focus: Enter on a link or button inside stays theirs.
      handled = event.target === currentRow && openRow(currentRow);
    } else if (key === "x") {
      var box2 = chosenRow() && chosenRow().querySelector("input[type=checkbox]:not([disabled])");
      if (box2) box2.click(); else handled = false;
    } else {
      handled = false;
    }
    if (handled) event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target : null;
    if (!target) return;
    var opener = target.closest("[data-palette-open]");
    if (opener && !(event.ctrlKey || event.metaKey || event.shiftKey || event.button)) {
      if (openPalette()) event.preventDefault();
      return;
    }
    var option = target.closest("#palette-options li");
    if (option) {
      go(Array.prototype.indexOf.call(option.parentNode.children, option));
      return;
    }
    if (target.closest("[data-shortcuts-open]")) {
      openDialog(byId("shortcuts"));
      return;
    }
    var closer = target.closest("[data-dialog-close]");
    if (closer && closer.closest("dialog")) {
      closer.closest("dialog").close();
      return;
    }
    var copy = target.closest("button[data-copy]");
    if (copy) copyValue(copy);
  });

  document.addEventListener("change", function (event) {
    if (event.target && event.target.matches && event.target.matches("select[data-theme-choice]")) {
      chooseTheme(event.target.value);
    }
  });

  // --- on every page and every htmx swap --------------------------------------------------------

  function enhance(scope) {
    if (!scope || !scope.querySelectorAll) return;
    localizeTimes(scope);
    within(scope, "[data-needs-js][hidden]").forEach(function (element) {
      element.removeAttribute("hidden");
    });
    within(scope, "select[data-theme-choice]").forEach(function (select) {
      select.value = storedTheme();
    });
    if (isMac) {
      within(scope, "a[data-palette-open] kbd").forEach(function (kbd) { kbd.textContent = "⌘K"; });
    }
  }

  enhance(document.body);
  document.addEventListener("htmx:load", function (event) { enhance(event.detail.elt); });
  document.addEventListener("htmx:historyRestore", function () { enhance(document.body); });
})();

// --- Bulk actions on the users list (console/bulk_actions.py) -------------------------------
// "Select all on this page" and the count of ticked rows (the header box and the count are
// hidden without JavaScript: the row boxes work alone), and Pause for a running bulk run,
// whose next batch htmx would otherwise request as soon as the progress is swapped in.
(function () {
  var paused = false;

  function rowBoxes(form) {
    return Array.prototype.slice.call(form.querySelectorAll("input[type=checkbox][name=user_id]"));
  }

  function showCount(form) {
    var boxes = rowBoxes(form);
    var ticked = boxes.filter(function (box) { return box.checked; }).length;
    var all = form.querySelector("input[data-bulk-all]");
    if (all) {
      all.checked = boxes.length > 0 && ticked === boxes.length;
      all.indeterminate = ticked > 0 && ticked < boxes.length;
    }
    var count = form.querySelector("[data-bulk-count]");
    if (count) count.textContent = ticked === 1 ? "1 ticked" : ticked + " ticked";
  }

  function reveal(scope) {
    var root = scope && scope.querySelectorAll ? scope : document;
    Array.prototype.forEach.call(
      root.querySelectorAll("[data-bulk-all], [data-bulk-count], [data-bulk-pause]"),
      function (element) { element.hidden = false; });
    Array.prototype.forEach.call(root.querySelectorAll("form.bulk-form"), showCount);
  }

  document.addEventListener("DOMContentLoaded", function () { reveal(document); });
  document.addEventListener("htmx:load", function (event) { reveal(event.target); });

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[type=checkbox]")) return;
    var form = box.closest("form.bulk-form") || (box.form && box.form.matches(".bulk-form") && box.form);
    if (!form) return;
    if (box.matches("[data-bulk-all]")) {
      rowBoxes(form).forEach(function (row) { row.checked = box.checked; });
    }
    showCount(form);
  });

  document.addEventListener("click", function (event) {
    var pause = event.target.closest && event.target.closest("[data-bulk-pause]");
    if (!pause) return;
    paused = true;
    pause.disabled = true;
    pause.textContent = "Pausing after this batch…";
  });

  // Continue (a submit) resumes; a batch asked for by "load" waits while paused.
  document.addEventListener("submit", function (event) {
    if (event.target.matches && event.target.matches("form.bulk-next")) paused = false;
  }, true);
  document.addEventListener("htmx:confirm", function (event) {
    var form = event.detail.elt;
    if (!paused || !form.matches || !form.matches("form.bulk-next")) return;
    var cause = event.detail.triggeringEvent;
    if (cause && cause.type === "submit") return;
    event.preventDefault();
    var pause = form.querySelector("[data-bulk-pause]");
    if (pause) pause.textContent = "Paused";
  });
})();
// --- end of bulk actions ------------------------------------------------------------------
