// History: every task with filters (job, kind, state), each task's log,
// live while it runs (TaskChanged refreshes the table, TaskProgress the log).

import { h, clear, fmtTime, errorBox, stateBadge, table, section, short } from "./util.js";
import { backupd, followTask } from "./api.js";

let sub = null;
let stop = null;

export function leave() {
    if (sub)
        sub.remove();
    if (stop)
        stop();
    sub = stop = null;
}

function select(id, label, values) {
    return h("span", { class: "lv-field-inline" }, h("label", { for: id }, label),
             h("select", { id }, h("option", { value: "" }, "all"), values.map(v => h("option", { value: v }, v))));
}

export function show(main, path) {
    const filters = h("div", { class: "lv-toolbar", role: "group", "aria-label": "filters" },
                      select("f-job", "Job", []),
                      select("f-kind", "Kind", ["backup", "restore", "prune", "check"]),
                      select("f-state", "State", ["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]));
    const list = h("div", { id: "history-list" }, "Loading…");
    const detail = h("div", { id: "history-detail" });
    clear(main, section("History", filters, list), detail);
    let tasks = [];
    const fJob = filters.querySelector("#f-job");
    const render = () => {
        const j = fJob.value;
        const k = filters.querySelector("#f-kind").value;
        const s = filters.querySelector("#f-state").value;
        const rows = tasks.filter(t => (!j || t.job === j) && (!k || t.kind === k) && (!s || t.state === s))
            .slice().reverse()
            .map(t => h("tr", { "data-task": t.id, class: ["failed", "interrupted"].includes(t.state) ? "lv-row-bad" : "" },
                        h("td", {}, h("a", { href: "#/history/" + t.id }, String(t.id))),
                        h("td", {}, t.job), h("td", {}, t.kind + (t.type ? " " + t.type : "")),
                        h("td", {}, stateBadge(t.state)), h("td", {}, fmtTime(t.queued)), h("td", {}, fmtTime(t.ended)),
                        h("td", {}, t.requested_by === "schedule" ? "schedule" : "uid " + t.requested_by),
                        h("td", {}, t.backup_id ? h("code", {}, short(t.backup_id)) : ""),
                        h("td", { class: "lv-wrap" }, t.error || "")));
        clear(list, table(["Task", "Job", "Kind", "State", "Queued", "Ended", "Asked by", "Backup", "Error"], rows,
                          { label: "tasks", empty: "no tasks match" }));
    };
    filters.addEventListener("change", render);
    const load = async () => {
        try {
            tasks = (await backupd.listTasks("")).tasks;
            const jobs = [...new Set(tasks.map(t => t.job))].sort();
            const cur = fJob.value;
            if (fJob.options.length !== jobs.length + 1) {
                clear(fJob, h("option", { value: "" }, "all"), jobs.map(v => h("option", { value: v }, v)));
                fJob.value = cur;
            }
            render();
        } catch (ex) {
            clear(list, errorBox(ex));
        }
    };
    load();
    sub = backupd.subscribe(signal => {
        if (signal === "TaskChanged")
            load();
    });
    if (path[0]) {
        const id = Number(path[0]);
        const head = h("div", { id: "log-state" });
        const log = h("pre", { class: "lv-log", id: "history-log", tabindex: "0", "aria-label": "log of task " + id });
        clear(detail, section(`Log of task ${id}`, head, log));
        stop = followTask(id, (t, text, ex) => {
            if (ex) {
                clear(head, errorBox(ex));
                return;
            }
            clear(head, stateBadge(t.state), ` ${t.job}: ${t.kind}${t.type ? " " + t.type : ""}`,
                  t.error ? h("div", { class: "lv-error" }, t.error) : null);
            head.dataset.state = t.state;
            log.textContent = text;
        });
    }
}
