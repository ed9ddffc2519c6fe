// Typeset the book's TeX to SVG at build time (book/_ext/math_prerender.py runs this once per build).
//
// stdin:  {"macros": {name: definition, ...}, "pages": [[{"tex": "...", "display": true}, ...], ...]}
//         (tex without its \( \) or \[ \] delimiters, HTML entities already decoded)
// stdout: {"css": "<the style sheet every page with math needs>",
//          "pages": [{"math": [{"html": "<mjx-container ...>", "error": null | "message"}, ...],
//                     "cache": "<svg id=\"MJX-SVG-global-cache\" ...>"}, ...]}
//
// MathJax 3 (mathjax-full, pinned in package.json): TeX input with every package but the ones that
// need a browser (autoload, require) or hide mistakes (noerrors, noundefined: an undefined macro or
// a TeX error is reported instead of drawn in red), SVG output whose glyphs are shared within a page
// (fontCache "global": one hidden <svg> of glyph paths per page, which `cache` is), and MathML kept
// beside each formula for screen readers (the AssistiveMmlHandler, as MathJax does in the browser).
'use strict';
const {mathjax} = require('mathjax-full/js/mathjax.js');
const {TeX} = require('mathjax-full/js/input/tex.js');
const {SVG} = require('mathjax-full/js/output/svg.js');
const {liteAdaptor} = require('mathjax-full/js/adaptors/liteAdaptor.js');
const {RegisterHTMLHandler} = require('mathjax-full/js/handlers/html.js');
const {AssistiveMmlHandler} = require('mathjax-full/js/a11y/assistive-mml.js');
const {AllPackages} = require('mathjax-full/js/input/tex/AllPackages.js');

const LEFT_OUT = ['autoload', 'require', 'noerrors', 'noundefined', 'bussproofs'];

function main(request) {
  const adaptor = liteAdaptor();
  AssistiveMmlHandler(RegisterHTMLHandler(adaptor));
  let error = null;
  const tex = new TeX({
    packages: AllPackages.filter((name) => !LEFT_OUT.includes(name)),
    macros: request.macros || {},
    formatError(jax, err) {
      error = err.message;
      return jax.formatError(err);
    },
  });
  const svg = new SVG({fontCache: 'global'});
  const html = mathjax.document('', {InputJax: tex, OutputJax: svg});
  const pages = request.pages.map((formulas) => {
    svg.clearFontCache();
    const math = formulas.map(({tex: source, display}) => {
      error = null;
      // \tag and \label numbering: every formula stands alone, as it did in the browser.
      tex.parseOptions.tags.reset();
      const node = html.convert(source, {display: Boolean(display), em: 16, ex: 8, containerWidth: 1280});
      let markup = adaptor.outerHTML(node);
      if (error === null && markup.includes('data-mml-node="merror"')) error = 'MathJax drew an error';
      return {html: markup, error};
    });
    const cache = svg.svg('svg', {id: SVG.FONTCACHEID, style: {display: 'none'}}, [svg.fontCache.getCache()]);
    return {math, cache: adaptor.outerHTML(cache)};
  });
  return {css: adaptor.textContent(svg.styleSheet(html)), pages};
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', () => {
  process.stdout.write(JSON.stringify(main(JSON.parse(input))));
});
