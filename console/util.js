// Small DOM helpers: elements are built with textContent only (no HTML
// strings), so nothing a service returns is ever parsed as markup.

export function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
        if (v === undefined || v === null || v === false)
            continue;
        if (k.startsWith("on"))
            el.addEventListener(k.slice(2), v);
        else if (k === "class")
            el.className = v;
        else if (v === true)
            el.setAttribute(k, "");
        else
            el.setAttribute(k, String(v));
    }
    for (const c of children.flat(Infinity)) {
        if (c === undefined || c === null || c === false)
            continue;
        el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
}

export function clear(el, ...children) {
    el.replaceChildren();
    for (const c of children.flat(Infinity))
        if (c)
            el.append(c);
    return el;
}

// A time in seconds since the epoch, local, "2026-12-07 11:42:05".
export function fmtTime(t) {
    if (t === null || t === undefined || t === "")
        return "—";
    const d = new Date(Number(t) * 1000);
    const p = n => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function fmtWeekdayTime(t) {
    const d = new Date(Number(t) * 1000);
    return d.toLocaleDateString("en-GB", { weekday: "short" }) + " " + fmtTime(t);
}

export function fmtBytes(n) {
    if (n === null || n === undefined)
        return "—";
    const u = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    n = Number(n);
    while (n >= 1024 && i < u.length - 1) {
        n /= 1024;
        i++;
    }
    return (i ? n.toFixed(1) : String(n)) + " " + u[i];
}

export function short(id) {
    return id ? String(id).slice(0, 12) : "—";
}

// The error as the service worded it (the D-Bus error's message).
export function errText(ex) {
    if (!ex)
        return "unknown error";
    if (typeof ex === "string")
        return ex;
    return ex.message || ex.problem || String(ex);
}

export function errorBox(ex, what) {
    return h("div", { class: "lv-error", role: "alert" }, what ? what + ": " : "", errText(ex));
}

export function stateBadge(state) {
    return h("span", { class: "lv-badge lv-state-" + (state || "none") }, state || "never");
}

export function table(headers, rows, opts = {}) {
    return h("div", { class: "lv-table-wrap" },
             h("table", { class: "lv-table", "aria-label": opts.label },
               h("thead", {}, h("tr", {}, headers.map(x => h("th", { scope: "col" }, x)))),
               h("tbody", {}, rows.length
                   ? rows
                   : h("tr", {}, h("td", { colspan: headers.length, class: "lv-muted" }, opts.empty || "none")))));
}

export function section(title, ...body) {
    return h("section", { class: "lv-card" }, h("h2", {}, title), body);
}

export function button(label, onclick, opts = {}) {
    return h("button", { type: "button", class: opts.primary ? "lv-btn lv-primary" : opts.danger ? "lv-btn lv-danger" : "lv-btn", onclick, id: opts.id, disabled: opts.disabled, "aria-label": opts.aria }, label);
}

export function debounce(fn, ms) {
    let timer = null;
    return (...args) => {
        clearTimeout(timer);
        timer = setTimeout(() => fn(...args), ms);
    };
}
