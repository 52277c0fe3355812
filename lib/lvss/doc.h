/* SPDX-License-Identifier: MIT */
/*
 * Internal: the in-memory model of the two VSS documents and their JSON
 * form, shared by liblvss and lvssd.
 *
 *   struct lvss_writer_metadata   Writer Metadata Document (WMD)
 *   struct lvss_bcd               Backup Components Document (BCD), holding
 *                                 lvss_writer_components -> lvss_component
 *
 * Parsing never trusts its input: size limits (LVSS_DOC_MAX_*), types, enum
 * spellings, UUID syntax, uniqueness and lengths are all checked, and the
 * first violation is raised into the caller's ErrorSlot (lib/core/error-slot.h;
 * NULL: the thread's slot).  See docs/design/dbus-protocol.md
 * for the JSON schema.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <lvss/component.h>
#include <lvss/metadata.h>
#include <lvss/types.h>

#include "lib/core/error-slot.h"

#define LVSS_DOC_MAX_SNAPSHOTS 64u

typedef struct lvss_doc_file {
        char *path;
        char *filespec;
        bool recursive;
        char *alternate;        /* NULL if none */
        uint32_t mask;
} lvss_doc_file;

typedef struct lvss_doc_files {
        lvss_doc_file *v;
        size_t n, cap;                  /* cap: ARRAY_RESERVE_ONE's (0 = exactly n, as parsed) */
} lvss_doc_files;

typedef struct lvss_doc_dep {
        char *writer_id;
        char *logical_path;
        char *name;
} lvss_doc_dep;

typedef struct lvss_doc_wm_component {
        lvss_component_type type;
        char *logical_path;     /* "" for top level */
        char *name;
        char *caption;          /* "" if none */
        bool restore_metadata, notify_on_backup_complete, selectable, selectable_for_restore;
        uint32_t flags;
        lvss_doc_files files, databases, logs;
        lvss_doc_dep *deps;
        size_t n_deps, cap_deps;
} lvss_doc_wm_component;

struct lvss_writer_metadata {
        pthread_t owner;
        bool check_owner;       /* standalone objects check the thread */
        char *instance_id, *writer_id, *writer_name, *instance_name;
        lvss_usage_type usage;
        lvss_source_type source;
        lvss_application_level level;
        uint32_t freeze_timeout_ms;
        lvss_restore_method method;
        char *service, *user_procedure;
        lvss_writer_restore writer_restore;
        bool reboot_required;
        bool have_restore_method;
        lvss_doc_files mappings, excludes;
        uint32_t schema;
        lvss_doc_wm_component *comps;
        size_t n_comps, cap_comps;
};

struct lvss_metadata_builder {
        struct lvss_writer_metadata *wm;
};

/* Who may edit the BCD right now (component.h rules). */
enum {
        LVSS_EDIT_NONE = 0,
        LVSS_EDIT_REQUESTOR = 1 << 0,
        LVSS_EDIT_WRITER_BACKUP = 1 << 1,       /* PrepareForBackup, PostSnapshot */
        LVSS_EDIT_WRITER_RESTORE = 1 << 2,      /* PreRestore, PostRestore */
};

typedef struct lvss_doc_partial {
        char *path, *filename, *ranges, *metadata;
} lvss_doc_partial;

typedef struct lvss_doc_diffed {
        char *path, *filespec;
        bool recursive;
        uint64_t last_modify_usec;      /* 0: requestor decides by its own means */
} lvss_doc_diffed;

struct lvss_component {
        struct lvss_writer_components *wc;
        lvss_component_type type;
        char *logical_path, *name;
        bool backup_succeeded, selected_for_restore, additional_restores;
        char *backup_options, *restore_options, *backup_stamp, *previous_backup_stamp;
        char *backup_metadata, *restore_metadata;
        lvss_restore_target restore_target;
        lvss_file_restore_status file_restore_status;
        char *pfb_msg, *ps_msg, *pre_msg, *post_msg;
        struct lvss_doc_partial *partials;      /* PARTIAL_FILE, set by the writer */
        size_t n_partials, cap_partials;
        struct lvss_doc_diffed *diffs;          /* DIFFERENCED_FILE, set by the writer */
        size_t n_diffs, cap_diffs;
};

struct lvss_writer_components {
        struct lvss_bcd *bcd;
        char *instance_id, *writer_id, *instance_name;
        uint32_t backup_schema;
        struct lvss_component **comps;
        size_t n, cap;
};

typedef struct lvss_doc_snapshot {
        char *snapshot_id, *original, *volume, *path, *provider_id, *provider_name;
        uint64_t created_usec;
} lvss_doc_snapshot;

typedef struct lvss_bcd {
        pthread_t owner;
        bool check_owner;
        unsigned edit;                  /* LVSS_EDIT_* */
        bool restore;                   /* initialized for restore */
        bool select_components, bootable, partial_file_support;
        lvss_backup_type backup_type;
        lvss_restore_type restore_type;
        uint32_t context;
        char *set_id;                   /* NULL until known */
        struct lvss_writer_components **writers;
        size_t n_writers, cap_writers;
        lvss_doc_snapshot *snaps;
        size_t n_snaps, cap_snaps;
} lvss_bcd;

/* ---- generic */
bool lvss_doc_is_uuid(const char *s);
int lvss_doc_new_uuid(char ret[LVSS_ID_MAX]);
int lvss_doc_thread_check(bool check, pthread_t owner);

/* Range list of a partial file: "offset:length" pairs separated by commas
 * (decimal or 0x hex, 64-bit), or the absolute path of a ranges file. */
bool lvss_doc_ranges_valid(const char *ranges);
int lvss_doc_component_add_partial(struct lvss_component *c, const char *path, const char *filename,
                                   const char *ranges, const char *metadata);
int lvss_doc_component_add_diffed(struct lvss_component *c, const char *path, const char *filespec,
                                  bool recursive, uint64_t last_modify_usec);

/* ---- writer identity (RegisterWriter): the IDENTIFICATION fields, 64 KiB max */
#define LVSS_DOC_IDENTITY_MAX_BYTES (64u * 1024u)
typedef struct lvss_doc_identity {
        char class_id[LVSS_ID_MAX];
        char *name, *instance_name;
        lvss_usage_type usage;
        lvss_source_type source;
        lvss_application_level level;
        uint32_t freeze_timeout_ms;
} lvss_doc_identity;
int lvss_doc_identity_parse(const char *json, lvss_doc_identity *ret, ErrorSlot *es);
void lvss_doc_identity_clear(lvss_doc_identity *id);

/* ---- writer event arguments: the JSON object lvssd sends as the second
 * argument of org.lvss.Writer1.Event (docs/design/dbus-protocol.md),
 * encoded by lvssd and decoded by liblvss's writer.
 *
 * Decoding checks the text (a JSON object of at most LVSS_DOC_MAX_BYTES) and
 * the components document (a valid BCD); the other fields are optional and
 * a malformed one is left unset, as writers always took them: a
 * snapshotSetId that is not a UUID, a level that is not a level, a volume
 * list longer than LVSS_DOC_MAX_SNAPSHOTS (no volumes) or a volume that is
 * not a string shorter than LVSS_DOC_MAX_STRING (skipped). */
#define LVSS_DOC_SESSION_ID_MAX 128     /* sessionId kept, with its NUL (longer ones are cut) */
typedef struct lvss_doc_event_args {
        char session_id[LVSS_DOC_SESSION_ID_MAX];       /* "" when absent */
        char set_id[LVSS_ID_MAX];       /* "" when absent (encoded as null) */
        uint32_t context;
        bool has_level;
        lvss_application_level level;
        char **volumes;                 /* NULL-terminated; NULL: absent (encode: borrowed) */
        size_t n_volumes;
        lvss_bcd *bcd;                  /* components document; NULL: absent (encode: borrowed) */
} lvss_doc_event_args;
/* The arguments for the writer with instance id writer_instance_id: the
 * document is restricted to that writer.  NULL when out of memory. */
json_t *lvss_doc_event_args_to_json(const lvss_doc_event_args *a, const char *writer_instance_id);
/* Decode text into *ret (owned: lvss_doc_event_args_clear); on failure *ret
 * is untouched and ES says what is wrong. */
int lvss_doc_event_args_parse(const char *text, lvss_doc_event_args *ret, ErrorSlot *es);
void lvss_doc_event_args_clear(lvss_doc_event_args *a);

/* ---- WMD */
int lvss_doc_files_add(lvss_doc_files *f, const char *path, const char *filespec, bool recursive,
                       const char *alternate, uint32_t mask);
struct lvss_writer_metadata *lvss_doc_wm_new(void);
void lvss_doc_wm_free(struct lvss_writer_metadata *wm);
/* json: NUL-terminated.  On failure returns LVSS_E_CORRUPT_XML_DOCUMENT or
 * LVSS_E_INVALID_XML_DOCUMENT (or -ENOMEM), the reason in ES. */
int lvss_doc_wm_parse(const char *json, struct lvss_writer_metadata **ret, ErrorSlot *es);
int lvss_doc_wm_from_json(json_t *root, struct lvss_writer_metadata **ret, ErrorSlot *es);
json_t *lvss_doc_wm_to_json(const struct lvss_writer_metadata *wm);
const lvss_doc_wm_component *lvss_doc_wm_find(const struct lvss_writer_metadata *wm,
                                              const char *logical_path, const char *name);

/* ---- BCD */
lvss_bcd *lvss_doc_bcd_new(void);
void lvss_doc_bcd_free(lvss_bcd *bcd);
int lvss_doc_bcd_parse(const char *json, lvss_bcd **ret, ErrorSlot *es);
int lvss_doc_bcd_from_json(json_t *root, lvss_bcd **ret, ErrorSlot *es);
json_t *lvss_doc_bcd_to_json(const lvss_bcd *bcd);
/* The BCD restricted to one writer (the document that writer is shown). */
json_t *lvss_doc_bcd_to_json_for_writer(const lvss_bcd *bcd, const char *instance_id);
struct lvss_writer_components *lvss_doc_bcd_find_writer(const lvss_bcd *bcd, const char *instance_id,
                                                        const char *writer_id);
struct lvss_writer_components *lvss_doc_bcd_add_writer(lvss_bcd *bcd, const char *instance_id,
                                                       const char *writer_id, const char *instance_name);
struct lvss_component *lvss_doc_wc_find(const struct lvss_writer_components *wc, lvss_component_type type,
                                        const char *logical_path, const char *name);
struct lvss_component *lvss_doc_wc_add(struct lvss_writer_components *wc, lvss_component_type type,
                                       const char *logical_path, const char *name);
/* Copy the fields a writer may set in 'window' (LVSS_EDIT_WRITER_*) from
 * 'edited' (the writer's returned components) into the same writer's part of
 * bcd.  Components unknown to bcd are ignored (writers cannot add any). */
int lvss_doc_bcd_merge_writer(lvss_bcd *bcd, const lvss_bcd *edited, const char *instance_id,
                              unsigned window);
int lvss_doc_bcd_add_snapshot(lvss_bcd *bcd, const lvss_doc_snapshot *s);
/* Where 'path' (under s->volume) is readable in snapshot s; *ret freed by
 * the caller.  LVSS_E_OBJECT_NOT_FOUND if path is not under the volume. */
int lvss_doc_snapshot_path(const lvss_doc_snapshot *s, const char *path, char **ret);
/* The snapshot of bcd's set whose volume holds path (deepest), or NULL. */
const lvss_doc_snapshot *lvss_doc_bcd_find_snapshot_for(const lvss_bcd *bcd, const char *path);
