/** The progress page's styles: plain CSS, no framework. */
export const PAGE_CSS = String.raw`
:root { font-family: system-ui, sans-serif; color: #1b1f24; background: #f6f7f9; }
main { max-width: 44rem; margin: 2rem auto; padding: 1.5rem 2rem; background: #fff; border-radius: 8px; box-shadow: 0 1px 3px #0002; }
h1 { margin-top: 0; font-size: 1.5rem; }
form label { display: block; margin: 0.6rem 0; }
input, select { display: block; width: 100%; box-sizing: border-box; padding: 0.4rem; margin-top: 0.2rem; font: inherit; }
button { font: inherit; padding: 0.4rem 1rem; margin-right: 0.4rem; cursor: pointer; }
button:disabled { cursor: default; opacity: 0.5; }
.hint, .muted { color: #57606a; font-size: 0.9rem; }
.connect { margin-top: 1rem; padding-top: 0.6rem; border-top: 1px solid #e6e8eb; }
.connect button { margin-bottom: 0.4rem; }
.bar { height: 1.2rem; background: #e6e8eb; border-radius: 0.6rem; overflow: hidden; margin: 1rem 0 0.5rem; }
#barFill { height: 100%; width: 0; background: #2f81f7; }
code { word-break: break-all; }
.bar[data-state="completed"] #barFill { background: #1f883d; }
.bar[data-state="failed"] #barFill, .bar[data-state="cancelled"] #barFill { background: #cf222e; }
.bar[data-state="paused"] #barFill { background: #9a6700; }
.state { font-weight: 600; text-transform: capitalize; }
.counts { display: flex; flex-wrap: wrap; gap: 1.5rem; margin: 1rem 0; }
.counts dt { color: #57606a; font-size: 0.85rem; }
.counts dd { margin: 0; font-size: 1.2rem; font-variant-numeric: tabular-nums; }
.waiting { background: #fff8c5; border: 1px solid #d4a72c; padding: 0.6rem; border-radius: 6px; }
.error { background: #ffebe9; border: 1px solid #cf222e; padding: 0.6rem; border-radius: 6px; }
table { width: 100%; border-collapse: collapse; font-size: 0.9rem; }
th, td { text-align: left; padding: 0.3rem; border-bottom: 1px solid #e6e8eb; }
[hidden] { display: none !important; }
`;
