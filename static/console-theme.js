// gotrue-web console: the theme the operator chose (console.js's Theme menu), applied before the
// page is painted. Loaded without defer in <head>: a few lines, no inline script (strict CSP).
// No choice stored: the stylesheet follows prefers-color-scheme.
(function () {
  try {
    var theme = window.localStorage.getItem("console-theme");
    if (theme === "light" || theme === "dark") {
      document.documentElement.setAttribute("data-theme", theme);
    }
  } catch (error) {
    // Storage refused (privacy settings): the system's scheme applies.
  }
})();
