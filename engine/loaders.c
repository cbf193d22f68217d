/* loaders — what the llama2.c and llm.c loaders share: mapping a file read-only, the
 * store behind a loaded Model's weights (a mapping plus converted buffers), and finding
 * files beside a checkpoint.
 * It does not parse any format (llama2c.c, llmc.c) nor dispatch between them (model.c).
 */
#include "engine/loaders.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/err.h"

int loaders_map_file(const char *path, LoaderMap *m)
{
    m->map = NULL;
    m->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ERR(ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ERR(ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ERR(ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return ERR(ERR_IO, "%s: too large to map", path);
    }
    size_t len = (size_t)st.st_size;
    if (len > 0) {
        void *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return ERR(ERR_IO, "%s: cannot map %zu bytes: %s", path, len, strerror(e));
        }
        m->map = p;
    }
    close(fd);  /* the mapping stays valid without the descriptor */
    m->len = len;
    return 0;
}

void loaders_unmap(LoaderMap *m)
{
    if (m->map) munmap(m->map, m->len);
    m->map = NULL;
    m->len = 0;
}

LoaderStore *loaders_store_new(void)
{
    return xcalloc(1, sizeof(LoaderStore));
}

void *loaders_store_alloc(LoaderStore *s, size_t bytes)
{
    void *p = NULL;
    /* 64-byte alignment keeps converted weights as friendly to vector loads as a mapping */
    size_t n = (bytes + 63) & ~(size_t)63;
    if (n < bytes || posix_memalign(&p, 64, n ? n : 64) != 0) p = xmalloc(n ? n : 64);
    s->owned = xrealloc(s->owned, (size_t)(s->n_owned + 1) * sizeof(void *));
    s->owned[s->n_owned++] = p;
    return p;
}

void loaders_store_free(void *store)
{
    LoaderStore *s = store;
    if (!s) return;
    loaders_unmap(&s->map);
    for (int i = 0; i < s->n_owned; i++) free(s->owned[i]);
    free(s->owned);
    free(s);
}

char *loaders_sibling(const char *path, const char *name)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return xstrdup(name);
    return xasprintf("%.*s/%s", (int)(slash - path), path, name);
}

int loaders_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int loaders_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}
