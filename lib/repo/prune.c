/* SPDX-License-Identifier: MIT */
#include "repo-int.h"
int repo_prune(repo *r, const repo_prune_options *o, repo_prune_stats *ret) { (void) r; (void) o; (void) ret; return -EOPNOTSUPP; }
