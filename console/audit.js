// Audit: who asked the backup service for what, when, and the outcome
// (newest first), refreshed as tasks change.

import { h, clear, fmtTime, errorBox, table, section } from "./util.js";
import { backupd } from "./api.js";

let sub = null;

export function leave() {
    if (sub)
        sub.remove();
    sub = null;
}

export function show(main) {
    const list = h("div", { id: "audit-list" }, "Loading…");
    clear(main, section("Audit", list));
    const load = async () => {
        try {
            const d = await backupd.audit();
            clear(list, table(["Time", "Who", "Action", "Object", "Outcome"], d.records.slice().reverse().map(r =>
                h("tr", { class: /refused|denied|failed/.test(r.outcome) ? "lv-row-bad" : "" },
                  h("td", {}, fmtTime(r.time)), h("td", {}, r.who === "schedule" ? "schedule" : "uid " + r.who),
                  h("td", {}, r.action), h("td", { class: "lv-wrap" }, r.object), h("td", { class: "lv-wrap" }, r.outcome))),
            { label: "audit records", empty: "nothing recorded yet" }));
        } catch (ex) {
            clear(list, errorBox(ex));
        }
    };
    load();
    sub = backupd.subscribe(signal => {
        if (signal === "TaskChanged")
            load();
    });
}
