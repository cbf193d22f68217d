/* main — the program `lectern`.  Only repl/ has main; it wires the engine to the views. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("lectern %s\n", LECTERN_VERSION);
        return 0;
    }
    fprintf(stderr, "lectern: the REPL is not built yet\n");
    return 1;
}
