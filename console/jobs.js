// Jobs: list, create, edit, delete; schedule fields showing the next five
// runs as they are typed (NextRuns: the service's own calendar code); the
// retention editor showing which backups the policy keeps and why
// (PreviewRetention: lvss-backup forget --dry-run, chain-aware); run now
// with live progress; cancel.

/* global cockpit */
import { h, clear, fmtTime, fmtWeekdayTime, errorBox, errText, stateBadge, table, section, button, debounce, short } from "./util.js";
import { backupd, followTask } from "./api.js";

const SCHEDULES = ["full", "incremental", "differential", "copy"];
const KEEPS = ["keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly"];
let stopFollow = null;
let sub = null;

export function leave() {
    if (stopFollow)
        stopFollow();
    stopFollow = null;
    if (sub)
        sub.remove();
    sub = null;
}

export function show(main, path, options) {
    const listEl = h("div", { id: "jobs-list" }, "Loading…");
    const editEl = h("div", { id: "job-editor" });
    const runEl = h("div", { id: "job-run" });
    clear(main, section("Jobs", h("div", { class: "lv-toolbar" },
                                  button("New job", () => cockpit.location.go("/jobs/.new"), { id: "job-new", primary: true })),
                        listEl),
          runEl, editEl);
    const loadList = async () => {
        try {
            const d = await backupd.listJobs();
            clear(listEl, table(["Job", "Last run", "Next run", ""], d.jobs.map(j => h("tr", { "data-job": j.name },
                h("td", {}, h("a", { href: "#/jobs/" + encodeURIComponent(j.name) }, j.name)),
                h("td", {}, j.error ? h("span", { class: "lv-badge lv-state-failed" }, j.error)
                    : j.last_run ? [stateBadge(j.last_run.state), " ", fmtTime(j.last_run.time)] : "never"),
                h("td", {}, j.next_run && j.next_run.time ? `${j.next_run.type} at ${fmtTime(j.next_run.time)}` : "—"),
                h("td", { class: "lv-actions" },
                  runControls(j.name, runEl),
                  button("Edit", () => cockpit.location.go("/jobs/" + j.name), { aria: "Edit job " + j.name }),
                  button("Delete", () => del(j.name, listEl, loadList), { danger: true, aria: "Delete job " + j.name })))),
            { label: "jobs", empty: "no jobs yet" }));
        } catch (ex) {
            clear(listEl, errorBox(ex));
        }
    };
    loadList();
    sub = backupd.subscribe(signal => {
        if (signal === "TaskChanged")
            loadList();
    });
    if (path[0])
        editor(editEl, path[0] === ".new" ? null : path[0], loadList, options || {});
}

async function del(name, listEl, reload) {
    if (!window.confirm(`Delete job ${name}? Its backups stay in the repository.`))
        return;
    try {
        await backupd.deleteJob(name);
        cockpit.location.go("/jobs");
        reload();
    } catch (ex) {
        listEl.prepend(errorBox(ex, "Delete " + name));
    }
}

function runControls(name, runEl) {
    const sel = h("select", { "aria-label": "Type of run for " + name, class: "lv-run-type" },
                  ["full", "incremental", "differential", "copy", "check", "prune"].map(t => h("option", { value: t }, t)));
    return h("span", { class: "lv-inline" }, sel,
             button("Run now", () => runNow(name, sel.value, runEl), { primary: true, aria: "Run job " + name + " now" }));
}

async function runNow(name, type, runEl) {
    if (stopFollow)
        stopFollow();
    clear(runEl, section(`Run of ${name}`, h("p", {}, "Queuing…")));
    let id;
    try {
        id = await backupd.run(name, type);
    } catch (ex) {
        clear(runEl, section(`Run of ${name}`, errorBox(ex)));
        return;
    }
    showTask(runEl, id, `Run of ${name} (${type})`);
}

// A task's live progress: state, elapsed time, the log as it grows, Cancel.
export function showTask(el, id, title) {
    const state = h("div", { class: "lv-progress", id: "task-progress", "data-task": id });
    const log = h("pre", { class: "lv-log", id: "task-log", tabindex: "0", "aria-label": "task log" });
    const cancel = button("Cancel", async () => {
        try {
            await backupd.cancel(id);
        } catch (ex) {
            state.append(errorBox(ex));
        }
    }, { id: "task-cancel", danger: true });
    clear(el, section(title + ` — task ${id}`, state, h("div", { class: "lv-toolbar" }, cancel), log));
    if (stopFollow)
        stopFollow();
    stopFollow = followTask(id, (t, text, ex) => {
        if (ex) {
            clear(state, errorBox(ex));
            return;
        }
        const now = Date.now() / 1000;
        const elapsed = t.started ? Math.round((t.ended || now) - t.started) : 0;
        clear(state, h("span", { class: "lv-inline" }, stateBadge(t.state), ` elapsed ${elapsed} s`,
                       t.backup_id ? [" · backup ", h("code", { class: "lv-backup-id" }, t.backup_id)] : "",
                       t.bytes_added !== null && t.bytes_added !== undefined ? ` · ${t.bytes_added} bytes added` : ""),
              t.error ? h("div", { class: "lv-error", role: "alert" }, t.error) : null);
        state.dataset.state = t.state;
        if (["succeeded", "failed", "cancelled", "interrupted"].includes(t.state))
            cancel.disabled = true;
        log.textContent = text;
        log.scrollTop = log.scrollHeight;
    });
    return stopFollow;
}

function field(label, input, help) {
    return h("div", { class: "lv-field" }, h("label", { for: input.id }, label), input, help || null);
}

async function editor(el, name, reloadList, options) {
    let cfg = {};
    if (name) {
        try {
            const j = await backupd.getJob(name);
            if (j.error)
                el.append(errorBox(j.error, "This job's file is broken"));
            cfg = j.config || {};
        } catch (ex) {
            clear(el, errorBox(ex));
            return;
        }
    }
    const inp = (id, value, attrs = {}) => h("input", { id, type: "text", value: value ?? "", ...attrs });
    const nameIn = inp("job-name", name || "", { disabled: !!name, required: true, pattern: "[A-Za-z0-9_][A-Za-z0-9_.\\-]{0,63}", autocomplete: "off" });
    const repoIn = inp("job-repository", cfg.repository, { required: true, placeholder: "/srv/backup/repo" });
    const passIn = inp("job-password-file", cfg.password_file, { placeholder: "none (unencrypted repository)" });
    const compIn = h("textarea", { id: "job-components", rows: 2, placeholder: "every selectable component" });
    compIn.value = (cfg.components || []).join("\n");
    const sched = cfg.schedule || {};
    const check = typeof cfg.check === "string" ? { schedule: cfg.check } : (cfg.check || {});
    const schedInputs = {};
    const schedRows = [];
    const calendarField = (key, label, value) => {
        const input = inp("sched-" + key, value, { placeholder: "none", "aria-describedby": "next-" + key, autocomplete: "off" });
        const out = h("div", { id: "next-" + key, class: "lv-next", "aria-live": "polite" });
        const update = debounce(async () => {
            const expr = input.value.trim();
            if (!expr) {
                clear(out);
                return;
            }
            try {
                const r = await backupd.nextRuns(expr, 5);
                if (input.value.trim() !== expr)
                    return;
                clear(out, h("span", { class: "lv-muted" }, r.calendar),
                      r.next.length ? h("ol", { class: "lv-next-list" }, r.next.map(t => h("li", {}, fmtWeekdayTime(t))))
                          : h("p", {}, "never elapses again"));
            } catch (ex) {
                if (input.value.trim() === expr)
                    clear(out, errorBox(ex));
            }
        }, 250);
        input.addEventListener("input", update);
        update();
        schedInputs[key] = input;
        schedRows.push(h("div", { class: "lv-field lv-cal" }, h("label", { for: input.id }, label), input, out));
    };
    SCHEDULES.forEach(k => calendarField(k, k[0].toUpperCase() + k.slice(1) + " backup", sched[k]));
    calendarField("prune", "Prune", cfg.prune);
    calendarField("check", "Check", check.schedule);
    const subsetIn = inp("job-check-subset", check.read_data_subset, { placeholder: "e.g. 5%" });

    const ret = cfg.retention || {};
    const keepIns = {};
    const keepFields = KEEPS.map(k => {
        keepIns[k] = h("input", { id: "ret-" + k, type: "number", min: 0, value: ret[k] ?? "" });
        return field(k.replace("keep_", "Keep ").replace("_", " "), keepIns[k]);
    });
    keepIns.keep_within = inp("ret-keep_within", ret.keep_within, { placeholder: "e.g. 7d" });
    keepFields.push(field("Keep within", keepIns.keep_within));
    const preview = h("div", { id: "retention-preview", "aria-live": "polite" });
    const status = h("div", { id: "job-status", role: "status" },
                     options.saved ? h("span", { class: "lv-ok" }, `Job ${name} saved.`) : null);

    const retention = () => {
        const r = {};
        for (const k of KEEPS)
            if (keepIns[k].value !== "")
                r[k] = Number(keepIns[k].value);
        if (keepIns.keep_within.value.trim())
            r.keep_within = keepIns.keep_within.value.trim();
        return r;
    };
    const doPreview = debounce(async () => {
        if (!name) {
            clear(preview, h("p", { class: "lv-muted" }, "Save the job to preview its retention against the repository."));
            return;
        }
        const r = retention();
        if (!Object.keys(r).length) {
            clear(preview, h("p", { class: "lv-muted" }, "No retention: every backup is kept."));
            return;
        }
        clear(preview, h("p", { class: "lv-muted" }, "Asking the repository…"));
        try {
            const d = await backupd.previewRetention(name, r);
            const rows = [
                ...d.kept.map(b => ({ ...b, keep: true })),
                ...d.removed.map(b => ({ ...b, keep: false })),
            ].sort((a, b) => (a.time < b.time ? 1 : -1));
            clear(preview, h("p", {}, `${d.kept.length} kept, ${d.removed.length} would be removed`),
                  table(["Backup", "Type", "Time", "Decision", "Why"], rows.map(b => h("tr", { class: b.keep ? "" : "lv-row-bad", "data-backup": b.id, "data-keep": b.keep ? "keep" : "remove" },
                      h("td", {}, h("code", {}, short(b.id))), h("td", {}, b.type), h("td", {}, b.time),
                      h("td", {}, h("span", { class: "lv-badge " + (b.keep ? "lv-state-succeeded" : "lv-state-failed") }, b.keep ? "keep" : "remove")),
                      h("td", {}, b.keep ? b.reasons.map(x => x === "chain" ? "chain (a kept backup needs it)" : x).join(", ") : "not selected by any rule"))),
                  { label: "retention preview", empty: "the repository holds no backups" }));
        } catch (ex) {
            clear(preview, errorBox(ex));
        }
    }, 300);
    Object.values(keepIns).forEach(i => i.addEventListener("input", doPreview));
    doPreview();

    const build = () => {
        const doc = { ...cfg };
        doc.repository = repoIn.value.trim();
        if (passIn.value.trim())
            doc.password_file = passIn.value.trim();
        else
            delete doc.password_file;
        const comps = compIn.value.split("\n").map(s => s.trim()).filter(Boolean);
        if (comps.length)
            doc.components = comps;
        else
            delete doc.components;
        const s = {};
        SCHEDULES.forEach(k => {
            if (schedInputs[k].value.trim())
                s[k] = schedInputs[k].value.trim();
        });
        if (Object.keys(s).length)
            doc.schedule = s;
        else
            delete doc.schedule;
        if (schedInputs.prune.value.trim())
            doc.prune = schedInputs.prune.value.trim();
        else
            delete doc.prune;
        if (schedInputs.check.value.trim())
            doc.check = subsetIn.value.trim() ? { schedule: schedInputs.check.value.trim(), read_data_subset: subsetIn.value.trim() }
                : schedInputs.check.value.trim();
        else
            delete doc.check;
        const r = retention();
        if (Object.keys(r).length)
            doc.retention = r;
        else
            delete doc.retention;
        return doc;
    };
    const save = async ev => {
        ev.preventDefault();
        const n = name || nameIn.value.trim();
        clear(status, "Saving…");
        try {
            await backupd.setJob(n, build());
            clear(status, h("span", { class: "lv-ok" }, `Job ${n} saved.`));
            reloadList();
            if (!name)
                cockpit.location.go("/jobs/" + n, { saved: "1" }); // the editor of the new job says so
        } catch (ex) {
            clear(status, h("div", { class: "lv-error", role: "alert" }, errText(ex)));
        }
    };
    clear(el, section(name ? `Edit job ${name}` : "New job",
                      h("form", { id: "job-form", onsubmit: save, class: "lv-form" },
                        field("Name", nameIn), field("Repository", repoIn), field("Password file", passIn),
                        field("Components (one per line)", compIn),
                        h("fieldset", {}, h("legend", {}, "Schedules (systemd calendar expressions; the next five runs are shown)"), schedRows,
                          field("Check reads this share of the data", subsetIn)),
                        h("fieldset", {}, h("legend", {}, "Retention (after every backup)"), h("div", { class: "lv-keeps" }, keepFields),
                          h("h3", {}, "What this policy would keep"), preview),
                        h("div", { class: "lv-toolbar" },
                          h("button", { type: "submit", class: "lv-btn lv-primary", id: "job-save" }, "Save"),
                          button("Close", () => cockpit.location.go("/jobs"))),
                        status)));
    (name ? repoIn : nameIn).focus();
}
