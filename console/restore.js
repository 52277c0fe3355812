// Restore wizard: backup -> component (a storage group, one database, or
// another directory) -> the steps the restore needs, each with its button
// (dismount the group, allow the overwrite) -> progress -> result (mount
// again, the restored mailboxes and their messages; or, for a restore into
// the live mailbox, the messages of its new Recovered/<backup time> folder).

/* global cockpit */
import { h, clear, errorBox, section, button, short, stateBadge } from "./util.js";
import { backupd, mstored } from "./api.js";
import { showTask, leave as leaveJobs } from "./jobs.js";

export function leave() {
    leaveJobs();
}

const STEPS = ["Backup", "Component", "Preparation", "Progress", "Result"];

// "Mail Store/h1/SG1" -> {sg: "SG1"}, "Mail Store/h1/SG1/DB1" -> {sg, db}.
function mailTarget(path) {
    const p = path.split("/");
    if (p[0] !== "Mail Store" || p.length < 3)
        return null;
    return { sg: p[2], db: p[3] || null };
}

export function show(main, path) {
    const st = { job: path[0] ? decodeURIComponent(path[0]) : "", backup: path[1] || "", component: "", to: "", live: null, step: 0, task: null };
    const steps = h("ol", { class: "lv-steps", id: "wizard-steps" });
    const body = h("div", { id: "wizard-body" });
    clear(main, section("Restore", steps, body));

    const go = n => {
        st.step = n;
        clear(steps, STEPS.map((s, i) => h("li", { class: i === n ? "lv-step-current" : i < n ? "lv-step-done" : "", "aria-current": i === n ? "step" : null }, s)));
        clear(body, "Loading…");
        [stepBackup, stepComponent, stepPrepare, stepProgress, stepResult][n]().catch(ex => clear(body, errorBox(ex)));
    };
    const nav = (back, next, nextLabel = "Next", nextId = "wizard-next") => h("div", { class: "lv-toolbar" },
        back !== null ? button("Back", () => go(back), { id: "wizard-back" }) : null,
        next ? button(nextLabel, next, { primary: true, id: nextId }) : null);

    async function stepBackup() {
        const jobs = (await backupd.listJobs()).jobs.filter(j => !j.error);
        if (!jobs.length) {
            clear(body, h("p", {}, "No usable job: a repository is reached through a job."));
            return;
        }
        if (!jobs.some(j => j.name === st.job))
            st.job = jobs[0].name;
        const sel = h("select", { id: "restore-job" }, jobs.map(j => h("option", { value: j.name }, j.name)));
        sel.value = st.job;
        const list = h("fieldset", { id: "restore-backups" }, h("legend", {}, "Backup"), "Loading…");
        const err = h("div");
        const load = async () => {
            st.job = sel.value;
            try {
                const d = await backupd.listBackups(st.job);
                const bs = d.backups.slice().reverse();
                if (!bs.some(b => b.id === st.backup))
                    st.backup = bs.length ? bs[0].id : "";
                clear(list, h("legend", {}, "Backup"), bs.length ? bs.map(b => h("div", { class: "lv-radio" },
                    h("input", { type: "radio", name: "backup", id: "rb-" + b.id, value: b.id, checked: b.id === st.backup, onchange: () => { st.backup = b.id; } }),
                    h("label", { for: "rb-" + b.id }, `${b.time} · ${b.type} · `, h("code", {}, short(b.id)), ` · ${(b.components || []).join(", ")}`)))
                    : h("p", {}, "The repository holds no backups."));
            } catch (ex) {
                clear(list, h("legend", {}, "Backup"), errorBox(ex));
            }
        };
        sel.addEventListener("change", load);
        clear(body, h("div", { class: "lv-field" }, h("label", { for: "restore-job" }, "Repository of job"), sel), list, err,
              nav(null, () => {
                  if (!st.backup) {
                      clear(err, errorBox("choose a backup"));
                      return;
                  }
                  go(1);
              }));
        await load();
    }

    async function stepComponent() {
        const [b, dbs] = await Promise.all([backupd.showBackup(st.job, st.backup), mstored.databases().catch(() => ({ databases: [] }))]);
        const choices = [];
        for (const c of b.components || []) {
            const name = typeof c === "string" ? c : c.path || c.name;
            choices.push({ path: name, label: `${name} (everything in it)` });
            const t = mailTarget(name);
            if (t && !t.db)
                for (const d of dbs.databases.filter(x => x.sg === t.sg))
                    choices.push({ path: `${name}/${d.name}`, label: `${name}/${d.name} (one database)` });
        }
        if (!choices.some(c => c.path === st.component))
            st.component = choices.length ? choices[0].path : "";
        const liveIn = h("input", { type: "text", id: "restore-mailbox", value: st.live ? st.live.mailbox : "", placeholder: "user@server", autocomplete: "off" });
        const uidsIn = h("input", { type: "text", id: "restore-uids", value: st.live ? st.live.uids.join(" ") : "", placeholder: "e.g. 3 7 12", autocomplete: "off" });
        const toIn = h("input", { type: "text", id: "restore-to", value: st.to, placeholder: "/srv/restore/recovery", "aria-label": "alternate directory" });
        const where = h("fieldset", {}, h("legend", {}, "Where"),
            h("div", { class: "lv-radio" }, h("input", { type: "radio", name: "where", id: "where-inplace", checked: !st.to, onchange: () => { toIn.disabled = true; } }),
              h("label", { for: "where-inplace" }, "In place (replaces the live data)")),
            h("div", { class: "lv-radio" }, h("input", { type: "radio", name: "where", id: "where-alt", checked: !!st.to, onchange: () => { toIn.disabled = false; toIn.focus(); } }),
              h("label", { for: "where-alt" }, "Into another directory (production untouched)")), toIn,
            h("div", { class: "lv-radio" }, h("input", { type: "radio", name: "where", id: "where-live", checked: !!st.live, onchange: () => { toIn.disabled = true; liveIn.focus(); } }),
              h("label", { for: "where-live" }, "Into the live mailbox (one database; mail copied into Recovered/<backup time>, nothing dismounted)")),
            h("div", { class: "lv-field" }, h("label", { for: "restore-mailbox" }, "Mailbox"), liveIn),
            h("div", { class: "lv-field" }, h("label", { for: "restore-uids" }, "Message UIDs (optional; none = all)"), uidsIn));
        toIn.disabled = !st.to;
        for (const r of where.querySelectorAll("input[name=where]:not(#where-live)"))
            r.addEventListener("change", () => { liveIn.disabled = uidsIn.disabled = true; });
        where.querySelector("#where-live").addEventListener("change", () => { liveIn.disabled = uidsIn.disabled = false; });
        liveIn.disabled = uidsIn.disabled = !st.live;
        const err = h("div");
        clear(body, h("fieldset", { id: "restore-components" }, h("legend", {}, `Component of backup ${short(st.backup)}`),
                      choices.map((c, i) => h("div", { class: "lv-radio" },
                          h("input", { type: "radio", name: "component", id: "rc-" + i, value: c.path, checked: c.path === st.component, onchange: () => { st.component = c.path; } }),
                          h("label", { for: "rc-" + i }, c.label)))),
              where, err,
              nav(0, () => {
                  st.to = where.querySelector("#where-alt").checked ? toIn.value.trim() : "";
                  if (where.querySelector("#where-alt").checked && !st.to.startsWith("/")) {
                      clear(err, errorBox("the other directory must be an absolute path"));
                      return;
                  }
                  st.live = null;
                  if (where.querySelector("#where-live").checked) {
                      const t = mailTarget(st.component);
                      const mailbox = liveIn.value.trim();
                      const words = uidsIn.value.trim().split(/[\s,]+/).filter(w => w);
                      if (!t || !t.db) {
                          clear(err, errorBox("a restore into the live mailbox takes one database (Mail Store/SERVER/SG/DB)"));
                          return;
                      }
                      if (!/^[^\s@<>/"\\]+@[^\s@<>/"\\]+$/.test(mailbox)) {
                          clear(err, errorBox(`mailbox '${mailbox}' is not an e-mail address`));
                          return;
                      }
                      if (words.some(w => !/^[1-9][0-9]{0,9}$/.test(w) || Number(w) > 4294967295) || words.length > 64) {
                          clear(err, errorBox("message UIDs: at most 64 numbers from 1 to 4294967295"));
                          return;
                      }
                      st.live = { mailbox, uids: words.map(Number) };
                  }
                  go(2);
              }));
    }

    async function stepPrepare() {
        const t = mailTarget(st.component);
        const list = h("ol", { class: "lv-prep", id: "restore-prep" });
        const start = button("Start the restore", async () => {
            start.disabled = true;
            try {
                st.task = st.live ? await backupd.restoreIntoLive(st.job, st.backup, st.component, st.live.mailbox, st.live.uids)
                    : await backupd.restore(st.job, st.backup, [st.component], st.to);
                go(3);
            } catch (ex) {
                start.disabled = false;
                list.after(errorBox(ex));
            }
        }, { primary: true, id: "restore-start" });
        const render = async () => {
            const items = [];
            let ready = true;
            items.push(h("li", { class: "lv-prep-done" }, `Restore ${st.component} from backup ${short(st.backup)} of job ${st.job}` +
                         (st.live ? ` into the live mailbox ${st.live.mailbox} (${st.live.uids.length ? "messages " + st.live.uids.join(", ") : "all messages"})`
                             : st.to ? ` into ${st.to}` : " in place") + "."));
            if (st.live) {
                items.push(h("li", { class: "lv-prep-done" }, "Nothing to prepare: the mail is copied into a new folder Recovered/<backup time>; every database stays mounted."));
            } else if (t && !st.to) {
                const dbs = (await mstored.databases()).databases.filter(d => d.sg === t.sg);
                const mounted = dbs.filter(d => d.state === "mounted");
                const targets = dbs.filter(d => !t.db || d.name === t.db);
                const notAllowed = targets.filter(d => !d.allow_restore_overwrite);
                ready = !mounted.length && !notAllowed.length;
                const stepItem = (done, text, label, action, id) => h("li", { class: done ? "lv-prep-done" : "lv-prep-todo", "data-done": done ? "yes" : "no", id: id + "-step" },
                    h("span", {}, (done ? "✓ " : "") + text), done ? null : button(label, async ev => {
                        ev.target.disabled = true;
                        for (const e of list.querySelectorAll(".lv-error"))
                            e.remove();
                        try {
                            await action();
                        } catch (ex) { /* e.g. "a backup is in progress, try again later": the button stays usable */
                            ev.target.disabled = false;
                            ev.target.after(errorBox(ex));
                            return;
                        }
                        render();
                    }, { id }));
                items.push(stepItem(!mounted.length,
                                    mounted.length ? `Storage group ${t.sg} must be offline: ${mounted.map(d => d.name).join(", ")} mounted.` : `Storage group ${t.sg} is offline.`,
                                    `Dismount ${t.sg}`, async () => { for (const d of mounted) await mstored.dismount(t.sg, d.name); }, "prep-dismount"));
                items.push(stepItem(!notAllowed.length,
                                    notAllowed.length ? `The restore may not overwrite ${notAllowed.map(d => t.sg + "/" + d.name).join(", ")} yet.` : "The overwrite is allowed.",
                                    "Allow the overwrite", async () => { for (const d of notAllowed) await mstored.allowOverwrite(t.sg, d.name, true); }, "prep-allow"));
            } else if (st.to) {
                items.push(h("li", { class: "lv-prep-done" }, "Nothing to prepare: production stays as it is."));
            } else {
                items.push(h("li", { class: "lv-prep-todo" }, "The component's writer refuses the restore while its application runs: stop it first."));
            }
            clear(list, items);
            start.disabled = !ready;
            (list.querySelector("button") || start).focus();
        };
        clear(body, list, nav(1, null), h("div", { class: "lv-toolbar" }, start));
        await render();
    }

    async function stepProgress() {
        const el = h("div", { id: "restore-progress" });
        clear(body, el);
        showTask(el, st.task, `Restore of ${st.component}`);
        const watch = backupd.subscribe(async (signal, args) => {
            if (signal !== "TaskChanged" || Number(args[0]) !== st.task)
                return;
            if (["succeeded", "failed", "cancelled", "interrupted"].includes(args[1])) {
                watch.remove();
                go(4);
            }
        });
        const t = await backupd.getTask(st.task);
        if (["succeeded", "failed", "cancelled", "interrupted"].includes(t.state)) {
            watch.remove();
            go(4);
        }
    }

    async function stepResult() {
        const t = await backupd.getTask(st.task);
        const target = mailTarget(st.component);
        const mail = h("div", { id: "restore-mail" });
        const out = [h("p", { id: "restore-result", "data-state": t.state }, stateBadge(t.state), ` task ${t.id}: restore of ${st.component}`),
            t.error ? h("div", { class: "lv-error", role: "alert" }, t.error) : null,
            h("a", { href: "#/history/" + t.id }, "Task log")];
        const showMail = async () => {
            try {
                const dbs = (await mstored.databases()).databases.filter(d => d.sg === target.sg && (!target.db || d.name === target.db));
                const boxes = (await mstored.mailboxes()).mailboxes.filter(m => dbs.some(d => m.db === `${target.sg}/${d.name}`));
                const parts = [];
                for (const m of boxes) {
                    const msgs = (await mstored.messages(m.address)).messages;
                    parts.push(h("h3", {}, `${m.address} (${msgs.length} messages)`),
                               h("ul", { class: "lv-mail", "data-mailbox": m.address }, msgs.map(x => h("li", { "data-uid": x.uid }, `#${x.uid} · ${x.size} bytes · ${x.subject || "(no subject)"}`))));
                }
                clear(mail, parts.length ? parts : h("p", {}, "No mailbox in the restored databases."));
            } catch (ex) {
                clear(mail, errorBox(ex));
            }
        };
        // The mail of the alternate location, read through the service (ReadRestored).
        const showRestored = async () => {
            const text = h("pre", { id: "restored-text", class: "lv-log", tabindex: "0", hidden: true });
            try {
                const dbs = (await mstored.databases()).databases.filter(d => d.sg === target.sg && (!target.db || d.name === target.db));
                const boxes = (await mstored.mailboxes()).mailboxes.filter(m => dbs.some(d => m.db === `${target.sg}/${d.name}`));
                const parts = [];
                for (const m of boxes) {
                    const msgs = (await backupd.readRestored(t.id, m.address, 0)).messages;
                    parts.push(h("h3", {}, `${m.address} (${msgs.length} messages in ${st.to})`),
                               h("ul", { class: "lv-mail lv-restored", "data-mailbox": m.address }, msgs.map(x => h("li", { "data-uid": x.uid },
                                   button(`#${x.uid} · ${x.size} bytes · ${x.subject || "(no subject)"}`, async () => {
                                       try {
                                           const r = await backupd.readRestored(t.id, m.address, x.uid);
                                           text.textContent = r.text + (r.truncated ? `\n[… cut at ${r.text.length} of ${r.bytes} bytes]` : "");
                                           text.dataset.mailbox = m.address;
                                           text.dataset.uid = String(x.uid);
                                           text.hidden = false;
                                           text.focus();
                                       } catch (ex) {
                                           text.hidden = false;
                                           clear(text, errorBox(ex));
                                       }
                                   })))));
                }
                clear(mail, parts.length ? parts : h("p", {}, "No mailbox in the restored databases."), text);
            } catch (ex) {
                clear(mail, errorBox(ex));
            }
        };
        const showRecovered = async () => {
            const r = t.restore || {};
            try {
                const msgs = (await mstored.messages(r.mailbox)).messages.filter(x => x.folder === r.folder);
                clear(mail, h("h3", {}, `${r.mailbox}: folder ${r.folder} (${msgs.length} messages)`),
                      h("ul", { class: "lv-mail", "data-mailbox": r.mailbox, "data-folder": r.folder },
                        msgs.map(x => h("li", { "data-uid": x.uid }, `#${x.uid} · ${x.size} bytes · ${x.subject || "(no subject)"}`))));
            } catch (ex) {
                clear(mail, errorBox(ex));
            }
        };
        if (t.state === "succeeded" && t.restore && t.restore.into_live) {
            out.push(h("p", { id: "restore-recovered", "data-folder": t.restore.folder || "" },
                       `The mail is in the folder ${t.restore.folder} of ${t.restore.mailbox}.`));
            await showRecovered();
        } else if (t.state === "succeeded" && target && !st.to) {
            const mountBtn = button(`Mount ${target.sg} again`, async () => {
                mountBtn.disabled = true;
                try {
                    const dbs = (await mstored.databases()).databases.filter(d => d.sg === target.sg && d.state !== "mounted");
                    for (const d of dbs)
                        await mstored.mount(target.sg, d.name);
                    mountBtn.after(h("span", { class: "lv-ok", id: "restore-mounted" }, ` ${target.sg} is mounted.`));
                    await showMail();
                } catch (ex) {
                    mountBtn.disabled = false;
                    mountBtn.after(errorBox(ex));
                }
            }, { primary: true, id: "restore-mount" });
            out.push(h("div", { class: "lv-toolbar" }, mountBtn));
        } else if (t.state === "succeeded" && st.to) {
            out.push(h("p", {}, `The data is in ${st.to} (production untouched). Its mail:`));
            if (target)
                await showRestored();
        }
        out.push(mail, h("div", { class: "lv-toolbar" }, button("Another restore", () => go(0), { id: "wizard-again" })));
        clear(body, out);
        (body.querySelector("#restore-mount") || body.querySelector("#wizard-again")).focus();
    }

    go(st.backup ? 1 : 0);
}
