/* SPDX-License-Identifier: MIT */
/* The Mail Store Writer when mstored is built without liblvss. */
#include <errno.h>
#include <stdio.h>

#include "writer.h"

int mail_writer_start(service *svc, const struct mail_writer_options *o, mail_writer **ret, char **ret_error) {
        if (ret_error && asprintf(ret_error, "built without liblvss: no Mail Store Writer") < 0)
                *ret_error = NULL;
        return -EOPNOTSUPP;
}

void mail_writer_stop(mail_writer *w) {
}
