// Loaded between require.js and the Jupyter widgets HTML manager (see _config.yml).
// 1. The manager resolves its font files relative to its require.js module URL; point that URL
//    at the copy served with the book (_static/vendor/html-manager), not at the page's folder.
// 2. The manager typesets widget labels through the MathJax 2 API (MathJax.Hub.Queue); the book
//    uses MathJax 3, so give whatever object becomes window.MathJax a Hub.Queue that calls
//    MathJax 3's typesetPromise.
(function () {
  var src = document.currentScript.src;
  var base = src.slice(0, src.lastIndexOf("/") + 1) + "vendor/html-manager";
  if (window.require && window.require.config) {
    window.require.config({ paths: { "@jupyter-widgets/html-manager/dist": base } });
  }
  function withHub(m) {
    if (m && typeof m === "object" && !m.Hub) {
      Object.defineProperty(m, "Hub", {
        configurable: true, enumerable: false,
        value: { Queue: function (cmd) {
          var el = cmd && cmd[2];
          if (el && m.typesetPromise) { m.typesetPromise([el]).catch(function () {}); }
        } }
      });
    }
    return m;
  }
  var current = withHub(window.MathJax);
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    get: function () { return current; },
    set: function (v) { current = withHub(v); }
  });
})();
