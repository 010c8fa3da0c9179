/* cmd_tls: the CLI's channels, over TLS when the environment names the
 * files. One place for every subcommand, so `llmgw` talks to a TLS control
 * plane or data plane the same way whatever the command:
 *
 *   LLMGW_TLS_CA    PEM CA of the server's certificate (turns TLS on)
 *   LLMGW_TLS_CERT  PEM client certificate, for a listener that wants one
 *   LLMGW_TLS_KEY   its PEM private key
 */
#include "cmd.h"

#include <stdio.h>
#include <stdlib.h>

#include "tls.h"

gc_channel_t *cmd_channel_open(const char *target)
{
    tls_paths_t p = {.ca = getenv("LLMGW_TLS_CA"),
                     .cert = getenv("LLMGW_TLS_CERT"),
                     .key = getenv("LLMGW_TLS_KEY"),
                     .ca_flag = "LLMGW_TLS_CA",
                     .cert_flag = "LLMGW_TLS_CERT",
                     .key_flag = "LLMGW_TLS_KEY"};
    tls_files_t files;
    char err[512];
    if (!tls_paths_given(&p))
        return gc_channel_new(target);
    if (tls_files_load(&p, false, &files, err, sizeof(err)) < 0) {
        fprintf(stderr, "error: %s\n", err);
        return NULL;
    }
    gc_channel_t *ch = gc_channel_open(target, &files); /* the core keeps copies */
    tls_files_free(&files);
    return ch;
}
