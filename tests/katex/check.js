// Renders every math block of sharegrad's Markdown derivations with KaTeX,
// as strictly as KaTeX allows: `$$ ... $$` blocks in display mode and
// `$ ... $` spans inline, with throwOnError and strict "error".
//
//   node tests/katex/check.js FILE.md...
//
// Exits 1 and names the file and the formula when any of them fails.
"use strict";
const fs = require("fs");
const katex = require("katex");

function formulas(text) {
  const out = [];
  // Display blocks first; they are removed before inline spans are found.
  const rest = text.replace(/\$\$([\s\S]*?)\$\$/g, (_, tex) => {
    out.push({ tex, display: true });
    return " ";
  });
  // Inline spans: `$...$` not preceded by a backslash.
  const inline = /(^|[^\\])\$((?:[^$\\]|\\[\s\S])+?)\$/g;
  let m;
  while ((m = inline.exec(rest)) !== null) {
    out.push({ tex: m[2], display: false });
  }
  return out;
}

let failures = 0;
let count = 0;
for (const file of process.argv.slice(2)) {
  const text = fs.readFileSync(file, "utf8");
  for (const { tex, display } of formulas(text)) {
    count += 1;
    try {
      katex.renderToString(tex, { displayMode: display, throwOnError: true, strict: "error" });
    } catch (e) {
      failures += 1;
      console.error(`${file}: ${e.message}\n  in: ${tex.trim().slice(0, 400)}`);
    }
  }
}
console.log(`katex: ${count} formulas, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
