/* main — the program `lectern`.  Only repl/ has main; it wires the engine to the views. */
#include <stdio.h>
#include <string.h>

#include "engine/err.h"
#include "repl/subcmd_train.h"

int main(int argc, char **argv)
{
    if (argc > 1 && subcmd_train_is(argv[1])) {
        err_install_gsl_handler();
        return subcmd_train_run(argc - 1, argv + 1);
    }
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("lectern %s\n", LECTERN_VERSION);
        return 0;
    }
    fprintf(stderr, "lectern: the REPL is not built yet\n");
    return 1;
}
