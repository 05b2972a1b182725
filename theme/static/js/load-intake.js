// Inlined into the form page (plugins/site_meta): loads the form's script once the page has painted.
// The form sits below the fold; fetching its script before the first paint delays the page's largest
// contentful paint on slow phones. Comment lines are left out of the inlined copy.
(function (src) {
  addEventListener("load", function () {
    requestAnimationFrame(function () {
      setTimeout(function () {
        var script = document.createElement("script");
        script.src = src;
        document.head.appendChild(script);
      });
    });
  });
})(document.currentScript.dataset.src);
