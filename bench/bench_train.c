/* bench_train — training throughput at llm.c's CPU configurations, beside llm.c's figures.
 *
 * B=4, T=64 (256 tokens per step), AdamW, random weights (GPT-2 init) and random tokens, as
 * llm.c's train_gpt2 runs on its CPU build.  A step is forward + backward + clipping +
 * AdamW (+ drawing the batch), timed after one warm-up step; the median is printed with
 * tokens/s and the ratio of tokens/s to llm.c's measured on this kind of machine with
 * 2 threads (../shared/research/gpt2.md section 5: small 640 ms/step, 124M 3536 ms/step).
 * Peak memory (VmHWM) is printed beside what the run cannot do without: parameters,
 * gradients, the two AdamW moments and the activations of one batch.
 * Each configuration runs with 2 threads (the setting) and then with 1; the load
 * average of the machine is printed beside them, since on a shared 2-core machine other
 * work decides more than the code does (a 2-thread step waits for its slower thread).
 *   bench_train [small|gpt2|SHAPE ...] [--steps N] [--threads N]
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "engine/err.h"
#include "engine/model.h"
#include "engine/train.h"

static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') { kb = strtol(line + kl + 1, NULL, 10); break; }
    fclose(f);
    return kb;
}

/* Resets VmHWM to the current RSS so each configuration's peak is its own. */
static void reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) { fputs("5", f); fclose(f); }
}

static void print_load(void)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double l1;
    if (f && fscanf(f, "%lf", &l1) == 1) printf("  (load average %.2f on %ld cores)\n", l1, sysconf(_SC_NPROCESSORS_ONLN));
    if (f) fclose(f);
}

static int bench(const char *label, const char *shape, double llmc_ms, int steps, int threads)
{
    train_set_threads(threads);
    ModelConfig cfg;
    if (model_shape(shape, &cfg)) { fprintf(stderr, "%s\n", err_msg()); return 1; }
    TrainConfig tc = train_config_default();
    tc.B = 4; tc.T = 64; tc.lr = 1e-4f; tc.min_lr = 1e-4f; tc.warmup = 0; tc.val_frac = 0.0f;
    tc.max_steps = steps + 1;
    reset_peak();
    long rss0 = status_kb("VmRSS");
    Trainer *tr;
    if (trainer_alloc_random(&tr, &cfg, 1337, &tc)) { fprintf(stderr, "%s\n", err_msg()); return 1; }
    /* random tokens, as llm.c's random-data runs */
    const size_t n = 1 << 16;
    int *ids = xmalloc(n * sizeof(int));
    unsigned long s = 42;
    for (size_t i = 0; i < n; i++) { s = s * 6364136223846793005ul + 1442695040888963407ul; ids[i] = (int)((s >> 33) % (unsigned long)cfg.vocab_size); }
    TrainData d;
    if (traindata_init(&d, ids, n, 0.0f, tc.T)) { fprintf(stderr, "%s\n", err_msg()); return 1; }
    free(ids);
    double *ms = xmalloc(sizeof(double) * (size_t)steps);
    TrainStepInfo info = {0};
    for (int i = 0; i <= steps; i++) {
        double t0 = now();
        if (trainer_step(tr, &d, &info)) { fprintf(stderr, "%s\n", err_msg()); return 1; }
        if (i > 0) ms[i - 1] = (now() - t0) * 1e3;
    }
    qsort(ms, (size_t)steps, sizeof *ms, cmp_double);
    const double med = ms[steps / 2], tps = 256.0 / (med / 1e3), llmc_tps = llmc_ms > 0 ? 256.0 / (llmc_ms / 1e3) : 0;
    const long peak = status_kb("VmHWM") - rss0;
    const double need = (double)trainer_memory_bytes(tr, tc.B, tc.T) / 1024.0;
    printf("%-6s L=%d C=%d NH=%d V=%d  params %.1fM  B=4 T=64 AdamW, %d thread%s\n", label,
           cfg.n_layer, cfg.n_embd, cfg.n_head, cfg.vocab_size, (double)trainer_n_params(tr) / 1e6,
           omp_get_max_threads(), omp_get_max_threads() == 1 ? "" : "s");
    printf("  %.0f ms/step (median of %d; min %.0f, max %.0f)  %.0f tokens/s  loss %.3f\n",
           med, steps, ms[0], ms[steps - 1], tps, (double)info.loss);
    if (llmc_ms > 0)
        printf("  llm.c train_gpt2: %.0f ms/step, %.0f tokens/s  ->  %.2fx llm.c's tokens/s\n",
               llmc_ms, llmc_tps, tps / llmc_tps);
    printf("  peak memory %.0f MB; params+grads+AdamW+activations %.0f MB  ->  %.2fx\n",
           peak / 1024.0, need / 1024.0, peak / need);
    print_load();
    fflush(stdout);
    free(ms);
    traindata_done(&d);
    trainer_free(tr);
    return 0;
}

char *openblas_get_corename(void);

int main(int argc, char **argv)
{
    err_install_gsl_handler();
    /* training is mostly sgemm: say which OpenBLAS kernels ran (OPENBLAS_CORETYPE can force them) */
    printf("bench_train: OpenBLAS kernels %s%s%s\n", openblas_get_corename(),
           getenv("OPENBLAS_CORETYPE") ? ", forced by OPENBLAS_CORETYPE=" : "",
           getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "");
    int steps = 0, rc = 0, any = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) steps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
    }
    /* the 2 threads first, then 1 for comparison (unless --threads picks one) */
    const int tlist[2] = {threads ? threads : 2, 1};
    const int nt = threads ? 1 : 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--steps") == 0 || strcmp(argv[i], "--threads") == 0) { i++; continue; }
        any = 1;
        for (int k = 0; k < nt; k++) {
            if (strcmp(argv[i], "small") == 0) rc |= bench("small", "gpt2-small4", 640, steps ? steps : 10, tlist[k]);
            else if (strcmp(argv[i], "gpt2") == 0) rc |= bench("124M", "gpt2", 3536, steps ? steps : 4, tlist[k]);
            else rc |= bench(argv[i], argv[i], 0, steps ? steps : 4, tlist[k]);
        }
    }
    if (!any)
        for (int k = 0; k < nt; k++) rc |= bench("small", "gpt2-small4", 640, steps ? steps : 10, tlist[k]);
    if (!any)
        for (int k = 0; k < nt; k++) rc |= bench("124M", "gpt2", 3536, steps ? steps : 4, tlist[k]);
    return rc;
}
