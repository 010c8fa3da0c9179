/* cmd_csv: the CSV cell every report command writes (RFC 4180): as is, or
 * quoted with inner quotes doubled when it holds a comma, a quote or a line
 * break. */
#include "cmd.h"

#include <stdio.h>
#include <string.h>

void cmd_csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}
