/* SPDX-License-Identifier: MIT */
#include "repo-int.h"
int repo_check_parse_subset(const char *s, repo_check_options *o) { (void) s; (void) o; return -EOPNOTSUPP; }
bool repo_check_selects(const repo_check_options *o, const repo_id *pack) { (void) o; (void) pack; return false; }
int repo_check(repo *r, const repo_check_options *o, repo_verify_report_fn report, void *userdata, repo_check_stats *ret) { (void) r; (void) o; (void) report; (void) userdata; (void) ret; return -EOPNOTSUPP; }
