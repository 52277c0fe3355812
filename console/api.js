// The three services, over D-Bus only (cockpit-bridge's system bus).
// Every method returns one JSON document as a string (or a typed value);
// failures keep the service's own message (errText in util.js shows it).

/* global cockpit */

const opts = { bus: "system" };
let clients = null;

function client(name) {
    if (!clients)
        clients = {};
    if (!clients[name])
        clients[name] = cockpit.dbus(name, opts);
    return clients[name];
}

async function call(name, path, iface, method, sig, args) {
    const r = await client(name).call(path, iface, method, args, { type: sig });
    return r;
}

async function json(name, path, iface, method, sig, args) {
    const r = await call(name, path, iface, method, sig, args);
    return JSON.parse(r[0]);
}

const B = ["org.lvss.Backup1", "/org/lvss/Backup1", "org.lvss.Backup1"];
const C = ["org.lvss.Coordinator1", "/org/lvss/Coordinator1", "org.lvss.Coordinator1"];
const M = ["org.lvss.MailStore1", "/org/lvss/MailStore1", "org.lvss.MailStore1"];

export const backupd = {
    listJobs: () => json(...B, "ListJobs", "", []),
    getJob: name => json(...B, "GetJob", "s", [name]),
    setJob: (name, doc) => call(...B, "SetJob", "ss", [name, JSON.stringify(doc)]),
    deleteJob: name => call(...B, "DeleteJob", "s", [name]),
    run: (job, type) => call(...B, "Run", "ss", [job, type]).then(r => Number(r[0])),
    cancel: id => call(...B, "Cancel", "t", [id]),
    listTasks: job => json(...B, "ListTasks", "s", [job || ""]),
    getTask: id => json(...B, "GetTask", "t", [id]),
    getLog: id => call(...B, "GetLog", "t", [id]).then(r => r[0]),
    listBackups: job => json(...B, "ListBackups", "s", [job]),
    showBackup: (job, id) => json(...B, "ShowBackup", "ss", [job, id]),
    restore: (job, id, comps, to) => call(...B, "Restore", "ssass", [job, id, comps, to || ""]).then(r => Number(r[0])),
    // Mail of one mailbox into its live folder Recovered/<backup time> (uids [] = all).
    restoreIntoLive: (job, id, comp, mailbox, uids) => call(...B, "RestoreIntoLive", "ssssat", [job, id, comp, mailbox, uids]).then(r => Number(r[0])),
    // An alternate-location restore task's mail: uid 0 lists a mailbox, else one message's text.
    readRestored: (task, mailbox, uid) => json(...B, "ReadRestored", "tsu", [task, mailbox, uid || 0]),
    audit: () => json(...B, "Audit", "", []),
    nextRuns: (expr, n) => json(...B, "NextRuns", "su", [expr, n]),
    previewRetention: (job, ret) => json(...B, "PreviewRetention", "ss", [job, JSON.stringify(ret)]),
    // handler(signal, args): TaskChanged(id, state) / TaskProgress(id, state, elapsed, log_bytes)
    subscribe: handler => client(B[0]).subscribe({ interface: B[2], path: B[1] },
                                                 (path, iface, signal, args) => handler(signal, args)),
};

export const lvssd = {
    writers: () => json(...C, "ListWriters", "", []),
    providers: () => json(...C, "ListProviders", "", []),
    shadows: () => json(...C, "ListShadows", "", []),
    status: () => json(...C, "Status", "", []),
};

export const mstored = {
    groups: () => json(...M, "ListStorageGroups", "", []),
    databases: () => json(...M, "ListDatabases", "", []),
    mailboxes: () => json(...M, "ListMailboxes", "", []),
    messages: addr => json(...M, "ListMessages", "s", [addr]),
    mount: (sg, db) => call(...M, "MountDatabase", "ss", [sg, db]),
    dismount: (sg, db) => call(...M, "DismountDatabase", "ss", [sg, db]),
    allowOverwrite: (sg, db, yes) => call(...M, "SetAllowRestoreOverwrite", "ssb", [sg, db, yes]),
};

// Follow one task: onUpdate(task, log) at once, on every TaskProgress and
// TaskChanged of it, until it is finished.  Returns a stop function.
export function followTask(id, onUpdate) {
    let stopped = false;
    let busy = false;
    let again = false;
    const done = s => ["succeeded", "failed", "cancelled", "interrupted"].includes(s);
    async function refresh() {
        if (stopped)
            return;
        if (busy) {
            again = true;
            return;
        }
        busy = true;
        try {
            const [t, log] = await Promise.all([backupd.getTask(id), backupd.getLog(id)]);
            if (!stopped)
                onUpdate(t, log, null);
            if (done(t.state))
                stop();
        } catch (ex) {
            if (!stopped)
                onUpdate(null, null, ex);
        }
        busy = false;
        if (again) {
            again = false;
            refresh();
        }
    }
    const sub = backupd.subscribe((signal, args) => {
        if (Number(args[0]) === id)
            refresh();
    });
    function stop() {
        stopped = true;
        sub.remove();
    }
    refresh();
    return stop;
}
