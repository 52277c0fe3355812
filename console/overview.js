// Overview: writers, providers, snapshots, the set in progress and frozen
// filesystems (lvssd); storage groups and databases (mstored); jobs with
// their last result and next run, a failed or overdue job flagged (backupd).

import { h, clear, fmtTime, errorBox, stateBadge, table, section } from "./util.js";
import { lvssd, mstored, backupd } from "./api.js";

let sub = null;

async function fill(el, load) {
    try {
        clear(el, await load());
    } catch (ex) {
        clear(el, errorBox(ex));
    }
}

function jobsPart() {
    return backupd.listJobs().then(d => {
        const now = Date.now() / 1000;
        return table(["Job", "Status", "Last run", "Next run", "Repository"], d.jobs.map(j => {
            const last = j.last_run || null;
            const next = j.next_run || null;
            const failed = j.error || (last && ["failed", "interrupted"].includes(last.state));
            // Overdue: a next run more than a minute in the past (the service is not running it).
            const overdue = next && next.time && next.time < now - 60;
            const status = j.error ? h("span", { class: "lv-badge lv-state-failed" }, "broken: " + j.error)
                : failed ? h("span", { class: "lv-badge lv-state-failed" }, "last run " + last.state)
                    : overdue ? h("span", { class: "lv-badge lv-state-overdue" }, "overdue")
                        : h("span", { class: "lv-badge lv-state-succeeded" }, last ? "ok" : "not run yet");
            return h("tr", { class: failed || overdue ? "lv-row-bad" : "", "data-job": j.name },
                     h("td", {}, h("a", { href: "#/jobs/" + encodeURIComponent(j.name) }, j.name)),
                     h("td", {}, status),
                     h("td", {}, last ? [stateBadge(last.state), " ", fmtTime(last.time), " (task ", String(last.task), ")"] : "never"),
                     h("td", {}, next && next.time ? `${next.type} at ${fmtTime(next.time)}` : "none scheduled"),
                     h("td", {}, j.repository || ""));
        }), { label: "jobs", empty: "no jobs yet: create one on the Jobs page" });
    });
}

export function show(main) {
    const parts = {
        jobs: h("div", { id: "ov-jobs" }, "Loading…"),
        writers: h("div", { id: "ov-writers" }, "Loading…"),
        status: h("div", { id: "ov-status" }, "Loading…"),
        providers: h("div", { id: "ov-providers" }, "Loading…"),
        shadows: h("div", { id: "ov-shadows" }, "Loading…"),
        dbs: h("div", { id: "ov-databases" }, "Loading…"),
    };
    clear(main,
          h("div", { class: "lv-grid" },
            section("Jobs", parts.jobs),
            section("Writers", parts.writers),
            section("Snapshot set in progress", parts.status),
            section("Storage groups and databases", parts.dbs),
            section("Providers", parts.providers),
            section("Snapshots", parts.shadows)));
    const load = () => {
        fill(parts.jobs, jobsPart);
        fill(parts.writers, () => lvssd.writers().then(d => table(["Writer", "Instance", "State", "Last error"],
            d.writers.map(w => h("tr", {}, h("td", {}, w.name), h("td", {}, w.instance_name || ""),
                                 h("td", {}, stateBadge(String(w.state).toLowerCase())),
                                 h("td", { class: w.last_error && w.last_error !== "S_OK" && w.last_error !== "none" ? "lv-bad" : "" }, w.last_error || "none"))),
            { label: "writers", empty: "no writer subscribed" })));
        fill(parts.status, () => lvssd.status().then(s => h("dl", { class: "lv-dl" },
            h("dt", {}, "Set in progress"), h("dd", {}, s.set_in_progress || "none"),
            h("dt", {}, "Frozen filesystems"), h("dd", { class: (s.frozen_filesystems || []).length ? "lv-bad" : "" },
                                                  (s.frozen_filesystems || []).join(", ") || "none"),
            h("dt", {}, "Writers / sessions"), h("dd", {}, `${s.writers} / ${s.sessions}`))));
        fill(parts.providers, () => lvssd.providers().then(d => table(["Provider", "Type"],
            d.providers.map(p => h("tr", {}, h("td", {}, p.name), h("td", {}, p.type))), { label: "providers" })));
        fill(parts.shadows, () => lvssd.shadows().then(d => table(["Snapshot", "Original", "Provider", "Created"],
            d.shadows.map(s => h("tr", {}, h("td", {}, String(s.id).slice(0, 12)), h("td", {}, s.original),
                                 h("td", {}, s.provider), h("td", {}, s.created))), { label: "snapshots", empty: "no snapshots" })));
        fill(parts.dbs, () => Promise.all([mstored.groups(), mstored.databases()]).then(([g, d]) =>
            table(["Storage group", "Database", "State", "Restore overwrite"],
                  d.databases.map(x => h("tr", {}, h("td", {}, x.sg), h("td", {}, x.name),
                                         h("td", {}, h("span", { class: "lv-badge lv-state-" + x.state }, x.state)),
                                         h("td", {}, x.allow_restore_overwrite ? "allowed" : "no"))),
                  { label: "databases", empty: g.storage_groups.length ? "no databases" : "no storage groups" })));
    };
    load();
    sub = backupd.subscribe(signal => {
        if (signal === "TaskChanged")
            fill(parts.jobs, jobsPart);
    });
}

export function leave() {
    if (sub)
        sub.remove();
    sub = null;
}
