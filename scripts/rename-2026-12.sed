# scripts/rename-2026-12.sed: liblvss 1.0, one prefix per metadata object
# (issue 9 point 7).  The builder writers fill in on_identify is
# lvss_metadata_builder_* (was lvss_mdb_*); the writer metadata document
# requestors examine is lvss_writer_metadata_* (was lvss_wm_*, beside the
# already so named load/save/free), its types included
# (lvss_wm_identity -> lvss_writer_metadata_identity, ...).  Only whole
# identifiers are renamed (prose such as "lvss_wm_*" is left alone).
#
# Apply to a tree (idempotent; binary files skipped):
#   git grep -lIz -e lvss_mdb_ -e lvss_wm_ -- . ':!scripts/rename-2026-12.sed' |
#       xargs -0 -r sed -i -f scripts/rename-2026-12.sed
s/\blvss_mdb_\([a-z0-9]\)/lvss_metadata_builder_\1/g
s/\blvss_wm_\([a-z0-9]\)/lvss_writer_metadata_\1/g
