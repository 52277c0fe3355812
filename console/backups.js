// Backups: a job's repository with its chains drawn (full -> incrementals,
// full -> differentials), each backup's components, files and writer
// stamps (ShowBackup), and a check of the repository now.

/* global cockpit */
import { h, clear, errorBox, table, section, button, fmtBytes, short } from "./util.js";
import { backupd } from "./api.js";
import { showTask, leave as leaveJobs } from "./jobs.js";

export function leave() {
    leaveJobs();
}

// Chains: every backup under the one it is based on; roots are fulls (or
// backups whose base is gone).  Newest chain first.
function chains(backups) {
    const byId = new Map(backups.map(b => [b.id, { ...b, children: [] }]));
    const roots = [];
    for (const b of byId.values()) {
        const base = b.based_on && byId.get(b.based_on);
        if (base)
            base.children.push(b);
        else
            roots.push(b);
    }
    const byTime = (a, b) => (a.time < b.time ? -1 : 1);
    for (const b of byId.values())
        b.children.sort(byTime);
    return roots.sort(byTime).reverse();
}

function node(b, job, onPick) {
    return h("li", { class: "lv-chain-node lv-type-" + b.type, "data-backup": b.id },
             h("button", { type: "button", class: "lv-chain-item", onclick: () => onPick(b.id), "aria-label": `${b.type} backup ${short(b.id)} of ${b.time}` },
               h("span", { class: "lv-badge lv-type" }, b.type), " ", h("code", {}, short(b.id)), " ",
               h("span", { class: "lv-muted" }, b.time), " ",
               h("span", {}, (b.components || []).join(", "))),
             b.children.length ? h("ul", { class: "lv-chain" }, b.children.map(c => node(c, job, onPick))) : null);
}

export function show(main, path) {
    const jobSel = h("select", { id: "backups-job" });
    const list = h("div", { id: "backups-list" });
    const detail = h("div", { id: "backup-detail" });
    const run = h("div", { id: "backups-run" });
    const checkBtn = button("Check the repository now", async () => {
        try {
            const id = await backupd.run(jobSel.value, "check");
            showTask(run, id, `Check of ${jobSel.value}`);
        } catch (ex) {
            clear(run, errorBox(ex));
        }
    }, { id: "backups-check" });
    clear(main, section("Backups", h("div", { class: "lv-toolbar" },
                                     h("label", { for: "backups-job" }, "Repository of job"), jobSel, checkBtn),
                        list), run, detail);
    const pick = async id => {
        cockpit.location.go(["backups", jobSel.value, id]);
    };
    const showDetail = async (job, id) => {
        clear(detail, section(`Backup ${short(id)}`, "Loading…"));
        try {
            const b = await backupd.showBackup(job, id);
            clear(detail, section(`Backup ${short(b.id)}`,
                h("dl", { class: "lv-dl" },
                  h("dt", {}, "Id"), h("dd", {}, h("code", { id: "backup-id" }, b.id)),
                  h("dt", {}, "Type"), h("dd", {}, b.type),
                  h("dt", {}, "Time"), h("dd", {}, b.time),
                  h("dt", {}, "Based on"), h("dd", {}, b.based_on ? h("code", {}, short(b.based_on)) : "—"),
                  h("dt", {}, "Host"), h("dd", {}, b.hostname || "—"),
                  h("dt", {}, "Read / added"), h("dd", {}, `${fmtBytes(b.bytes_read)} / ${fmtBytes(b.bytes_added)}`)),
                h("div", { class: "lv-toolbar" },
                  h("a", { class: "lv-btn lv-primary", href: `#/restore/${encodeURIComponent(job)}/${b.id}`, id: "backup-restore" }, "Restore from this backup…")),
                h("h3", {}, "Components"),
                h("ul", { id: "backup-components" }, (b.components || []).map(c => h("li", {}, typeof c === "string" ? c : JSON.stringify(c)))),
                h("h3", {}, "Writer stamps"),
                table(["Writer", "Stamp"], Object.entries(b.stamps || {}).map(([w, s]) => h("tr", {}, h("td", {}, w), h("td", { class: "lv-wrap" }, s))),
                      { label: "stamps", empty: "no stamps" }),
                h("h3", {}, `Files (${b.files.length})`),
                table(["Path", "Size", "Mode", "Modified"], b.files.map(f => h("tr", {},
                    h("td", { class: "lv-wrap" }, f.path), h("td", {}, fmtBytes(f.size)), h("td", {}, f.mode), h("td", {}, f.mtime))),
                { label: "files" })));
        } catch (ex) {
            clear(detail, errorBox(ex));
        }
    };
    const loadBackups = async () => {
        clear(list, "Loading…");
        try {
            const d = await backupd.listBackups(jobSel.value);
            clear(list, d.backups.length
                ? h("ul", { class: "lv-chain lv-chain-root", id: "chains" }, chains(d.backups).map(b => node(b, jobSel.value, pick)))
                : h("p", { class: "lv-muted" }, "The repository holds no backups yet."));
        } catch (ex) {
            clear(list, errorBox(ex));
        }
    };
    jobSel.addEventListener("change", () => cockpit.location.go(["backups", jobSel.value]));
    (async () => {
        try {
            const jobs = (await backupd.listJobs()).jobs.filter(j => !j.error);
            if (!jobs.length) {
                clear(list, h("p", { class: "lv-muted" }, "No usable job: a repository is reached through a job."));
                checkBtn.disabled = true;
                return;
            }
            clear(jobSel, jobs.map(j => h("option", { value: j.name }, j.name)));
            jobSel.value = path[0] && jobs.some(j => j.name === path[0]) ? path[0] : jobs[0].name;
            await loadBackups();
            if (path[1])
                showDetail(jobSel.value, path[1]);
        } catch (ex) {
            clear(list, errorBox(ex));
        }
    })();
}
