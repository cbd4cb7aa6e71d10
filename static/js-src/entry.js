// Entry point of static/vendor/xterm.bundle.js: exposes xterm.js and its fit
// addon as window.KindlabXterm for static/app.js (a plain script, no bundler).
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";

window.KindlabXterm = { Terminal, FitAddon };
