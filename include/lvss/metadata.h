/* SPDX-License-Identifier: MIT */
/*
 * lvss/metadata.h: the Writer Metadata Document (WMD).
 *
 * A writer builds its WMD in its on_identify callback through an
 * lvss_metadata_builder [IVssCreateWriterMetadata]; requestors read it as an
 * lvss_writer_metadata [IVssExamineWriterMetadata], either from
 * lvss_backup_get_writer_metadata() or from a saved document with
 * lvss_writer_metadata_load().
 *
 * The document is JSON with the VSS element and attribute names
 * (WRITER_METADATA, IDENTIFICATION, RESTORE_METHOD, EXCLUDE_FILES,
 * BACKUP_LOCATIONS, FILE_LIST, DATABASE_FILES, DATABASE_LOGFILES, DEPENDENCY,
 * writerId, componentName, filespecBackupType, ...); see
 * docs/design/dbus-protocol.md.  Every loaded document is validated and
 * bounded: at most LVSS_DOC_MAX_BYTES bytes, LVSS_DOC_MAX_COMPONENTS
 * components, LVSS_DOC_MAX_FILES file descriptors per list,
 * LVSS_DOC_MAX_STRING bytes per string.
 *
 * Strings handed out by the getters are borrowed: they stay valid until the
 * owning lvss_writer_metadata is freed.  All functions return 0 (or a count)
 * on success and a negative errno / LVSS_E_* code on failure.
 */
#ifndef LVSS_METADATA_H
#define LVSS_METADATA_H

#include <stddef.h>
#include <stdint.h>

#include <lvss/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LVSS_DOC_MAX_BYTES (4u * 1024u * 1024u)
#define LVSS_DOC_MAX_COMPONENTS 1024u
#define LVSS_DOC_MAX_FILES 1024u
#define LVSS_DOC_MAX_STRING 4096u
#define LVSS_DOC_MAX_WRITERS 256u

/* ---------------------------------------------------------------------------
 * Building (writer side, only inside on_identify).
 * ------------------------------------------------------------------------- */

typedef struct lvss_metadata_builder lvss_metadata_builder;

/* [AddComponent] logical_path may be NULL or "" (top level). caption may be
 * NULL.  (logical_path, name) must be unique within the writer.
 * Errors: -EINVAL (bad name/type), LVSS_E_OBJECT_ALREADY_EXISTS, -E2BIG. */
int lvss_metadata_builder_add_component(lvss_metadata_builder *md, lvss_component_type type,
                           const char *logical_path, const char *name, const char *caption,
                           int restore_metadata, int notify_on_backup_complete,
                           int selectable, int selectable_for_restore, uint32_t component_flags);

/* [AddFilesToFileGroup] the component must exist and be a file group.
 * alternate_location may be NULL.  backup_type_mask: LVSS_FSBT_* (0 means
 * LVSS_FSBT_DEFAULT).  Errors: LVSS_E_OBJECT_NOT_FOUND, -EINVAL, -E2BIG. */
int lvss_metadata_builder_add_files_to_file_group(lvss_metadata_builder *md, const char *logical_path,
                                     const char *group_name, const char *path, const char *filespec,
                                     int recursive, const char *alternate_location,
                                     uint32_t backup_type_mask);

/* [AddDatabaseFiles] / [AddDatabaseLogFiles] the component must be a
 * database; no recursion and no alternate location for databases. */
int lvss_metadata_builder_add_database_files(lvss_metadata_builder *md, const char *logical_path,
                                const char *database_name, const char *path, const char *filespec,
                                uint32_t backup_type_mask);
int lvss_metadata_builder_add_database_log_files(lvss_metadata_builder *md, const char *logical_path,
                                    const char *database_name, const char *path, const char *filespec,
                                    uint32_t backup_type_mask);

/* [AddExcludeFiles] always honoured by requestors. */
int lvss_metadata_builder_add_exclude_files(lvss_metadata_builder *md, const char *path, const char *filespec,
                               int recursive);

/* [AddComponentDependency] the component (for_*) must exist. */
int lvss_metadata_builder_add_component_dependency(lvss_metadata_builder *md, const char *for_logical_path,
                                      const char *for_name, const char *on_writer_class_id,
                                      const char *on_logical_path, const char *on_name);

/* [SetRestoreMethod] required once; service and user_procedure may be NULL. */
int lvss_metadata_builder_set_restore_method(lvss_metadata_builder *md, lvss_restore_method method,
                                const char *service, const char *user_procedure,
                                lvss_writer_restore writer_restore, int reboot_required);

/* [AddAlternateLocationMapping] */
int lvss_metadata_builder_add_alternate_location_mapping(lvss_metadata_builder *md, const char *source_path,
                                            const char *source_filespec, int recursive,
                                            const char *destination);

/* [SetBackupSchema] an OR of LVSS_BS_* flags. */
int lvss_metadata_builder_set_backup_schema(lvss_metadata_builder *md, uint32_t schema);

/* ---------------------------------------------------------------------------
 * Examining (requestor side).
 * ------------------------------------------------------------------------- */

typedef struct lvss_writer_metadata lvss_writer_metadata;

typedef struct lvss_writer_metadata_identity {
        const char *instance_id;
        const char *writer_id;          /* class id */
        const char *writer_name;
        const char *instance_name;      /* "" if none */
        lvss_usage_type usage;
        lvss_source_type source;
        lvss_application_level level;
        uint32_t freeze_timeout_ms;
} lvss_writer_metadata_identity;

typedef struct lvss_writer_metadata_filedesc {        /* [IVssWMFiledesc] */
        const char *path;
        const char *filespec;
        int recursive;
        const char *alternate_location; /* NULL if none */
        uint32_t backup_type_mask;
} lvss_writer_metadata_filedesc;

typedef struct lvss_writer_metadata_dependency {      /* [IVssWMDependency] */
        const char *writer_id;
        const char *logical_path;       /* "" if none */
        const char *component_name;
} lvss_writer_metadata_dependency;

typedef struct lvss_writer_metadata_restore_method {
        lvss_restore_method method;
        const char *service;            /* NULL if none */
        const char *user_procedure;     /* NULL if none */
        lvss_writer_restore writer_restore;
        int reboot_required;
        size_t mapping_count;           /* alternate location mappings */
} lvss_writer_metadata_restore_method;

typedef struct lvss_writer_metadata_component_info {  /* [VSS_COMPONENTINFO] */
        lvss_component_type type;
        const char *logical_path;       /* "" for top level */
        const char *component_name;
        const char *caption;            /* "" if none */
        int restore_metadata;
        int notify_on_backup_complete;
        int selectable;
        int selectable_for_restore;
        uint32_t component_flags;
        size_t file_count;              /* FILE_LIST entries (file groups) */
        size_t database_count;          /* DATABASE_FILES entries */
        size_t log_file_count;          /* DATABASE_LOGFILES entries */
        size_t dependency_count;
} lvss_writer_metadata_component_info;

/* [CreateVssExamineWriterMetadata] parse and validate a saved WMD.  The
 * caller owns *ret and frees it with lvss_writer_metadata_free().  Errors:
 * LVSS_E_CORRUPT_XML_DOCUMENT (not JSON, too large), LVSS_E_INVALID_XML_DOCUMENT
 * (violates the schema; lvss_writer_metadata_load_error() says where),
 * -ENOMEM. */
int lvss_writer_metadata_load(const char *json, lvss_writer_metadata **ret);
/* The one-line reason of the last failed lvss_writer_metadata_load() on this
 * thread (thread-local, static storage). */
const char *lvss_writer_metadata_load_error(void);

/* [SaveAsXML] the document as JSON; the caller frees *ret_json with lvss_free(). */
int lvss_writer_metadata_save(const lvss_writer_metadata *wm, char **ret_json);

/* Frees a metadata object obtained from lvss_writer_metadata_load().  Never
 * call it on one borrowed from lvss_backup_get_writer_metadata().  NULL-safe;
 * returns NULL. */
lvss_writer_metadata *lvss_writer_metadata_free(lvss_writer_metadata *wm);

/* [GetIdentity] */
int lvss_writer_metadata_get_identity(const lvss_writer_metadata *wm, lvss_writer_metadata_identity *ret);
/* [GetFileCounts] returns the count; also via the functions below. */
int lvss_writer_metadata_get_component_count(const lvss_writer_metadata *wm);
int lvss_writer_metadata_get_exclude_file_count(const lvss_writer_metadata *wm);
int lvss_writer_metadata_get_exclude_file(const lvss_writer_metadata *wm, size_t i, lvss_writer_metadata_filedesc *ret);
/* [GetRestoreMethod] */
int lvss_writer_metadata_get_restore_method(const lvss_writer_metadata *wm, lvss_writer_metadata_restore_method *ret);
int lvss_writer_metadata_get_alternate_location_mapping(const lvss_writer_metadata *wm, size_t i,
                                           lvss_writer_metadata_filedesc *ret);
/* [GetBackupSchema] */
int lvss_writer_metadata_get_backup_schema(const lvss_writer_metadata *wm, uint32_t *ret_schema);

/* Components [IVssWMComponent], by index 0..count-1.  Out of range:
 * LVSS_E_OBJECT_NOT_FOUND. */
int lvss_writer_metadata_get_component_info(const lvss_writer_metadata *wm, size_t i, lvss_writer_metadata_component_info *ret);
int lvss_writer_metadata_get_component_file(const lvss_writer_metadata *wm, size_t i, size_t j,
                               lvss_writer_metadata_filedesc *ret);
int lvss_writer_metadata_get_component_database_file(const lvss_writer_metadata *wm, size_t i, size_t j,
                                        lvss_writer_metadata_filedesc *ret);
int lvss_writer_metadata_get_component_log_file(const lvss_writer_metadata *wm, size_t i, size_t j,
                                   lvss_writer_metadata_filedesc *ret);
int lvss_writer_metadata_get_component_dependency(const lvss_writer_metadata *wm, size_t i, size_t j,
                                     lvss_writer_metadata_dependency *ret);

#ifdef __cplusplus
}
#endif
#endif
