/* Tests for the REPL's session layer (repl/session.c, repl/commands.c, line_complete):
 * command parsing, escapes, one-line errors that keep the session, the help table, JSON
 * mode, completion, and — with the tiny GPT-2 from ../shared — a real session: the model
 * kept after a failed load, context overflow, and `save session` replaying to the same
 * state.  Output is captured with open_memstream.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/gemm.h"
#include "engine/err.h"
#include "repl/commands.h"
#include "repl/line.h"
#include "repl/session.h"
#include "tests/util/cap.h"
#include "tests/util/testutil.h"



static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Runs line, expects failure with exactly one error line containing want. */
static void expect_error(Cap *c, const char *line, const char *want)
{
    int failed0 = c->s->n_failed;
    int rc = session_exec(c->s, line);
    ck_assert_msg(rc < 0, "'%s' should fail", line);
    ck_assert_int_eq(c->s->n_failed, failed0 + 1);
    char *e = take_err(c), *o = take_out(c);
    ck_assert_msg(strncmp(e, "error: ", 7) == 0, "'%s' gave '%s'", line, e);
    ck_assert_msg(count_lines(e) == 1, "'%s' gave %d lines: %s", line, count_lines(e), e);
    ck_assert_msg(strstr(e, want) != NULL, "'%s' gave '%s', wanted '%s'", line, e, want);
    ck_assert_msg(*o == 0, "'%s' also printed '%s'", line, o);
    free(e);
    free(o);
}

static char *run_ok(Cap *c, const char *line)
{
    int rc = session_exec(c->s, line);
    char *e = take_err(c);
    ck_assert_msg(rc == 0, "'%s' failed: %s", line, e);
    free(e);
    return take_out(c);
}

/* ---- without a model ---- */

START_TEST(test_blank_and_comments)
{
    Cap c;
    cap_open(&c);
    ck_assert_int_eq(session_exec(c.s, ""), 0);
    ck_assert_int_eq(session_exec(c.s, "   \t "), 0);
    ck_assert_int_eq(session_exec(c.s, "# step 3"), 0);
    ck_assert_int_eq(session_exec(c.s, "  # not a command"), 0);
    char *o = take_out(&c), *e = take_err(&c);
    ck_assert_str_eq(o, "");
    ck_assert_str_eq(e, "");
    ck_assert_int_eq(c.s->n_failed, 0);
    free(o);
    free(e);
    cap_close(&c);
}
END_TEST

START_TEST(test_greeting)
{
    Session *s = session_alloc(NULL, NULL);
    char *g = session_greeting(s);
    ck_assert_ptr_nonnull(strstr(g, "No model loaded"));
    ck_assert_ptr_nonnull(strstr(g, "load PATH"));
    ck_assert_ptr_nonnull(strstr(g, "help"));
    free(g);
    session_free(s);
}
END_TEST

START_TEST(test_parse_errors)
{
    Cap c;
    cap_open(&c);
    expect_error(&c, "frobnicate 3", "unknown command 'frobnicate'");
    expect_error(&c, "load \"no end", "unterminated \" quote");
    expect_error(&c, "load 'no end", "unterminated ' quote");
    expect_error(&c, "load a b c", "usage: load PATH [TOKENIZER]");
    expect_error(&c, "load", "usage: load PATH [TOKENIZER]");
    expect_error(&c, "attn 1", "usage: attn L H");
    expect_error(&c, "gen", "usage: gen N");
    expect_error(&c, "load \"bad\\qescape\"", "unknown escape \\q");
    expect_error(&c, "load a\\x4", "\\x needs two hex digits");
    expect_error(&c, "help nosuch", "no command 'nosuch'");
    expect_error(&c, "save trace x.txt", "unknown kind 'trace'");
    /* Commands that need a model say so, and how to load one. */
    const char *need[] = { "info", "prompt hello", "tokens", "text", "step", "step 2", "gen 5",
                           "probs", "attn 0 0", "lens", "back", "force 13", "reset" };
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        expect_error(&c, need[i], "no model loaded (load PATH");
    expect_error(&c, "load /nonexistent/model.safetensors", "/nonexistent/model.safetensors");
    ck_assert_ptr_null(c.s->model);
    ck_assert_int_eq(c.s->quit, 0);
    cap_close(&c);
}
END_TEST

START_TEST(test_help_table_complete)
{
    Cap c;
    cap_open(&c);
    char *all = run_ok(&c, "help");
    const char *required[] = { "load", "info", "prompt", "tokens", "step", "gen", "probs", "attn",
                               "lens", "back", "force", "set", "reset", "save", "help", "quit" };
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        ck_assert_msg(commands_find(required[i]) != NULL, "no command %s", required[i]);
    for (int i = 0; i < commands_count; i++) {
        const Command *cmd = &commands_table[i];
        ck_assert_msg(cmd->summary && strlen(cmd->summary) > 10, "%s: no summary", cmd->name);
        ck_assert_msg(cmd->help && strlen(cmd->help) > 10, "%s: no help", cmd->name);
        ck_assert_ptr_nonnull(cmd->args);
        ck_assert_ptr_nonnull(cmd->fn);
        ck_assert_msg(cmd->min_args <= cmd->max_args, "%s: arg counts", cmd->name);
        ck_assert_ptr_eq(commands_find(cmd->name), cmd);  /* names are unique */
        if (!(cmd->flags & CMD_ALIAS)) {
            char *line = xasprintf("\n  %s", cmd->name);
            ck_assert_msg(strstr(all, line) != NULL, "help does not list %s", cmd->name);
            free(line);
        }
        char *line = xasprintf("help %s", cmd->name);
        char *one = run_ok(&c, line);
        ck_assert_msg(strncmp(one, cmd->name, strlen(cmd->name)) == 0, "%s", one);
        ck_assert_ptr_nonnull(strstr(one, cmd->help));
        free(one);
        free(line);
    }
    /* set's help names every key completion offers */
    const Command *set = commands_find("set");
    for (int i = 0; commands_set_keys[i]; i++) ck_assert_ptr_nonnull(strstr(set->help, commands_set_keys[i]));
    free(all);
    cap_close(&c);
}
END_TEST

START_TEST(test_unescape)
{
    size_t n;
    char *t;
    t = session_unescape("Hello world", &n);
    ck_assert_str_eq(t, "Hello world");
    free(t);
    t = session_unescape("a\\nb\\tc\\\\d\\x41\\;", &n);
    ck_assert_str_eq(t, "a\nb\tc\\dA;");
    free(t);
    t = session_unescape("trailing   ", &n);   /* unquoted trailing blanks dropped */
    ck_assert_str_eq(t, "trailing");
    free(t);
    t = session_unescape("kept\\ ", &n);       /* ... unless escaped */
    ck_assert_str_eq(t, "kept ");
    free(t);
    t = session_unescape("\" lead and trail \"", &n);
    ck_assert_str_eq(t, " lead and trail ");
    free(t);
    t = session_unescape("\"Hi\" she said", &n);   /* not wholly quoted: quotes stay */
    ck_assert_str_eq(t, "\"Hi\" she said");
    free(t);
    t = session_unescape("\"\"", &n);
    ck_assert_uint_eq(n, 0);
    free(t);
    t = session_unescape("a\\0b", &n);
    ck_assert_uint_eq(n, 3);
    ck_assert(memcmp(t, "a\0b", 3) == 0);
    free(t);
    ck_assert_ptr_null(session_unescape("bad \\q", &n));
    ck_assert_ptr_nonnull(strstr(err_msg(), "unknown escape"));
    ck_assert_ptr_null(session_unescape("\\x4g", &n));
    ck_assert_ptr_null(session_unescape("ends in \\", &n));

    /* escape -> unescape is the identity on every byte, invalid UTF-8 included */
    char all[256 + 6];
    for (int i = 0; i < 256; i++) all[i] = (char)i;
    memcpy(all + 256, "\xe2\x82\xac\xf0\x9f", 5);   /* a whole euro sign, a cut emoji */
    char *q = session_escape(all, 261);
    ck_assert_ptr_null(strchr(q, '\n'));
    t = session_unescape(q, &n);
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(n, 261);
    ck_assert(memcmp(t, all, 261) == 0);
    ck_assert_ptr_nonnull(strstr(q, "\xe2\x82\xac"));  /* valid UTF-8 stays readable */
    ck_assert_ptr_nonnull(strstr(q, "\\xf0\\x9f"));
    free(t);
    free(q);
}
END_TEST

START_TEST(test_quote_and_json_bytes)
{
    char *q = session_quote_bytes(" the\n\x01\xff", 7);
    ck_assert_str_eq(q, "\" the\\n\\x01\\xff\"");
    free(q);
    json_t *j = session_json_bytes("ok\xc3(\0z", 6);
    ck_assert_ptr_nonnull(j);
    ck_assert_uint_eq(json_string_length(j), 8);   /* o k U+FFFD(3) ( NUL z */
    ck_assert(memcmp(json_string_value(j), "ok\xef\xbf\xbd(\0z", 8) == 0);
    json_decref(j);
}
END_TEST

START_TEST(test_split_commands)
{
    char **l = session_split_commands("load m; prompt a \"b;c\" d; prompt it's; x\\;y;");
    ck_assert_str_eq(l[0], "load m");
    ck_assert_str_eq(l[1], " prompt a \"b;c\" d");
    ck_assert_str_eq(l[2], " prompt it's");
    ck_assert_str_eq(l[3], " x\\;y");
    ck_assert_str_eq(l[4], "");
    ck_assert_ptr_null(l[5]);
    session_free_lines(l);
    l = session_split_commands("set top_k 3\nprompt \"open quote\nstep");
    ck_assert_str_eq(l[0], "set top_k 3");
    ck_assert_str_eq(l[1], "prompt \"open quote");
    ck_assert_str_eq(l[2], "step");
    ck_assert_ptr_null(l[3]);
    session_free_lines(l);
}
END_TEST

START_TEST(test_set_without_model)
{
    Cap c;
    cap_open(&c);
    free(run_ok(&c, "set temperature 0.5"));
    free(run_ok(&c, "set top_k 40"));
    free(run_ok(&c, "set top_p 0.9"));
    free(run_ok(&c, "set seed 1234"));
    ck_assert_float_eq(c.s->params.temperature, 0.5f);
    ck_assert_int_eq(c.s->params.top_k, 40);
    ck_assert_float_eq(c.s->params.top_p, 0.9f);
    ck_assert_uint_eq(c.s->params.seed, 1234);
    expect_error(&c, "set temperature -1", "temperature must be >= 0");
    expect_error(&c, "set temperature warm", "temperature must be a number");
    expect_error(&c, "set top_k -3", "top_k must be an integer");
    expect_error(&c, "set top_p 0", "top_p must be in (0, 1]");
    expect_error(&c, "set top_p 1.5", "top_p must be in (0, 1]");
    expect_error(&c, "set seed -1", "seed must be a non-negative integer");
    expect_error(&c, "set colour blue", "unknown setting 'colour'");
    expect_error(&c, "set temperature", "usage: set");
    /* failures changed nothing */
    ck_assert_float_eq(c.s->params.temperature, 0.5f);
    ck_assert_float_eq(c.s->params.top_p, 0.9f);
    char *o = run_ok(&c, "set");
    ck_assert_str_eq(o, "temperature 0.5\ntop_k 40\ntop_p 0.9\nseed 1234\n");
    free(o);
    o = run_ok(&c, "quit");
    ck_assert_int_eq(c.s->quit, 1);
    free(o);
    cap_close(&c);
}
END_TEST

START_TEST(test_json_mode)
{
    Cap c;
    cap_open(&c);
    c.s->json = 1;
    char *o = run_ok(&c, "set top_k 7");
    ck_assert_int_eq(count_lines(o), 1);
    json_error_t je;
    json_t *j = json_loads(o, 0, &je);
    ck_assert_msg(j != NULL, "not JSON: %s", o);
    ck_assert_str_eq(json_string_value(json_object_get(j, "cmd")), "set");
    ck_assert(json_is_true(json_object_get(j, "ok")));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "top_k")), 7);
    json_decref(j);
    free(o);

    /* errors are JSON on out too, not text on err */
    ck_assert_int_lt(session_exec(c.s, "attn 0 0"), 0);
    o = take_out(&c);
    char *e = take_err(&c);
    ck_assert_str_eq(e, "");
    j = json_loads(o, 0, &je);
    ck_assert_msg(j != NULL, "not JSON: %s", o);
    ck_assert(json_is_false(json_object_get(j, "ok")));
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(j, "error")), "no model loaded"));
    json_decref(j);
    free(o);
    free(e);

    o = run_ok(&c, "help");
    j = json_loads(o, 0, &je);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_ge((int)json_array_size(json_object_get(j, "commands")), 16);
    json_decref(j);
    free(o);
    cap_close(&c);
}
END_TEST

static int has(char **v, const char *w)
{
    for (; v && *v; v++)
        if (strcmp(*v, w) == 0) return 1;
    return 0;
}

static int count(char **v)
{
    int n = 0;
    for (; v && v[n]; n++) {}
    return n;
}

static void free_list(char **v)
{
    for (char **p = v; p && *p; p++) free(*p);
    free(v);
}

START_TEST(test_completion)
{
    char **m = line_complete("lo", "lo", 0);
    ck_assert_int_eq(count(m), 1);
    ck_assert(has(m, "load"));
    free_list(m);
    m = line_complete("", "", 0);
    ck_assert_int_eq(count(m), commands_count);
    free_list(m);
    m = line_complete("set t", "t", 4);
    ck_assert_int_eq(count(m), 3);
    ck_assert(has(m, "temperature") && has(m, "top_k") && has(m, "top_p"));
    free_list(m);
    m = line_complete("set top_k ", "", 10);   /* the value: nothing to offer */
    ck_assert_int_eq(count(m), 0);
    free_list(m);
    m = line_complete("help p", "p", 5);
    ck_assert(has(m, "prompt") && has(m, "probs"));
    int n_p = 0;
    for (int i = 0; i < commands_count; i++) n_p += commands_table[i].name[0] == 'p';
    ck_assert_int_eq(count(m), n_p);
    for (char **w = m; *w; w++) ck_assert_int_eq((*w)[0], 'p');
    free_list(m);
    m = line_complete("save s", "s", 5);
    ck_assert(has(m, "session"));
    free_list(m);
    m = line_complete("view pa", "pa", 5);
    ck_assert(has(m, "pane"));
    free_list(m);
    m = line_complete("view pane ", "", 10);   /* pane names */
    ck_assert(has(m, "attn") && has(m, "probs") && has(m, "tokens") && has(m, "lens") && has(m, "model"));
    free_list(m);
    m = line_complete("view scale l", "l", 11);
    ck_assert(has(m, "linear") && has(m, "log"));
    free_list(m);
    m = line_complete("presenter o", "o", 10);
    ck_assert_int_eq(count(m), 2);
    free_list(m);
    m = line_complete("step ", "", 5);
    ck_assert_int_eq(count(m), 0);
    free_list(m);

    /* file names for load and for save session's FILE */
    char dir[] = "/tmp/lectern-compl-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char *f1 = xasprintf("%s/alpha.safetensors", dir), *f2 = xasprintf("%s/alpine", dir);
    fclose(fopen(f1, "w"));
    fclose(fopen(f2, "w"));
    char *text = xasprintf("%s/al", dir);
    char *line = xasprintf("load %s", text);
    m = line_complete(line, text, 5);
    ck_assert_int_eq(count(m), 2);
    ck_assert(has(m, f1) && has(m, f2));
    free_list(m);
    free(line);
    line = xasprintf("save session %s", text);
    m = line_complete(line, text, 13);
    ck_assert_int_eq(count(m), 2);
    free_list(m);
    free(line);
    unlink(f1);
    unlink(f2);
    rmdir(dir);
    free(f1);
    free(f2);
    free(text);
}
END_TEST


/* ---- train (no model from ../shared needed: it trains its own on the toy world) ---- */

/* A tiny, one-thread run over 300 toy-world stories: a fraction of a second. */
#define TRAIN_SMALL "--data toyworld --stories 300 --vocab 300 --config tiny --batch 4 --seq 32 --threads 1 --seed 5"

/* The number after key in text (NAN when key is absent). */
static double number_after(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    return p ? strtod(p + strlen(key), NULL) : NAN;
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

START_TEST(test_train_command)
{
    char dir[] = "/tmp/lectern-train-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    Cap c;
    cap_open(&c);
    char *line = xasprintf("train " TRAIN_SMALL " --steps 80 --eval-every 20 --sample-every 40 --out %s/a.safetensors"
                           " --plot %s/a.png", dir, dir);
    char *o = run_ok(&c, line);
    free(line);
    const char *want[] = { "training a 300-token BPE on the data", "model: GPT-2 L=2 C=64 NH=4 T=64",
                           "step 1/80 loss ", "tok/s ETA ", "step 20: train loss ", "val loss ", "  sample: ",
                           "(* train, o val)", "loss curve -> ", "done: 80 steps in ", "to use it: load " };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(o, want[i]) != NULL, "no '%s' in:\n%s", want[i], o);
    double first = number_after(o, "step 1/80 loss "), last = number_after(o, "final train loss ");
    double val = number_after(o, ", val loss ");
    ck_assert_msg(isfinite(first) && isfinite(last) && isfinite(val), "losses %g %g %g", first, last, val);
    /* 80 steps on the toy world take the loss well below where it started (about ln 300) */
    ck_assert_msg(last < first - 0.5, "loss %g -> %g", first, last);
    free(o);
    char *a = xasprintf("%s/a.safetensors", dir), *png = xasprintf("%s/a.png", dir);
    char *ckpt = xasprintf("%s/a.safetensors.ckpt", dir);
    ck_assert(exists(a) && exists(png) && exists(ckpt));

    /* the file loads, with its tokenizer, and writes */
    line = xasprintf("load %s", a);
    o = run_ok(&c, line);
    free(line);
    ck_assert_ptr_nonnull(strstr(o, "loaded "));
    ck_assert_ptr_nonnull(strstr(o, "2 layers, 4 heads, n_embd 64, n_ctx 64, vocab 300"));
    free(o);
    free(run_ok(&c, "prompt Once upon a time"));
    free(run_ok(&c, "gen 5"));
    Model *m = c.s->model;
    Gen *g = c.s->gen;
    char *probs = run_ok(&c, "probs 5");

    /* every error is one line and the model stays */
    expect_error(&c, "train", "usage: train --data");
    expect_error(&c, "train --frob", "unknown option '--frob' (help train)");
    expect_error(&c, "train --data toyworld --steps", "--steps needs a value");
    expect_error(&c, "train --data toyworld --config tiny --steps 0 --out x", "bad value '0' for --steps");
    expect_error(&c, "train --data toyworld --config tiny --steps 3 --lr fast --out x", "bad value 'fast' for --lr");
    expect_error(&c, "train --data toyworld --config tiny --out x", "give at least --data");
    expect_error(&c, "train --data toyworld --steps 3 --out x", "give --config NAME");
    expect_error(&c, "train --data toyworld --config tiny --steps 3 --out x stray", "unexpected word 'stray'");
    expect_error(&c, "train --data toyworld --config huge --steps 3 --out x", "unknown config 'huge'");
    expect_error(&c, "train --data /nonexistent/stories.txt --config tiny --steps 3 --out x",
                 "/nonexistent/stories.txt: No such file");
    char *empty = xasprintf("%s/empty.txt", dir);
    fclose(fopen(empty, "w"));
    line = xasprintf("train --data %s --config tiny --steps 3 --out x", empty);
    expect_error(&c, line, "empty.txt: empty file");
    free(line);
    line = xasprintf("train --data toyworld --steps 3 --resume --out %s/none.safetensors", dir);
    expect_error(&c, line, "none.safetensors.ckpt: no checkpoint to resume from");
    free(line);
    line = xasprintf("train --data toyworld --config tiny --steps 3 --out %s/x.safetensors --tokenizer %s/nodir", dir, dir);
    expect_error(&c, line, "nodir");
    free(line);
    ck_assert_ptr_eq(c.s->model, m);
    ck_assert_ptr_eq(c.s->gen, g);
    o = run_ok(&c, "probs 5");
    ck_assert_str_eq(o, probs);
    free(o);

    /* Ctrl-C (seen after the first step): the checkpoint is saved, not the model, and the
     * session goes on with its model; --resume finishes the run */
    session_interrupt = 1;
    line = xasprintf("train " TRAIN_SMALL " --steps 30 --out %s/b.safetensors", dir);
    o = run_ok(&c, line);
    session_interrupt = 0;
    char *bckpt = xasprintf("%s/b.safetensors.ckpt", dir), *b = xasprintf("%s/b.safetensors", dir);
    char *msg = xasprintf("[interrupted after step 1; checkpoint %s: the same train command with --resume", bckpt);
    ck_assert_msg(strstr(o, msg) != NULL, "%s", o);
    ck_assert_ptr_null(strstr(o, "done:"));
    free(msg);
    free(o);
    ck_assert(exists(bckpt) && !exists(b));
    ck_assert_ptr_eq(c.s->model, m);
    o = run_ok(&c, "probs 5");
    ck_assert_str_eq(o, probs);
    free(o);
    char *resume = xasprintf("%s --resume", line);
    o = run_ok(&c, resume);
    free(resume);
    free(line);
    ck_assert_msg(strstr(o, "at step 1\n") && strstr(o, "done: 29 steps"), "%s", o);
    free(o);
    ck_assert(exists(b));
    ck_assert_ptr_eq(c.s->model, m);

    /* --load: the trained model becomes the session's, logged as a load */
    line = xasprintf("train " TRAIN_SMALL " --steps 10 --sample-every 0 --out %s/c.safetensors --load", dir);
    o = run_ok(&c, line);
    free(line);
    char *loaded = xasprintf("loaded %s/c.safetensors", dir);
    ck_assert_msg(strstr(o, loaded) != NULL, "%s", o);
    ck_assert_ptr_null(strstr(o, "sample:"));
    free(loaded);
    free(o);
    ck_assert_ptr_ne(c.s->model, m);
    const char *last_log = c.s->log[c.s->n_log - 1];
    ck_assert_msg(strncmp(last_log, "load ", 5) == 0 && strstr(last_log, "/c.safetensors"), "%s", last_log);
    free(run_ok(&c, "prompt Once"));
    free(run_ok(&c, "step 2"));
    expect_error(&c, "train --data toyworld --config tiny --steps 3 --out x --load --frob", "unknown option");

    /* help train, and train --help */
    o = run_ok(&c, "help train");
    ck_assert(strstr(o, "--load") && strstr(o, "Ctrl-C") && strstr(o, "--resume") && strstr(o, "--plot"));
    char *o2 = run_ok(&c, "train --help");
    ck_assert_ptr_nonnull(strstr(o, o2));
    free(o2);
    free(o);

    /* JSON: one object on out, the progress on err */
    c.s->json = 1;
    line = xasprintf("train " TRAIN_SMALL " --steps 6 --out %s/d.safetensors", dir);
    o = run_ok(&c, line);
    free(line);
    ck_assert_int_eq(count_lines(o), 1);
    json_error_t je;
    json_t *j = json_loads(o, 0, &je);
    ck_assert_ptr_nonnull(j);
    ck_assert(json_is_true(json_object_get(j, "ok")));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "steps")), 6);
    ck_assert(json_real_value(json_object_get(j, "loss")) > 0);
    ck_assert(json_is_false(json_object_get(j, "interrupted")));
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(j, "out")), "d.safetensors"));
    json_decref(j);
    free(o);
    c.s->json = 0;

    const char *files[] = { "a.safetensors", "a.safetensors.ckpt", "a.png", "b.safetensors", "b.safetensors.ckpt",
                            "c.safetensors", "c.safetensors.ckpt", "d.safetensors", "d.safetensors.ckpt", "empty.txt" };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *f = xasprintf("%s/%s", dir, files[i]);
        ck_assert_msg(unlink(f) == 0, "%s", f);
        free(f);
    }
    ck_assert_int_eq(rmdir(dir), 0);
    free(a); free(png); free(ckpt); free(b); free(bckpt); free(empty); free(probs);
    cap_close(&c);
}
END_TEST

START_TEST(test_train_completion)
{
    char **m = line_complete("train --con", "--con", 6);
    ck_assert_int_eq(count(m), 1);
    ck_assert(has(m, "--config"));
    free_list(m);
    m = line_complete("train --config t", "t", 15);
    ck_assert_int_eq(count(m), 1);
    ck_assert(has(m, "tiny"));
    free_list(m);
    m = line_complete("train --data to", "to", 13);
    ck_assert(has(m, "toyworld"));
    free_list(m);
    m = line_complete("train --data toyworld --", "--", 22);
    ck_assert(has(m, "--steps") && has(m, "--out") && has(m, "--resume") && has(m, "--load") && has(m, "--plot"));
    free_list(m);
}
END_TEST

/* ---- with the tiny GPT-2 ---- */

static char *g_model, *g_tok;

static int have_model(void)
{
    const char *m = shared_path("models/gpt2-tiny", "REPL session tests need the tiny GPT-2");
    const char *t = m ? shared_path("tokenizers/gpt2", "REPL session tests need the GPT-2 tokenizer") : NULL;
    if (!m || !t) return 0;
    free(g_model);
    free(g_tok);
    g_model = strdup(m);
    g_tok = strdup(t);
    return 1;
}

static void load_tiny(Cap *c)
{
    char *line = xasprintf("load %s %s", g_model, g_tok);
    char *o = run_ok(c, line);
    ck_assert_ptr_nonnull(strstr(o, "loaded"));
    ck_assert_ptr_nonnull(c->s->model);
    free(o);
    free(line);
}

START_TEST(test_real_session)
{
    if (!have_model()) return;
    Cap c;
    cap_open(&c);
    load_tiny(&c);
    char *o = run_ok(&c, "prompt Hello, my dog is cute and");
    ck_assert_ptr_nonnull(strstr(o, "15496"));   /* "Hello" */
    free(o);
    ck_assert_int_eq(gen_trace(c.s->gen)->n, 7);
    const char *cmds[] = { "tokens", "text", "info", "probs", "probs 3", "attn 0 0", "attn 1 3",
                           "lens", "lens 2", "set temperature 0", "step", "step 2", "back",
                           "force 13", "force \" the\"", "gen 3", "set" };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        o = run_ok(&c, cmds[i]);
        ck_assert_msg(strlen(o) > 0, "'%s' printed nothing", cmds[i]);
        free(o);
    }
    o = run_ok(&c, "text");
    ck_assert_ptr_nonnull(strstr(o, "Hello, my dog is cute and"));
    ck_assert_ptr_nonnull(strstr(o, ". the"));   /* the two forced tokens */
    free(o);
    /* info names the threads and the BLAS kernels that the speeds depend on */
    o = run_ok(&c, "info");
    ck_assert_msg(strstr(o, "compute    ") && strstr(o, " threads (OpenMP)") && strstr(o, "OpenBLAS's "),
                  "info: %s", o);
    /* and whether the prompt's products run on gemm.c's own kernel */
    ck_assert_msg(!strstr(o, "Lectern's AVX-512 kernel") == !!strcmp(gemm_impl_name(), "avx512"),
                  "info: %s", o);
    free(o);
    /* greedy continuation matches nanoGPT's (../shared/oracles/gpt2-tiny/greedy_hello.txt) */
    free(run_ok(&c, "prompt Hello, my dog is cute and"));
    free(run_ok(&c, "step 3"));
    const Trace *t = gen_trace(c.s->gen);
    ck_assert_int_eq(t->tokens[7], 24692);
    ck_assert_int_eq(t->tokens[8], 24692);
    ck_assert_int_eq(t->tokens[9], 30033);

    expect_error(&c, "attn 2 0", "layer L must be an integer from 0 to 1");
    expect_error(&c, "attn 0 4", "head H must be an integer from 0 to 3");
    expect_error(&c, "back 10", "cannot go back 10");
    expect_error(&c, "step 0", "N must be an integer >= 1");
    expect_error(&c, "force 50257", "token id must be an integer from 0 to 50256");
    expect_error(&c, "force \"Hello there\"", "no single token is \"Hello there\"; it encodes as 2 tokens: 15496");
    expect_error(&c, "probs 0", "K must be an integer from 1");
    ck_assert_int_eq(gen_trace(c.s->gen)->n, 10);   /* the errors changed nothing */
    cap_close(&c);
}
END_TEST

START_TEST(test_failed_load_keeps_model)
{
    if (!have_model()) return;
    Cap c;
    cap_open(&c);
    load_tiny(&c);
    free(run_ok(&c, "prompt The quick brown fox"));
    char *before = run_ok(&c, "probs 5");
    Model *m = c.s->model;
    Gen *g = c.s->gen;

    /* header length far past the end of the file */
    unsigned char bad[16] = { 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, '{', '}' };
    char *path = write_temp(bad, sizeof bad, ".safetensors");
    ck_assert_ptr_nonnull(path);
    char *line = xasprintf("load %s %s", path, g_tok);
    expect_error(&c, line, path);
    free(line);
    /* a directory with no model in it */
    char dir[] = "/tmp/lectern-empty-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    line = xasprintf("load %s", dir);
    expect_error(&c, line, dir);
    free(line);
    rmdir(dir);

    ck_assert_ptr_eq(c.s->model, m);
    ck_assert_ptr_eq(c.s->gen, g);
    char *after = run_ok(&c, "probs 5");
    ck_assert_str_eq(before, after);
    free(run_ok(&c, "step 2"));
    unlink(path);
    free(path);
    free(before);
    free(after);
    cap_close(&c);
}
END_TEST

START_TEST(test_context_overflow)
{
    if (!have_model()) return;
    Cap c;
    cap_open(&c);
    load_tiny(&c);
    free(run_ok(&c, "prompt one two three"));
    int n_ctx = c.s->model->cfg.n_ctx;
    int n0 = gen_trace(c.s->gen)->n;
    /* asking for more than fits: the tokens that fit are made, then one error line */
    ck_assert_int_lt(session_exec(c.s, "gen 1000"), 0);
    char *e = take_err(&c), *o = take_out(&c);
    ck_assert_int_eq(count_lines(e), 1);
    ck_assert(strncmp(e, "error: ", 7) == 0);
    ck_assert_int_eq(gen_trace(c.s->gen)->n, n_ctx);
    char *want = xasprintf("gen %d", n_ctx - n0);
    ck_assert_str_eq(c.s->log[c.s->n_log - 1], want);
    free(want);
    free(e);
    free(o);
    /* still usable: rewind and step again */
    free(run_ok(&c, "back 5"));
    free(run_ok(&c, "step 5"));
    expect_error(&c, "step", "");
    char *long_prompt = xmalloc(8 * (size_t)n_ctx + 16);
    strcpy(long_prompt, "prompt");
    for (int i = 0; i < n_ctx + 5; i++) strcat(long_prompt, " the");
    expect_error(&c, long_prompt, "");
    free(long_prompt);
    ck_assert_int_eq(gen_trace(c.s->gen)->n, n_ctx);   /* the old context stays */
    cap_close(&c);
}
END_TEST

START_TEST(test_interrupt_keeps_session)
{
    if (!have_model()) return;
    Cap c;
    cap_open(&c);
    load_tiny(&c);
    free(run_ok(&c, "prompt A long time ago"));
    int n0 = gen_trace(c.s->gen)->n, log0 = c.s->n_log;
    /* Ctrl-C seen before the first token: nothing made, nothing logged, not an error */
    session_interrupt = 1;
    char *o = run_ok(&c, "gen 5");
    ck_assert_ptr_nonnull(strstr(o, "[interrupted after 0 of 5 tokens]"));
    free(o);
    o = run_ok(&c, "step 3");
    ck_assert_ptr_nonnull(strstr(o, "[interrupted after 0 of 3 steps]"));
    free(o);
    ck_assert_int_eq(gen_trace(c.s->gen)->n, n0);
    ck_assert_int_eq(c.s->n_log, log0);
    /* a script stops after the command during which Ctrl-C came */
    FILE *f = tmpfile();
    fputs("set top_k 3\nset top_k 4\n", f);
    rewind(f);
    session_run_file(c.s, f, 0);
    fclose(f);
    ck_assert_int_eq(c.s->params.top_k, 3);
    session_interrupt = 0;
    free(take_out(&c));
    free(run_ok(&c, "gen 2"));
    ck_assert_int_eq(gen_trace(c.s->gen)->n, n0 + 2);
    ck_assert_str_eq(c.s->log[c.s->n_log - 1], "gen 2");
    cap_close(&c);
}
END_TEST

/* The state after running cmds, seen through commands that do not change it (plus a few
 * steps, which show that the random stream is in the same place). */
static char *observe(Cap *c)
{
    char *a = run_ok(c, "tokens");
    char *b = run_ok(c, "probs 8");
    char *d = run_ok(c, "step 4");
    char *r = xasprintf("%s%s%s", a, b, d);
    free(a);
    free(b);
    free(d);
    return r;
}

START_TEST(test_save_session_replays)
{
    if (!have_model()) return;
    Cap c;
    cap_open(&c);
    free(run_ok(&c, "set seed 7"));
    free(run_ok(&c, "set temperature 0.9"));
    load_tiny(&c);
    const char *cmds[] = { "prompt \"Once upon a time\\n\"", "step 3", "probs", "back 2",
                           "set top_k 50", "step 2", "force \" the\"", "gen 4", "set top_p 0.8",
                           "set seed 99", "gen 2", "attn 0 1", "back", "reset",
                           "prompt The end; or is it?", "step 2", "set seed 99", "step 1" };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) free(run_ok(&c, cmds[i]));
    ck_assert_int_eq(session_exec(c.s, "gen 0"), ERR_ARG);   /* failures are not logged */
    free(take_err(&c));
    char *path = write_temp("", 0, ".lectern");
    char *line = xasprintf("save session %s", path);
    free(run_ok(&c, line));
    free(line);
    char *want = observe(&c);

    size_t len;
    char *script = read_file(path, &len);
    ck_assert_ptr_nonnull(script);
    ck_assert_ptr_nonnull(strstr(script, "set seed 42\n"));   /* the starting settings first */
    ck_assert_ptr_nonnull(strstr(script, "\nset seed 7\n"));
    ck_assert_ptr_null(strstr(script, "probs"));              /* only what changed state */
    ck_assert_ptr_null(strstr(script, "attn"));
    ck_assert_ptr_nonnull(strstr(script, "prompt \"Once upon a time\\n\""));
    ck_assert_ptr_nonnull(strstr(script, "force 262\n"));     /* " the" by id */
    free(script);

    Cap r;
    cap_open(&r);
    FILE *f = fopen(path, "r");
    ck_assert_int_eq(session_run_file(r.s, f, 0), 0);
    fclose(f);
    free(take_out(&r));
    char *got = observe(&r);
    ck_assert_str_eq(got, want);
    free(got);
    free(want);
    unlink(path);
    free(path);
    cap_close(&r);
    cap_close(&c);
}
END_TEST

START_TEST(test_json_session)
{
    if (!have_model()) return;
    Cap c;
    cap_open(&c);
    load_tiny(&c);
    c.s->json = 1;
    const char *cmds[] = { "prompt Hello", "step 2", "probs 3", "attn 0 0", "lens 1", "tokens", "info",
                           "gen 2", "force 13", "back 1", "text" };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char *o = run_ok(&c, cmds[i]);
        ck_assert_msg(count_lines(o) == 1, "'%s': %s", cmds[i], o);
        json_error_t je;
        json_t *j = json_loads(o, 0, &je);
        ck_assert_msg(j != NULL, "'%s' not JSON (%s): %s", cmds[i], je.text, o);
        ck_assert(json_is_true(json_object_get(j, "ok")));
        json_decref(j);
        free(o);
    }
    char *o = run_ok(&c, "probs 3");
    json_t *j = json_loads(o, 0, NULL);
    json_t *top = json_object_get(j, "top");
    ck_assert_int_eq((int)json_array_size(top), 3);
    ck_assert(json_is_integer(json_object_get(json_array_get(top, 0), "id")));
    ck_assert(json_is_real(json_object_get(json_array_get(top, 0), "p")));
    json_decref(j);
    free(o);
    cap_close(&c);
}
END_TEST

/* attn draws with the view options in force, and its own words override them; under a
 * sparse pattern, the pruned cells are drawn apart.  In plain mode, back and force act at
 * the end of the context even with the strip "scrubbed" by view step (only the screen
 * branches from there). */
START_TEST(test_attn_view_options_and_plain_branching)
{
    if (!have_model()) return;
    Cap c;
    cap_open(&c);
    load_tiny(&c);
    free(run_ok(&c, "prompt Hello, my dog is cute and"));
    char *o = run_ok(&c, "attn 0 1");
    ck_assert_ptr_nonnull(strstr(o, "attention · layer 0 head 1 · causal mask"));
    ck_assert_ptr_nonnull(strstr(o, "linear scale 0"));
    free(o);
    free(run_ok(&c, "view scale log"));
    free(run_ok(&c, "view hide-first on"));
    o = run_ok(&c, "attn 0 1");
    ck_assert_ptr_nonnull(strstr(o, "log scale 1e-4"));
    ck_assert_ptr_nonnull(strstr(o, "× = first token hidden, rows renormalised"));
    free(o);
    o = run_ok(&c, "attn 0 1 linear show-first");
    ck_assert_ptr_nonnull(strstr(o, "linear scale 0"));
    ck_assert_ptr_null(strstr(o, "first token hidden"));
    free(o);
    free(run_ok(&c, "view agg mean"));
    o = run_ok(&c, "attn 1 2");
    ck_assert_ptr_nonnull(strstr(o, "attention · mean over the 4 heads of layer 1"));
    ck_assert_ptr_nonnull(strstr(o, "(view agg mean is in force, so head 2 is not used alone"));
    free(o);
    o = run_ok(&c, "attn 1 2 head");
    ck_assert_ptr_nonnull(strstr(o, "attention · layer 1 head 2"));
    free(o);
    o = run_ok(&c, "attn 1 rollout");
    ck_assert_ptr_nonnull(strstr(o, "rollout through layers 0-1"));
    free(o);
    expect_error(&c, "attn 0 0 sideways", "attn: unknown option 'sideways'");
    expect_error(&c, "attn 0 0 mass 7x", "attn: mass takes a fraction");
    free(run_ok(&c, "view agg head"));
    free(run_ok(&c, "view scale linear"));
    free(run_ok(&c, "view hide-first off"));

    /* a window on layer 1 only: ░ there, none on layer 0; the status of each layer named */
    free(run_ok(&c, "pattern window w=2 layers 1"));
    o = run_ok(&c, "attn 1 0");
    ck_assert_ptr_nonnull(strstr(o, "pattern sliding window w=2 causal"));
    ck_assert_ptr_nonnull(strstr(o, "│░░"));
    ck_assert_ptr_nonnull(strstr(o, "░ = outside the sparse pattern"));
    free(o);
    o = run_ok(&c, "attn 0 0");
    ck_assert_ptr_null(strstr(o, "░"));
    ck_assert_ptr_nonnull(strstr(o, "· causal mask ·"));
    free(o);
    c.s->json = 1;
    o = run_ok(&c, "attn 1 0");
    ck_assert_ptr_nonnull(strstr(o, "\"mask\":\"sliding window w=2 causal\""));
    free(o);
    c.s->json = 0;
    free(run_ok(&c, "pattern off"));

    /* plain mode: view step 3 does not move where back and force act */
    free(run_ok(&c, "view step 3"));
    o = run_ok(&c, "force 13");
    ck_assert_ptr_null(strstr(o, "branching"));
    free(o);
    const Trace *t = gen_trace(c.s->gen);
    ck_assert_int_eq(t->n, 8);
    ck_assert_int_eq(t->tokens[7], 13);
    o = run_ok(&c, "back");
    ck_assert_ptr_nonnull(strstr(o, "back 1: 7 tokens"));
    free(o);
    ck_assert_int_eq(gen_trace(c.s->gen)->n, 7);
    free(run_ok(&c, "view step latest"));
    cap_close(&c);
}
END_TEST

static Suite *repl_suite(void)
{
    Suite *s = suite_create("repl");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_blank_and_comments);
    tcase_add_test(tc, test_greeting);
    tcase_add_test(tc, test_parse_errors);
    tcase_add_test(tc, test_help_table_complete);
    tcase_add_test(tc, test_unescape);
    tcase_add_test(tc, test_quote_and_json_bytes);
    tcase_add_test(tc, test_split_commands);
    tcase_add_test(tc, test_set_without_model);
    tcase_add_test(tc, test_json_mode);
    tcase_add_test(tc, test_completion);
    suite_add_tcase(s, tc);
    TCase *tm = tcase_create("model");
    tcase_set_timeout(tm, 120);
    tcase_add_test(tm, test_real_session);
    tcase_add_test(tm, test_failed_load_keeps_model);
    tcase_add_test(tm, test_context_overflow);
    tcase_add_test(tm, test_interrupt_keeps_session);
    tcase_add_test(tm, test_save_session_replays);
    tcase_add_test(tm, test_json_session);
    tcase_add_test(tm, test_attn_view_options_and_plain_branching);
    suite_add_tcase(s, tm);
    TCase *tt = tcase_create("train");
    tcase_set_timeout(tt, 120);
    tcase_add_test(tt, test_train_command);
    tcase_add_test(tt, test_train_completion);
    suite_add_tcase(s, tt);
    return s;
}

int main(void)
{
    err_install_gsl_handler();
    int rc = run_suite(repl_suite());
    free(g_model);
    free(g_tok);
    return rc;
}
