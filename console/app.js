// The page's own navigation: #/overview, #/jobs, #/history, #/backups,
// #/restore, #/audit (cockpit.location keeps it in the shell's URL).

/* global cockpit */
import { h, clear, errText } from "./util.js";
import * as overview from "./overview.js";
import * as jobs from "./jobs.js";
import * as history from "./history.js";
import * as backups from "./backups.js";
import * as restore from "./restore.js";
import * as audit from "./audit.js";

const pages = { overview, jobs, history, backups, restore, audit };
let current = null;

function route() {
    const path = cockpit.location.path;
    const name = pages[path[0]] ? path[0] : "overview";
    const main = document.getElementById("main");
    if (current && current.leave)
        current.leave();
    current = pages[name];
    for (const a of document.querySelectorAll("#nav a")) {
        if (a.dataset.page === name)
            a.setAttribute("aria-current", "page");
        else
            a.removeAttribute("aria-current");
    }
    clear(main);
    main.dataset.page = name;
    document.title = "Backup (lvss): " + name;
    try {
        current.show(main, path.slice(1), cockpit.location.options);
    } catch (ex) {
        clear(main, h("div", { class: "lv-error", role: "alert" }, errText(ex)));
    }
}

// Links in the page move through cockpit.location, so the shell's URL follows.
document.addEventListener("click", ev => {
    const a = ev.target.closest && ev.target.closest("a[href^='#/']");
    if (!a)
        return;
    ev.preventDefault();
    cockpit.location.go(a.getAttribute("href").slice(1));
});

window.addEventListener("unhandledrejection", ev => {
    const b = document.getElementById("banner");
    b.hidden = false;
    clear(b, errText(ev.reason));
    ev.preventDefault();
});

cockpit.transport.wait(() => {
    cockpit.addEventListener("locationchanged", route);
    route();
});
