// Inlined into the form page (plugins/site_meta): loads the form's script once the page has painted.
// The form sits below the fold; fetching its script before the first paint delays the page's largest
// contentful paint on slow phones. The browser's own paint timing says when that is; where it has
// none, the page's load event does. Comment lines are left out of the inlined copy.
(function (src) {
  var started = false;
  function load() {
    if (started) return;
    started = true;
    var script = document.createElement("script");
    script.src = src;
    document.head.appendChild(script);
  }
  var types = window.PerformanceObserver && PerformanceObserver.supportedEntryTypes;
  if (!types || types.indexOf("paint") < 0) {
    addEventListener("load", load);
    return;
  }
  new PerformanceObserver(function (list, observer) {
    if (list.getEntriesByName("first-contentful-paint").length) {
      observer.disconnect();
      setTimeout(load);
    }
  }).observe({ type: "paint", buffered: true });
})(document.currentScript.dataset.src);
